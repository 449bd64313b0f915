"""Judging one step: a case's expectations run on a CheckContext (shared by live runs and
``conformance analyze --case``, which re-judges a case from its pcap)."""

from __future__ import annotations

import dataclasses
from typing import Callable

from ..cases.model import CaseSpec, CheckSpec, StepSpec
from ..catalogue.clauses import quote_of
from .checks import CheckContext, run_check, status_check
from .results import StepResult
from .verdict import FAIL, INCONCLUSIVE, PASS, WARN, Finding, grade


class StepJudge:
    """``instance_of(ue_name)`` gives a UE's +sip.instance (for checks with ``ue:``)."""

    def __init__(self, case: CaseSpec, strict: bool, instance_of: Callable[[str], str | None],
                 capabilities: "frozenset[str] | set[str] | list[str]" = frozenset()):
        self.case = case
        self.strict = strict
        self.instance_of = instance_of
        self.capabilities = frozenset(capabilities)  # the target's declared ones (``when:`` of a Grade)

    def evaluate(self, spec: CheckSpec, ctx: CheckContext, step: StepSpec, resp_idx) -> list[Finding]:
        ref = spec.ref
        ctx2 = ctx if not spec.ue else dataclasses.replace(ctx, instance=self.instance_of(spec.ue))
        idx = ctx.delivery_index if spec.kind == "delivered" and ctx.delivery_index is not None else resp_idx
        level = "MAY" if spec.reading else spec.level  # a stricter reading is recorded only
        found = run_check(spec.kind, spec.args, ctx2, level=level, ref=ref, strict=self.strict,
                          step=step.name, location=str(spec.location or ""), message_index=idx)
        for f in found:
            f.reading = spec.reading or ""
        return found

    def judge(self, step: StepSpec, result: StepResult, ctx: CheckContext, resp_idx) -> None:
        """Append the step's findings to ``result`` (and its class, for a classification step)."""
        if step.expect is not None:
            ex = step.expect
            if ex.status is not None:
                obs = status_check(ex.status, ctx)
                if ex.or_closed and closed_before_answer(ctx):
                    obs = dataclasses.replace(obs, ok=True, expected=obs.expected + " or the connection closed")
                result.findings.append(Finding(
                    check=obs.label, level=ex.status_level, ref=ex.status_ref or "",
                    outcome=grade(obs.ok, ex.status_level, self.strict), expected=obs.expected,
                    observed=obs.observed, step=step.name, location=str(ex.location or ""),
                    message_index=resp_idx))
            for spec in ex.checks:
                result.findings.extend(self.evaluate(spec, ctx, step, resp_idx))
        if step.classify:
            self.classify(step, result, ctx, resp_idx)
        quote_findings(result.findings)

    def classify(self, step: StepSpec, result: StepResult, ctx: CheckContext, resp_idx) -> None:
        """A response is of a class when every check of the class passes (whatever its level: the
        checks only discriminate).  The class is recorded; it is a finding only when it says
        ``fails:`` (for a target declaring ``when``).  A response of no class is graded by the
        step's ``unclassified:`` (default: recorded, never a fail)."""
        reasons = []
        for cls in step.classify or []:
            findings: list[Finding] = []
            for spec in cls.checks:
                findings.extend(self.evaluate(spec, ctx, step, resp_idx))
            # membership: every check holds (a MAY or SHOULD check that does not hold rules its
            # class out too: a reading graded by [M] text is still a class)
            bad = [f for f in findings if f.outcome != PASS]
            if not bad:
                result.classification = cls.name
                for f in findings:
                    f.check = f"[{cls.name}] {f.check}"
                result.findings.extend(findings)
                result.note = f"classified as {cls.name}: {cls.description}"
                g = cls.fails
                if g is not None and (g.when is None or g.when in self.capabilities):
                    level = "MAY" if g.reading else g.level
                    declared = f" (the target declares {g.when})" if g.when else ""
                    result.findings.append(Finding(
                        check="classification", level=level, ref=g.ref or "",
                        outcome=grade(False, level, self.strict),
                        expected=f"not {cls.name}{declared}", observed=f"{cls.name}: {cls.description}",
                        step=step.name, location=str(cls.location or ""), message_index=resp_idx,
                        reading=g.reading or ""))
                return
            reasons.append(f"{cls.name}: " + "; ".join(f"{f.check}: expected {f.expected}, observed {f.observed}"
                                                      for f in bad))
        missing = ctx.response is None
        g = step.unclassified
        if g is not None and g.when is not None and g.when not in self.capabilities:
            g = None
        level = "MAY" if g is None or g.reading else g.level
        result.findings.append(Finding(
            check="classification", level=level, ref=(g.ref or "") if g else "",
            outcome=INCONCLUSIVE if missing else grade(False, level, self.strict),
            expected="one of: " + ", ".join(c.name for c in step.classify or []),
            observed=ctx.no_response_reason if missing else " | ".join(reasons),
            step=step.name, location=str(step.location or ""), message_index=resp_idx,
            reading=(g.reading or "") if g else ""))


def closed_before_answer(ctx: CheckContext) -> bool:
    """The SUT closed (or reset) the connection (TCP, or TLS / WebSocket over it) before a final
    response came."""
    why = ctx.no_response_reason or ""
    return (ctx.response is None and why.startswith(_CONNECTION_CLOSES)
            and "before a final response" in why)


# how engine/transport.py and engine/streamflow.py name a connection the SUT closed
_CONNECTION_CLOSES = ("TCP connection", "TLS connection", "WebSocket connection",
                      "WebSocket over TLS connection")


def quote_findings(findings: list[Finding]) -> None:
    """Put the quoted sentence of its clause on each failing or warning finding."""
    for f in findings:
        if f.outcome in (FAIL, WARN) and f.ref and not f.quote:
            f.quote = quote_of(f.ref)
