"""Run the conformance suite as a user does (a subprocess of the ``conformance`` command);
``shared_run``: a run several tests judge, made once per test session."""

from __future__ import annotations

import hashlib
import json
import os
import subprocess
import sys
from dataclasses import dataclass
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]


@dataclass
class SuiteRun:
    returncode: int
    output: str
    results: dict | None
    reports: Path
    pcaps: Path

    def verdicts(self) -> dict[str, str]:
        return {c["id"]: c["verdict"] for c in (self.results or {}).get("cases", [])}

    def case(self, item_id: str) -> dict:
        for c in self.results["cases"]:
            if c["id"] == item_id:
                return c
        raise KeyError(item_id)


def run_suite(tmp: Path, *args: str, target: str | Path | None = None, timeout: float = 240) -> SuiteRun:
    reports, pcaps = tmp / "reports", tmp / "pcaps"
    cmd = [sys.executable, "-m", "conformance", "run", f"--reports-dir={reports}", f"--pcap-dir={pcaps}"]
    if target is not None:
        cmd.append(f"--target={target}")
    cmd += list(args)
    # bytecode written: the suite's modules (assertion-rewritten by pytest, its plugin's package)
    # are compiled once for the session's runs instead of in each run (about 0.6 s of CPU a run)
    env = {k: v for k, v in os.environ.items() if k != "PYTHONDONTWRITEBYTECODE"}
    proc = subprocess.run(cmd, cwd=ROOT, capture_output=True, text=True, timeout=timeout, env=env)
    path = reports / "results.json"
    results = json.loads(path.read_text()) if path.exists() else None
    return SuiteRun(proc.returncode, proc.stdout + proc.stderr, results, reports, pcaps)


def shared_run(tmp_path_factory, *args: str, target: str | Path | None = None, timeout: float = 600) -> SuiteRun:
    """The suite run with these arguments against ``target``, made once per test session
    (session_shared.py) and judged by every test that asks for it: an expected table, the pcaps in
    tshark, the offline re-judging, the reports.  Its results, reports and pcaps are read only.
    A run that did not finish (timeout) is not kept: the next test to ask runs it again.
    ``timeout`` bounds a hung run (the first asker's); no verdict depends on it."""
    from session_shared import held, session_dir

    key = json.dumps([None if target is None else str(Path(target).resolve()), list(args)])
    folder = session_dir(tmp_path_factory) / f"run-{hashlib.sha256(key.encode()).hexdigest()[:16]}"
    with held(folder.with_name(folder.name + ".lock")):
        saved = folder / "run.json"
        if saved.exists():
            doc = json.loads(saved.read_text())
            path = folder / "reports" / "results.json"
            results = json.loads(path.read_text()) if path.exists() else None
            return SuiteRun(doc["returncode"], doc["output"], results, folder / "reports", folder / "pcaps")
        run = run_suite(folder, *args, target=target, timeout=timeout)
        saved.write_text(json.dumps({"key": key, "returncode": run.returncode, "output": run.output}))
        return run
