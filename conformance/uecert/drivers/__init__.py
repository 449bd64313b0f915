"""How the suite starts, triggers and stops a UE: one module per driver, named in DRIVERS.

``reference`` (the suite's own UE, conformance.uecert.refue), ``baresip`` (Debian's baresip-core,
driven over ctrl_tcp), ``jssip`` (clients/jssip, Node), ``command`` (command lines from the
profile).  A driver that cannot carry out an action raises ActionNotSupported: the case is not
applicable (if the UE does not declare the capability) or inconclusive, with the reason.
"""

from __future__ import annotations

import importlib

from .base import ActionNotSupported, DriverError, NetworkInfo, UeDriver

DRIVERS = {
    "reference": "conformance.uecert.drivers.reference:ReferenceUeDriver",
    "baresip": "conformance.uecert.drivers.baresip:BaresipDriver",
    "jssip": "conformance.uecert.drivers.jssip:JssipDriver",
    "command": "conformance.uecert.drivers.command:CommandDriver",
}


def driver_for(profile, target) -> UeDriver:
    """A driver instance for a target's ``ue:`` profile (DriverError naming the driver if unknown)."""
    spec = DRIVERS.get(profile.driver)
    if spec is None:
        raise DriverError(f"unknown UE driver {profile.driver!r} (known: {', '.join(sorted(DRIVERS))})")
    mod, _, cls = spec.partition(":")
    return getattr(importlib.import_module(mod), cls)(profile, target)


__all__ = ["ActionNotSupported", "DriverError", "NetworkInfo", "UeDriver", "DRIVERS", "driver_for"]
