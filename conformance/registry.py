"""Registries filled by discovery, for step kinds (conformance/steps/) and check kinds
(conformance/meaning/checks/): every module of the package that defines ``KIND`` or ``KINDS``
(a family sharing one handler) contributes its kinds, so adding a kind is adding a module or a
``KIND`` beside its code, and nothing else lists them."""

from __future__ import annotations

import importlib
import pkgutil
from typing import Iterable, TypeVar

K = TypeVar("K")


def discover(path: Iterable[str], package: str, what: str, skip: Iterable[str] = ()) -> dict[str, K]:
    """The kinds the modules of ``package`` (at ``path``) define, by name, in (order, name) order.

    Modules named ``_*`` or in ``skip`` (the package's own helpers) are not imported; a name
    defined twice is an error naming the ``what`` ("step kind", "check kind")."""
    skipped = set(skip)
    found: list = []
    for info in pkgutil.iter_modules(path):
        if info.name.startswith("_") or info.name in skipped:
            continue
        module = importlib.import_module(f"{package}.{info.name}")
        found.extend(getattr(module, "KINDS", None) or ((module.KIND,) if hasattr(module, "KIND") else ()))
    by_name: dict[str, K] = {}
    for kind in sorted(found, key=lambda k: (k.order, k.name)):
        if kind.name in by_name:
            raise RuntimeError(f"{what} {kind.name!r} is defined twice")
        by_name[kind.name] = kind
    return by_name
