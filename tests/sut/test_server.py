"""The reference CSCF over real UDP and TCP sockets on 127.0.0.1 (timeouts, no fixed sleeps)."""

from __future__ import annotations

import socket
import time

import pytest

from conformance.sip.framing import Message, StreamFramer
from conformance.sip.headers import parse_vias
from conformance.sip.message import parse_message
from conformance.sut.config import SutConfig
from conformance.sut.server.reference import ReferenceCscf
from sut_helpers import AOR, contact, register

TIMEOUT = 3.0


@pytest.fixture
def cscf():
    with ReferenceCscf(SutConfig(), host="127.0.0.1", port=0) as server:
        yield server


def udp_client() -> socket.socket:
    s = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
    s.bind(("127.0.0.1", 0))
    s.settimeout(TIMEOUT)
    return s


def tcp_client(cscf) -> socket.socket:
    s = socket.create_connection(cscf.address, timeout=TIMEOUT)
    s.settimeout(TIMEOUT)
    return s


def options(port: int, branch: str, via_port: int | None = None, rport: bool = True) -> bytes:
    via = f"SIP/2.0/UDP 127.0.0.1:{via_port or port}{';rport' if rport else ''};branch=z9hG4bK-{branch}"
    return (f"OPTIONS sip:ims.test SIP/2.0\r\nVia: {via}\r\nMax-Forwards: 70\r\n"
            f"From: <sip:tester@ims.test>;tag=a\r\nTo: <sip:ims.test>\r\nCall-ID: {branch}\r\n"
            f"CSeq: 1 OPTIONS\r\nContent-Length: 0\r\n\r\n").encode()


def read_messages(sock: socket.socket, framer: StreamFramer, count: int) -> list:
    frames: list = []
    deadline = time.monotonic() + TIMEOUT
    while len(frames) < count and time.monotonic() < deadline:
        data = sock.recv(65536)
        if not data:
            break
        frames += framer.feed(data)
    return frames


def test_udp_and_tcp_share_the_port(cscf):
    assert cscf.port > 0 and cscf.address == ("127.0.0.1", cscf.port)
    with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as u:
        with pytest.raises(OSError):
            u.bind(cscf.address)
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as t:
        with pytest.raises(OSError):
            t.bind(cscf.address)
            t.listen()


def test_udp_options_and_rport(cscf):
    with udp_client() as c:
        port = c.getsockname()[1]
        # sent-by names port 9, but rport asks for the source port (RFC 3581 section 4)
        c.sendto(options(port, "u1", via_port=9), cscf.address)
        data, addr = c.recvfrom(65536)
        assert addr == cscf.address                      # sent from the port it arrived on
        r = parse_message(data)
        assert r.status == 200
        [via] = parse_vias(r)
        assert via.received == "127.0.0.1" and via.rport == str(port)


def test_udp_without_rport_goes_to_sent_by_port(cscf):
    with udp_client() as c, udp_client() as target:
        c.sendto(options(0, "u2", via_port=target.getsockname()[1], rport=False), cscf.address)
        assert parse_message(target.recvfrom(65536)[0]).status == 200


def test_udp_keepalive_and_noise_are_ignored(cscf):
    with udp_client() as c:
        c.sendto(b"\r\n\r\n", cscf.address)
        c.sendto(b"not sip at all", cscf.address)
        c.sendto(options(c.getsockname()[1], "u3"), cscf.address)
        r = parse_message(c.recvfrom(65536)[0])           # the first datagram back answers OPTIONS
        assert r.get("Call-ID") == "u3"


def test_udp_register_and_lookup(cscf):
    with udp_client() as c:
        req = register(first_hop=True)
        req.set("Via", f"SIP/2.0/UDP 127.0.0.1:{c.getsockname()[1]};rport;branch=z9hG4bK-r1")
        c.sendto(bytes(req), cscf.address)
        r = parse_message(c.recvfrom(65536)[0])
        assert r.status == 200 and r.values("Require") == ["outbound"]
    [b] = cscf.lookup(AOR)
    assert b.flow.transport == "udp" and b.direct
    assert any(h.response == "200 OK" for h in cscf.log)


def test_tcp_two_messages_in_one_segment(cscf):
    with tcp_client(cscf) as c:
        one = register(first_hop=True)
        two = register([contact("10.0.0.2", reg_id=2)], first_hop=True, call_id="C2")
        c.sendall(bytes(one) + bytes(two))
        frames = read_messages(c, StreamFramer(), 2)
        responses = [parse_message(f.data) for f in frames if isinstance(f, Message)]
        assert [r.status for r in responses] == [200, 200]
        assert [r.get("Call-ID") for r in responses] == ["C1", "C2"]
        assert len(responses[1].values("Contact")) == 2


def test_tcp_crlf_ping_gets_a_pong(cscf):
    with tcp_client(cscf) as c:
        c.sendall(b"\r\n\r\n")
        assert c.recv(16) == b"\r\n"
        # a ping right after a message, in the same segment
        c.sendall(bytes(register(first_hop=True)) + b"\r\n\r\n")
        buf = b""
        deadline = time.monotonic() + TIMEOUT
        while not buf.endswith(b"\r\n\r\n\r\n") and time.monotonic() < deadline:
            buf += c.recv(65536)
        assert buf.startswith(b"SIP/2.0 200 OK") and buf.endswith(b"\r\n\r\n\r\n")


def test_tcp_close_drops_direct_outbound_bindings(cscf):
    with tcp_client(cscf) as c:
        c.sendall(bytes(register(first_hop=True)))
        assert parse_message(c.recv(65536)).status == 200
        assert len(cscf.lookup(AOR)) == 1
    deadline = time.monotonic() + TIMEOUT
    while cscf.lookup(AOR) and time.monotonic() < deadline:
        time.sleep(0.01)                                  # polling for the close, bounded
    assert cscf.lookup(AOR) == []


def test_tcp_garbage_closes_the_connection(cscf):
    with tcp_client(cscf) as c:
        c.sendall(b"HELLO THERE\r\n\r\n")
        assert c.recv(100) == b""
    with tcp_client(cscf) as c:                           # the server is still serving
        c.sendall(bytes(register(first_hop=True)))
        assert parse_message(c.recv(65536)).status == 200


def test_stop_is_quick_and_closes_everything():
    server = ReferenceCscf(SutConfig(mode="rel7")).start()
    c = tcp_client(server)
    started = time.monotonic()
    server.stop()
    assert time.monotonic() - started < 1.0
    assert c.recv(10) == b""
    c.close()
    with pytest.raises(OSError):
        socket.create_connection(server.address, timeout=1.0)
    server.stop()                                          # idempotent


def test_fixed_port_and_double_start():
    with ReferenceCscf(port=0) as first:
        with pytest.raises(OSError):
            ReferenceCscf(port=first.port).start()
        with pytest.raises(RuntimeError):
            first.start()
