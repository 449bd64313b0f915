"""The exit codes of ``conformance run`` (docs/ci-gate.md), each from a real run of the command.

0 all applicable passed (or every verdict as in the baseline), 1 failures, 2 inconclusive only,
3 usage or input error, 4 SUT unreachable, 5 interrupted.  Plain pytest keeps its own codes.
"""

from __future__ import annotations

import json
import os
import signal
import socket
import subprocess
import sys
import time
import xml.etree.ElementTree as ET
from pathlib import Path

import pytest
import yaml

from suite_runner import ROOT, run_suite

FAULT = ROOT / "tests" / "targets" / "fault-omit-require-outbound.yaml"
SOME = "REG-001 or REG-003"  # four items that this fault fails

INCONCLUSIVE_CASE = """\
id: GATE-INC
title: "A preamble the SUT does not satisfy leaves the case inconclusive"
purpose: >
  Fixture of the CI gate's tests: the preamble expects a 439, which a working registrar does
  not send, so the state under test is never reached.
test_purposes: [TP_REG_001]
references: ["RFC 5626 §6 ¶8"]
requirements: [R1]
applies_to: [outbound]
transports: [udp]
ues:
  a:
    flows:
      f1: {address: 1, reg_id: 1, edge: {}}
steps:
  - register: f1
    preamble: true
    expect: {status: 439}
  - register: f1
    expect: {status: 200, status_ref: "RFC 5626 §6 ¶8 (binding)"}
"""


def _free_port(kind: int = socket.SOCK_STREAM) -> int:
    with socket.socket(socket.AF_INET, kind) as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def _profile(tmp: Path, name: str, **fields) -> Path:
    data = {"name": name, "host": "127.0.0.1", "capabilities": ["outbound", "path"], **fields}
    path = tmp / f"{name}.yaml"
    path.write_text(yaml.safe_dump(data, sort_keys=False))
    return path


def _inconclusive_cases(tmp: Path) -> Path:
    cases = tmp / "testcases"
    cases.mkdir(parents=True, exist_ok=True)
    (cases / "inconclusive.yaml").write_text(INCONCLUSIVE_CASE)
    return cases


def _says(run, code: int) -> None:
    assert run.returncode == code, f"exit {run.returncode}, expected {code}:\n{run.output[-3000:]}"
    assert f"conformance: exit {code} (" in run.output, run.output[-1500:]


# -- 0 and 1 ---------------------------------------------------------------------------------------
def test_0_when_every_applicable_case_passes(tmp_path):
    run = run_suite(tmp_path, "-k", SOME)
    _says(run, 0)
    assert set(run.verdicts().values()) == {"pass"}


def test_1_on_failures(tmp_path):
    run = run_suite(tmp_path, "-k", SOME, target=FAULT)
    _says(run, 1)
    assert set(run.verdicts().values()) == {"fail"}


def test_baseline_accepting_the_failures_gives_0_and_a_change_gives_1(tmp_path):
    base = tmp_path / "baseline.yaml"
    run = run_suite(tmp_path / "u", "-k", SOME, "--baseline", str(base), "--update-baseline", target=FAULT)
    _says(run, 0)
    assert f"wrote {base}" in run.output and "new fail(s) got why: \"TODO" in run.output
    table = yaml.safe_load(base.read_text())
    assert table["cases"]["REG-001[udp]"]["why"].startswith("TODO")
    assert sorted(table["cases"]) == ["REG-001[tcp]", "REG-001[udp]", "REG-003[tcp]", "REG-003[udp]"]
    # the same failures again: accepted
    run = run_suite(tmp_path / "k", "-k", SOME, "--baseline", str(base), target=FAULT)
    _says(run, 0)
    assert "every verdict is the accepted one" in run.output
    assert "accepted fail(s) still have a TODO why" in run.output  # a note, not a failure
    # a whole run against it: every other case is extra
    run = run_suite(tmp_path / "x", "-k", "REG-001 or REG-003 or REG-005", "--baseline", str(base), target=FAULT)
    _says(run, 1)
    assert "REG-005[udp]: extra" in run.output
    # the SUT fixed: the baseline still expects the fails, so the table must be updated
    run = run_suite(tmp_path / "f", "-k", SOME, "--baseline", str(base))
    _says(run, 1)
    assert "REG-001[udp]: fixed: expected fail, got pass" in run.output
    # one accepted verdict changed in the baseline: a new fail
    table["cases"]["REG-003[tcp]"] = "pass"
    base.write_text(yaml.safe_dump(table, sort_keys=False))
    run = run_suite(tmp_path / "c", "-k", SOME, "--baseline", str(base), target=FAULT)
    _says(run, 1)
    assert "REG-003[tcp]: new-fail: expected pass, got fail" in run.output
    # update keeps the why the person wrote (and its link)
    table["cases"]["REG-001[udp]"].update(why="omits Require: outbound (RFC 5626 §6 ¶8)",
                                          link="https://issues.example/1")
    base.write_text(yaml.safe_dump(table, sort_keys=False))
    table["cases"]["REG-999[udp]"] = "pass"  # not run with -k: kept by a narrowed update
    base.write_text(yaml.safe_dump(table, sort_keys=False))
    run = run_suite(tmp_path / "u2", "-k", SOME, "--baseline", str(base), "--update-baseline", target=FAULT)
    _says(run, 0)
    again = yaml.safe_load(base.read_text())
    assert again["cases"]["REG-999[udp]"] == "pass"
    assert again["cases"]["REG-001[udp]"]["why"] == "omits Require: outbound (RFC 5626 §6 ¶8)"
    assert again["cases"]["REG-001[udp]"]["link"] == "https://issues.example/1"
    assert again["cases"]["REG-003[tcp]"]["verdict"] == "fail"


