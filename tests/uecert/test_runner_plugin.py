"""``conformance run`` with a role ue target (a fake driver, in a subprocess): only UE case
files are collected, as ID[transport] items; reports, JUnit and a certificate that says the UE
is certified; a network target never collects UE files; --long un-skips long cases."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import textwrap
from pathlib import Path

from suite_paths import ROOT

HERE = Path(__file__).resolve().parent

UE_CASE = """\
role: ue
id: UE-TST-{n}
title: fake UE registers
purpose: the plugin end to end
requires: [outbound]
transports: [udp, tcp, tls]
long: {long}
script:
  - ue: start
checks:
  - test_fake_supported_outbound: {{}}
"""

TARGET = """\
name: ue-fake
description: the tests' fake UE
role: ue
host: 127.0.0.1
port: 0
transports: [udp, tcp]
capabilities: [outbound]
ue:
  driver: fake
  start_timeout: 3
"""


def _run(tmp: Path, *args: str) -> tuple[int, str, Path]:
    reports = tmp / "reports"
    code = textwrap.dedent(f"""
        import sys
        sys.path.insert(0, {str(HERE)!r})
        import uecert_fake_driver
        from conformance.cli import main
        sys.exit(main(sys.argv[1:]))
    """)
    cmd = [sys.executable, "-c", code, "run", f"--reports-dir={reports}", f"--pcap-dir={tmp / 'pcaps'}", *args]
    env = dict(os.environ, PYTHONPATH=str(ROOT))  # bytecode: tests/conftest.py
    p = subprocess.run(cmd, cwd=ROOT, capture_output=True, text=True, timeout=120, env=env)
    return p.returncode, p.stdout + p.stderr, reports


def _tree(tmp: Path) -> Path:
    cases = tmp / "cases"
    (cases / "ue").mkdir(parents=True)
    (cases / "ue" / "one.yaml").write_text(UE_CASE.format(n="001", long="false"))
    (cases / "ue" / "long.yaml").write_text(UE_CASE.format(n="002", long="true"))
    net = (ROOT / "testcases" / "registrar" / "reg1a.yaml").read_text()
    (cases / "reg1a.yaml").write_text(net)
    (tmp / "ue-fake.yaml").write_text(TARGET)
    return cases


def test_a_ue_target_runs_only_ue_cases_with_reports_and_certificate(tmp_path):
    cases = _tree(tmp_path)
    rc, out, reports = _run(tmp_path, f"--target={tmp_path / 'ue-fake.yaml'}", str(cases))
    results = json.loads((reports / "results.json").read_text())
    verdicts = {c["id"]: c["verdict"] for c in results["cases"]}
    assert verdicts == {"UE-TST-001[udp]": "pass", "UE-TST-001[tcp]": "pass",
                        "UE-TST-002[udp]": "not applicable", "UE-TST-002[tcp]": "not applicable"}, out[-3000:]
    assert rc == 0, out[-3000:]
    long = next(c for c in results["cases"] if c["id"] == "UE-TST-002[udp]")
    assert "make run-ue" in long["reason"]
    assert results["meta"]["target"]["role"] == "ue"
    cert = (reports / "certificate.html").read_text()
    assert "UE under test" in cert and "The UE <b>ue-fake</b> is certified" in cert
    junit = (reports / "junit.xml").read_text()
    assert 'UE-TST-001[udp]' in junit
    assert (tmp_path / "pcaps" / "UE-TST-001_udp_.pcap").exists()

    rc, out, reports = _run(tmp_path / "long", f"--target={tmp_path / 'ue-fake.yaml'}", str(cases / "ue"),
                            "--long")
    results = json.loads((reports / "results.json").read_text())
    assert {c["id"]: c["verdict"] for c in results["cases"]}["UE-TST-002[tcp]"] == "pass", out[-3000:]


def test_a_network_target_never_collects_ue_cases(tmp_path):
    cases = _tree(tmp_path)
    rc, out, reports = _run(tmp_path, str(cases))
    results = json.loads((reports / "results.json").read_text())
    assert {c["id"] for c in results["cases"]} == {"REG-001[udp]", "REG-001[tcp]"}, out[-3000:]
    assert rc == 0
