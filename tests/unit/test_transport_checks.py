"""checks/transport.py: Via of the answer, the WebSocket upgrade, one SIP message per WebSocket
message, WebSocket Pong (in memory)."""

from __future__ import annotations

from conformance.meaning.checks import run_check
from conformance.meaning.checks.context import CheckContext
from conformance.meaning.checks.transport import sip_messages_in
from conformance.sip.message import parse_message

VIA = "SIP/2.0/WSS df7jal23ls0d.invalid;branch=z9hG4bKabc;rport"
REGISTER = ("REGISTER sip:ims.test SIP/2.0\r\nVia: {via}\r\nFrom: <sip:a@ims.test>;tag=1\r\n"
            "To: <sip:a@ims.test>\r\nCall-ID: c1\r\nCSeq: 1 REGISTER\r\nContent-Length: 0\r\n\r\n")
OK = ("SIP/2.0 200 OK\r\nVia: {via}\r\nFrom: <sip:a@ims.test>;tag=1\r\nTo: <sip:a@ims.test>;tag=2\r\n"
      "Call-ID: c1\r\nCSeq: 1 REGISTER\r\nContent-Length: 0\r\n\r\n")


def _ctx(resp_via: str | None, req_via: str = VIA) -> CheckContext:
    req = parse_message(REGISTER.format(via=req_via).encode())
    resp = parse_message(OK.format(via=resp_via).encode()) if resp_via else None
    return CheckContext(request=req, response=resp)


def _outcomes(kind, args, ctx):
    return [(f.check, f.outcome) for f in run_check(kind, args, ctx)]


def test_via_echoed_with_received_passes():
    ctx = _ctx(VIA + ";received=127.0.0.1;rport=40000")
    assert {o for _, o in _outcomes("via_transport", {}, ctx)} == {"pass"}


def test_via_rewritten_to_tcp_or_without_received_fails():
    ctx = _ctx("SIP/2.0/TCP df7jal23ls0d.invalid;branch=z9hG4bKabc;received=127.0.0.1")
    assert ("top Via of the response", "fail") in _outcomes("via_transport", {}, ctx)
    ctx = _ctx(VIA)
    assert ("received on the top Via", "fail") in _outcomes("via_transport", {}, ctx)


def test_via_from_an_ip_needs_no_received_and_no_response_is_inconclusive():
    via = "SIP/2.0/TLS 127.0.0.1:40000;branch=z9hG4bKabc"
    assert _outcomes("via_transport", {}, _ctx(via, via)) == [("top Via of the response", "pass")]
    assert _outcomes("via_transport", {}, _ctx(None))[0][1] == "inconclusive"


def _ws(*answers, messages=()):
    return CheckContext(request=None, response=None,
                        stream={"f1": {"transport": "wss", "upgrade": list(answers), "ws_messages": list(messages)}})


def test_subprotocol_present_and_missing():
    good = _ws({"status": 101, "subprotocol": "sip"})
    bad = _ws({"status": 101, "subprotocol": None})
    assert _outcomes("ws_handshake", {"subprotocol": True}, good)[0][1] == "pass"
    # graded MAY (RFC 7118 is [M] in the catalogue): recorded as a fail observation, never a case fail
    findings = run_check("ws_handshake", {"subprotocol": True}, bad)
    assert findings[0].level == "MAY" and findings[0].outcome != "pass"
    assert "without Sec-WebSocket-Protocol" in findings[0].observed


def test_challenge_then_101():
    ctx = _ws({"status": 401, "headers": {"WWW-Authenticate": 'Basic realm="ims.test"'}},
              {"status": 101, "subprotocol": "sip"})
    assert _outcomes("ws_handshake", {"challenged": True}, ctx)[0][1] == "pass"
    no_challenge = _ws({"status": 101, "subprotocol": "sip"})
    assert _outcomes("ws_handshake", {"challenged": True}, no_challenge)[0][1] != "pass"


def test_no_websocket_flow_is_inconclusive():
    ctx = CheckContext(request=None, response=None, stream={"f1": {"transport": "tls"}})
    assert _outcomes("ws_handshake", {"subprotocol": True}, ctx)[0][1] == "inconclusive"


ONE = OK.format(via=VIA).encode()


def test_sip_messages_in_a_websocket_message():
    assert sip_messages_in(ONE) == (1, "")
    no_length = ONE.replace(b"Content-Length: 0\r\n", b"") + b"body without a length"
    assert sip_messages_in(no_length) == (1, "")
    assert sip_messages_in(ONE + ONE)[0] == 2
    assert sip_messages_in(ONE[:40])[0] == 0
    n, note = sip_messages_in(ONE + ONE[:30])
    assert n == 1 and "unfinished" in note


def test_ws_messages_check():
    assert _outcomes("ws_messages", {}, _ws(messages=[ONE, b"\r\n"]))[0][1] == "pass"
    assert _outcomes("ws_messages", {}, _ws(messages=[ONE + ONE]))[0][1] != "pass"
    assert _outcomes("ws_messages", {}, _ws(messages=[]))[0][1] == "inconclusive"


def test_ws_pong():
    ctx = CheckContext(request=None, response=None, keepalive_sent=1, keepalive_bound=2.0, pong_delay=0.01)
    assert _outcomes("ws_pong", {}, ctx)[0][1] == "pass"
    ctx.pong_delay, ctx.pong_note = None, "no Pong within 2 s"
    f = run_check("ws_pong", {}, ctx)[0]
    assert f.outcome != "pass" and f.observed == "no Pong within 2 s"
