"""Expected-verdict tables (baselines): what a SUT profile is known to earn, case by case.

A table names its target and, per case item, the verdict; an accepted fail also says which
check fails (``reason_contains``, a substring of the case's reason) and ``why`` (what the SUT
sends and which clause that breaks).  The project keeps one per SUT profile under expected/;
a CI gate keeps one for its own SUT.  Comparing a run with a table reports every difference:
a new fail, a new inconclusive, a case whose accepted fail now fails differently, a fixed
case the table still expects to fail (so the table stays honest), cases missing on either side.
Another verdict may also name its reason (``reason_contains``, e.g. an inconclusive because the
SUT's certificate was refused): the run must give that verdict for that reason.
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from pathlib import Path
from typing import Iterable

import yaml

TODO = "TODO: say what the SUT sends and which clause it breaks"


@dataclass
class Expected:
    verdict: str
    reason_contains: str = ""
    why: str = ""
    link: str = ""  # e.g. the upstream issue of an accepted deviation
    classification: str = ""  # for classification cases: the class the SUT is expected to show
    # A second verdict the case is known to earn from run to run (a race in the SUT), accepted
    # beside ``verdict``; it needs a ``why`` naming the race, and ``reason_contains`` when either
    # verdict is a fail (the fail must be that one).
    intermittent: str = ""


@dataclass
class Table:
    target: str
    cases: dict[str, Expected] = field(default_factory=dict)
    header: str = ""


@dataclass
class Difference:
    item: str
    kind: str  # new-fail | new-inconclusive | changed | fixed | missing | extra | reason
    expected: str
    got: str
    detail: str = ""

    def __str__(self) -> str:
        return f"{self.item}: {self.kind}: expected {self.expected}, got {self.got}" + \
            (f" ({self.detail})" if self.detail else "")


class TableError(ValueError):
    pass


def load_table(path: Path) -> Table:
    try:
        doc = yaml.safe_load(Path(path).read_text(encoding="utf-8"))
    except (OSError, yaml.YAMLError) as exc:
        raise TableError(f"{path}: cannot read the expected-verdict table: {exc}") from None
    if not isinstance(doc, dict) or not isinstance(doc.get("cases"), dict):
        raise TableError(f"{path}: an expected-verdict table needs 'target:' and a 'cases:' mapping")
    table = Table(target=str(doc.get("target", "")))
    for item, spec in doc["cases"].items():
        if isinstance(spec, str):
            table.cases[item] = Expected(verdict=spec)
        elif isinstance(spec, dict) and "verdict" in spec:
            table.cases[item] = Expected(verdict=spec["verdict"], reason_contains=spec.get("reason_contains", ""),
                                         why=spec.get("why", ""), link=spec.get("link", ""),
                                         classification=spec.get("classification", ""),
                                         intermittent=spec.get("intermittent", ""))
        else:
            raise TableError(f"{path}: {item}: give a verdict, or a mapping with verdict, reason_contains, why")
        if table.cases[item].verdict == "fail" and not (table.cases[item].why and table.cases[item].reason_contains):
            raise TableError(f"{path}: {item}: an accepted fail needs 'reason_contains' and 'why'")
        e = table.cases[item]
        if e.intermittent and (e.intermittent == e.verdict or not e.why or
                               ("fail" in (e.verdict, e.intermittent) and not e.reason_contains)):
            raise TableError(f"{path}: {item}: an intermittent verdict differs from 'verdict' and needs 'why' "
                             "(the race), and 'reason_contains' when either is a fail")
    return table


def compare(table: Table, results: Iterable[dict]) -> list[Difference]:
    """Every difference between a run's results (results.json cases) and the table."""
    got = {r["id"]: r for r in results}
    diffs: list[Difference] = []
    for item, r in sorted(got.items()):
        exp = table.cases.get(item)
        v = r["verdict"]
        if exp is None:
            diffs.append(Difference(item, "extra", "(not in the table)", v, r["reason"][:200]))
            continue
        if v == exp.intermittent and (v != "fail" or exp.reason_contains in r["reason"]):
            continue
        if v == exp.verdict:
            if exp.classification and r.get("classification") != exp.classification:
                diffs.append(Difference(item, "classification", exp.classification,
                                        r.get("classification") or "(none)"))
            if v == "fail" and exp.reason_contains not in r["reason"]:
                diffs.append(Difference(item, "reason", f"a fail on {exp.reason_contains!r}", "another fail",
                                        r["reason"][:300]))
            elif v != "fail" and exp.reason_contains and not exp.intermittent \
                    and exp.reason_contains not in r["reason"]:
                # e.g. an accepted inconclusive for a stated reason (a certificate refused)
                diffs.append(Difference(item, "reason", f"{v} for {exp.reason_contains!r}", f"{v} for another reason",
                                        r["reason"][:300]))
            continue
        if exp.verdict == "fail" and v == "pass":
            kind = "fixed"
        elif v == "fail":
            kind = "new-fail"
        elif v in ("inconclusive", "error"):
            kind = "new-inconclusive"
        else:
            kind = "changed"
        diffs.append(Difference(item, kind, exp.verdict, v, r["reason"][:300]))
    for item in sorted(set(table.cases) - set(got)):
        diffs.append(Difference(item, "missing", table.cases[item].verdict, "(not run)"))
    return diffs


