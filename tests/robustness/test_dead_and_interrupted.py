"""A whole run against a SUT that never answers ends in bounded time (the "SUT dead"
short-circuit), and a run interrupted by SIGINT or SIGTERM writes its reports marked
incomplete and stops the SUT it started (here a managed reference CSCF process behind the
mangling proxy), releasing its ports."""

from __future__ import annotations

import json
import os
import signal
import socket
import subprocess
import sys
import time
from pathlib import Path

import pytest
import yaml

from conformance.plugin.state import RunState
from conformance.meaning.results import CaseResult, MessageRecord
from conformance.targets.loader import target_from_dict
from conformance.meaning.verdict import Verdict

ROOT = Path(__file__).resolve().parents[2]
ENV = dict(os.environ, PYTHONPATH=str(ROOT))  # bytecode: tests/conftest.py
SMALL_TIMERS = {"t1": 0.1, "t2": 0.4, "response": 0.5, "connect": 0.5}


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def _profile(tmp: Path, name: str, **fields) -> Path:
    data = {"name": name, "host": "127.0.0.1", "capabilities": ["outbound", "path", "terminating"],
            "ue_addresses": ["127.0.0.81", "127.0.0.82", "127.0.0.83"], **fields}
    path = tmp / f"{name}.yaml"
    path.write_text(yaml.safe_dump(data, sort_keys=False))
    return path


# -- the SUT-dead short-circuit -----------------------------------------------------------------------
def _result(heard: bool, verdict=Verdict.INCONCLUSIVE, n: int = 0) -> CaseResult:
    msgs = [MessageRecord(0, 0.0, "sent", "f1", "udp", ("a", 1), ("b", 2), "REGISTER", "REGISTER ...")]
    if heard:
        msgs.append(MessageRecord(1, 0.1, "received", "f1", "udp", ("b", 2), ("a", 1), "200 OK", "SIP/2.0 200 OK"))
    return CaseResult(id=f"C-{n}[udp]", case_id=f"C-{n}", title="", purpose="", transport="udp", verdict=verdict,
                      reason="", requirements=[], references=[], test_purposes=[], target="t", messages=msgs)


def test_sut_dead_after_n_consecutive_silent_cases_only():
    state = RunState(target_from_dict({"name": "t", "sut_dead_after": 3}), pcap_dir=Path("."),
                     reports_dir=Path("."), strict=None)
    for i, heard in enumerate([False, False, True, False, False]):
        state._watch_liveness(_result(heard, n=i))
    assert state.sut_dead is None  # a case that heard the SUT resets the count
    state._watch_liveness(_result(False, verdict=Verdict.ERROR, n=9))  # the suite's own fault: not counted
    assert state.sut_dead is None
    state._watch_liveness(_result(False, n=5))
    assert state.sut_dead and "3 consecutive cases (C-3[udp], C-4[udp], C-5[udp]" in state.sut_dead
    never = RunState(target_from_dict({"name": "t", "sut_dead_after": 0}), pcap_dir=Path("."),
                     reports_dir=Path("."), strict=None)
    for i in range(20):
        never._watch_liveness(_result(False, n=i))
    assert never.sut_dead is None


def test_a_whole_run_against_a_sut_that_never_answers_ends_in_bounded_time(tmp_path):
    target = _profile(tmp_path, "never-answers", port=0, timers=SMALL_TIMERS, embedded={"mode": "rel8"},
                      mangle={"fault": "no_answer"})
    reports = tmp_path / "reports"
    started = time.monotonic()
    proc = subprocess.run([sys.executable, "-m", "conformance", "run", f"--target={target}", "-q",
                           f"--reports-dir={reports}", f"--pcap-dir={tmp_path / 'pcaps'}"],
                          cwd=ROOT, capture_output=True, text=True, timeout=120, env=ENV)
    elapsed = time.monotonic() - started
    assert proc.returncode == 4, proc.stdout[-3000:]  # conformance/gate.py: the SUT was unreachable
    assert elapsed < 40, f"{elapsed:.1f} s"
    doc = json.loads((reports / "results.json").read_text())
    applicable = [c for c in doc["cases"] if c["verdict"] != "not applicable"]
    assert applicable and all(c["verdict"] == "inconclusive" for c in applicable)
    attempted = [c for c in applicable if not c["reason"].startswith("SUT dead")]
    skipped = [c for c in applicable if c["reason"].startswith("SUT dead, case not attempted: nothing came "
                                                                "from the SUT in 5 consecutive cases")]
    assert len(attempted) == 5 and len(skipped) == len(applicable) - 5
    assert all("no final response within 0.5 s" in c["reason"] for c in attempted)
    assert all(c["pcap"] and Path(c["pcap"]).exists() for c in attempted)
    assert doc["meta"]["sut_dead"].startswith("nothing came from the SUT in 5 consecutive cases")
    assert doc["meta"]["complete"] is True
    assert (reports / "junit.xml").exists() and (reports / "certificate.json").exists()


