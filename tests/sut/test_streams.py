"""The reference serving SIP over TLS, WebSocket and secure WebSocket (RFC 7118), with real
loopback sockets and conformance.wire.Stack as the client: flows over each, terminating requests
over the right connection, closed connections as failed flows (RFC 5626 section 7), the 401 on
the upgrade (RFC 7118 section 7), the handshake bound, keep-alives, and the faults."""

from __future__ import annotations

import os
import re
import signal
import socket
import subprocess
import sys
import time
from pathlib import Path

import pytest

from conformance.control.sutctl import SutController
from conformance.sip.framing import Pong
from conformance.sip.message import parse_message
from conformance.sut import cli
from conformance.sut.config import SutConfig
from conformance.sut.edge.flowtoken import FlowTokenCodec
from conformance.sut.flow import FlowInfo
from conformance.sut.server import reference as reference_module
from conformance.sut.server import streams
from conformance.sut.server.reference import ReferenceCore
from conformance.targets.loader import load_target
from conformance.wire import WsClient
from conformance.wire.keylog import keylog_lines
from conformance.wire.testca import ensure_test_ca

from stream_helpers import AOR, Peer, StreamUe

STREAMS = ("tls", "ws", "wss")
ROOT = Path(__file__).resolve().parents[2]


@pytest.fixture(scope="module")
def ca() -> str:
    return str(ensure_test_ca().ca_cert)


def server(**config) -> ReferenceCore:
    config.setdefault("tls_port", 0)
    config.setdefault("ws_port", 0)
    config.setdefault("wss_port", 0)
    return ReferenceCore(SutConfig(**config)).start()


def wait_bindings(srv: ReferenceCore, count: int, bound: float = 3.0) -> int:
    deadline = time.monotonic() + bound
    while time.monotonic() < deadline:
        n = len(srv.lookup(AOR))
        if n == count:
            return n
        time.sleep(0.02)
    return len(srv.lookup(AOR))


def test_ports_lists_every_listener():
    srv = server()
    try:
        ports = srv.ports
        assert set(ports) == {"udp", "tcp", "tls", "ws", "wss"}
        assert ports["udp"] == ports["tcp"] == srv.port
        assert len({ports["tcp"], ports["tls"], ports["ws"], ports["wss"]}) == 4
        for t in STREAMS:
            with socket.create_connection(("127.0.0.1", ports[t]), timeout=2):
                pass
    finally:
        srv.stop()
    assert set(ReferenceCore(SutConfig(ws_port=0)).ports) == {"udp", "tcp"}   # not started yet


def test_tls_port_tries_5061_first_then_any(monkeypatch):
    busy = socket.socket()
    busy.bind(("127.0.0.1", 0))
    busy.listen(1)
    monkeypatch.setattr(streams, "DEFAULT_TLS_PORT", busy.getsockname()[1])
    try:
        s = streams.bind_stream("127.0.0.1", "tls", 0)      # the default port is taken: any
        assert s.getsockname()[1] not in (0, busy.getsockname()[1])
        s.close()
        free = socket.socket()
        free.bind(("127.0.0.1", 0))
        port = free.getsockname()[1]
        free.close()
        monkeypatch.setattr(streams, "DEFAULT_TLS_PORT", port)
        s = streams.bind_stream("127.0.0.1", "tls", 0)      # free: taken
        assert s.getsockname()[1] == port
        s.close()
        s = streams.bind_stream("127.0.0.1", "ws", 0)       # only TLS has a preferred port
        assert s.getsockname()[1] != port
        s.close()
    finally:
        busy.close()


