"""The engine against SUTs that misbehave: every case ends within its bound with an honest
verdict and a reason naming what happened, and its pcap is still written."""

from __future__ import annotations

import socket
import threading
import time
from pathlib import Path

import pytest

from conformance.cases.loader import load_case_text
from conformance.engine.runner import CaseRun
from conformance.targets.loader import target_from_dict
from conformance.meaning.verdict import Verdict

CASE = """
id: BAD-001
title: one registration
purpose: Reg1a against a misbehaving SUT
references: ["RFC 5626 §6 ¶8"]
ues:
  a:
    flows:
      f1: {address: 1, reg_id: 1, edge: {}}
steps:
  - register: f1
    expect:
      status: 200
      status_ref: "RFC 5626 §6 ¶8 (binding)"
      checks:
        - require: {has: outbound}
        - contacts: {instance_count: 1}
"""


def _target(port: int, response: float = 1.0):
    return target_from_dict({
        "name": "bad", "host": "127.0.0.1", "port": port, "capabilities": ["outbound", "path"],
        "ue_addresses": ["127.0.0.21", "127.0.0.22", "127.0.0.23"],
        "timers": {"t1": 0.1, "t2": 0.4, "response": response, "connect": 1.0},
    })


def _run(port: int, transport: str, tmp_path: Path, response: float = 1.0):
    case = load_case_text(CASE)[0]
    run = CaseRun(case, transport, _target(port, response), ("127.0.0.1", port), pcap_dir=tmp_path)
    started = time.monotonic()
    result = run.run()
    return result, time.monotonic() - started


class _UdpServer:
    """A UDP 'SUT' whose answer to each datagram is produced by ``reply(data) -> bytes|None``."""

    def __init__(self, reply):
        self.sock = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
        self.sock.bind(("127.0.0.1", 0))
        self.sock.settimeout(0.1)
        self.port = self.sock.getsockname()[1]
        self.reply = reply
        self.received = 0
        self._stop = False
        self.thread = threading.Thread(target=self._serve, daemon=True)
        self.thread.start()

    def _serve(self):
        while not self._stop:
            try:
                data, src = self.sock.recvfrom(65535)
            except OSError:
                continue
            self.received += 1
            out = self.reply(data)
            if out:
                self.sock.sendto(out, src)

    def close(self):
        self._stop = True
        self.thread.join(1)
        self.sock.close()


def _free_port() -> int:
    s = socket.socket()
    s.bind(("127.0.0.1", 0))
    port = s.getsockname()[1]
    s.close()
    return port


def test_tcp_connection_refused_is_inconclusive_at_once(tmp_path):
    result, elapsed = _run(_free_port(), "tcp", tmp_path)
    assert result.verdict == Verdict.INCONCLUSIVE
    assert "SUT reachable" in result.reason and "refused" in result.reason.lower()
    assert elapsed < 2
    assert Path(result.pcap).exists()


def test_silent_udp_sut_times_out_within_the_bound_after_retransmissions(tmp_path):
    srv = _UdpServer(lambda data: None)
    try:
        result, elapsed = _run(srv.port, "udp", tmp_path, response=1.0)
    finally:
        srv.close()
    assert result.verdict == Verdict.INCONCLUSIVE
    assert "no final response within 1 s" in result.reason
    assert "retransmission" in result.reason
    assert 0.9 < elapsed < 2.5
    sent = [m for m in result.messages if m.direction == "sent"]
    assert len(sent) >= 3 and srv.received == len(sent)  # T1=0.1: 0, 0.1, 0.3, 0.7 ...
    assert Path(result.pcap).stat().st_size > 24


def test_garbage_answer_is_recorded_and_named(tmp_path):
    srv = _UdpServer(lambda data: b"HELLO \x00\xff garbage\r\n\r\n")
    try:
        result, _ = _run(srv.port, "udp", tmp_path, response=0.6)
    finally:
        srv.close()
    assert result.verdict == Verdict.INCONCLUSIVE
    assert "unparseable" in result.reason
    garbage = [m for m in result.messages if m.summary == "unparseable message"]
    assert garbage and "not SIP" in garbage[0].note


def _ok_response(extra: str):
    def reply(data: bytes) -> bytes:
        from conformance.sip.message import parse_message

        req = parse_message(data)
        vias = "".join(f"Via: {v}\r\n" for v in req.get_all("Via"))
        return (f"SIP/2.0 200 OK\r\n{vias}From: {req.get('From')}\r\nTo: {req.get('To')};tag=x\r\n"
                f"Call-ID: {req.call_id}\r\nCSeq: {req.get('CSeq')}\r\n{extra}Content-Length: 0\r\n\r\n").encode()
    return reply


def test_unparseable_contact_in_a_2xx_fails_naming_the_value(tmp_path):
    srv = _UdpServer(_ok_response("Require: outbound\r\nContact: <sip:broken@@;;>\r\n"))
    try:
        result, _ = _run(srv.port, "udp", tmp_path)
    finally:
        srv.close()
    assert result.verdict == Verdict.FAIL
    assert "unparseable Contact" in result.reason and "broken" in result.reason


def test_2xx_without_require_fails_with_expected_and_observed(tmp_path):
    srv = _UdpServer(_ok_response(""))
    try:
        result, _ = _run(srv.port, "udp", tmp_path)
    finally:
        srv.close()
    assert result.verdict == Verdict.FAIL
    f = next(f for f in result.findings if f.outcome == "fail")
    assert (f.expected, f.observed, f.level) == ("Require: outbound", "no Require header", "MUST")


def test_tcp_peer_that_closes_before_answering(tmp_path):
    lsock = socket.socket()
    lsock.bind(("127.0.0.1", 0))
    lsock.listen(4)
    port = lsock.getsockname()[1]

    def serve():
        conn, _ = lsock.accept()
        conn.recv(65535)
        conn.close()

    t = threading.Thread(target=serve, daemon=True)
    t.start()
    try:
        result, elapsed = _run(port, "tcp", tmp_path, response=3.0)
    finally:
        t.join(2)
        lsock.close()
    assert result.verdict == Verdict.INCONCLUSIVE
    assert "closed by the SUT before a final response" in result.reason
    assert elapsed < 2


@pytest.mark.parametrize("transport", ["udp", "tcp"])
def test_case_with_bad_flow_address_is_an_error_not_a_sut_failure(tmp_path, transport):
    case = load_case_text(CASE.replace("address: 1", "address: 3"))[0]
    target = target_from_dict({"name": "small", "host": "127.0.0.1", "port": 5999,
                               "ue_addresses": ["127.0.0.21"], "capabilities": ["outbound"]})
    result = CaseRun(case, transport, target, ("127.0.0.1", 5999), pcap_dir=tmp_path).run()
    assert result.verdict == Verdict.ERROR
    assert "lists only 1 ue_addresses" in result.reason
