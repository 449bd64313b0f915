"""Verdicts and findings: conformance-test vocabulary as plain data.

A *finding* is the outcome of one check on one message.  Its outcome depends on what was
observed and on the normative strength of the clause the check comes from:

=========  ===================  ==========================================
evidence   level                outcome
=========  ===================  ==========================================
conforms   any                  pass
violates   MUST                 fail
violates   SHOULD               warn (fail in a strict profile)
violates   MAY                  info (records what the SUT did, never fails)
missing    any                  inconclusive
=========  ===================  ==========================================

A *case verdict* combines the findings: error (our fault) > fail > inconclusive > pass.  Not
applicable is decided before a case runs, from the target's declared capabilities.
"""

from __future__ import annotations

from dataclasses import dataclass, field, fields
from enum import Enum
from typing import Iterable


class Verdict(str, Enum):
    PASS = "pass"
    FAIL = "fail"
    INCONCLUSIVE = "inconclusive"
    NOT_APPLICABLE = "not applicable"
    ERROR = "error"

    def __str__(self) -> str:
        return self.value


LEVELS = ("MUST", "SHOULD", "MAY")

# Finding outcomes.
PASS, FAIL, WARN, INFO, INCONCLUSIVE = "pass", "fail", "warn", "info", "inconclusive"


def grade(ok: bool | None, level: str, strict: bool = False) -> str:
    """Outcome of one check: ``ok`` is True (conforms), False (violates) or None (no evidence)."""
    if level not in LEVELS:
        raise ValueError(f"unknown level {level!r}")
    if ok is None:
        return INCONCLUSIVE
    if ok:
        return PASS
    if level == "MUST":
        return FAIL
    if level == "SHOULD":
        return FAIL if strict else WARN
    return INFO


@dataclass
class Finding:
    """The result of one check on one response."""

    check: str  # e.g. "Require has outbound"
    level: str  # MUST / SHOULD / MAY
    ref: str  # the clause, e.g. "RFC 5626 §6 ¶8"
    outcome: str  # pass / fail / warn / info / inconclusive
    expected: str
    observed: str
    step: str = ""
    message_index: int | None = None  # index into the case's message list
    location: str = ""  # YAML file:line of the check
    reading: str = ""  # a stricter reading kept on purpose: graded as a record, the note shown with it
    quote: str = ""  # the clause's sentence, for a failing or warning finding (what the SUT broke)

    def describe(self) -> str:
        clause = f"{self.level}, {self.ref}" if self.ref else self.level
        return f"{self.step}: {self.check} [{clause}]: expected {self.expected}; observed {self.observed}"

    def to_dict(self) -> dict:
        # every field is a str, an int or None: what dataclasses.asdict gave, without its deep copy
        return {name: getattr(self, name) for name in _FINDING_FIELDS}


_FINDING_FIELDS = tuple(f.name for f in fields(Finding))


@dataclass
class CaseVerdict:
    verdict: Verdict
    reason: str
    warnings: list[str] = field(default_factory=list)


def combine(findings: Iterable[Finding], *, preamble_failed: bool = False,
            error: str | None = None, stopped_reason: str | None = None) -> CaseVerdict:
    """The case verdict from its findings (see the module docstring)."""
    findings = list(findings)
    warnings = [f.describe() for f in findings if f.outcome == WARN]
    if error:
        return CaseVerdict(Verdict.ERROR, error, warnings)
    fails = [f for f in findings if f.outcome == FAIL]
    if fails and not preamble_failed:
        return CaseVerdict(Verdict.FAIL, "; ".join(f.describe() for f in fails), warnings)
    if preamble_failed:
        why = "; ".join(f.describe() for f in fails) or (stopped_reason or "preamble failed")
        return CaseVerdict(Verdict.INCONCLUSIVE, f"preamble did not reach the state under test: {why}",
                           warnings)
    inconc = [f for f in findings if f.outcome == INCONCLUSIVE]
    if inconc:
        return CaseVerdict(Verdict.INCONCLUSIVE, "; ".join(f.describe() for f in inconc), warnings)
    if stopped_reason:
        return CaseVerdict(Verdict.INCONCLUSIVE, stopped_reason, warnings)
    if not findings:
        return CaseVerdict(Verdict.INCONCLUSIVE, "no check was evaluated", warnings)
    reason = "all checks passed"
    if warnings:
        reason += f" ({len(warnings)} warning{'s' if len(warnings) != 1 else ''})"
    return CaseVerdict(Verdict.PASS, reason, warnings)
