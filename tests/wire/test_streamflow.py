"""The tester's StreamEndpoint against a loopback tls / ws / wss server (tests/wire/conftest.py):
SIP both ways, keep-alives, WebSocket Ping, graceful close against abort, and handshake failures
raised as HandshakeError with the reason (never a response the case could judge)."""

from __future__ import annotations

import selectors
import time

import pytest

from conformance.engine.streamflow import StreamEndpoint
from conformance.engine.transport import HandshakeError
from conformance.wire import TlsClient, WsClient, WsServer

REGISTER = (b"REGISTER sip:ims.test SIP/2.0\r\nVia: SIP/2.0/TLS 127.0.0.11:5555;branch=z9hG4bK1\r\n"
            b"From: <sip:a@ims.test>;tag=1\r\nTo: <sip:a@ims.test>\r\nCall-ID: c1\r\nCSeq: 1 REGISTER\r\n"
            b"Content-Length: 0\r\n\r\n")


class Wire:
    def __init__(self):
        self.events = []

    def __call__(self, direction, transport, src, dst, data, event):
        self.events.append((direction, transport, data, event))

    def bytes(self, direction):
        return b"".join(d for di, _, d, _ in self.events if di == direction)


def read_until(ep, want, bound=3.0):
    """Incoming items until one of kind ``want`` arrived (bounded)."""
    got = []
    deadline = time.monotonic() + bound
    with selectors.DefaultSelector() as sel:
        sel.register(ep, selectors.EVENT_READ)
        while time.monotonic() < deadline and not any(i.kind == want for i in got):
            if sel.select(max(0.0, deadline - time.monotonic())):
                got += ep.read()
                if ep.closed:
                    break
    return got


def wait_for(cond, bound=3.0):
    deadline = time.monotonic() + bound
    while time.monotonic() < deadline and not cond():
        time.sleep(0.01)
    return cond()


def connect(server, test_ca, transport, wire, server_name="ims.test", **ws):
    tls = TlsClient(ca=str(test_ca.ca_cert), server_name=server_name) if transport != "ws" else None
    return StreamEndpoint("127.0.0.11", ("127.0.0.1", server.port), transport, wire, 2.0, tls=tls,
                          ws=WsClient(**ws) if transport != "tls" else None)


@pytest.mark.parametrize("transport", ["tls", "ws", "wss"])
def test_sip_both_ways_and_the_wire_holds_the_outer_layers(stream_server, test_ca, transport):
    server = stream_server(transport)
    wire = Wire()
    ep = connect(server, test_ca, transport, wire)
    assert ep.transport == transport and ep.local[0] == "127.0.0.11"
    ep.send(REGISTER)
    got = read_until(ep, "message")
    msgs = [i.data for i in got if i.kind == "message"]
    assert msgs and msgs[0].startswith(b"SIP/2.0 200 OK") and b"Call-ID: c1" in msgs[0]
    sent = wire.bytes("sent")
    if transport == "ws":
        assert sent.startswith(b"GET / HTTP/1.1") and b"Sec-WebSocket-Protocol: sip" in sent
        assert b"REGISTER sip:ims.test" not in sent   # a client's frames are masked (RFC 6455 §5.3)
        assert b"\x81" in sent and b"SIP/2.0 200 OK" in wire.bytes("received")   # text frames both ways
    else:
        assert sent[:1] == b"\x16"                    # a TLS handshake record first
        assert b"REGISTER" not in sent and b"GET /" not in sent   # only ciphertext on the wire
    ep.close()
    assert wait_for(lambda: server.ended)
    assert server.ended[0].startswith({"tls": "close_notify", "ws": "WebSocket close 1000",
                                       "wss": "WebSocket close 1000"}[transport]), server.ended


@pytest.mark.parametrize("transport", ["tls", "wss"])
def test_abort_ends_without_close_notify(stream_server, test_ca, transport):
    server = stream_server(transport)
    ep = connect(server, test_ca, transport, Wire())
    ep.abort()
    assert ep.closed
    assert wait_for(lambda: server.ended)
    assert "EOF without close_notify" in server.ended[0], server.ended
    assert "WebSocket close 1000" not in server.ended[0]     # wss: no Close frame either (1006: abnormal)


@pytest.mark.parametrize("transport", ["tls", "ws"])
def test_crlf_keepalive_is_answered_with_a_pong(stream_server, test_ca, transport):
    server = stream_server(transport)
    ep = connect(server, test_ca, transport, Wire())
    ep.keepalive()
    assert any(i.kind == "pong" for i in read_until(ep, "pong"))
    ep.close()


@pytest.mark.parametrize("transport", ["ws", "wss"])
def test_websocket_ping_gets_a_pong(stream_server, test_ca, transport):
    server = stream_server(transport)
    ep = connect(server, test_ca, transport, Wire())
    ep.ws_ping(b"hi")
    got = read_until(ep, "ws-pong")
    assert [i.data for i in got if i.kind == "ws-pong"] == [b"hi"]
    assert server.ws_pings == [b"hi"]
    ep.close()


def test_ws_ping_on_tls_is_refused(stream_server, test_ca):
    from conformance.engine.transport import TransportError
    ep = connect(stream_server("tls"), test_ca, "tls", Wire())
    with pytest.raises(TransportError, match="WebSocket Ping"):
        ep.ws_ping()
    ep.close()


@pytest.mark.parametrize("transport", ["tls", "wss"])
def test_wrong_server_name_is_a_handshake_error_with_the_reason(stream_server, test_ca, transport):
    server = stream_server(transport)
    wire = Wire()
    with pytest.raises(HandshakeError) as exc:
        connect(server, test_ca, transport, wire, server_name="wrong.example")
    text = str(exc.value)
    assert "certificate verify failed" in text and "mismatch" in text.lower(), text
    assert exc.value.remote == ("127.0.0.1", server.port)
    assert wire.events[0][3] == "open" and wire.events[-1][3] == "close"   # the pcap shows the attempt