def test_checked_in_table_is_a_baseline(tmp_path):
    run = run_suite(tmp_path, "--baseline", str(ROOT / "expected" / "fault-omit-require-outbound.yaml"),
                    "-k", "REG", target=FAULT)
    _says(run, 0)


# -- 2 ---------------------------------------------------------------------------------------------
def test_2_when_inconclusive_without_failures(tmp_path):
    cases = _inconclusive_cases(tmp_path)
    run = run_suite(tmp_path / "r", str(cases))
    _says(run, 2)
    assert run.verdicts() == {"GATE-INC[udp]": "inconclusive"}
    # a baseline expecting a pass: only a new inconclusive -> 2; accepting the inconclusive -> 0
    base = tmp_path / "b.yaml"
    base.write_text("target: reference-rel8\ncases:\n  GATE-INC[udp]: pass\n")
    _says(run_suite(tmp_path / "b1", str(cases), "--baseline", str(base)), 2)
    base.write_text("target: reference-rel8\ncases:\n  GATE-INC[udp]: inconclusive\n")
    _says(run_suite(tmp_path / "b2", str(cases), "--baseline", str(base)), 0)


# -- 3 ---------------------------------------------------------------------------------------------
def test_3_on_a_bad_option(tmp_path):
    proc = subprocess.run([sys.executable, "-m", "conformance", "run", "--no-such-option"],
                          cwd=ROOT, capture_output=True, text=True, timeout=60)
    assert proc.returncode == 3 and "unrecognized arguments" in proc.stderr


def test_3_on_a_bad_profile(tmp_path):
    target = _profile(tmp_path, "bad", capabilities=["outbond"])
    run = run_suite(tmp_path, target=target)
    _says(run, 3)
    assert "bad.yaml" in run.output and "did you mean 'outbound'" in run.output


def test_3_on_a_malformed_case_file_while_the_others_still_run(tmp_path):
    cases = _inconclusive_cases(tmp_path)
    (cases / "zz-bad.yaml").write_text("id: BAD-001\ntitle: t\npurpose: p\nues: {}\nsteps: [{register: f9}]\n")
    run = run_suite(tmp_path / "r", str(cases))
    _says(run, 3)
    assert "zz-bad.yaml" in run.output and "1 case file(s) could not be loaded" in run.output
    assert run.verdicts() == {"GATE-INC[udp]": "inconclusive"}  # still run and reported


def test_3_on_a_bad_or_missing_baseline_and_when_nothing_is_selected(tmp_path):
    _says(run_suite(tmp_path / "m", "--baseline", str(tmp_path / "missing.yaml")), 3)
    bad = tmp_path / "bad.yaml"
    bad.write_text("target: x\ncases:\n  REG-001[udp]: {verdict: fail}\n")  # a fail needs why
    run = run_suite(tmp_path / "b", "--baseline", str(bad))
    _says(run, 3)
    assert "needs 'reason_contains' and 'why'" in run.output and run.results is None  # nothing ran
    _says(run_suite(tmp_path / "u", "--update-baseline"), 3)
    _says(run_suite(tmp_path / "k", "-k", "NO-SUCH-CASE"), 3)


def test_plain_pytest_keeps_its_own_exit_codes(tmp_path):
    def pytest_run(*args: str) -> int:
        return subprocess.run([sys.executable, "-m", "pytest", "-q", "-p", "no:cacheprovider",
                               f"--reports-dir={tmp_path}/r", f"--pcap-dir={tmp_path}/p", *args],
                              cwd=ROOT, capture_output=True, text=True, timeout=120).returncode

    assert pytest_run("testcases", f"--target={_profile(tmp_path, 'bad', capabilities=['outbond'])}") == 4
    assert pytest_run("testcases", f"--target={FAULT}", "-k", SOME) == 1
    assert pytest_run(str(_inconclusive_cases(tmp_path))) == 1  # an inconclusive is a pytest failure


