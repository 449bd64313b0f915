"""The reference as edge + S-CSCF over real sockets on 127.0.0.1: registration through the edge,
terminating requests on the right flow, fallback, keep-alives (bounded waits, no fixed sleeps)."""

from __future__ import annotations

import os
import socket
import time

import pytest

from conformance.sip.framing import Message, StreamFramer
from conformance.sip.message import parse_message
from conformance.sut.config import SutConfig
from conformance.sut.server.reference import ReferenceCore, ReferenceCscf
from conformance.sip.stun import binding_request, decode_xor_address, parse
from routing_helpers import answer, peer_request
from sut_helpers import AOR, contact, register

TIMEOUT = 3.0


class TcpUe:
    def __init__(self, address):
        self.sock = socket.create_connection(address, timeout=TIMEOUT)
        self.framer = StreamFramer()
        self.frames = []
        self.port = self.sock.getsockname()[1]

    def send(self, message):
        self.sock.sendall(bytes(message))

    def recv(self):
        deadline = time.monotonic() + TIMEOUT
        while not self.frames and time.monotonic() < deadline:
            data = self.sock.recv(65536)
            if not data:
                break
            self.frames += [f for f in self.framer.feed(data) if isinstance(f, Message)]
        assert self.frames, "nothing received"
        return parse_message(self.frames.pop(0).data)

    def register(self, first_hop=True, **kw):
        req = register(first_hop=first_hop, **kw)
        vias = req.values("Via")
        vias[-1] = f"SIP/2.0/TCP 127.0.0.1:{self.port};rport;branch=z9hG4bK-{os.urandom(4).hex()}"
        req.headers = [h for h in req.headers if h[0] != "Via"]
        for v in reversed(vias):
            req.insert(0, "Via", v)
        self.send(req)
        return self.recv()

    def close(self):
        self.sock.close()


class UdpPeer:
    def __init__(self):
        self.sock = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
        self.sock.bind(("127.0.0.1", 0))
        self.sock.settimeout(TIMEOUT)
        self.port = self.sock.getsockname()[1]
        self.via = f"SIP/2.0/UDP 127.0.0.1:{self.port};rport"

    def send(self, message, address):
        self.sock.sendto(bytes(message), address)

    def recv(self):
        data, addr = self.sock.recvfrom(65536)
        return parse_message(data), addr

    def close(self):
        self.sock.close()


@pytest.fixture
def core():
    with ReferenceCore(SutConfig(topology="core"), "127.0.0.1") as server:
        yield server


@pytest.fixture
def peer():
    p = UdpPeer()
    yield p
    p.close()


def test_addresses(core):
    assert core.address == core.edge_address != core.core_address
    assert core.edge.next_hop == (*core.core_address, "tcp")


def test_tcp_ue_through_the_edge_gets_the_peer_message_on_its_connection(core, peer):
    ue = TcpUe(core.edge_address)
    r = ue.register()
    assert r.status == 200 and r.values("Require") == ["outbound"]
    [path] = r.values("Path")
    assert ";ob" in path and f"@127.0.0.1:{core.edge_address[1]}" in path
    peer.send(peer_request(via=peer.via), core.core_address)
    got = ue.recv()                                        # on the REGISTER's connection
    assert got.method == "MESSAGE" and got.uri == "sip:ue-a@10.0.0.1;transport=tcp"
    assert got.values("Route") == []
    ue.send(answer(got, 200, "OK"))
    resp, addr = peer.recv()
    assert resp.status == 200 and addr == core.core_address
    ue.close()


@pytest.mark.parametrize("core_transport", ["udp", "tcp"])
def test_udp_ue_through_the_edge(peer, core_transport):
    with ReferenceCore(SutConfig(topology="core", core_transport=core_transport), "127.0.0.1") as core:
        ue = UdpPeer()
        req = register(first_hop=True)
        req.set("Via", f"{ue.via};branch=z9hG4bK-u1")
        ue.send(req, core.edge_address)
        r, addr = ue.recv()
        assert r.status == 200 and addr == core.edge_address and "transport=" + core_transport in r.get("Path")
        peer.send(peer_request(via=peer.via), core.core_address)
        got, addr = ue.recv()
        assert got.method == "MESSAGE" and addr == core.edge_address      # from the edge socket
        ue.send(answer(got, 202, "Accepted"), core.edge_address)
        assert peer.recv()[0].status == 202
        ue.close()


def test_fallback_after_the_newest_flow_closes(core, peer):
    ue1, ue2 = TcpUe(core.edge_address), TcpUe(core.edge_address)
    assert ue1.register().status == 200
    assert ue2.register(contacts=[contact("10.0.0.2", reg_id=2)], call_id="C2").status == 200
    assert len(core.lookup(AOR)) == 2
    ue2.close()                                             # the edge forgets the flow
    deadline = time.monotonic() + TIMEOUT
    while any(f.remote[1] == ue2.port for f in core.edge.live_tcp) and time.monotonic() < deadline:
        time.sleep(0.01)
    peer.send(peer_request(via=peer.via), core.core_address)
    got = ue1.recv()                                        # 430 from the edge, retry on flow 1
    assert got.uri.startswith("sip:ue-a@10.0.0.1")
    ue1.send(answer(got, 200, "OK"))
    assert peer.recv()[0].status == 200
    ue1.close()


