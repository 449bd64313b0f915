"""``conformance run`` as a CI gate: its exit codes, and the comparison with a baseline.

The pytest plugin leaves pytest's own exit status alone (plain ``pytest testcases ...`` behaves
as pytest always does).  ``conformance run`` calls pytest, then reads what the run wrote
(``results.json``) and what pytest saw (collection errors, an interrupt) and decides its own
exit code:

====  ======================================================================================
code  meaning
====  ======================================================================================
0     every applicable case passed; with ``--baseline``: every verdict is the accepted one
1     a case failed (or errored: the suite's own fault is never a pass); with ``--baseline``:
      a difference from the accepted verdicts other than a new inconclusive
2     no fail, but a case was inconclusive; with ``--baseline``: the only differences are new
      inconclusives
3     usage or input error: a bad option, target profile or baseline, a malformed case file
      (the other cases still run and are reported, but the run is not a verdict on the SUT),
      no case selected, or an internal error of the suite
4     the SUT was unreachable: every applicable case is inconclusive and not one message came
      from the SUT (it could not be started, refused every connection or never answered)
5     interrupted (Ctrl-C, SIGINT or SIGTERM): the reports of the cases that finished are still
      written, marked ``complete: false``
====  ======================================================================================

When several apply, the first in this order wins: 5, 3, 4, then 1 or 2.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path

from .baseline import TODO, Difference, Table, compare, header_of, render, updated

OK = 0
FAILED = 1
INCONCLUSIVE = 2
USAGE = 3
UNREACHABLE = 4
INTERRUPTED = 5

MEANING = {
    OK: "every applicable case passed",
    FAILED: "failures",
    INCONCLUSIVE: "inconclusive verdicts, no failure",
    USAGE: "usage or input error",
    UNREACHABLE: "the SUT was unreachable",
    INTERRUPTED: "interrupted",
}

# pytest's exit statuses (pytest.ExitCode), as plain numbers
PYTEST_INTERRUPTED = 2
PYTEST_INTERNAL_ERROR = 3
PYTEST_USAGE_ERROR = 4
PYTEST_NO_TESTS = 5

def _answered(result: dict) -> bool:
    """Did anything come back from the SUT in this case?  An ICMP error the engine records as a
    received entry (no message text: "ICMP port unreachable from ...") is not an answer."""
    return any(m.get("direction") == "received" and m.get("text") for m in result.get("messages", []))


def sut_unreachable(results: list[dict]) -> bool:
    """Every applicable case inconclusive, and not one message received from the SUT (the SUT
    did not start: "SUT not available"; refused every connection or sent ICMP errors: "SUT
    reachable" findings; or never answered)."""
    applicable = [r for r in results if r["verdict"] != "not applicable"]
    return bool(applicable) and all(r["verdict"] == "inconclusive" and not _answered(r) for r in applicable)


def verdict_code(results: list[dict]) -> int:
    """Without a baseline: 1 on a fail or error, else 2 on an inconclusive, else 0."""
    verdicts = {r["verdict"] for r in results}
    if verdicts & {"fail", "error"}:
        return FAILED
    if "inconclusive" in verdicts:
        return INCONCLUSIVE
    return OK


def baseline_code(diffs: list[Difference]) -> int:
    if not diffs:
        return OK
    if all(d.kind == "new-inconclusive" for d in diffs):
        return INCONCLUSIVE
    return FAILED


@dataclass
class BaselineCheck:
    """The comparison of a run with a baseline, ready to print."""

    diffs: list[Difference]
    ignored: list[Difference] = field(default_factory=list)  # deselected cases (-k, -m, paths)
    todo: list[str] = field(default_factory=list)  # accepted fails whose why is still a TODO

    def lines(self, path: Path) -> list[str]:
        out = []
        if self.diffs:
            out.append(f"baseline {path}: {len(self.diffs)} difference(s) from the accepted verdicts:")
            out += [f"  {d}" for d in self.diffs]
        else:
            out.append(f"baseline {path}: every verdict is the accepted one")
        if self.ignored:
            out.append(f"  ({len(self.ignored)} case(s) of the baseline were not selected in this run "
                       f"and are not counted as missing)")
        if self.todo:
            out.append(f"  note: {len(self.todo)} accepted fail(s) still have a TODO why: {', '.join(self.todo)}")
        return out


def check_baseline(table: Table, results: list[dict], *, narrowed: bool) -> BaselineCheck:
    diffs = compare(table, results)
    ignored = [d for d in diffs if narrowed and d.kind == "missing"]
    kept = [d for d in diffs if d not in ignored]
    todo = sorted(k for k, e in table.cases.items() if e.verdict == "fail" and e.why.startswith("TODO"))
    return BaselineCheck(kept, ignored, todo)


NEW_HEADER = """\
# Accepted verdicts of the outbound-conformance suite against {target}, one per case item.
# Written by `conformance run --update-baseline`; `conformance run --baseline FILE` fails on any
# difference (docs/ci-gate.md).  Each accepted fail says which check fails (reason_contains) and
# why (what the SUT sends, which clause it breaks); `link:` may point at the upstream issue.
"""


def write_updated(path: Path, old: Table | None, results: list[dict], target: str, *,
                  keep_others: bool = False) -> list[str]:
    """Rewrite ``path`` to match ``results``; returns the items whose why is a new TODO.

    ``keep_others`` (a narrowed selection): the entries of cases that did not run stay as they are."""
    new = updated(old, results, old.target if old is not None and old.target else target)
    if keep_others and old is not None:
        merged = dict(old.cases)
        merged.update(new.cases)
        new.cases = dict(sorted(merged.items()))
    if path.exists():
        new.header = header_of(path)
    if not new.header:
        new.header = NEW_HEADER.format(target=new.target)
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(path.name + ".tmp")
    tmp.write_text(render(new), encoding="utf-8")
    tmp.replace(path)
    return sorted(k for k, e in new.cases.items() if e.verdict == "fail" and e.why == TODO)
