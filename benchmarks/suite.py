#!/usr/bin/env python3
"""Wall time of `conformance run` against the embedded reference: start-up, the whole suite
serially and with pytest-xdist, per-case overhead; checks that parallel runs give the same verdicts.

    python benchmarks/suite.py [-k EXPR] [--target PROFILE] [--workers 2,auto] [--json FILE]

Figures, each from its own `conformance run` process:

* ``import_s``: importing the command (``python -c "import conformance.cli"``), and
  ``startup_s``: `conformance run` selecting no case (interpreter, pytest, plugin, loading and
  collecting every case file; exit 3 "no case selected");
* ``serial_s``: the run; ``case_s``: the sum of the cases' own durations (results.json), of which
  ``wait_s`` are the waits the cases make by the RFC (their ``wait:`` steps, e.g. for an
  expiry); per case, ``engine_ms`` = (case_s - wait_s) / cases (sending, the SUT's answer,
  checking, the pcap) and ``harness_ms`` = (serial_s - startup_s - case_s) / cases (pytest's
  item, the reports);
* ``parallel``: the same run with ``-n W`` for each W of ``--workers``, its wall time, speed-up
  and whether every case got the same verdict as in the serial run.
"""

from __future__ import annotations

import argparse
import json
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "benchmarks"))

from _machine import machine, print_machine, write_json  # noqa: E402


def timed(cmd: list[str]) -> tuple[float, subprocess.CompletedProcess]:
    t0 = time.perf_counter()
    p = subprocess.run(cmd, cwd=ROOT, capture_output=True, text=True)
    return time.perf_counter() - t0, p


def conformance_run(args: list[str], tmp: Path, name: str) -> dict:
    reports, pcaps = tmp / name / "reports", tmp / name / "pcaps"
    wall, p = timed([sys.executable, "-m", "conformance", "run", "-q", "--reports-dir", str(reports),
                     "--pcap-dir", str(pcaps)] + args)
    results = reports / "results.json"
    cases = json.loads(results.read_text())["cases"] if results.exists() else []
    return {"wall_s": round(wall, 3), "exit": p.returncode, "cases": len(cases),
            "verdicts": {c["id"]: c["verdict"] for c in cases},
            "case_s": round(sum(c.get("duration") or 0.0 for c in cases), 3),
            "tail": p.stdout.strip().splitlines()[-1:] if p.stdout else p.stderr[-300:]}


def wait_seconds(verdicts: dict[str, str], cases_dir: Path) -> float:
    """The seconds of ``wait:`` steps of the cases that ran (per transport they ran over)."""
    sys.path.insert(0, str(ROOT))
    from conformance.cases.loader import load_case_file

    waits: dict[str, float] = {}
    for path in sorted(cases_dir.rglob("*.y*ml")):
        try:
            for c in load_case_file(path):
                waits[c.id] = sum(float(s.options.get("seconds", 0) or 0) for s in c.steps if s.action == "wait")
        except Exception:
            continue
    ran = [k.split("[")[0] for k, v in verdicts.items() if v != "not applicable"]
    return round(sum(waits.get(cid, 0.0) for cid in ran), 3)


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("-k", dest="keyword", help="only these cases (pytest -k), e.g. for a smoke run")
    ap.add_argument("--target", help="target profile (default: the embedded reference, rel8)")
    ap.add_argument("--workers", default="2,auto", help="xdist worker counts to compare, '' for none")
    ap.add_argument("--json", default=str(ROOT / "benchmarks" / "out" / "suite.json"))
    a = ap.parse_args(argv)
    m = machine()
    print_machine(m)
    sel = (["-k", a.keyword] if a.keyword else []) + ([f"--target={a.target}"] if a.target else [])
    doc: dict = {"benchmark": "suite", "machine": m, "selection": a.keyword, "target": a.target or "reference-rel8"}
    with tempfile.TemporaryDirectory() as td:
        tmp = Path(td)
        wall, _ = timed([sys.executable, "-c", "import conformance.cli"])
        doc["import_s"] = round(wall, 3)
        base, _ = timed([sys.executable, "-c", "pass"])
        doc["python_s"] = round(base, 3)
        s = conformance_run(["-k", "no_case_is_called_this"] + ([f"--target={a.target}"] if a.target else []),
                            tmp, "startup")
        doc["startup_s"] = s["wall_s"]
        print(f"python alone {doc['python_s']} s; import conformance.cli {doc['import_s']} s; "
              f"start-up (run selecting nothing, exit {s['exit']}) {doc['startup_s']} s")
        serial = conformance_run(sel, tmp, "serial")
        n = max(1, serial["cases"])
        waits = wait_seconds(serial["verdicts"], ROOT / "testcases")
        doc["serial"] = {k: v for k, v in serial.items() if k != "verdicts"}
        doc["serial"].update({
            "wait_s": waits,
            "engine_ms_per_case": round((serial["case_s"] - waits) / n * 1000, 1),
            "harness_ms_per_case": round((serial["wall_s"] - doc["startup_s"] - serial["case_s"]) / n * 1000, 1),
            "verdict_counts": {v: list(serial["verdicts"].values()).count(v) for v in sorted(set(serial["verdicts"].values()))}})
        print(f"serial: {serial['cases']} case runs in {serial['wall_s']} s (exit {serial['exit']}); cases' own time "
              f"{serial['case_s']} s of which waits {waits} s; per case: engine {doc['serial']['engine_ms_per_case']} ms, "
              f"harness {doc['serial']['harness_ms_per_case']} ms")
        doc["parallel"] = {}
        for w in [x for x in a.workers.split(",") if x]:
            r = conformance_run(sel + ["-n", w], tmp, f"n{w}")
            diff = sorted(k for k in set(serial["verdicts"]) | set(r["verdicts"])
                          if serial["verdicts"].get(k) != r["verdicts"].get(k))
            doc["parallel"][w] = {"wall_s": r["wall_s"], "exit": r["exit"], "cases": r["cases"],
                                  "speedup": round(serial["wall_s"] / r["wall_s"], 2) if r["wall_s"] else None,
                                  "same_verdicts": not diff, "differences": diff[:20]}
            print(f"-n {w}: {r['cases']} case runs in {r['wall_s']} s (x{doc['parallel'][w]['speedup']}), "
                  f"same verdicts: {not diff}" + (f" (differ: {', '.join(diff[:5])})" if diff else ""))
    write_json(a.json, doc)
    return 0


if __name__ == "__main__":
    sys.exit(main())
