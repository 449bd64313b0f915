"""results.json and the console summary, rendered from case results as plain dicts."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any, Iterable

ORDER = ["pass", "fail", "inconclusive", "not applicable", "error"]


def counts(results: Iterable[dict]) -> dict[str, int]:
    c = {v: 0 for v in ORDER}
    for r in results:
        c[r["verdict"]] = c.get(r["verdict"], 0) + 1
    return c


def requirement_verdicts(results: list[dict]) -> dict[str, str]:
    """A verdict per requirement (R1, R2, ...) from the cases that cover it.

    fail or error if any covering case failed or errored; else inconclusive if any was
    inconclusive; else pass if any passed; else not applicable.
    """
    by_req: dict[str, list[str]] = {}
    for r in results:
        for req in r.get("requirements", []):
            by_req.setdefault(req, []).append(r["verdict"])
    return {req: derive(by_req[req]) for req in sorted(by_req)}


def derive(verdicts: Iterable[str]) -> str:
    """One verdict from the verdicts of the cases behind a requirement, a clause or a run.

    fail if any case failed or errored (an error is never taken as a pass); else
    inconclusive if any was inconclusive; else pass if any passed; else not applicable
    (every case was not applicable, or there were none).
    """
    vs = set(verdicts)
    if "fail" in vs or "error" in vs:
        return "fail"
    if "inconclusive" in vs:
        return "inconclusive"
    if "pass" in vs:
        return "pass"
    return "not applicable"


def write_results(path: Path, results: list[dict], meta: dict[str, Any]) -> None:
    doc = {"meta": meta, "counts": counts(results), "requirements": requirement_verdicts(results),
           "cases": sorted(results, key=lambda r: r["id"])}
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_suffix(path.suffix + ".tmp")
    tmp.write_text(json.dumps(doc, indent=2, ensure_ascii=False), encoding="utf-8")
    tmp.replace(path)


REQUIREMENT_ORDER = ["R1", "R2", "R3", "P1", "P2", "REGEV", "GRUU"]
_COLUMNS = [("pass", "pass"), ("fail", "fail"), ("inconc", "inconclusive"), ("n/a", "not applicable"),
            ("error", "error")]


def requirement_table(results: list[dict]) -> list[str]:
    """A plain-text table for CI logs: requirement | pass | fail | inconc | n/a | error | verdict."""
    reqs = requirement_verdicts(results)
    if not reqs:
        return []
    names = [q for q in REQUIREMENT_ORDER if q in reqs] + [q for q in reqs if q not in REQUIREMENT_ORDER]
    rows = [["requirement"] + [h for h, _ in _COLUMNS] + ["verdict"]]
    for q in names:
        c = counts(r for r in results if q in r.get("requirements", []))
        rows.append([q] + [str(c[k]) for _, k in _COLUMNS] + [reqs[q].upper()])
    widths = [max(len(row[i]) for row in rows) for i in range(len(rows[0]))]

    def fmt(row: list[str]) -> str:
        cells = [row[0].ljust(widths[0])] + [row[i].rjust(widths[i]) for i in range(1, len(row) - 1)]
        return " | ".join(cells + [row[-1].ljust(widths[-1])]).rstrip()

    sep = "-+-".join("-" * w for w in widths)
    return [fmt(rows[0]), sep] + [fmt(r) for r in rows[1:]]


def overall_verdict(results: list[dict], collection_errors: int = 0) -> str:
    """The run's verdict: derived from its cases; a run in which a case file could not be loaded
    is never a pass (its cases did not all run): error, unless a case failed."""
    v = derive(r["verdict"] for r in results)
    if collection_errors and v != "fail":
        return "error"
    return v


def summary_lines(results: list[dict], collection_errors: int = 0) -> list[str]:
    c = counts(results)
    lines = ["  ".join(f"{k}: {c[k]}" for k in ORDER)]
    table = requirement_table(results)
    if table:
        lines.append("requirements: verdict per requirement, from the case runs covering it")
        lines += ["  " + row for row in table]
    overall = overall_verdict(results, collection_errors).upper()
    if collection_errors:
        overall += f" ({collection_errors} case file(s) could not be loaded: not a verdict on the SUT)"
    lines.append(f"overall: {overall}")
    width = max((len(r["id"]) for r in results), default=10)
    for r in sorted(results, key=lambda r: r["id"]):
        if r["verdict"] == "pass" and not r.get("warnings"):
            continue
        label = r["verdict"].upper()
        if r["verdict"] == "pass":
            label = f"PASS ({len(r['warnings'])} warning{'s' if len(r['warnings']) != 1 else ''})"
        reason = r["reason"] if r["verdict"] != "pass" else r["warnings"][0]
        if len(reason) > 160:
            reason = reason[:157] + "..."
        lines.append(f"  {r['id']:<{width}}  {label:<14} {reason}")
    return lines
