"""The reference P-CSCF's UDP-encapsulated tunnel mode (mod=UDP-enc-tun, TS 33.203 Annex M,
RFC 3948), sans-IO: the mode choice by NAT detection, the inner addresses, keep-alives that
teach it the NAT's mappings, and what it sends back."""

from __future__ import annotations

import itertools

import pytest

from conformance.ims import udpencap
from conformance.ims.aka import SqnState, check_challenge, split_nonce
from conformance.ims.digest import build_credentials
from conformance.ims.endpoint import EspEndpoint
from conformance.ims.sa import derive_sas
from conformance.ims.secagree import IpsecMechanism, client_mechanisms, format_security, mirror, parse_ipsec
from conformance.ims.subscriber import DEFAULT_SUBSCRIBERS
from conformance.sip.headers import format_auth, parse_auth, parse_security
from conformance.sip.message import parse_message
from conformance.sut.actions import SendIp, SendOnFlow, SendToHop
from conformance.sut.config import SutConfig
from conformance.sut.flow import FlowInfo
from conformance.sut.ims.proxy import ImsEdgeProxy

PCSCF, PRIVATE, PUBLIC = "198.18.2.2", "198.18.1.2", "198.18.2.1"
PORT_PS, PORT_PC = 6100, 6101
PORT_UC, PORT_US = 40001, 40002
BOTH = ["UDP-enc-tun", "trans"]


def make_edge(**kw) -> ImsEdgeProxy:
    spis = itertools.count(0x1000)
    cfg = SutConfig(topology="edge", edge_next_hop=("198.18.2.50", 5070, "udp"), ims=True, **kw)
    edge = ImsEdgeProxy(cfg, address=(PCSCF, 5060), rand=lambda n: bytes(range(n)),
                        spi_source=lambda avoid: next(s for s in spis if s not in avoid))
    edge.port_ps, edge.port_pc = PORT_PS, PORT_PC
    return edge


class NatUe:
    """A UE at PRIVATE whose packets reach the P-CSCF from PUBLIC (a NAT in between)."""

    def __init__(self, modes=BOTH, source=PUBLIC):
        self.client = client_mechanisms([("hmac-sha-1-96", "aes-cbc")], port_c=PORT_UC, port_s=PORT_US,
                                        spi_c=0x9000, spi_s=0x9001, modes=modes)
        self.flow = FlowInfo("udp", (PCSCF, 5060), (source, 21000))
        self.cseq, self.algo, self.sqns = 0, DEFAULT_SUBSCRIBERS["*"].algo(), SqnState()

    def register(self, extra=(), via_port=5555):
        self.cseq += 1
        lines = ["REGISTER sip:ims.test SIP/2.0",
                 f"Via: SIP/2.0/UDP {PRIVATE}:{via_port};rport;branch=z9hG4bK{self.cseq}n",
                 "Max-Forwards: 70", "From: <sip:alice@ims.test>;tag=1", "To: <sip:alice@ims.test>",
                 "Call-ID: nat-1", f"CSeq: {self.cseq} REGISTER",
                 f"Contact: <sip:a@{PRIVATE}:{PORT_US}>;reg-id=1;+sip.instance=\"<urn:uuid:1>\"",
                 "Supported: path, outbound, sec-agree", "Require: sec-agree", "Proxy-Require: sec-agree",
                 f"Security-Client: {format_security(self.client)}", *extra, "Content-Length: 0", "", ""]
        return "\r\n".join(lines).encode()

    def challenge(self, edge):
        auth = ('Authorization: Digest username="alice@ims.test", realm="ims.test", '
                'uri="sip:ims.test", nonce="", response=""')
        response = parse_message(next(a for a in edge.receive(self.register([auth]), self.flow, 0.0)
                                      if isinstance(a, SendOnFlow)).data)
        assert response.status == 401
        self.auth = parse_auth(response.get("WWW-Authenticate"))
        self.server_raw = parse_security(response.values("Security-Server"))
        self.server = IpsecMechanism.from_mechanism(self.server_raw[0])
        rand, autn, _ = split_nonce(self.auth.get("nonce"))
        self.aka = check_challenge(self.algo, rand, autn, self.sqns)
        mine = next(m for m in self.client if m.pair == self.server.pair)
        self.sas = derive_sas(mine, self.server, ck=self.aka.ck, ik=self.aka.ik, ue_addr=PRIVATE,
                              pcscf_addr=PCSCF)
        self.ep = EspEndpoint(self.sas, "ue")
        return response

    def protected(self):
        params = build_credentials(self.auth, username="alice@ims.test", uri="sip:ims.test",
                                   method="REGISTER", password=self.aka.res, cnonce="abc", nc=1)
        data = self.register([f"Authorization: {format_auth('Digest', params)}",
                              f"Security-Verify: {mirror(self.server_raw)}"], via_port=PORT_US)
        return udpencap.seal_tunnel(self.ep, self.sas[1], data)


