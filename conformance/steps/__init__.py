"""The registry of step kinds: every module of this package defines ``KIND`` (a
:class:`~conformance.steps.kind.StepKind`) or ``KINDS`` (a family sharing one handler).

Adding a step kind is adding a module here (and its cases); nothing else lists the kinds.
"""

from __future__ import annotations

from ..registry import discover
from .kind import StepKind

__all__ = ["KINDS", "StepKind", "kind_of"]

KINDS: dict[str, StepKind] = discover(__path__, __name__, "step kind", skip=("kind", "vocabulary"))


def kind_of(action: str) -> StepKind:
    try:
        return KINDS[action]
    except KeyError:
        raise KeyError(f"unknown step kind {action!r}") from None
