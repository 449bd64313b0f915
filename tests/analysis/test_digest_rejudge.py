"""Cases run against an authenticating SUT re-judged offline: the 401 the live run answered within a
step is followed to the retry and its answer (a step with digest: none is judged on the 401), so
the offline verdicts equal the live ones, fails included."""

import json
import os
import re
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
PICK = "SEC-AUTH or REG-003 or REG-004 or SEC-006 or SEC-032 or TERM-001 or RFC4475-REGBADCT"


@pytest.mark.parametrize("target", ["targets/reference-auth.yaml", "tests/targets/fault-accept-bad-credentials.yaml"])
def test_offline_verdicts_equal_live_ones_with_digest(tmp_path, target, capsys):
    from conformance.analysis.cli import main as analyze_main

    subprocess.run([sys.executable, "-m", "conformance", "run", "-q", f"--reports-dir={tmp_path / 'rep'}",
                    f"--pcap-dir={tmp_path / 'pcaps'}", f"--target={target}", "-k", PICK],
                   cwd=ROOT, capture_output=True, text=True, timeout=120,
                   env=dict(os.environ))  # bytecode: tests/conftest.py
    cases = [c for c in json.loads((tmp_path / "rep" / "results.json").read_text())["cases"] if c["pcap"]]
    assert len(cases) >= 14
    verdicts = set()
    for case in cases:
        out = tmp_path / f"{case['id']}.json"
        analyze_main([case["pcap"], "--case", re.match(r"^(.*?):\d+", case["location"]).group(1),
                      "--id", case["case_id"], "--transport", case["transport"], "--json", str(out), "-q",
                      "--target", target])
        capsys.readouterr()
        doc = json.loads(out.read_text())["case"]
        assert doc["verdict"] == case["verdict"], (case["id"], doc["reason"], case["reason"])
        verdicts.add(case["verdict"])
    assert ("fail" in verdicts) == ("fault" in target)
