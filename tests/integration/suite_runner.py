"""Run the conformance suite as a user does (a subprocess of the ``conformance`` command)."""

from __future__ import annotations

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
    env = dict(os.environ, PYTHONDONTWRITEBYTECODE="1")
    proc = subprocess.run(cmd, cwd=ROOT, capture_output=True, text=True, timeout=timeout, env=env)
    path = reports / "results.json"
    results = json.loads(path.read_text()) if path.exists() else None
    return SuiteRun(proc.returncode, proc.stdout + proc.stderr, results, reports, pcaps)
