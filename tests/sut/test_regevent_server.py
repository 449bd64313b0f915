"""The reg event notifier over real sockets (server/reference.py): a SUBSCRIBE over UDP and over
TCP gets its 200 and the full-state NOTIFY on the subscriber's own flow, and a REGISTER from
another flow brings a partial NOTIFY there too (bounded waits, no sleeps)."""

from __future__ import annotations

import socket
import time

import pytest

from conformance.sip.framing import StreamFramer
from conformance.sip.message import Response, parse_message
from conformance.sip.reginfo import parse_reginfo
from conformance.sut.config import SutConfig
from conformance.sut.server.reference import ReferenceCscf

TIMEOUT = 3.0
INST = '"<urn:uuid:00000000-0000-1000-8000-0000000000aa>"'


@pytest.fixture
def cscf():
    with ReferenceCscf(SutConfig(), host="127.0.0.1", port=0) as server:
        yield server


def register(transport: str, port: int, reg_id: int, call_id: str) -> bytes:
    t = transport.upper()
    return (f"REGISTER sip:ims.test SIP/2.0\r\nVia: SIP/2.0/{t} 127.0.0.1:{port};rport;branch=z9hG4bK-r{call_id}\r\n"
            f"Max-Forwards: 70\r\nFrom: <sip:bob@ims.test>;tag=r{reg_id}\r\nTo: <sip:bob@ims.test>\r\n"
            f"Call-ID: {call_id}\r\nCSeq: 1 REGISTER\r\nSupported: path, outbound\r\n"
            f"Contact: <sip:bob@127.0.0.1:{port};transport={transport};ob>;+sip.instance={INST};reg-id={reg_id}\r\n"
            f"Expires: 600\r\nContent-Length: 0\r\n\r\n").encode()


def subscribe(transport: str, port: int) -> bytes:
    t = transport.upper()
    return (f"SUBSCRIBE sip:bob@ims.test SIP/2.0\r\nVia: SIP/2.0/{t} 127.0.0.1:{port};rport;branch=z9hG4bK-s{t}\r\n"
            f"Max-Forwards: 70\r\nFrom: <sip:bob@ims.test>;tag=s{t}\r\nTo: <sip:bob@ims.test>\r\n"
            f"Call-ID: sub-{t}\r\nCSeq: 1 SUBSCRIBE\r\nEvent: reg\r\nAccept: application/reginfo+xml\r\n"
            f"Expires: 600\r\nSupported: outbound\r\nContact: <sip:bob@127.0.0.1:{port};transport={transport};ob>\r\n"
            f"Content-Length: 0\r\n\r\n").encode()


def ok_to(notify) -> bytes:
    headers = [(n, notify.get(n)) for n in ("Via", "From", "To", "Call-ID", "CSeq")]
    return bytes(Response(status=200, reason="OK", headers=headers))


class Udp:
    def __init__(self, cscf):
        self.cscf = cscf
        self.sock = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
        self.sock.bind(("127.0.0.1", 0))
        self.sock.settimeout(TIMEOUT)
        self.port = self.sock.getsockname()[1]

    def send(self, data: bytes) -> None:
        self.sock.sendto(data, self.cscf.address)

    def receive(self):
        return parse_message(self.sock.recvfrom(65536)[0])

    def close(self):
        self.sock.close()


class Tcp:
    def __init__(self, cscf):
        self.sock = socket.create_connection(cscf.address, timeout=TIMEOUT)
        self.sock.settimeout(TIMEOUT)
        self.port = self.sock.getsockname()[1]
        self.framer = StreamFramer()
        self.frames: list = []

    def send(self, data: bytes) -> None:
        self.sock.sendall(data)

    def receive(self):
        deadline = time.monotonic() + TIMEOUT
        while not self.frames and time.monotonic() < deadline:
            data = self.sock.recv(65536)
            if not data:
                break
            self.frames += [f for f in self.framer.feed(data) if hasattr(f, "data")]
        assert self.frames, "nothing received within the timeout"
        return parse_message(self.frames.pop(0).data)

    def close(self):
        self.sock.close()


@pytest.mark.parametrize("transport", ["udp", "tcp"])
def test_subscribe_gets_200_then_notifies_on_the_subscriber_flow(cscf, transport):
    ue = Udp(cscf) if transport == "udp" else Tcp(cscf)
    other = Udp(cscf)
    try:
        ue.send(register(transport, ue.port, 1, "reg-1"))
        assert ue.receive().status == 200
        ue.send(subscribe(transport, ue.port))
        first, second = ue.receive(), ue.receive()
        ok, notify = (first, second) if isinstance(first, Response) else (second, first)
        assert ok.status == 200 and ok.get("Expires") == "600"
        assert notify.method == "NOTIFY" and notify.get("Event") == "reg"
        assert notify.uri == f"sip:bob@127.0.0.1:{ue.port};transport={transport};ob"
        assert notify.get("Subscription-State").startswith("active;expires=")
        info = parse_reginfo(notify.body)
        assert (info.version, info.state) == (0, "full")
        [contact] = info.registrations[0].contacts
        assert contact.reg_id == 1 and contact.state == "active"
        ue.send(ok_to(notify))
        other.send(register("udp", other.port, 2, "reg-2"))   # Reg2 from another flow
        assert other.receive().status == 200
        partial = ue.receive()                                # lands on the subscriber's flow
        assert partial.method == "NOTIFY"
        info = parse_reginfo(partial.body)
        assert (info.version, info.state) == (1, "partial")
        [added] = info.registrations[0].contacts
        assert (added.reg_id, added.state, added.event) == (2, "active", "registered")
        ue.send(ok_to(partial))
    finally:
        ue.close()
        other.close()


def test_through_the_edge_the_notify_follows_the_edge_record_route():
    """Core topology: the edge record-routes the UE's SUBSCRIBE with its flow token (RFC 5626
    section 5.3.2 note), so the S-CSCF's NOTIFY comes back over the UE's flow through the edge."""
    with ReferenceCscf(SutConfig(topology="core"), host="127.0.0.1", port=0) as core:
        ue = Udp(core)
        try:
            ue.send(register("udp", ue.port, 1, "reg-e"))
            assert ue.receive().status == 200
            ue.send(subscribe("udp", ue.port))
            first, second = ue.receive(), ue.receive()
            ok, notify = (first, second) if isinstance(first, Response) else (second, first)
            assert ok.status == 200 and len(ok.values("Record-Route")) == 1
            assert f":{core.edge_address[1]}" in ok.get("Record-Route")
            assert notify.method == "NOTIFY" and parse_reginfo(notify.body).version == 0
            assert notify.values("Route") == []                  # the edge removed its own value
            ue.send(ok_to(notify))
        finally:
            ue.close()