def test_unknown_ca_is_a_handshake_error(stream_server, test_ca, tmp_path):
    from conformance.wire.testca import ensure_test_ca
    other = ensure_test_ca(tmp_path / "other-ca")
    server = stream_server("tls")
    tls = TlsClient(ca=str(other.ca_cert), server_name="ims.test")
    with pytest.raises(HandshakeError, match="certificate verify failed"):
        StreamEndpoint("127.0.0.11", ("127.0.0.1", server.port), "tls", Wire(), 2.0, tls=tls)


def test_ws_upgrade_answered_401_is_a_handshake_error(stream_server, test_ca):
    server = stream_server("ws", ws=WsServer(require_auth='Basic realm="ims.test"'))
    with pytest.raises(HandshakeError, match="401"):
        connect(server, test_ca, "ws", Wire())
    ep = connect(server, test_ca, "ws", Wire(), authorization="Basic dTpw")   # with credentials: in
    assert not ep.closed
    ep.close()


def test_a_silent_server_is_bounded_by_the_timeout():
    import socket
    listener = socket.socket()
    listener.bind(("127.0.0.1", 0))
    listener.listen(1)   # accepts the TCP connection, never answers the ClientHello
    t0 = time.monotonic()
    with pytest.raises(HandshakeError, match="within 0.3 s"):
        StreamEndpoint("127.0.0.11", listener.getsockname(), "tls", Wire(), 0.3,
                       tls=TlsClient(ca=None, server_name="ims.test", verify=False))
    assert time.monotonic() - t0 < 2.0
    listener.close()


@pytest.mark.parametrize("transport", ["ws", "wss"])
def test_a_401_on_the_upgrade_is_answered_on_a_new_connection(stream_server, test_ca, transport):
    """RFC 7118 §7: a SIP WebSocket Client MUST be ready to be challenged with 401."""
    server = stream_server(transport, ws=WsServer(require_auth='Basic realm="ims.test"'))
    wire = Wire()
    tls = TlsClient(ca=str(test_ca.ca_cert), server_name="ims.test") if transport == "wss" else None
    ep = StreamEndpoint("127.0.0.11", ("127.0.0.1", server.port), transport, wire, 2.0, tls=tls,
                        ws=WsClient(), retry_authorization="Basic dTpw")
    assert [a["status"] for a in ep.upgrade_answers] == [401, 101]
    assert ep.upgrade_answers[1]["subprotocol"] == "sip"
    assert [e[3] for e in wire.events].count("open") == 2      # the second upgrade on a new connection
    ep.send(REGISTER)
    assert any(i.kind == "message" for i in read_until(ep, "message"))
    ep.close()


def test_a_101_without_the_sip_subprotocol_is_a_handshake_error(test_ca):
    """RFC 7118 §4.1: the server echoes Sec-WebSocket-Protocol: sip; an upgrade accepted without it
    carries no SIP (the case is inconclusive with the reason); the answer is kept."""
    import socket
    import threading
    from wsproto import ConnectionType, WSConnection
    from wsproto.events import AcceptConnection, Request

    listener = socket.socket()
    listener.bind(("127.0.0.1", 0))
    listener.listen(1)

    def serve():
        conn, _ = listener.accept()
        ws = WSConnection(ConnectionType.SERVER)
        conn.settimeout(2)
        while True:
            ws.receive_data(conn.recv(4096))
            if any(isinstance(e, Request) for e in ws.events()):
                conn.sendall(ws.send(AcceptConnection()))   # no subprotocol
                break
        conn.recv(4096)
        conn.close()

    t = threading.Thread(target=serve, daemon=True)
    t.start()
    with pytest.raises(HandshakeError, match="without Sec-WebSocket-Protocol: sip"):
        StreamEndpoint("127.0.0.11", listener.getsockname(), "ws", Wire(), 2.0, ws=WsClient())
    t.join(2)
    listener.close()


def test_sip_that_came_with_the_end_of_the_upgrade_is_held_for_read():
    """A server may send its first SIP message in the same segment as the 101: the endpoint holds
    it (``pending``, which the exchange's poll reads without waiting for the socket)."""
    import socket
    import threading
    from wsproto import ConnectionType, WSConnection
    from wsproto.events import AcceptConnection, Request, TextMessage

    listener = socket.socket()
    listener.bind(("127.0.0.1", 0))
    listener.listen(1)
    options = b"OPTIONS sip:a@x.invalid SIP/2.0\r\nCall-ID: o1\r\nCSeq: 1 OPTIONS\r\nContent-Length: 0\r\n\r\n"

    def serve():
        conn, _ = listener.accept()
        ws = WSConnection(ConnectionType.SERVER)
        conn.settimeout(2)
        while True:
            ws.receive_data(conn.recv(4096))
            if any(isinstance(e, Request) for e in ws.events()):
                conn.sendall(ws.send(AcceptConnection(subprotocol="sip"))
                             + ws.send(TextMessage(data=options.decode())))
                break
        conn.recv(4096)
        conn.close()

    t = threading.Thread(target=serve, daemon=True)
    t.start()
    ep = StreamEndpoint("127.0.0.11", listener.getsockname(), "ws", Wire(), 2.0, ws=WsClient())
    assert ep.pending
    got = ep.read()
    assert [i.data for i in got if i.kind == "message"] == [options] and not ep.pending
    ep.close()
    t.join(2)
    listener.close()
