"""Round trip: a live run's pcaps, re-judged offline with --case, give the verdicts of results.json.

Against the reference (every case passes or is not applicable) and against a fault profile
(cases fail); each case is re-judged by the ``analyze`` command's ``main`` (in-process).
"""

import json
import os
import re
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
sys.path.insert(0, str(ROOT / "tests" / "integration"))
from suite_runner import shared_run  # noqa: E402


def _run(tmp_path_factory, target: str | None) -> dict:
    """The session's run of the target (the one its expected table and the pcap tests judge)."""
    run = shared_run(tmp_path_factory, target=None if target is None else ROOT / target)
    assert run.results is not None, run.output[-3000:]
    return run.results


@pytest.mark.parametrize("target", [None, "tests/targets/fault-omit-require-outbound.yaml",
                                    "tests/targets/fault-route-by-contact.yaml", "targets/reference-tls-ws.yaml"],
                         ids=["reference-rel8", "fault-omit-require-outbound", "fault-route-by-contact",
                              "reference-tls-ws"])
def test_offline_verdicts_equal_live_verdicts(tmp_path, tmp_path_factory, target, capsys):
    from conformance.analysis.cli import main as analyze_main
    from conformance.analysis.rejudge import live_only
    from conformance.cases.loader import load_case_file
    from conformance.analysis.rejudge import OFFLINE_UNSUPPORTED

    results = _run(tmp_path_factory, target)
    checked, verdicts, skipped = 0, set(), set()
    for case in results["cases"]:
        if case["pcap"] is None:
            continue
        case_file = re.match(r"^(.*?):\d+", case["location"]).group(1)
        spec = next(c for c in load_case_file(ROOT / case_file) if c.id == case["case_id"])
        if live_only(spec):     # judged live only (CRLF edge cases, malformed STUN, keep-alive loops)
            skipped.add(case["case_id"])
            continue
        if any(s["action"] in OFFLINE_UNSUPPORTED for s in case["steps"]):
            continue    # a storm or race of REGISTERs built at run time (analysis/rejudge.py)
        if any(f["check"] == "TLS/WebSocket handshake" for s in case["steps"] for f in s["findings"]):
            continue    # no flow opened (TLS-004: the certificate does not name the server): no SIP to read
        out = tmp_path / f"{case['id']}.json"
        argv = [case["pcap"], "--case", case_file, "--id", case["case_id"], "--transport", case["transport"],
                "--json", str(out), "-q"]
        if target:
            argv += ["--target", target]
        status = analyze_main(argv)  # in-process: the command line itself is tested in test_offline_rules
        doc = json.loads(out.read_text())
        assert doc["case"]["verdict"] == case["verdict"], (case["id"], doc["case"]["reason"], case["reason"])
        assert status == (1 if case["verdict"] == "fail" else 0), (case["id"], capsys.readouterr().err)
        capsys.readouterr()
        checked += 1
        verdicts.add(case["verdict"])
    assert checked >= 30
    # judged live only: keep-alive loops, and the packet: step's crafted fragments (steps/packet.py)
    # and the WebSocket checks reading frames the engine saw (checks/transport.py live_only)
    assert skipped <= {"KA-006", "KA-007", "KA-008", "KA-009", "KA-010", "PKT-001", "PKT-002",
                       "WS-001", "WS-002", "WS-003", "WS-004"}, skipped
    assert ("fail" in verdicts) == (target is not None and "reference" not in target)


def test_a_rejected_register_that_changed_bindings_is_found_offline(tmp_path, capsys):
    """The `unchanged` check (checks/unchanged.py) sees the same REGISTER history in a pcap as
    live: REG-011 against fault-commit-rejected-contacts fails offline on the fetch after the 400."""
    from conformance.analysis.cli import main as analyze_main

    target = "tests/targets/fault-commit-rejected-contacts.yaml"
    cmd = [sys.executable, "-m", "conformance", "run", "-q", f"--reports-dir={tmp_path / 'rep'}",
           f"--pcap-dir={tmp_path / 'pcaps'}", f"--target={target}", "-k", "REG-011"]
    subprocess.run(cmd, cwd=ROOT, capture_output=True, text=True, timeout=240,
                   env=dict(os.environ))  # bytecode: tests/conftest.py
    results = json.loads((tmp_path / "rep" / "results.json").read_text())
    [case] = [c for c in results["cases"] if c["id"] == "REG-011[udp]"]
    assert case["verdict"] == "fail" and "bindings unchanged by the rejected REGISTER" in case["reason"]
    out = tmp_path / "offline.json"
    status = analyze_main([case["pcap"], "--case", str(ROOT / "testcases/registrar/contact-rules.yaml"), "--id", "REG-011",
                           "--transport", "udp", "--json", str(out), "-q", "--target", target])
    capsys.readouterr()
    doc = json.loads(out.read_text())
    assert status == 1 and doc["case"]["verdict"] == "fail"
    assert "bindings unchanged by the rejected REGISTER" in doc["case"]["reason"]
