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
    out = {}
    for req in sorted(by_req):
        vs = by_req[req]
        if "fail" in vs or "error" in vs:
            out[req] = "fail"
        elif "inconclusive" in vs:
            out[req] = "inconclusive"
        elif "pass" in vs:
            out[req] = "pass"
        else:
            out[req] = "not applicable"
    return out


def write_results(path: Path, results: list[dict], meta: dict[str, Any]) -> None:
    doc = {"meta": meta, "counts": counts(results), "requirements": requirement_verdicts(results),
           "cases": sorted(results, key=lambda r: r["id"])}
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_suffix(path.suffix + ".tmp")
    tmp.write_text(json.dumps(doc, indent=2, ensure_ascii=False), encoding="utf-8")
    tmp.replace(path)


def summary_lines(results: list[dict]) -> list[str]:
    c = counts(results)
    lines = ["  ".join(f"{k}: {c[k]}" for k in ORDER)]
    reqs = requirement_verdicts(results)
    if reqs:
        lines.append("requirements: " + "  ".join(f"{k}={v.upper()}" for k, v in reqs.items()))
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
