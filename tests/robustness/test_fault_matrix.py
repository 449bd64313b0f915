"""The fault matrix: representative cases against the reference CSCF behind the mangling proxy
(conformance/mangler), one fault at a time.  Under each fault every case ends within its bound,
with the verdict the fault deserves and a reason that names what happened; its pcap and the
run's reports are written.

A fault that leaves a valid exchange intact (a delay within the bound, duplicates, reordering,
a large but valid message, a short Content-Length on UDP, a flood of unsolicited messages) must
not change the verdict: the suite neither hangs nor lies in either direction.
"""

from __future__ import annotations

import json
import time
from pathlib import Path

import pytest

from conformance.cases.loader import load_case_file
from conformance.plugin.state import RunState
from conformance.report.certificate import write_certificate
from conformance.report.junit import write_junit
from conformance.report.summary import write_results
from conformance.targets.loader import target_from_dict

ROOT = Path(__file__).resolve().parents[2]
RESPONSE = 0.8  # the case's bound on one exchange (target timers.response)
SLACK = 3.0     # set-up, the SUT and the proxy (a loaded CI machine)

PASS = ("pass", "all checks passed")
NO_FINAL = ("inconclusive", "no final response within 0.8 s")

# fault -> {transport: (verdict, a fragment of the reason)}; a plain tuple: both transports
MATRIX: dict[str, dict | tuple] = {
    "no_answer": NO_FINAL,
    "late_answer": NO_FINAL,
    "delay": PASS,
    "duplicate": PASS,
    "reorder": PASS,
    "wrong_call_id": ("inconclusive", "matched no pending request (first: Call-ID"),
    "wrong_cseq": ("inconclusive", "matched no pending request (first: CSeq"),
    "wrong_branch": ("inconclusive", "matched no pending request (first: branch"),
    "wrong_to_tag": ("fail", "To tag in the final response [MUST, RFC 3261 §8.2.6.2]"),
    "truncate": {"udp": ("inconclusive", "unparseable message(s) received"),
                 "tcp": ("inconclusive", "byte(s) of an incomplete message held")},
    "garbage": ("inconclusive", "unparseable message(s) received"),
    "cl_long": {"udp": ("inconclusive", "exceeds the"),
                "tcp": ("inconclusive", "byte(s) of an incomplete message held")},
    "cl_short": PASS,
    "big": PASS,
    "close_mid": {"udp": ("inconclusive", "unparseable message(s) received"),
                  "tcp": ("inconclusive", "TCP connection closed by the SUT before a final response")},
    "reset": {"udp": NO_FINAL, "tcp": ("inconclusive", "TCP connection reset by the SUT before a final response")},
    "dribble": {"udp": PASS, "tcp": ("inconclusive", "byte(s) of an incomplete message held")},
    "port_unreachable": {"udp": ("inconclusive", "SUT reachable [MUST]: expected a connection to 127.0.0.1:"),
                         "tcp": ("inconclusive", "Connection refused")},
    "unsolicited": PASS,
    # the stream faults leave udp / tcp alone (over tls / ws / wss: test_stream_fault)
    "close_without_close_notify": PASS,
    "ws_close": PASS,
    "ws_fragment": PASS,
}
# REG-001 over tls / ws / wss behind the proxy, which terminates both sides: a message in 16-byte
# WebSocket frames is read whole; a connection dropped (no close_notify) or closed (WebSocket
# Close) after the 200 leaves the registration judged on what it got.
STREAM_MATRIX = {"close_without_close_notify": PASS, "ws_close": PASS, "ws_fragment": PASS, "delay": PASS,
                 "wrong_call_id": MATRIX["wrong_call_id"]}
ICMP = "ICMP port unreachable from 127.0.0.1:"


@pytest.fixture(scope="module")
def reg001():
    (case,) = [c for c in load_case_file(ROOT / "testcases" / "registrar" / "reg1a.yaml") if c.id == "REG-001"]
    return case