@pytest.mark.parametrize("transport", STREAMS)
def test_two_flows_terminating_request_over_the_right_connection_then_the_next_flow(ca, transport):
    srv = server()
    peer = Peer(srv.address)
    try:
        ue1 = StreamUe(transport, srv.ports[transport], ca).open()
        ue2 = StreamUe(transport, srv.ports[transport], ca, source="127.0.0.12").open()
        assert ue1.stack.ready and ue2.stack.ready
        ok1 = ue1.register(reg_id=1)
        assert ok1.status == 200 and "outbound" in ok1.get("Require")
        ok2 = ue2.register(reg_id=2)
        assert ok2.status == 200 and len(ok2.values("Contact")) == 2
        flows = {b.reg_id: b.flow for b in srv.lookup(AOR)}
        assert flows[1].transport == flows[2].transport == transport
        assert flows[1].conn_id != flows[2].conn_id
        # the most recent flow first (RFC 5626 section 7), over its connection only
        call = peer.message()
        got = ue2.next_message()
        assert got is not None and got.startswith(b"MESSAGE sip:ue-a@")
        # our Via names the transport and, as sent-by, the listener (RFC 3261 section 18.1.1)
        top_via = parse_message(got).values("Via")[0]
        assert top_via.startswith(f"SIP/2.0/{transport.upper()} 127.0.0.1:{srv.ports[transport]};")
        ue2.answer(got)
        final = peer.final(call)
        assert final is not None and final.status == 200
        # the connection closes (WS Close / close_notify): that flow failed, its binding goes
        ue2.close(graceful=True)
        assert wait_bindings(srv, 1) == 1
        assert srv.lookup(AOR)[0].reg_id == 1
        call = peer.message()
        got = ue1.next_message()
        assert got is not None and got.startswith(b"MESSAGE ")
        ue1.answer(got)
        assert peer.final(call).status == 200
        ue1.close(graceful=False)                 # dropped without close_notify / WS Close
        assert wait_bindings(srv, 0) == 0
        call = peer.message()
        assert peer.final(call).status == 480     # no flow left
    finally:
        peer.close()
        srv.stop()


@pytest.mark.parametrize("transport", STREAMS)
def test_crlf_keepalive_gets_a_pong(ca, transport):
    srv = server()
    try:
        ue = StreamUe(transport, srv.ports[transport], ca).open()
        ue.sock.sendall(ue.stack.send_keepalive(b"\r\n\r\n"))
        assert isinstance(ue.next_keepalive(), Pong)
        ue.close()
    finally:
        srv.stop()


@pytest.mark.parametrize("transport", ["ws", "wss"])
def test_websocket_ping_gets_its_pong(ca, transport):
    srv = server()
    try:
        ue = StreamUe(transport, srv.ports[transport], ca).open()
        ue.sock.sendall(ue.stack.ping(b"are-you-there"))
        ev = ue.pump()
        assert ev.ws_pongs == [b"are-you-there"]
        ue.close()
    finally:
        srv.stop()


@pytest.mark.parametrize("transport", ["ws", "wss"])
def test_upgrade_gets_401_until_it_carries_authorization(ca, transport):
    srv = server(ws_auth="ims.test")
    try:
        ue = StreamUe(transport, srv.ports[transport], ca).open()
        assert not ue.stack.ready
        assert any(e.http_status == 401 for e in ue.events)
        assert ue.pump().closed is not None          # the server closed after its 401
        ue.close(graceful=False)
        ok = StreamUe(transport, srv.ports[transport], ca,
                      ws=WsClient(authorization="Basic dWU6cHc=")).open()
        assert ok.stack.ready
        assert ok.register().status == 200
        ok.close()
    finally:
        srv.stop()


@pytest.mark.parametrize("transport", STREAMS)
def test_a_peer_that_never_finishes_the_handshake_is_closed(monkeypatch, transport):
    monkeypatch.setattr(reference_module, "HANDSHAKE_TIMEOUT", 0.3)
    srv = server()
    try:
        s = socket.create_connection(("127.0.0.1", srv.ports[transport]), timeout=3.0)
        s.sendall(b"\x16\x03" if transport != "ws" else b"GET / HTTP/1.1\r\n")   # and no more
        assert s.recv(1024) == b""                   # closed by the server, well before 3 s
        s.close()
        assert srv.lookup(AOR) == []
    finally:
        srv.stop()