def _first_failing_check(result: dict) -> str:
    for step in result.get("steps", []):
        for f in step.get("findings", []):
            if f["outcome"] == "fail":
                check = f["check"]
                return "classification" if check.startswith("[") else check
    return result["reason"][:60]


def updated(table: Table | None, results: Iterable[dict], target: str) -> Table:
    """A table matching ``results``; accepted fails keep their why, new fails get a TODO."""
    new = Table(target=target, header=table.header if table else "")
    old = table.cases if table else {}
    for r in sorted(results, key=lambda r: r["id"]):
        v = r["verdict"]
        prev = old.get(r["id"])
        if prev is not None and prev.intermittent and v in (prev.verdict, prev.intermittent) and \
                (v != "fail" or prev.reason_contains in r["reason"]):
            new.cases[r["id"]] = prev
            continue
        if v != "fail":
            why = prev.why if prev is not None and prev.verdict == v else ""
            # an accepted reason of a non-fail verdict stays while the run still gives it
            reason = prev.reason_contains if prev is not None and prev.verdict == v and prev.reason_contains \
                and prev.reason_contains in r["reason"] else ""
            new.cases[r["id"]] = Expected(verdict=v, classification=r.get("classification") or "", why=why,
                                          reason_contains=reason)
            continue
        prev = old.get(r["id"])
        if prev is not None and prev.verdict == "fail" and prev.reason_contains in r["reason"]:
            new.cases[r["id"]] = prev
        else:
            new.cases[r["id"]] = Expected(verdict="fail", reason_contains=_first_failing_check(r), why=TODO)
    return new


def render(table: Table) -> str:
    lines = [table.header.rstrip("\n")] if table.header else []
    lines += [f"target: {table.target}", "cases:"]
    for item, e in table.cases.items():
        if e.intermittent:
            lines += [f"  {item}:", f"    verdict: {e.verdict}", f"    intermittent: {e.intermittent}"]
            if e.reason_contains:
                lines.append(f"    reason_contains: {json.dumps(e.reason_contains, ensure_ascii=False)}")
            lines.append(f"    why: {json.dumps(e.why, ensure_ascii=False)}")
            if e.link:
                lines.append(f"    link: {e.link}")
            continue
        if e.verdict != "fail" and (e.why or e.reason_contains):
            lines.append(f"  {item}:")
            lines.append(f"    verdict: {e.verdict}")
            if e.classification:
                lines.append(f"    classification: {e.classification}")
            if e.reason_contains:
                lines.append(f"    reason_contains: {json.dumps(e.reason_contains, ensure_ascii=False)}")
            if e.why:
                lines.append(f"    why: {json.dumps(e.why, ensure_ascii=False)}")
            continue
        if e.verdict != "fail" and e.classification:
            lines.append(f"  {item}: {{verdict: {e.verdict}, classification: {e.classification}}}")
            continue
        if e.verdict != "fail":
            lines.append(f"  {item}: {e.verdict}")
            continue
        lines.append(f"  {item}:")
        lines.append("    verdict: fail")
        lines.append(f"    reason_contains: {json.dumps(e.reason_contains, ensure_ascii=False)}")
        lines.append(f"    why: {json.dumps(e.why, ensure_ascii=False)}")
        if e.link:
            lines.append(f"    link: {e.link}")
    return "\n".join(lines) + "\n"


def header_of(path: Path) -> str:
    """The comment lines at the top of an existing table (kept when it is rewritten)."""
    out = []
    for line in Path(path).read_text(encoding="utf-8").splitlines():
        if not line.startswith("#"):
            break
        out.append(line)
    return "\n".join(out) + ("\n" if out else "")