def _target(fault: str):
    mangle = {"fault": fault}
    if fault == "late_answer":
        mangle["delay"] = RESPONSE + 2
    if fault in ("delay", "reorder"):
        mangle["delay"] = 0.2
    return target_from_dict({
        "name": f"reference-rel8-{fault}", "host": "127.0.0.1", "port": 0,
        "capabilities": ["outbound", "path"], "ue_addresses": ["127.0.0.61", "127.0.0.62", "127.0.0.63"],
        "timers": {"t1": 0.1, "t2": 0.4, "response": RESPONSE, "connect": 0.5},
        "embedded": {"mode": "rel8"}, "mangle": mangle, "sut_dead_after": 0,
    }, source=f"fault-matrix:{fault}")


@pytest.mark.parametrize("fault", sorted(MATRIX))
def test_fault(fault, reg001, tmp_path):
    state = RunState(_target(fault), pcap_dir=tmp_path / "pcaps", reports_dir=tmp_path / "reports", strict=None)
    results = []
    try:
        for transport in ("udp", "tcp"):
            started = time.monotonic()
            result = state.run_case(reg001, transport)
            elapsed = time.monotonic() - started
            want = MATRIX[fault] if isinstance(MATRIX[fault], tuple) else MATRIX[fault][transport]
            assert str(result.verdict) == want[0], (transport, result.reason)
            assert want[1] in result.reason, (transport, result.reason)
            assert elapsed < RESPONSE + SLACK, f"{fault}[{transport}] took {elapsed:.2f} s"
            # a pcap always; with packets in it unless not even a TCP connection was made
            refused = fault == "port_unreachable" and transport == "tcp"
            assert result.pcap and Path(result.pcap).stat().st_size >= (24 if refused else 100), result.pcap
            if fault == "port_unreachable" and transport == "udp":
                assert ICMP in result.reason
                assert any(m.summary.startswith(ICMP) for m in result.messages)
            if fault == "unsolicited":
                assert sum(m.direction == "received" for m in result.messages) > 100
            results.append(result.to_dict())
    finally:
        state.close()
    meta = {"target": {"name": state.target.name}, "complete": True, "exitstatus": 0}
    reports = tmp_path / "reports"
    write_results(reports / "results.json", results, meta)
    write_junit(reports / "junit.xml", results, meta)
    write_certificate(reports, results, meta)
    doc = json.loads((reports / "results.json").read_text())
    assert [c["verdict"] for c in doc["cases"]] == [r["verdict"] for r in sorted(results, key=lambda r: r["id"])]
    assert (reports / "junit.xml").exists() and (reports / "certificate.html").exists()


@pytest.mark.parametrize("fault", sorted(STREAM_MATRIX))
def test_stream_fault(fault, reg001, tmp_path):
    from conformance.targets.loader import target_from_dict as build

    t = _target(fault)
    t = build({"name": t.name, "host": "127.0.0.1", "port": 0, "capabilities": ["outbound", "path"],
               "transports": ["tcp", "tls", "ws", "wss"], "ports": {"tls": 0, "ws": 0, "wss": 0},
               "tls": {"ca": "test-ca", "server_name": "ims.test"},
               "ue_addresses": ["127.0.0.64", "127.0.0.65", "127.0.0.66"],
               "timers": {"t1": 0.1, "t2": 0.4, "response": RESPONSE, "connect": 0.5},
               "embedded": {"mode": "rel8"}, "mangle": {"fault": fault, **({"delay": 0.2} if fault == "delay" else {})},
               "sut_dead_after": 0}, source=f"fault-matrix:{fault}")
    state = RunState(t, pcap_dir=tmp_path / "pcaps", reports_dir=tmp_path / "reports", strict=None)
    try:
        for transport in ("tls", "ws", "wss"):
            started = time.monotonic()
            result = state.run_case(reg001, transport)
            elapsed = time.monotonic() - started
            want = STREAM_MATRIX[fault]
            assert str(result.verdict) == want[0], (transport, result.reason)
            assert want[1] in result.reason, (transport, result.reason)
            assert elapsed < RESPONSE + SLACK, f"{fault}[{transport}] took {elapsed:.2f} s"
            assert result.pcap and Path(result.pcap).stat().st_size > 100
        relay = state.sut._relay  # the proxy ran the tls / ws / wss listeners, without an error
        assert set(relay.ports) == {"tls", "ws", "wss"} and relay.handled >= 3 and not relay.errors
    finally:
        state.close()


def test_every_fault_of_the_proxy_is_in_the_matrix():
    from conformance.mangler.rules import FAULTS

    assert set(FAULTS) == set(MATRIX)
