"""Helpers of the real-UE driver tests: the embedded reference as the network (edge + S-CSCF),
the NetworkInfo a driver gets, and the REGISTERs the registrar saw."""

from __future__ import annotations

import re
import time
from contextlib import contextmanager
from types import SimpleNamespace

from conformance.uecert.drivers.base import NetworkInfo
from conformance.uecert.model import UeProfile

DOMAIN = "ims.test"


@contextmanager
def reference_core(**config):
    """The reference as a core (its edge on the advertised port, the S-CSCF behind it)."""
    from conformance.sut.config import SutConfig
    from conformance.sut.server.reference import ReferenceCore

    core = ReferenceCore(SutConfig(topology="core", domain=DOMAIN, **config))
    core.seen = []                              # every request the registrar handled, as text
    handle = core.registrar.handle

    def recording(request, *args, **kwargs):
        core.seen.append(bytes(request).decode("utf-8", "replace"))
        return handle(request, *args, **kwargs)

    core.registrar.handle = recording
    core.start()
    try:
        yield core
    finally:
        core.stop()


def net_info(core, transport: str, user: str, password: str = "", impi: str = "",
             ca_file: str | None = None, ue_addresses=("127.0.0.1",)) -> NetworkInfo:
    edge = {t: ("127.0.0.1", p) for t, p in core.ports.items()}
    return NetworkInfo(domain=DOMAIN, edge=edge, aor=f"sip:{user}@{DOMAIN}", impi=impi or f"{user}@{DOMAIN}",
                       password=password, ue_addresses=list(ue_addresses), transport=transport, ca_file=ca_file)


def profile(driver: str, **options) -> UeProfile:
    return UeProfile(driver=driver, options=options)


TARGET = SimpleNamespace(name="test-target")


def header(text: str, name: str) -> list[str]:
    head = text.split("\r\n\r\n", 1)[0].split("\r\n")[1:]
    out = []
    for line in head:
        key, sep, value = line.partition(":")
        if sep and key.strip().lower() == name.lower():
            out.append(value.strip())
    return out


def registers(core, user: str) -> list[str]:
    """The REGISTERs for ``user`` the registrar handled, in order (request texts)."""
    return [r for r in list(core.seen)
            if r.startswith("REGISTER ") and any(f"sip:{user}@" in v for v in header(r, "To"))]


def expires_of(request: str) -> int | None:
    """The Contact's expires parameter, else the Expires header (None: neither)."""
    for contact in header(request, "Contact"):
        m = re.search(r";\s*expires\s*=\s*(\d+)", contact, re.I)
        if m:
            return int(m.group(1))
    values = header(request, "Expires")
    return int(values[0]) if values else None


def wait_for(predicate, timeout: float, step: float = 0.1):
    """``predicate()``'s first truthy value within ``timeout`` s (None: none)."""
    deadline = time.monotonic() + timeout
    while True:
        value = predicate()
        if value:
            return value
        if time.monotonic() >= deadline:
            return None
        time.sleep(step)
