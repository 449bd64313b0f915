"""The mangling relay over TLS, WS and WSS: it terminates both sides with conformance.wire
stacks (the UE talks TLS / WebSocket to the relay, the relay to the reference), passes SIP
through the rules, and its stream faults reach the UE as the layers say: a connection dropped
with no close_notify, a WebSocket Close, a message in 16-byte frames that the UE still reads."""

from __future__ import annotations

import socket
import time

import pytest

from conformance.mangler.relay import Relay
from conformance.mangler.rules import FaultSpec
from conformance.sip.framing import Message
from conformance.sut.config import SutConfig
from conformance.sut.server.reference import ReferenceCscf
from conformance.wire import Stack, TlsClient, WsClient
from conformance.wire.testca import ensure_test_ca

UE_IP = "127.0.0.71"


@pytest.fixture(scope="module")
def reference():
    ref = ReferenceCscf(SutConfig(tls_port=0, ws_port=0, wss_port=0), host="127.0.0.1", port=0)
    ref.start()
    yield ref
    ref.stop()


def _relay(ref, fault):
    ca = str(ensure_test_ca().ca_cert)
    streams = {t: ref.ports[t] for t in ("tls", "ws", "wss")}
    return Relay(FaultSpec(fault=fault), ("127.0.0.1", ref.port), ("udp", "tcp"), streams,
                 TlsClient(ca=ca, server_name="ims.test"), WsClient()).start()


def _register(transport: str, port: int) -> bytes:
    host = "a1b2c3.invalid" if transport in ("ws", "wss") else f"{UE_IP}:{port}"
    t = "ws" if transport in ("ws", "wss") else transport
    return (f"REGISTER sip:ims.test SIP/2.0\r\nVia: SIP/2.0/{transport.upper()} {host};branch=z9hG4bKm{transport}\r\n"
            f"Max-Forwards: 70\r\nFrom: <sip:m-{transport}@ims.test>;tag=1\r\nTo: <sip:m-{transport}@ims.test>\r\n"
            f"Call-ID: m-{transport}\r\nCSeq: 1 REGISTER\r\n"
            f"Contact: <sip:m@{host};transport={t};ob>;reg-id=1;+sip.instance=\"<urn:uuid:00000000-0000-1000-8000-00000000007{len(t)}>\"\r\n"
            f"Supported: path, outbound\r\nExpires: 600\r\nContent-Length: 0\r\n\r\n").encode()


def _exchange(relay, transport: str, after: float = 1.5):
    """Register through the relay; (messages, closed reason, bytes the UE received after the handshake)."""
    ca = str(ensure_test_ca().ca_cert)
    stack = Stack.client(transport, tls=TlsClient(ca=ca, server_name="ims.test"), ws=WsClient())
    with socket.create_connection(relay.address[:1] + (relay.ports[transport],), timeout=3,
                                  source_address=(UE_IP, 0)) as s:
        s.sendall(stack.start())
        deadline = time.monotonic() + 3
        while not stack.ready and time.monotonic() < deadline:
            ev = stack.receive(s.recv(65536))
            s.sendall(ev.send)
        assert stack.ready
        s.sendall(stack.send_message(_register(transport, s.getsockname()[1])))
        got, closed, raw = [], None, b""
        end = time.monotonic() + after
        while closed is None and time.monotonic() < end:
            s.settimeout(max(0.01, end - time.monotonic()))
            try:
                data = s.recv(65536)
            except socket.timeout:
                break
            raw += data
            ev = stack.receive(data)
            got += [f.data for f in ev.frames if isinstance(f, Message)]
            if ev.send:
                try:
                    s.sendall(ev.send)
                except OSError:
                    pass
            closed = ev.closed
        return got, closed, raw


@pytest.mark.parametrize("transport", ["tls", "ws", "wss"])
def test_relay_terminates_both_sides_and_passes_sip(reference, transport):
    relay = _relay(reference, "delay")  # a fault that keeps the exchange valid
    try:
        got, closed, _ = _exchange(relay, transport, after=1.0)
    finally:
        relay.stop()
    assert [m.split(b"\r\n", 1)[0] for m in got] == [b"SIP/2.0 200 OK"] and closed is None
    assert relay.handled == 1 and not relay.errors


@pytest.mark.parametrize("transport", ["tls", "wss"])
def test_close_without_close_notify(reference, transport):
    relay = _relay(reference, "close_without_close_notify")
    try:
        got, closed, _ = _exchange(relay, transport)
    finally:
        relay.stop()
    assert len(got) == 1 and got[0].startswith(b"SIP/2.0 200")
    assert closed is not None and "EOF without close_notify" in closed
    if transport == "wss":  # no Close frame either: wsproto says 1006 (RFC 6455 §7.1.5, abnormal closure)
        assert closed.startswith("WebSocket close 1006")


@pytest.mark.parametrize("transport", ["ws", "wss"])
def test_ws_close(reference, transport):
    relay = _relay(reference, "ws_close")
    try:
        got, closed, _ = _exchange(relay, transport)
    finally:
        relay.stop()
    assert len(got) == 1 and got[0].startswith(b"SIP/2.0 200")
    assert closed is not None and closed.startswith("WebSocket close 1000")


def test_ws_fragment_is_read_whole(reference):
    relay = _relay(reference, "ws_fragment")
    try:
        got, closed, raw = _exchange(relay, "ws", after=0.5)
    finally:
        relay.stop()
    [ok] = got
    assert ok.startswith(b"SIP/2.0 200") and closed is None
    # RFC 6455 §5.4: one message in frames of 16 bytes, each with its 2-byte header (server frames are unmasked)
    frames = -(-len(ok) // 16)
    assert frames > 10 and len(raw) == len(ok) + 2 * frames