def test_stun_on_edge_and_core_udp_ports(core, peer):
    tid = os.urandom(12)
    for address in (core.edge_address, core.core_address):
        peer.sock.sendto(binding_request(tid), address)
        data, addr = peer.sock.recvfrom(2048)
        method, cls, got_tid, attrs = parse(data)
        assert addr == address and (method, cls, got_tid) == (1, 0b10, tid)
        assert decode_xor_address(attrs[0][1], tid) == ("127.0.0.1", peer.port)


def test_crlf_ping_on_the_edge(core):
    ue = TcpUe(core.edge_address)
    ue.sock.sendall(b"\r\n\r\n")
    assert ue.sock.recv(16) == b"\r\n"
    ue.close()


def test_registrar_topology_reuses_the_direct_tcp_flow(peer):
    with ReferenceCscf(SutConfig()) as cscf:
        ue = TcpUe(cscf.address)
        assert ue.register().status == 200
        peer.send(peer_request(via=peer.via), cscf.address)
        got = ue.recv()                                     # RFC 5626 section 7: same connection
        assert got.method == "MESSAGE" and len(got.values("Via")) == 2
        ue.send(answer(got, 200, "OK"))
        assert peer.recv()[0].status == 200
        ue.close()


def test_registrar_reaches_an_emulated_edge_over_its_connection(peer):
    with ReferenceCscf(SutConfig()) as cscf:
        ue = TcpUe(cscf.address)                             # a tester edge at this address
        path = f"<sip:tok1@127.0.0.1:{ue.port};transport=tcp;lr;ob>"
        assert ue.register(first_hop=False, path=[path]).status == 200
        peer.send(peer_request(via=peer.via), cscf.address)
        got = ue.recv()
        assert got.values("Route") == [path]                 # RFC 3327 section 5.4
        ue.send(answer(got, 430, "Flow Failed"))
        assert peer.recv()[0].status == 480
        ue.close()


def test_edge_alone_in_front_of_a_registrar(peer):
    with ReferenceCscf(SutConfig()) as cscf:
        cfg = SutConfig(topology="edge", edge_next_hop=(cscf.host, cscf.port, "udp"))
        with ReferenceCore(cfg, "127.0.0.1") as edge:
            assert edge.core_address is None and edge.registrar is None
            ue = TcpUe(edge.edge_address)
            r = ue.register()
            assert r.status == 200 and ";ob" in r.get("Path")
            peer.send(peer_request(via=peer.via), cscf.address)
            got = ue.recv()
            ue.send(answer(got, 200, "OK"))
            assert peer.recv()[0].status == 200
            ue.close()


@pytest.mark.parametrize("fault", ["no-stun", "no-crlf-pong"])
def test_keepalive_faults_are_observable(fault, peer):
    with ReferenceCore(SutConfig(topology="core", faults={fault}), "127.0.0.1") as core:
        if fault == "no-stun":
            peer.sock.settimeout(0.5)
            peer.sock.sendto(binding_request(os.urandom(12)), core.edge_address)
            with pytest.raises(socket.timeout):
                peer.sock.recvfrom(2048)
        else:
            ue = TcpUe(core.edge_address)
            ue.sock.settimeout(0.5)
            ue.sock.sendall(b"\r\n\r\n")
            with pytest.raises(socket.timeout):
                ue.sock.recv(16)
            ue.close()


def test_path_without_ob_fault_gives_439_through_the_core():
    with ReferenceCore(SutConfig(topology="core", faults={"path-without-ob"}), "127.0.0.1") as core:
        ue = TcpUe(core.edge_address)
        assert ue.register().status == 439                   # RFC 5626 section 6 para 3
        ue.close()


def test_forged_token_through_the_server(peer):
    for faults, expected in (((), 403), ({"accept-forged-token"}, "delivered")):
        with ReferenceCore(SutConfig(topology="core", faults=faults), "127.0.0.1") as core:
            ue = TcpUe(core.edge_address)
            [path] = ue.register().values("Path")
            token = path.split("sip:", 1)[1].split("@", 1)[0]
            forged = ("B" if token[0] != "B" else "C") + token[1:]
            req = peer_request(uri="sip:ue-a@10.0.0.1", via=peer.via, routes=[path.replace(token, forged)])
            peer.send(req, core.edge_address)
            if expected == 403:
                assert peer.recv()[0].status == 403
            else:
                assert ue.recv().method == "MESSAGE"
            ue.close()
