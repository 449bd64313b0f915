"""Judging one step: a case's expectations run on a CheckContext (shared by live runs and
``conformance analyze --case``, which re-judges a case from its pcap)."""

from __future__ import annotations

import dataclasses
from typing import Callable

from ..cases.model import CaseSpec, CheckSpec, StepSpec
from ..checks import CheckContext, run_check, status_check
from ..results import StepResult
from ..verdict import FAIL, INCONCLUSIVE, PASS, Finding, grade


class StepJudge:
    """``instance_of(ue_name)`` gives a UE's +sip.instance (for checks with ``ue:``)."""

    def __init__(self, case: CaseSpec, strict: bool, instance_of: Callable[[str], str | None]):
        self.case = case
        self.strict = strict
        self.instance_of = instance_of

    def evaluate(self, spec: CheckSpec, ctx: CheckContext, step: StepSpec, resp_idx) -> list[Finding]:
        ref = spec.ref
        if ref is None and spec.kind == "header":
            ref = "; ".join(self.case.references) or None
        ctx2 = ctx if not spec.ue else dataclasses.replace(ctx, instance=self.instance_of(spec.ue))
        idx = ctx.delivery_index if spec.kind == "delivered" and ctx.delivery_index is not None else resp_idx
        return run_check(spec.kind, spec.args, ctx2, level=spec.level, ref=ref, strict=self.strict,
                         step=step.name, location=str(spec.location or ""), message_index=idx)

    def judge(self, step: StepSpec, result: StepResult, ctx: CheckContext, resp_idx) -> None:
        """Append the step's findings to ``result`` (and its class, for a classification step)."""
        if step.expect is not None:
            ex = step.expect
            if ex.status is not None:
                obs = status_check(ex.status, ctx)
                result.findings.append(Finding(
                    check=obs.label, level=ex.status_level,
                    ref=ex.status_ref or (self.case.references[0] if self.case.references else ""),
                    outcome=grade(obs.ok, ex.status_level, self.strict), expected=obs.expected,
                    observed=obs.observed, step=step.name, location=str(ex.location or ""),
                    message_index=resp_idx))
            for spec in ex.checks:
                result.findings.extend(self.evaluate(spec, ctx, step, resp_idx))
        if step.classify:
            self.classify(step, result, ctx, resp_idx)

    def classify(self, step: StepSpec, result: StepResult, ctx: CheckContext, resp_idx) -> None:
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
                return
            reasons.append(f"{cls.name}: " + "; ".join(f"{f.check}: expected {f.expected}, observed {f.observed}"
                                                      for f in bad))
        missing = ctx.response is None
        result.findings.append(Finding(
            check="classification", level="MUST", ref="; ".join(self.case.references),
            outcome=INCONCLUSIVE if missing else FAIL,
            expected="one of: " + ", ".join(c.name for c in step.classify or []),
            observed=ctx.no_response_reason if missing else " | ".join(reasons),
            step=step.name, location=str(step.location or ""), message_index=resp_idx))
