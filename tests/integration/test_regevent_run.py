"""The reg-event cases (testcases/regevent/) end to end against the embedded reference S-CSCF:
every REGEV case passes over UDP and TCP, and each case's pcap re-judged offline
(``conformance analyze --case``, the step kinds' offline handlers) gives the live verdict and
the same findings."""

from __future__ import annotations

import json
import re

from suite_runner import ROOT, run_suite


def test_regevent_cases_pass_against_the_reference_and_rejudge_the_same(tmp_path, capsys):
    from conformance.analysis.cli import main as analyze_main

    run = run_suite(tmp_path, "-k", "REGEV", target=ROOT / "targets" / "reference-rel8.yaml")
    assert run.results is not None, run.output[-3000:]
    cases = [c for c in run.results["cases"] if c["case_id"].startswith("REGEV-")]
    assert len(cases) >= 16, [c["id"] for c in cases]
    assert {c["transport"] for c in cases} == {"udp", "tcp"}
    bad = {c["id"]: c["reason"] for c in cases if c["verdict"] != "pass"}
    assert not bad, bad
    for case in cases:
        findings = [f for s in case["steps"] for f in s["findings"]]
        assert any(f["check"].startswith("NOTIFY of subscription") for f in findings) or \
            case["case_id"] == "REGEV-008", case["id"]
        case_file = re.match(r"^(.*?):\d+", case["location"]).group(1)
        out = tmp_path / f"{case['id']}.json"
        status = analyze_main([case["pcap"], "--case", case_file, "--id", case["case_id"],
                               "--transport", case["transport"], "--json", str(out), "-q",
                               "--target", str(ROOT / "targets" / "reference-rel8.yaml")])
        capsys.readouterr()
        doc = json.loads(out.read_text())
        assert doc["case"]["verdict"] == case["verdict"], (case["id"], doc["case"]["reason"])
        assert status == 0, case["id"]
        live = [(f["check"], f["outcome"]) for s in case["steps"] for f in s["findings"]]
        offline = [(f["check"], f["outcome"]) for s in doc["case"]["steps"] for f in s["findings"]]
        assert offline == live, case["id"]
