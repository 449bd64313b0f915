"""The suite as users drive it: the conformance command, plain pytest, selection, outputs."""

from __future__ import annotations

import json
import shutil
import subprocess
import sys
import xml.etree.ElementTree as ET
from pathlib import Path

import pytest

from suite_runner import ROOT, run_suite, shared_run


@pytest.fixture(scope="module")
def rel8_run(tmp_path_factory):
    return shared_run(tmp_path_factory)  # the run test_expected_verdicts.py compares with its table


def test_rel8_run_passes_everything_and_writes_all_outputs(rel8_run):
    assert rel8_run.returncode == 0, rel8_run.output[-3000:]
    res = rel8_run.results
    applicable = [c for c in res["cases"] if c["verdict"] != "not applicable"]
    assert res["counts"]["pass"] == len(applicable) > 30
    assert set(res["requirements"]) >= {"R1", "R2", "R3", "P1"}
    for case in applicable:
        for key in ("id", "title", "verdict", "reason", "requirements", "references", "pcap"):
            assert case[key], (case["id"], key)
        assert Path(case["pcap"]).exists()
        assert Path(case["pcap"]).name == case["id"].replace("[", "-").rstrip("]") + ".pcap"
    assert (rel8_run.reports / "report.html").exists()
    assert (rel8_run.reports / "junit.xml").exists()


def test_console_shows_a_verdict_per_case_and_a_summary(rel8_run):
    out = rel8_run.output
    assert "conformance verdicts" in out
    assert "pass: " in out and "requirements: " in out
    assert "REG-003[udp]" in out or "[" in out  # progress lines name the items


def test_html_report_has_verdicts_messages_and_pcap_links(rel8_run):
    html = (rel8_run.reports / "report.html").read_text()
    assert "Verdict" in html and 'data-verdict=\\"pass\\"' in html or 'data-verdict="pass"' in html
    assert "REGISTER sip:ims.test" in html  # the messages of each case
    assert "Require has outbound" in html  # the checks with their outcome
    assert ".pcap" in html


def test_junit_maps_verdicts(tmp_path_factory):
    run = shared_run(tmp_path_factory, target=ROOT / "targets/reference-rel7.yaml")
    tree = ET.parse(run.reports / "junit.xml")
    suite = tree.getroot().find("testsuite")
    skipped = suite.findall("testcase/skipped")
    assert int(suite.get("skipped")) == len(skipped) == run.results["counts"]["not applicable"] > 0
    assert "not applicable: target 'reference-rel7' does not declare capability 'outbound'" in \
        skipped[0].get("message")
    props = {p.get("name") for p in suite.find("testcase/properties")}
    assert {"verdict", "test_purposes", "references", "requirements"} <= props
    assert run.returncode == 0  # not applicable is not a failure


def test_keyword_and_marker_selection(tmp_path):
    run = run_suite(tmp_path / "k", "-k", "REG-003")
    assert sorted(run.verdicts()) == ["REG-003[tcp]", "REG-003[udp]"]
    run = run_suite(tmp_path / "m", "-m", "P1")
    assert sorted(run.verdicts()) == ["REG-030[tcp]", "REG-030[udp]"]
    run = run_suite(tmp_path / "t", "-k", "udp and REG-001")
    assert list(run.verdicts()) == ["REG-001[udp]"]


def test_malformed_case_file_is_a_collection_error_and_the_rest_still_runs(tmp_path):
    cases = tmp_path / "testcases"
    shutil.copytree(ROOT / "testcases", cases)
    bad = cases / "registrar" / "zz-bad.yaml"
    bad.write_text("id: BAD-001\ntitle: t\npurpose: p\nues:\n  a:\n    flows:\n      f1: {address: 1}\n"
                   "steps:\n  - register: f1\n    expcet: {status: 200}\n")
    run = run_suite(tmp_path, str(cases))
    assert run.returncode != 0
    assert "zz-bad.yaml:10: steps[0]" in run.output
    assert "did you mean 'expect'" in run.output
    counts = run.results["counts"]
    assert counts["pass"] + counts["not applicable"] == len(run.results["cases"]) and counts["pass"] > 30


def test_plain_pytest_with_a_target_option(tmp_path):
    proc = subprocess.run(
        [sys.executable, "-m", "pytest", "testcases", "-q", "-p", "no:cacheprovider",
         "--target", "targets/reference-rel7.yaml", f"--reports-dir={tmp_path}", f"--pcap-dir={tmp_path}/p",
         "-k", "REG-030 or REG-001"],
        cwd=ROOT, capture_output=True, text=True, timeout=120)
    assert proc.returncode == 0, proc.stdout[-2000:]
    assert "2 passed" in proc.stdout and "2 not applicable" in proc.stdout
    res = json.loads((tmp_path / "results.json").read_text())
    assert {c["id"]: c.get("classification") for c in res["cases"] if c["case_id"] == "REG-030"} == \
        {"REG-030[udp]": "legacy", "REG-030[tcp]": "legacy"}


def test_failing_run_exits_nonzero_and_prints_the_failing_check(tmp_path):
    run = run_suite(tmp_path, "-k", "REG-015", target=ROOT / "tests/targets/fault-path-without-ob-accepted.yaml")
    assert run.returncode == 1
    assert "expected: status 439" in run.output and "observed: 200 OK" in run.output


def test_bad_target_profile_is_a_usage_error(tmp_path):
    target = tmp_path / "t.yaml"
    target.write_text("name: x\nhost: 127.0.0.1\nport: 5060\ncapabilites: [outbound]\n")
    run = run_suite(tmp_path, target=target)
    assert run.returncode == 3  # conformance run: usage or input error (plain pytest: 4)
    assert "t.yaml:4" in run.output and "capabilites" in run.output


def test_list_command_shows_applicability(tmp_path):
    proc = subprocess.run([sys.executable, "-m", "conformance", "list", "--target", "targets/reference-rel7.yaml"],
                          cwd=ROOT, capture_output=True, text=True, timeout=60)
    assert proc.returncode == 0
    lines = proc.stdout.splitlines()
    assert any(line.startswith("REG-030[udp]") and "[applies]" in line for line in lines)
    assert any(line.startswith("REG-003[udp]") and "not applicable" in line for line in lines)
