"""Which clause grades each verdict-bearing item of a case, and at what level.

:func:`graded_items` walks a loaded case: each step's status expectation (``status_ref``), each
check (its explicit ``ref``/``level`` or its kind's default), the checks inside ``classify:``
classes and a classification's own findings.  :func:`grading_problems` compares each item's
level with the level its clause's keyword gives (``conformance/catalogue/clauses``) and says
what is wrong, naming case, step and check.  Sans-IO: plain objects in, strings out.
"""

from __future__ import annotations

from dataclasses import dataclass

from ..cases.model import CaseSpec, CheckSpec, StepSpec
from ..catalogue.clauses import Clause, level_of_refs, lookup, stronger
from .checks import CHECKS


@dataclass(frozen=True)
class GradedItem:
    case: str
    step: str
    what: str  # "status", "check require", "class legacy: check contacts", ...
    ref: str | None
    level: str
    reading: str | None = None  # a stricter reading kept on purpose: recorded, never a fail
    location: str = ""

    def where(self) -> str:
        loc = f" ({self.location})" if self.location else ""
        return f"{self.case} / {self.step} / {self.what}{loc}"


def check_ref_level(spec: CheckSpec) -> tuple[str | None, str]:
    """A check's effective ref and level (explicit, else its kind's default)."""
    kind = CHECKS[spec.kind]
    args = spec.args if isinstance(spec.args, dict) else {}
    return (spec.ref or kind.ref(args) or None), (spec.level or kind.level)


def _check_item(case: CaseSpec, step: StepSpec, spec: CheckSpec, prefix: str = "") -> GradedItem:
    ref, level = check_ref_level(spec)
    return GradedItem(case.id, step.name, f"{prefix}check {spec.kind} {_args(spec.args)}", ref, level,
                      getattr(spec, "reading", None), str(spec.location or ""))


def _args(args) -> str:
    if isinstance(args, dict):
        return "{" + ", ".join(f"{k}: {v}" for k, v in args.items()) + "}"
    return str(args)


def graded_items(case: CaseSpec) -> list[GradedItem]:
    out: list[GradedItem] = []
    for step in case.steps:
        ex = step.expect
        if ex is not None and ex.status is not None and ex.status_ref is not None:
            # a preamble's status only decides whether the state under test was reached
            # (inconclusive otherwise), never a verdict on the SUT: it needs no clause
            out.append(GradedItem(case.id, step.name, "status", ex.status_ref, ex.status_level,
                                  getattr(ex, "status_reading", None), str(ex.location or ""),
                                  ))
        for spec in (ex.checks if ex is not None else []):
            out.append(_check_item(case, step, spec))
        for cls in step.classify or []:
            for spec in cls.checks:
                out.append(_check_item(case, step, spec, f"class {cls.name}: "))
            fails = getattr(cls, "fails", None)
            if fails is not None:
                out.append(GradedItem(case.id, step.name, f"class {cls.name}: fails", fails.ref, fails.level,
                                      fails.reading, str(cls.location or "")))
        unc = getattr(step, "unclassified", None)
        if step.classify and unc is not None:
            out.append(GradedItem(case.id, step.name, "classification: no class fits", unc.ref, unc.level,
                                  unc.reading, str(step.location or "")))
    return out


def grading_problems(item: GradedItem, clauses: dict[str, Clause]) -> list[str]:
    """What is wrong with one item's grading ([] when its level is its clause's)."""
    if not item.ref:
        if item.level == "MAY" and item.what.startswith("classification"):
            return []  # a classification that records only needs no clause
        return [f"{item.where()}: cites no clause"]
    missing = [r for r in lookup(item.ref, clauses) if isinstance(r, str)]
    if missing:
        return [f"{item.where()}: clause {m!r} has no entry in conformance/catalogue/clauses/" for m in missing]
    derived = level_of_refs(item.ref, clauses)
    if item.reading:
        if not stronger(item.level, derived):
            return [f"{item.where()}: reading: note, but its level {item.level} is not above what "
                    f"{item.ref!r} gives ({derived}); drop the reading"]
        return []
    if item.level != derived:
        return [f"{item.where()}: graded {item.level}, but {item.ref!r} gives {derived} "
                f"({'; '.join(c.keyword + ' [' + c.mark + ']' for c in lookup(item.ref, clauses) if isinstance(c, Clause))})"]
    return []
