"""The stream layers end to end in memory: a client Stack and a server Stack exchange bytes with
no socket, over TLS, WS and WSS, with the suite's test CA."""

from __future__ import annotations

import pytest

from conformance.sip.framing import Message, Ping, Pong
from conformance.wire import Stack, TlsClient, WsClient, WsServer, server_context
from conformance.wire.keylog import keylog_lines
from conformance.wire.testca import ensure_test_ca

SIP = (b"REGISTER sip:ims.test SIP/2.0\r\nVia: SIP/2.0/WSS abc.invalid;branch=z9hG4bK1\r\n"
       b"Call-ID: a\r\nCSeq: 1 REGISTER\r\nContent-Length: 0\r\n\r\n")


@pytest.fixture(scope="module")
def ca(tmp_path_factory):
    return ensure_test_ca(tmp_path_factory.mktemp("ca") / "test-ca")


class Pair:
    """Moves bytes between the two stacks until both are quiet; keeps what each received."""

    def __init__(self, client: Stack, server: Stack):
        self.c, self.s = client, server
        self.got = {"c": [], "s": []}
        self.events = {"c": [], "s": []}

    def pump(self, to_server: bytes = b"", to_client: bytes = b"", rounds: int = 20) -> None:
        for _ in range(rounds):
            if not to_server and not to_client:
                return
            if to_server:
                ev = self.s.receive(to_server)
                self.events["s"].append(ev)
                self.got["s"] += ev.frames
                to_server, to_client = b"", to_client + ev.send
            if to_client:
                ev = self.c.receive(to_client)
                self.events["c"].append(ev)
                self.got["c"] += ev.frames
                to_client, to_server = b"", to_server + ev.send
        raise AssertionError("the stacks kept talking")

    def open(self) -> None:
        self.pump(to_server=self.c.start())
        assert self.c.ready and self.s.ready, [e.error for e in self.events["c"] + self.events["s"]]


def make(ca, transport, server_name="ims.test", keylog=None, ws_server=None, ws_client=None):
    ctx = server_context(str(ca.server_cert), str(ca.server_key)) if transport != "ws" else None
    client = Stack.client(transport, tls=TlsClient(ca=str(ca.ca_cert), server_name=server_name, keylog=keylog),
                          ws=ws_client)
    return Pair(client, Stack.server(transport, tls_context=ctx, ws=ws_server))


@pytest.mark.parametrize("transport", ["tls", "ws", "wss"])
def test_sip_messages_and_keepalives_cross(ca, transport):
    p = make(ca, transport)
    p.open()
    p.pump(to_server=p.c.send_message(SIP) + p.c.send_keepalive())
    assert p.got["s"] == [Message(SIP), Ping()]
    p.pump(to_client=p.s.send_message(SIP) + p.s.send_keepalive(b"\r\n"))
    assert p.got["c"][0] == Message(SIP)
    assert p.got["c"][1:] == [Pong()] or p.c.flush() == [Pong()]  # TLS holds a lone CRLF until quiet


def test_ws_upgrade_offers_sip_and_server_picks_it(ca):
    p = make(ca, "ws", ws_client=WsClient(path="/sip", host="edge.ims.test"))
    p.open()
    req = next(e.request for e in p.events["s"] if e.request)
    assert req["path"] == "/sip" and req["host"] == "edge.ims.test" and req["subprotocols"] == ["sip"]
    assert p.c.ws.subprotocol == "sip"


def test_ws_ping_is_answered_with_pong(ca):
    p = make(ca, "wss")
    p.open()
    p.pump(to_server=p.c.ping(b"ka"))
    assert p.events["s"][-1].ws_pings == [b"ka"]
    assert p.events["c"][-1].ws_pongs == [b"ka"]


def test_fragmented_ws_message_is_one_sip_message(ca):
    p = make(ca, "ws", ws_client=WsClient(fragment=16))
    p.open()
    wire = p.c.send_message(SIP)
    p.pump(to_server=wire)
    assert p.got["s"] == [Message(SIP)]
    assert wire[0] == 0x01  # a text frame without FIN: the message went in fragments (RFC 6455 §5.4)
    assert len(wire) >= len(SIP) + 6 * (len(SIP) // 16)  # a masked header per fragment


def test_two_sip_messages_in_one_tls_read_are_framed(ca):
    p = make(ca, "tls")
    p.open()
    p.pump(to_server=p.c.send_message(SIP + SIP))
    assert p.got["s"] == [Message(SIP), Message(SIP)]


@pytest.mark.parametrize("transport", ["tls", "wss"])
def test_graceful_close_is_told_apart_from_eof(ca, transport):
    p = make(ca, transport)
    p.open()
    ev = p.s.receive(p.c.close())
    assert ev.closed and ("close_notify" in ev.closed or "WebSocket close 1000" in ev.closed)
    q = make(ca, transport)
    q.open()
    ev = q.s.receive(b"")   # the socket ended: no close_notify, no WS Close
    assert "without" in ev.closed


def test_hostname_mismatch_is_a_handshake_error(ca):
    p = make(ca, "tls", server_name="wrong.example.invalid")
    ev = p.s.receive(p.c.start())
    ev = p.c.receive(ev.send)
    assert ev.error and "certificate verify failed" in ev.error and "mismatch" in ev.error.lower()
    assert not p.c.ready


def test_untrusted_ca_is_a_handshake_error(ca, tmp_path):
    other = ensure_test_ca(tmp_path / "other")
    client = Stack.client("tls", tls=TlsClient(ca=str(other.ca_cert), server_name="ims.test"))
    server = Stack.server("tls", tls_context=server_context(str(ca.server_cert), str(ca.server_key)))
    ev = client.receive(server.receive(client.start()).send)
    assert ev.error and "certificate verify failed" in ev.error


def test_ip_address_server_name_checked_against_ip_san(ca):
    make(ca, "tls", server_name="127.0.0.1").open()
    p = make(ca, "tls", server_name="127.0.0.2")
    ev = p.c.receive(p.s.receive(p.c.start()).send)
    assert ev.error and "certificate verify failed" in ev.error


def test_upgrade_401_until_authorization(ca):
    server = WsServer(require_auth='Basic realm="ims.test"')
    p = make(ca, "ws", ws_server=server)
    p.pump(to_server=p.c.start())
    assert not p.c.ready and p.events["c"][-1].http_status == 401
    q = make(ca, "ws", ws_server=server, ws_client=WsClient(authorization="Basic dXNlcjpwdw=="))
    q.open()


def test_upgrade_without_sip_subprotocol_is_refused(ca):
    p = make(ca, "ws", ws_client=WsClient(subprotocol="chat"))
    p.pump(to_server=p.c.start())
    assert not p.s.ready and p.events["s"][0].http_status == 400


def test_keylog_holds_the_session_secrets(ca, tmp_path):
    log = tmp_path / "keys.log"
    p = make(ca, "tls", keylog=str(log))
    p.open()
    labels = {label for label, _, _ in keylog_lines(log.read_text())}
    assert {"CLIENT_TRAFFIC_SECRET_0", "SERVER_TRAFFIC_SECRET_0"} <= labels or "CLIENT_RANDOM" in labels
