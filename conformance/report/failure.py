"""The failure text pytest shows for a case whose verdict is not a pass: which step, what was
expected, what arrived, where, and which clause."""

from __future__ import annotations

from ..meaning.results import CaseResult
from ..meaning.verdict import FAIL, INCONCLUSIVE, Verdict


def render_failure(r: CaseResult) -> str:
    """The failure text: which step, what was expected, what arrived, where, and which clause."""
    lines = [f"{r.id} {str(r.verdict).upper()}: {r.title}", f"  case: {r.location}"]
    if r.test_purposes:
        lines.append(f"  test purposes: {', '.join(r.test_purposes)}")
    shown = False
    for step in r.steps:
        bad = [f for f in step.findings if f.outcome in (FAIL, INCONCLUSIVE)]
        if not bad and not (r.verdict == Verdict.INCONCLUSIVE and step.note):
            continue
        lines.append(f"  step {step.name} ({step.location}){': ' + step.note if step.note else ''}")
        for f in bad:
            shown = True
            lines.append(f"    {f.outcome.upper()} {f.check} [{f.level}, {f.ref}]")
            lines.append(f"      expected: {f.expected}")
            lines.append(f"      observed: {f.observed}")
            if f.location:
                lines.append(f"      check written at {f.location}")
        if step.response_index is not None and bad:
            msg = r.messages[step.response_index]
            lines.append("      response:")
            lines.extend("        | " + ln for ln in msg.text.rstrip().splitlines()[:25])
    if not shown:
        lines.append(f"  reason: {r.reason}")
    if r.pcap:
        lines.append(f"  pcap: {r.pcap}")
    return "\n".join(lines)