# -- interrupted runs ---------------------------------------------------------------------------------
def _managed_profile(tmp: Path, port: int) -> Path:
    """A managed SUT: the reference CSCF as a separate process (pid file), started and stopped by
    the profile's commands; the mangling proxy in front of it swallows its answers, so every case
    waits for its timeout and the run is still busy when the signal comes."""
    start = tmp / "start.sh"
    start.write_text(f"#!/bin/sh\n{sys.executable} -m conformance sut --listen 127.0.0.1:{port} "
                     f"> sut.log 2>&1 &\necho $! > sut.pid\n")
    stop = tmp / "stop.sh"
    stop.write_text("#!/bin/sh\nkill $(cat sut.pid)\n")
    start.chmod(0o755)
    stop.chmod(0o755)
    return _profile(tmp, "managed-behind-proxy", port=port, transports=["udp"],
                    timers={"t1": 0.5, "t2": 2, "response": 3, "connect": 1}, sut_dead_after=0,
                    managed={"start": ["./start.sh"], "stop": ["./stop.sh"], "ready_timeout": 20},
                    mangle={"fault": "no_answer", "port": _free_port()})


def _alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    return True


@pytest.mark.parametrize("sig", [signal.SIGINT, signal.SIGTERM], ids=["SIGINT", "SIGTERM"])
def test_interrupted_plain_pytest_run_writes_incomplete_reports_and_stops_the_sut(tmp_path, sig):
    port = _free_port()
    target = _managed_profile(tmp_path, port)
    proxy_port = yaml.safe_load(target.read_text())["mangle"]["port"]
    reports, pcaps = tmp_path / "reports", tmp_path / "pcaps"
    proc = subprocess.Popen([sys.executable, "-m", "pytest", "testcases", "-p", "no:cacheprovider", "-q",
                             f"--target={target}", f"--reports-dir={reports}", f"--pcap-dir={pcaps}"],
                            cwd=ROOT, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True, env=ENV)
    try:
        deadline = time.monotonic() + 60
        while not list(pcaps.glob("*.pcap")) and time.monotonic() < deadline and proc.poll() is None:
            time.sleep(0.1)
        assert proc.poll() is None, "the run ended before it could be interrupted"
        pid = int((tmp_path / "sut.pid").read_text())
        assert _alive(pid)
        time.sleep(0.5)  # inside the next case's wait
        started = time.monotonic()
        proc.send_signal(sig)
        out, _ = proc.communicate(timeout=30)
        assert time.monotonic() - started < 10, "the run did not stop promptly"
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait()
    assert proc.returncode == int(pytest.ExitCode.INTERRUPTED), out[-3000:]
    res = json.loads((reports / "results.json").read_text())
    assert res["meta"]["complete"] is False and res["meta"]["interrupted"] is True
    assert 1 <= len([c for c in res["cases"] if c["verdict"] != "not applicable"])
    assert json.loads((reports / "certificate.json").read_text())["complete"] is False
    assert (reports / "junit.xml").exists()
    # the managed SUT was stopped, and every port of the run is free again
    for _ in range(50):
        if not _alive(pid):
            break
        time.sleep(0.1)
    assert not _alive(pid), "the managed SUT process is still running"
    for p, kind in ((port, socket.SOCK_STREAM), (port, socket.SOCK_DGRAM), (proxy_port, socket.SOCK_STREAM),
                    (proxy_port, socket.SOCK_DGRAM)):
        with socket.socket(socket.AF_INET, kind) as s:
            if kind == socket.SOCK_STREAM:
                s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
            s.bind(("127.0.0.1", p))