def test_upgrade_without_the_sip_subprotocol_is_refused(ca):
    srv = server()
    try:
        ue = StreamUe("ws", srv.ports["ws"], ca, ws=WsClient(subprotocol="chat")).open()
        assert not ue.stack.ready and any(e.http_status == 400 for e in ue.events)
        ue.close(graceful=False)
    finally:
        srv.stop()


# -- faults ---------------------------------------------------------------------------------------
def test_fault_ws_no_subprotocol(ca):
    srv = server(faults={"ws-no-subprotocol"})
    try:
        ue = StreamUe("ws", srv.ports["ws"], ca).open()
        assert ue.stack.ready
        assert any(e.error and "without Sec-WebSocket-Protocol" in e.error for e in ue.events)
        ue.close()
    finally:
        srv.stop()
    srv = server()
    try:
        ue = StreamUe("ws", srv.ports["ws"], ca).open()
        assert ue.stack.ready and not any(e.error for e in ue.events)
        assert ue.stack.ws.subprotocol == "sip"
        ue.close()
    finally:
        srv.stop()


@pytest.mark.parametrize("transport", ["ws", "wss"])
def test_fault_ws_route_by_contact_never_delivers(ca, transport):
    srv = server(faults={"ws-route-by-contact"}, branch_timeout=1.0)
    peer = Peer(srv.address)
    try:
        ue = StreamUe(transport, srv.ports[transport], ca).open()
        assert ue.register().status == 200
        call = peer.message()
        final = peer.final(call)
        assert final is not None and final.status >= 400
        ue.sock.settimeout(0.3)
        assert ue.next_message() is None             # nothing came over the connection
        ue.close()
    finally:
        peer.close()
        srv.stop()


def test_fault_ws_route_by_contact_leaves_tls_alone(ca):
    srv = server(faults={"ws-route-by-contact"})
    peer = Peer(srv.address)
    try:
        ue = StreamUe("tls", srv.ports["tls"], ca).open()
        assert ue.register().status == 200
        call = peer.message()
        got = ue.next_message()
        assert got is not None
        ue.answer(got)
        assert peer.final(call).status == 200
        ue.close()
    finally:
        peer.close()
        srv.stop()


@pytest.mark.parametrize("transport,survives", [("tls", True), ("wss", True), ("ws", False)])
def test_fault_tls_flow_survives_close(ca, transport, survives):
    srv = server(faults={"tls-flow-survives-close"})
    try:
        ue = StreamUe(transport, srv.ports[transport], ca).open()
        assert ue.register().status == 200
        ue.close()
        deadline = time.monotonic() + 1.0
        while time.monotonic() < deadline and len(srv.lookup(AOR)) == 1:
            time.sleep(0.02)
        assert len(srv.lookup(AOR)) == (1 if survives else 0)
    finally:
        srv.stop()


# -- the edge: the flow token names the connection ------------------------------------------------
@pytest.mark.parametrize("transport", ["ws", "tls"])
def test_core_edge_delivers_over_the_flow_and_a_closed_flow_fails(ca, transport):
    srv = server(topology="core", branch_timeout=1.0)
    peer = Peer(srv.core_address)
    try:
        ue = StreamUe(transport, srv.ports[transport], ca).open()
        ok = ue.register()
        assert ok.status == 200 and "outbound" in ok.get("Require")
        call = peer.message()
        got = ue.next_message()
        assert got is not None and got.startswith(b"MESSAGE sip:ue-a@")
        top_via = parse_message(got).values("Via")[0]     # the edge's, naming its listener
        assert top_via.startswith(f"SIP/2.0/{transport.upper()} 127.0.0.1:{srv.ports[transport]};")
        ue.answer(got)                                    # the 200 comes back through the edge
        assert peer.final(call).status == 200
        ue.close()
        deadline = time.monotonic() + 2.0
        def ue_flows():
            return [f for f in srv.edge.live_tcp if f.transport == transport]
        while time.monotonic() < deadline and ue_flows():
            time.sleep(0.02)
        assert not ue_flows()                         # the edge forgot the flow
        call = peer.message()
        final = peer.final(call)
        # the edge answers 430 Flow Failed (RFC 5626 section 5.3.1); the S-CSCF sends 480 upstream
        assert final is not None and final.status == 480
        assert any("430" in line for line in srv.edge.log)
    finally:
        peer.close()
        srv.stop()