# -- 4 ---------------------------------------------------------------------------------------------
def test_4_when_the_sut_is_unreachable(tmp_path):
    closed = _profile(tmp_path, "closed-port", port=_free_port(),
                      timers={"t1": 0.1, "t2": 0.4, "response": 0.8, "connect": 0.5})
    run = run_suite(tmp_path / "r", "-k", SOME, target=closed)
    _says(run, 4)
    assert set(run.verdicts().values()) == {"inconclusive"}
    assert "SUT reachable" in json.dumps(run.results)  # TCP: connection refused
    assert (run.reports / "junit.xml").exists()


def test_4_when_the_managed_sut_does_not_start(tmp_path):
    target = _profile(tmp_path, "no-start", port=_free_port(), managed={"start": ["false"], "ready_timeout": 1})
    run = run_suite(tmp_path / "r", "-k", SOME, target=target)
    _says(run, 4)
    assert all(c["reason"].startswith("SUT not available") for c in run.results["cases"])


# -- 5 ---------------------------------------------------------------------------------------------
@pytest.mark.parametrize("sig", [signal.SIGINT, signal.SIGTERM], ids=["SIGINT", "SIGTERM"])
def test_5_when_interrupted_with_reports_marked_incomplete(tmp_path, sig):
    """A SUT that takes UDP datagrams and never answers makes every case wait for its timeout;
    the run is interrupted after its first case finished."""
    silent = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
    silent.bind(("127.0.0.1", 0))
    try:
        target = _profile(tmp_path, "silent", port=silent.getsockname()[1], transports=["udp"],
                          timers={"t1": 0.5, "t2": 2, "response": 3})
        reports, pcaps = tmp_path / "reports", tmp_path / "pcaps"
        proc = subprocess.Popen([sys.executable, "-m", "conformance", "run", f"--target={target}",
                                 f"--reports-dir={reports}", f"--pcap-dir={pcaps}"],
                                cwd=ROOT, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True,
                                env=dict(os.environ))  # bytecode: tests/conftest.py
        try:
            deadline = time.monotonic() + 60
            # a second pcap: the first case's result is recorded by then (its pcap is written in a
            # finally, just before; a signal in between left no finished case under load)
            while len(list(pcaps.glob("*.pcap"))) < 2 and time.monotonic() < deadline and proc.poll() is None:
                time.sleep(0.1)
            assert proc.poll() is None, "the run ended before it could be interrupted"
            started = time.monotonic()
            proc.send_signal(sig)
            out, _ = proc.communicate(timeout=30)
            assert time.monotonic() - started < 15  # it stops promptly, not after all cases
        finally:
            if proc.poll() is None:
                proc.kill()
                proc.wait()
    finally:
        silent.close()
    assert proc.returncode == 5, out[-3000:]
    assert "conformance: exit 5 (interrupted" in out and "marked incomplete" in out
    res = json.loads((reports / "results.json").read_text())
    assert res["meta"]["complete"] is False
    listed = subprocess.run([sys.executable, "-m", "conformance", "list", f"--target={target}"], cwd=ROOT,
                            capture_output=True, text=True, timeout=60).stdout
    applicable = [c for c in res["cases"] if c["verdict"] != "not applicable"]
    assert 1 <= len(applicable) < listed.count("[applies]")  # the finished ones, not all
    suite = ET.parse(reports / "junit.xml").getroot().find("testsuite")
    assert {p.get("name"): p.get("value") for p in suite.find("properties")}["complete"] == "false"
    cert = json.loads((reports / "certificate.json").read_text())
    assert cert["complete"] is False


def test_init_in_a_pipeline(tmp_path):
    cmd = [sys.executable, "-m", "conformance", "init", "--name", "my-scscf", "--port", "5071",
           "--capability", "outbound,path", "--output", str(tmp_path / "my.yaml")]
    proc = subprocess.run(cmd, cwd=tmp_path, capture_output=True, text=True, timeout=60, stdin=subprocess.DEVNULL)
    assert proc.returncode == 0, proc.stderr
    listed = subprocess.run([sys.executable, "-m", "conformance", "list", "--target", str(tmp_path / "my.yaml")],
                            cwd=ROOT, capture_output=True, text=True, timeout=60)
    assert listed.returncode == 0 and "[applies]" in listed.stdout
    again = subprocess.run(cmd, cwd=tmp_path, capture_output=True, text=True, timeout=60, stdin=subprocess.DEVNULL)
    assert again.returncode == 3 and "--force" in again.stderr
