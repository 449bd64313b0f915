"""Checks: what the cited clause requires of a response, as plain functions.

Each check kind has a default normative level and clause; a case may override both.  Checks see
only a :class:`CheckContext` (the request sent and the response received), never the SUT or the
reference implementation, so they judge live runs and recorded pcaps alike.

The registry: every module of this package that defines ``KIND`` or ``KINDS`` (a
:class:`~conformance.meaning.checks.kind.CheckKind`) contributes its kinds; nothing else lists
them.  Adding a check kind is adding it beside its function, then running
``python -m conformance.meaning.checks.vocabulary --write``.
"""

from __future__ import annotations

from ...registry import discover
from ..verdict import Finding, grade
from .context import CheckContext, Observation
from .kind import CheckKind
from .status import status_check

CHECKS: dict[str, CheckKind] = discover(__path__, __name__, "check kind", skip=("context", "kind", "vocabulary"))


def run_check(kind: str, args, ctx: CheckContext, *, level: str | None = None, ref: str | None = None,
              strict: bool = False, step: str = "", location: str = "",
              message_index: int | None = None) -> list[Finding]:
    """Run one check kind and grade each observation into a :class:`Finding`."""
    spec = CHECKS[kind]
    args = args if isinstance(args, dict) else {}
    lvl = level or spec.level
    clause = ref or spec.ref(args) or ""
    return [
        Finding(check=o.label, level=lvl, ref=clause, outcome=grade(o.ok, lvl, strict),
                expected=o.expected, observed=o.observed, step=step, location=location,
                message_index=message_index)
        for o in spec.handler(args, ctx)
    ]


__all__ = ["CHECKS", "CheckContext", "CheckKind", "Observation", "run_check", "status_check"]