# -- plain parts ----------------------------------------------------------------------------------
def test_flow_tokens_name_the_stream_transport_and_connection():
    codec = FlowTokenCodec(b"k" * 20)
    tokens = set()
    for t in ("tcp",) + STREAMS:
        for conn in (1, 2):
            flow = FlowInfo(t, ("127.0.0.1", 5061), ("127.0.0.11", 40000), conn)
            token = codec.encode(flow)
            assert codec.decode(token) == flow
            tokens.add(token)
    assert len(tokens) == 8
    with pytest.raises(ValueError):
        FlowInfo("sctp", ("127.0.0.1", 1), ("127.0.0.2", 2))


def test_sutctl_starts_the_listeners_and_writes_the_ports_back():
    target = load_target(str(ROOT / "targets" / "reference-tls-ws.yaml"))
    assert target.ports == {"tls": 0, "ws": 0, "wss": 0}
    ctl = SutController(target)
    ctl.start()
    try:
        assert set(target.ports) == set(STREAMS) and all(target.ports.values())
        for t in STREAMS:
            assert target.port_of(t) == target.ports[t]
            with socket.create_connection(("127.0.0.1", target.ports[t]), timeout=2):
                pass
    finally:
        ctl.stop()


def test_cli_options_reach_the_config():
    args = cli.build_parser().parse_args(["--tls-port", "0", "--ws-port", "8080", "--ws-auth", "ims.test",
                                          "--tls-keylog", "/tmp/k.log"])
    assert (args.tls_port, args.ws_port, args.wss_port, args.ws_auth, args.tls_keylog) == \
        (0, 8080, None, "ims.test", "/tmp/k.log")
    with pytest.raises(ValueError):
        SutConfig(tls_cert="a.pem")                  # a certificate needs its key
    with pytest.raises(ValueError):
        SutConfig(ws_port=70000)
    assert SutConfig(tls_port=0, wss_port=8443).stream_ports == {"tls": 0, "wss": 8443}


@pytest.mark.parametrize("topology", ["registrar", "core"])
def test_a_route_to_the_tls_listener_is_our_own(ca, topology):
    """A client with an outbound proxy (baresip: Route <sip:IP:5061;transport=tls;lr>): the node
    behind the TLS listener recognises its own Route value (RFC 3261 section 16.4) instead of
    forwarding the request to that address over TCP."""
    srv = server(topology=topology)
    try:
        port = srv.ports["tls"]
        ue = StreamUe("tls", port, ca).open()
        ok = ue.register(route=f"<sip:127.0.0.1:{port};transport=tls;lr>")
        assert ok.status == 200
        assert [b.reg_id for b in srv.lookup(AOR)] == [1]
        ue.close()
    finally:
        srv.stop()


def test_the_scscf_removes_a_route_naming_its_tls_listener(ca):
    """RFC 3261 section 16.4: the S-CSCF behind the TLS listener removes a Route value naming that
    listener (port absent: 5061 for transport=tls) and routes by the Request-URI; else it would
    forward the MESSAGE to its own TLS port over TCP."""
    srv = server()
    try:
        port = srv.ports["tls"]
        ue = StreamUe("tls", port, ca).open()
        assert ue.register().status == 200
        msg = (f"MESSAGE {AOR} SIP/2.0\r\nVia: SIP/2.0/TLS 127.0.0.11;branch=z9hG4bK-own;rport\r\n"
               f"Route: <sip:127.0.0.1:{port};transport=tls;lr>\r\nMax-Forwards: 70\r\n"
               f"From: <{AOR}>;tag=me\r\nTo: <{AOR}>\r\nCall-ID: own-route\r\nCSeq: 1 MESSAGE\r\n"
               f"Content-Length: 0\r\n\r\n")
        ue.send(msg.encode())
        got = ue.next_message()                       # the 100-less MESSAGE comes back to us
        assert got is not None and got.startswith(b"MESSAGE sip:ue-a@"), got
        assert parse_message(got).values("Route") == []
        ue.close()
    finally:
        srv.stop()
    assert srv.scscf.stream_addresses == {t: ("127.0.0.1", p) for t, p in srv.ports.items()
                                          if t in STREAMS}