def at(port, src_port):
    return FlowInfo("udp", (PCSCF, port), (PUBLIC, src_port))


def test_behind_a_nat_the_pcscf_chooses_udp_enc_tun_and_the_private_address():
    edge, ue = make_edge(), NatUe()
    ue.challenge(edge)
    assert ue.server.mode == "udp-enc-tun"                             # TS 33.203 Annex M
    rec = next(iter(edge.by_nonce.values()))
    assert rec.mode == "UDP-enc-tun" and rec.sas[1].src == PRIVATE     # the inner UE address


@pytest.mark.parametrize("modes, source, want", [
    (BOTH, PRIVATE, "trans"),            # no NAT: transport mode
    (["UDP-enc-tun"], PRIVATE, "udp-enc-tun"),   # all the UE offers
    ([None], PUBLIC, "trans"),           # a UE without the mode, behind a NAT
])
def test_mode_choice(modes, source, want):
    edge, ue = make_edge(), NatUe(modes=modes, source=source)
    ue.challenge(edge)
    assert ue.server.mode == want


def test_protected_register_in_udp_and_the_answer_to_the_learned_mapping():
    edge, ue = make_edge(), NatUe()
    ue.challenge(edge)
    # a NAT-keepalive from port_us (mapped to 23456) is ignored but teaches the mapping
    assert edge.receive(udpencap.KEEPALIVE, at(PORT_PC, 23456), 0.5) == []
    actions = edge.receive(ue.protected(), at(PORT_PS, 22222), 1.0)
    fwd = parse_message(next(a for a in actions if isinstance(a, SendToHop)).data)
    assert parse_auth(fwd.get("Authorization")).get("integrity-protected") == "yes"
    reply = fwd.to_bytes().replace(b"REGISTER sip:ims.test SIP/2.0", b"SIP/2.0 200 OK", 1)
    back = edge.receive(reply, FlowInfo("udp", (PCSCF, 5060), ("198.18.2.50", 5070)), 2.0)
    assert not [a for a in back if isinstance(a, SendIp)]              # no raw ESP
    send = next(a for a in back if isinstance(a, SendOnFlow))
    assert send.flow.local == (PCSCF, PORT_PC) and send.address == (PUBLIC, 23456)
    inbound, data = udpencap.open_tunnel(ue.ep, send.data)
    assert inbound.sa.number == 3 and parse_message(data).status == 200


def test_without_keepalives_the_answer_goes_to_the_public_address_and_port_us():
    edge, ue = make_edge(), NatUe()
    ue.challenge(edge)
    actions = edge.receive(ue.protected(), at(PORT_PS, 22222), 1.0)
    rec = next(iter(edge.by_flow.values()))
    request = b"MESSAGE sip:a@x SIP/2.0\r\nVia: SIP/2.0/UDP 198.18.2.2;branch=z9hG4bKm\r\nContent-Length: 0\r\n\r\n"
    send = next(a for a in edge.protect([SendOnFlow(rec.flow, request)], 2.0))
    assert send.address == (PUBLIC, PORT_US)                           # the port-preserving guess
    assert actions


