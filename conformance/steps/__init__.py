"""The registry of step kinds: every module of this package defines ``KIND`` (a
:class:`~conformance.steps.kind.StepKind`) or ``KINDS`` (a family sharing one handler).

Adding a step kind is adding a module here (and its cases); nothing else lists the kinds.
"""

from __future__ import annotations

import importlib
import pkgutil

from .kind import StepKind

__all__ = ["KINDS", "StepKind", "kind_of"]


def _discover() -> dict[str, StepKind]:
    found: list[StepKind] = []
    for info in pkgutil.iter_modules(__path__):
        if info.name.startswith("_") or info.name in ("kind", "vocabulary"):   # not step kinds
            continue
        module = importlib.import_module(f"{__name__}.{info.name}")
        kinds = getattr(module, "KINDS", None) or ((module.KIND,) if hasattr(module, "KIND") else ())
        found.extend(kinds)
    by_name: dict[str, StepKind] = {}
    for kind in sorted(found, key=lambda k: (k.order, k.name)):
        if kind.name in by_name:
            raise RuntimeError(f"step kind {kind.name!r} is defined twice")
        by_name[kind.name] = kind
    return by_name


KINDS: dict[str, StepKind] = _discover()


def kind_of(action: str) -> StepKind:
    try:
        return KINDS[action]
    except KeyError:
        raise KeyError(f"unknown step kind {action!r}") from None