def test_server_keylog_holds_the_session_keys(ca, tmp_path):
    keylog = tmp_path / "server.keys"
    srv = server(tls_keylog=str(keylog))
    try:
        ue = StreamUe("tls", srv.ports["tls"], ca).open()
        assert ue.register().status == 200
        ue.close()
    finally:
        srv.stop()
    lines = keylog_lines(keylog.read_text())
    assert {label for label, _, _ in lines} >= {"CLIENT_TRAFFIC_SECRET_0", "SERVER_TRAFFIC_SECRET_0"}


def test_a_flow_declared_failed_is_closed_with_a_websocket_close(ca):
    """Flow-Timer supervision (RFC 5626 section 5.4): a silent WS flow is failed and its
    connection closed politely (WebSocket Close, then the socket)."""
    srv = server(flow_timer=1, flow_grace=0.2)
    try:
        ue = StreamUe("ws", srv.ports["ws"], ca).open()
        ok = ue.register()
        assert ok.get("Flow-Timer") == "1"
        ev = ue.pump()                                # bounded by the socket timeout (3 s)
        while not ev.closed and ev.frames:
            ev = ue.pump()
        assert ev.closed and ev.closed.startswith("WebSocket close"), ev.closed
        assert wait_bindings(srv, 0) == 0
    finally:
        srv.stop()


def test_ws_auth_is_a_realm_or_a_whole_challenge():
    assert streams.challenge(None) is None
    assert streams.challenge("ims.test") == 'Basic realm="ims.test"'
    assert streams.challenge('Basic realm="ims.test"') == 'Basic realm="ims.test"'
    assert streams.challenge('Digest realm="x", nonce="1"') == 'Digest realm="x", nonce="1"'


def test_the_sut_command_serves_and_names_the_stream_listeners(ca):
    proc = subprocess.Popen(
        [sys.executable, "-m", "conformance.sut", "--listen", "127.0.0.1:0", "--tls-port", "0",
         "--ws-port", "0", "--wss-port", "0"], stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
        env=dict(os.environ, PYTHONPATH=str(ROOT)), cwd=ROOT)
    try:
        first, second = proc.stdout.readline(), proc.stdout.readline()
        ports = dict(re.findall(r"(tls|wss|ws) 127\.0\.0\.1:(\d+)", second))
        assert set(ports) == set(STREAMS), first + second
        ue = StreamUe("wss", int(ports["wss"]), ca).open()
        assert ue.register().status == 200
        ue.close()
        proc.send_signal(signal.SIGTERM)
        assert proc.wait(timeout=5) == 0
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait()


@pytest.mark.parametrize("transport", ["tls", "wss"])
def test_core_edge_forwards_a_stream_register_to_its_scscf_over_udp(ca, transport):
    """The edge's hop to its S-CSCF over UDP (core_transport udp, as the UE network side runs it):
    a REGISTER that came over TLS / WSS leaves from the edge's own UDP socket (a stream listener
    has none; the send failed into a 503 'next hop unreachable' before)."""
    srv = server(topology="core", core_transport="udp", branch_timeout=1.0)
    try:
        ue = StreamUe(transport, srv.ports[transport], ca).open()
        ok = ue.register()
        assert ok.status == 200 and "outbound" in ok.get("Require")
        assert wait_bindings(srv, 1) == 1
        ue.close()
    finally:
        srv.stop()