@pytest.mark.parametrize("what", ["clear", "tamper", "replay", "marker", "wrong-port", "stray-keepalive"])
def test_bad_datagrams_on_the_protected_ports_are_dropped(what):
    edge, ue = make_edge(), NatUe()
    ue.challenge(edge)
    good = ue.protected()
    if what == "replay":
        edge.receive(good, at(PORT_PS, 22222), 1.0)
    before = len(edge.dropped)
    payload, port, src = {
        "clear": (ue.register(), PORT_PS, 22222),
        "tamper": (good[:-1] + bytes([good[-1] ^ 1]), PORT_PS, 22222),
        "replay": (good, PORT_PS, 22222),
        "marker": (udpencap.NON_ESP_MARKER + b"ike", PORT_PS, 22222),
        "wrong-port": (good, PORT_PC, 22222),        # SA 1 belongs on port_ps
        "stray-keepalive": (udpencap.KEEPALIVE, PORT_PC, 0),
    }[what]
    flow = at(port, src) if what != "stray-keepalive" else FlowInfo("udp", (PCSCF, port), ("198.18.9.9", 1))
    assert not [a for a in edge.receive(payload, flow, 2.0) if isinstance(a, (SendToHop, SendOnFlow))]
    assert len(edge.dropped) == before + 1
    if what == "wrong-port":     # refused before the replay window saw it: the good one still works
        assert [a for a in edge.receive(good, at(PORT_PS, 22222), 3.0) if isinstance(a, SendToHop)]


def test_wrong_terminating_port_fault_sends_over_sa2_to_port_uc_mapping():
    edge, ue = make_edge(faults={"wrong-terminating-port"}), NatUe()
    ue.challenge(edge)
    edge.receive(ue.protected(), at(PORT_PS, 22222), 1.0)
    rec = next(iter(edge.by_flow.values()))
    request = b"MESSAGE sip:a@x SIP/2.0\r\nVia: SIP/2.0/UDP 198.18.2.2;branch=z9hG4bKm\r\nContent-Length: 0\r\n\r\n"
    send = next(a for a in edge.protect([SendOnFlow(rec.flow, request)], 2.0))
    assert send.flow.local == (PCSCF, PORT_PS) and send.address == (PUBLIC, 22222)
    assert udpencap.open_tunnel(ue.ep, send.data)[0].sa.number == 2


def test_after_a_rebinding_the_sa_set_follows_the_authenticated_source():
    edge, ue = make_edge(), NatUe()
    ue.challenge(edge)
    edge.receive(udpencap.KEEPALIVE, at(PORT_PC, 23456), 0.5)
    edge.receive(ue.protected(), at(PORT_PS, 22222), 1.0)
    rec = next(iter(edge.by_flow.values()))
    # the NAT's address changes: the keep-alive from the new address is nobody's yet ...
    moved = "198.18.2.3"
    before = len(edge.dropped)
    assert edge.receive(udpencap.KEEPALIVE, FlowInfo("udp", (PCSCF, PORT_PC), (moved, 27000)), 5.0) == []
    assert len(edge.dropped) == before + 1 and rec.outer[4] == (PUBLIC, 23456)
    # ... until an authenticated ESP packet from there names the SA set
    refresh = udpencap.seal_tunnel(ue.ep, ue.sas[1], ue.register(
        [f"Security-Verify: {mirror(ue.server_raw)}"], via_port=PORT_US))
    edge.receive(refresh, FlowInfo("udp", (PCSCF, PORT_PS), (moved, 26000)), 6.0)
    assert rec.outer == {1: (moved, 26000), 4: (moved, 27000)} and rec.public_ip == moved
    request = b"MESSAGE sip:a@x SIP/2.0\r\nVia: SIP/2.0/UDP 198.18.2.2;branch=z9hG4bKm\r\nContent-Length: 0\r\n\r\n"
    send = next(a for a in edge.protect([SendOnFlow(rec.flow, request)], 7.0))
    assert send.address == (moved, 27000)
