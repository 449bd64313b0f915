"""The reference IMS P-CSCF's AKA and sec-agree state machine, sans-IO (no sockets, no root)."""

from __future__ import annotations

import base64
import itertools

import pytest

from conformance.ims.aka import SqnState, check_challenge, split_nonce
from conformance.ims.digest import build_credentials
from conformance.ims.endpoint import EspEndpoint
from conformance.ims.errors import SqnOutOfRange
from conformance.ims.sa import derive_sas
from conformance.ims.secagree import IpsecMechanism, client_mechanisms, format_security, mirror, parse_ipsec
from conformance.ims.subscriber import DEFAULT_SUBSCRIBERS
from conformance.sip.headers import format_auth, parse_auth, parse_security
from conformance.sip.message import parse_message
from conformance.sut.actions import ClaimSpi, ReleaseSpi, SendIp, SendOnFlow, SendToHop
from conformance.sut.config import SutConfig
from conformance.sut.flow import FlowInfo
from conformance.sut.ims.proxy import ImsEdgeProxy

PCSCF, UE1, UE2 = "127.0.0.1", "127.0.0.11", "127.0.0.12"
PORT_PS, PORT_PC = 6100, 6101


def make_edge(**kw) -> ImsEdgeProxy:
    spis = itertools.count(0x1000)
    cfg = SutConfig(topology="edge", edge_next_hop=("127.0.0.50", 5070, "udp"), ims=True, **kw)
    edge = ImsEdgeProxy(cfg, address=(PCSCF, 5060), rand=lambda n: bytes(range(n)),
                        spi_source=lambda avoid: next(s for s in spis if s not in avoid))
    edge.port_ps, edge.port_pc = PORT_PS, PORT_PC
    return edge


class Ue:
    """Just enough of a UE to drive the P-CSCF."""

    def __init__(self, ip=UE1, impi="alice@ims.test", port_uc=40001, port_us=40002, spi=0x9000,
                 sqn_ms=0):
        self.ip, self.impi, self.port_uc, self.port_us = ip, impi, port_uc, port_us
        self.algo = DEFAULT_SUBSCRIBERS["*"].algo()
        self.sqns = SqnState()
        if sqn_ms:
            self.sqns.accept(sqn_ms)
        self.client = client_mechanisms([("hmac-md5-96", "null"), ("hmac-sha-1-96", "aes-cbc")],
                                        port_c=port_uc, port_s=port_us, spi_c=spi, spi_s=spi + 1)
        self.cseq = 0
        self.call_id = f"c-{ip}"
        self.flow = FlowInfo("udp", (PCSCF, 5060), (ip, 5555))

    def register(self, extra=(), via_port=None, rport=False):
        self.cseq += 1
        lines = [f"REGISTER sip:ims.test SIP/2.0",
                 f"Via: SIP/2.0/UDP {self.ip}:{via_port or 5555}{';rport' if rport else ''};branch=z9hG4bK{self.cseq}x{self.ip}",
                 "Max-Forwards: 70", f"From: <sip:{self.impi}>;tag=1", f"To: <sip:{self.impi}>",
                 f"Call-ID: {self.call_id}", f"CSeq: {self.cseq} REGISTER",
                 f"Contact: <sip:a@{self.ip}:{self.port_us}>;reg-id=1;+sip.instance=\"<urn:uuid:1>\"",
                 "Supported: path, outbound, sec-agree", "Require: sec-agree", "Proxy-Require: sec-agree",
                 f"Security-Client: {format_security(self.client)}", *extra, "Content-Length: 0", "", ""]
        return "\r\n".join(lines).encode()

    def initial(self, edge, auth=None):
        auth = auth or f'Authorization: Digest username="{self.impi}", realm="ims.test", uri="sip:ims.test", nonce="", response=""'
        return edge.receive(self.register([auth]), self.flow, 0.0)

    def take_challenge(self, response):
        self.challenge = parse_auth(response.get("WWW-Authenticate"))
        self.server_raw = parse_security(response.values("Security-Server"))
        server = IpsecMechanism.from_mechanism(self.server_raw[0])
        rand, autn, _ = split_nonce(self.challenge.get("nonce"))
        self.rand = rand
        self.aka = check_challenge(self.algo, rand, autn, self.sqns)
        mine = next(m for m in self.client if m.pair == server.pair)
        self.sas = derive_sas(mine, server, ck=self.aka.ck, ik=self.aka.ik, ue_addr=self.ip, pcscf_addr=PCSCF)
        self.ep = EspEndpoint(self.sas, "ue")

    def protected(self, verify=True, res=None, packet_hook=None, via_port=None, rport=False):
        params = build_credentials(self.challenge, username=self.impi, uri="sip:ims.test", method="REGISTER",
                                   password=res if res is not None else self.aka.res, cnonce="abc", nc=1)
        extra = [f"Authorization: {format_auth('Digest', params)}"]
        if verify:
            extra.append(f"Security-Verify: {mirror(self.server_raw)}")
        data = self.register(extra, via_port=via_port or self.port_us, rport=rport)
        packet = self.ep.protect_udp(self.port_uc, PORT_PS, data)
        if packet_hook:
            packet = packet_hook(packet)
        self.last_packet = packet
        return packet

    def open(self, action):
        inbound, data = self.ep.unprotect_ipv4(action.packet)
        return inbound.sa.number, parse_message(data)


def only(actions, kind):
    found = [a for a in actions if isinstance(a, kind)]
    assert len(found) == 1, actions
    return found[0]


def challenged(edge, ue):
    actions = ue.initial(edge)
    response = parse_message(only(actions, SendOnFlow).data)
    assert response.status == 401
    ue.take_challenge(response)
    return actions, response


def test_initial_register_gets_401_with_aka_challenge_and_security_server():
    edge, ue = make_edge(), Ue()
    actions, response = challenged(edge, ue)
    challenge = parse_auth(response.get("WWW-Authenticate"))
    assert challenge.get("algorithm") == "AKAv1-MD5" and challenge.get("qop") == "auth"
    assert "ck" not in challenge.params and "ik" not in challenge.params
    server = parse_ipsec(response.values("Security-Server"))
    assert server[0].pair == ("hmac-sha-1-96", "aes-cbc")            # our first preference offered
    assert (server[0].port_s, server[0].port_c) == (PORT_PS, PORT_PC)
    assert sorted(a.spi for a in actions if isinstance(a, ClaimSpi)) == sorted([server[0].spi_c, server[0].spi_s])


def test_protected_register_is_forwarded_without_sec_agree_and_answered_over_sa3():
    edge, ue = make_edge(), Ue()
    challenged(edge, ue)
    actions = edge.receive_esp(ue.protected(), 1.0)
    fwd = parse_message(only(actions, SendToHop).data)
    assert "sec-agree" not in (fwd.get("Require") or "") and not fwd.has("Proxy-Require")
    assert not fwd.has("Security-Verify") and not fwd.has("Security-Client")
    assert parse_auth(fwd.get("Authorization")).get("integrity-protected") == "yes"
    assert ";ob" in fwd.values("Path")[0]
    # the registrar's 200 goes back protected: port_pc -> port_us over SA 3
    reply = fwd.to_bytes().replace(b"REGISTER sip:ims.test SIP/2.0", b"SIP/2.0 200 OK", 1)
    top_removed = parse_message(reply)
    back = edge.receive(bytes(top_removed), FlowInfo("udp", (PCSCF, 5060), ("127.0.0.50", 5070)), 2.0)
    number, msg = ue.open(only(back, SendIp))
    assert number == 3 and msg.status == 200


@pytest.mark.parametrize("hook", ["tamper", "replay", "clear", "wrong_spi"])
def test_bad_packets_are_dropped(hook):
    edge, ue = make_edge(), Ue()
    challenged(edge, ue)
    assert edge.receive_esp(ue.protected(), 1.0)
    if hook == "tamper":
        assert edge.receive_esp(ue.protected(packet_hook=lambda p: p[:-1] + bytes([p[-1] ^ 1])), 2.0) == []
    elif hook == "replay":
        assert edge.receive_esp(ue.last_packet, 2.0) == []
    elif hook == "clear":
        flow = FlowInfo("udp", (PCSCF, PORT_PS), (UE1, ue.port_uc))
        assert edge.receive(ue.register(), flow, 2.0) == []
    else:
        p = bytearray(ue.protected())
        p[20:24] = (0x7777).to_bytes(4, "big")
        assert edge.receive_esp(bytes(p), 2.0) == []
    assert edge.dropped


def test_accept_bad_icv_fault_uses_a_tampered_packet():
    edge, ue = make_edge(faults={"accept-bad-icv"}), Ue()
    challenged(edge, ue)
    actions = edge.receive_esp(ue.protected(packet_hook=lambda p: p[:-1] + bytes([p[-1] ^ 1])), 1.0)
    assert any(isinstance(a, SendToHop) for a in actions)


@pytest.mark.parametrize("fault", [False, True])
def test_security_verify_missing_gets_494_with_the_unmodified_list(fault):
    edge = make_edge(faults={"ignore-security-verify"} if fault else set())
    ue = Ue()
    challenged(edge, ue)
    actions = edge.receive_esp(ue.protected(verify=False), 1.0)
    if fault:
        assert any(isinstance(a, SendToHop) for a in actions)
        return
    number, msg = ue.open(only(actions, SendIp))
    assert msg.status == 494 and parse_security(msg.values("Security-Server")) == ue.server_raw


def test_wrong_digest_response_gets_403():
    edge, ue = make_edge(), Ue()
    challenged(edge, ue)
    _, msg = ue.open(only(edge.receive_esp(ue.protected(res=ue.aka.res.hex().encode()), 1.0), SendIp))
    assert msg.status == 403


def test_auts_resynchronises_and_rechallenges():
    edge, ue = make_edge(), Ue(sqn_ms=500)
    response = parse_message(only(ue.initial(edge), SendOnFlow).data)
    challenge = parse_auth(response.get("WWW-Authenticate"))
    rand, autn, _ = split_nonce(challenge.get("nonce"))
    with pytest.raises(SqnOutOfRange) as exc:
        check_challenge(ue.algo, rand, autn, ue.sqns)
    params = build_credentials(challenge, username=ue.impi, uri="sip:ims.test", method="REGISTER",
                               password=b"", cnonce="x", auts=base64.b64encode(exc.value.auts).decode())
    actions = ue.initial(edge, f"Authorization: {format_auth('Digest', params)}")
    assert any(isinstance(a, ReleaseSpi) for a in actions)
    again = parse_message(only(actions, SendOnFlow).data)
    assert again.status == 401
    ue.take_challenge(again)                                          # SQN now above 500
    assert ue.aka.sqn > 500


def test_empty_response_after_a_mac_failure_gets_403():
    edge, ue = make_edge(), Ue()
    _, response = challenged(edge, ue)
    nonce = parse_auth(response.get("WWW-Authenticate")).get("nonce")
    auth = (f'Authorization: Digest username="{ue.impi}", realm="ims.test", uri="sip:ims.test", '
            f'nonce="{nonce}", response=""')
    msg = parse_message(only(ue.initial(edge, auth), SendOnFlow).data)
    assert msg.status == 403


@pytest.mark.parametrize("mode, fault, kept", [("rel8", None, True), ("rel7", None, False),
                                               ("rel8", "one-sa-set-per-ue", False)])
def test_second_address_keeps_or_replaces_the_first_sa_set(mode, fault, kept):
    edge = make_edge(edge_mode=mode, faults={fault} if fault else set())
    ue1, ue2 = Ue(), Ue(ip=UE2, spi=0xA000, port_uc=40011, port_us=40012)
    for ue in (ue1, ue2):
        challenged(edge, ue)
        assert any(isinstance(a, SendToHop) for a in edge.receive_esp(ue.protected(), 1.0))
    ue1.cseq += 0
    again = edge.receive_esp(ue1.protected(), 2.0)
    assert bool(again) is kept


def test_more_than_one_via_gets_502_and_no_sas():
    edge, ue = make_edge(), Ue()
    data = ue.register(['Authorization: Digest username="alice@ims.test", nonce="", response=""'])
    data = data.replace(b"Max-Forwards", b"Via: SIP/2.0/UDP 10.0.0.1;branch=z9hG4bKother\r\nMax-Forwards", 1)
    actions = edge.receive(data, ue.flow, 0.0)
    assert parse_message(only(actions, SendOnFlow).data).status == 502
    assert not edge.by_spi


@pytest.mark.parametrize("fault, sa", [(None, 3), ("wrong-terminating-port", 2)])
def test_terminating_requests_leave_from_port_pc_to_port_us(fault, sa):
    edge, ue = make_edge(faults={fault} if fault else set()), Ue()
    challenged(edge, ue)
    edge.receive_esp(ue.protected(), 1.0)
    rec = next(iter(edge.by_flow.values()))
    request = (b"MESSAGE sip:a@127.0.0.11 SIP/2.0\r\nVia: SIP/2.0/UDP 127.0.0.1;branch=z9hG4bKm\r\n"
               b"Content-Length: 0\r\n\r\n")
    number, msg = ue.open(only(edge.protect([SendOnFlow(rec.flow, request)], 2.0), SendIp))
    assert number == sa and msg.method == "MESSAGE"


def test_changed_security_client_over_the_temporary_set_gets_494_and_no_forwarding():
    # TS 24.229 5.2.2 [M] (TP_SEC_006): the Security-Client must be the challenged REGISTER's
    edge, ue = make_edge(), Ue()
    challenged(edge, ue)
    original = ue.client
    ue.client = [IpsecMechanism(**{**vars(m), "spi_c": 0x7777}) for m in original]
    actions = edge.receive_esp(ue.protected(), 1.0)
    assert not [a for a in actions if isinstance(a, SendToHop)]
    number, msg = ue.open(only(actions, SendIp))
    assert number == 3 and msg.status == 494
    assert parse_security(msg.values("Security-Server")) == ue.server_raw
    assert "Security-Client differs" in msg.get("Warning")
    ue.client = original                                  # the identical one is then accepted
    assert parse_message(only(edge.receive_esp(ue.protected(), 2.0), SendToHop).data).method == "REGISTER"


def test_unprotected_register_leaves_with_integrity_protected_no():
    # TS 24.229 5.2.2 [M] (TP_SEC_013): a UE-forged "yes" is overwritten before forwarding
    edge, ue = make_edge(), Ue()
    data = ue.register().replace(b"Require: sec-agree\r\nProxy-Require: sec-agree\r\n", b"").replace(
        b"Content-Length", b'Authorization: Digest username="x@ims.test", realm="ims.test", nonce="", '
                           b'uri="sip:ims.test", response="", integrity-protected="yes"\r\nContent-Length')
    fwd = parse_message(only(edge.receive(data, ue.flow, 0.0), SendToHop).data)
    assert parse_auth(fwd.get("Authorization")).get("integrity-protected") == "no"


def test_keep_sec_agree_fault_forwards_sec_agree_and_the_security_headers():
    edge, ue = make_edge(faults={"keep-sec-agree"}), Ue()
    challenged(edge, ue)
    fwd = parse_message(only(edge.receive_esp(ue.protected(), 1.0), SendToHop).data)
    assert "sec-agree" in fwd.get("Proxy-Require") and fwd.has("Security-Client") and fwd.has("Security-Verify")
    assert parse_auth(fwd.get("Authorization")).get("integrity-protected") == "yes"


def test_sa_sets_live_for_reg_await_auth_then_for_the_registration_plus_30_s():
    # sut/ims/salifetime.py: the UE's rule of TS 24.229 5.1.1.5.1 mirrored by the reference
    edge, ue = make_edge(), Ue()
    actions, _ = challenged(edge, ue)
    spis = sorted(a.spi for a in actions if isinstance(a, ClaimSpi))
    assert edge.next_deadline() == 240.0                     # reg-await-auth, from t=0
    fwd = parse_message(only(edge.receive_esp(ue.protected(), 1.0), SendToHop).data)
    assert edge.next_deadline() is None or edge.next_deadline() > 240.0
    reply = fwd.to_bytes().replace(b"REGISTER sip:ims.test SIP/2.0", b"SIP/2.0 200 OK", 1).replace(
        b'+sip.instance="<urn:uuid:1>"', b'+sip.instance="<urn:uuid:1>";expires=5', 1)
    edge.receive(reply, FlowInfo("udp", (PCSCF, 5060), ("127.0.0.50", 5070)), 2.0)
    assert edge.next_deadline() == 2.0 + 5 + 30
    assert not [a for a in edge.on_timer(36.9) if isinstance(a, ReleaseSpi)]
    released = sorted(a.spi for a in edge.on_timer(37.1) if isinstance(a, ReleaseSpi))
    assert released == spis
    assert edge.receive_esp(ue.protected(), 38.0) == [] and "unknown SPI" in edge.dropped[-1]


def test_an_unanswered_challenge_leaves_its_temporary_set_after_reg_await_auth():
    edge, ue = make_edge(), Ue()
    actions, _ = challenged(edge, ue)
    assert not [a for a in edge.on_timer(239.0) if isinstance(a, ReleaseSpi)]
    assert len([a for a in edge.on_timer(240.5) if isinstance(a, ReleaseSpi)]) == 2
    assert edge.next_deadline() is None


def _registrar_200(edge, actions, require_outbound: bool):
    """The emulated registrar's 200 to the forwarded REGISTER, back through the edge."""
    fwd = parse_message(only(actions, SendToHop).data)
    reply = fwd.to_bytes().replace(b"REGISTER sip:ims.test SIP/2.0", b"SIP/2.0 200 OK", 1)
    if require_outbound:
        reply = reply.replace(b"Content-Length", b"Require: outbound\r\nContent-Length", 1)
    return edge.receive(reply, FlowInfo("udp", (PCSCF, 5060), ("127.0.0.50", 5070)), 2.0)


@pytest.mark.parametrize("outbound, via, rport, sa", [
    (True, "us", False, 3), (True, "uc", False, 3),     # TS 24.229 5.1.1.2.2 a): the second flow
    (False, "us", False, 3), (False, "uc", False, 2),   # RFC 3261 §18.2.2: the sent-by port
    (False, "us", True, 2),                             # RFC 3581 §4: the source port, port_uc
])
def test_responses_go_where_the_ue_receives_them(outbound, via, rport, sa):
    # Without Require: outbound the UE's Via says where it listens (a classic UE: port_uc, over
    # SA 2); with outbound the 200 comes over SA 3 whatever the Via (before: always SA 3)
    edge, ue = make_edge(), Ue()
    challenged(edge, ue)
    port = ue.port_us if via == "us" else ue.port_uc
    packet = ue.protected(via_port=port, rport=rport)
    back = _registrar_200(edge, edge.receive_esp(packet, 1.0), outbound)
    number, msg = ue.open(only(back, SendIp))
    assert (number, msg.status) == (sa, 200)


def test_a_ue_may_answer_a_terminating_request_over_sa_1_or_sa_4():
    # both inbound SAs are listened on: an outbound UE answers on its first flow (port_uc ->
    # port_ps), a classic one from port_us to port_pc
    edge, ue = make_edge(), Ue()
    challenged(edge, ue)
    edge.receive_esp(ue.protected(), 1.0)
    answer = (b"SIP/2.0 200 OK\r\nVia: SIP/2.0/UDP 127.0.0.50:5070;branch=z9hG4bKgone\r\n"
              b"From: <sip:b@ims.test>;tag=2\r\nTo: <sip:a@ims.test>;tag=3\r\nCall-ID: m1\r\n"
              b"CSeq: 1 MESSAGE\r\nContent-Length: 0\r\n\r\n")
    for sport, dport in ((ue.port_uc, PORT_PS), (ue.port_us, PORT_PC)):
        before = len(edge.dropped)
        edge.receive_esp(ue.ep.protect_udp(sport, dport, answer), 2.0)
        assert len(edge.dropped) == before, edge.dropped[before:]


def test_a_protected_re_register_adding_a_contact_without_reg_id_gets_403():
    # TS 24.229 5.4.1.2.2 (TP_REG_029): a new contact without reg-id over an existing SA set
    edge, ue = make_edge(), Ue()
    challenged(edge, ue)
    assert any(isinstance(a, SendToHop) for a in edge.receive_esp(ue.protected(), 1.0))

    def again(*extra):
        data = ue.register([f"Security-Verify: {mirror(ue.server_raw)}", *extra], via_port=ue.port_us)
        return edge.receive_esp(ue.ep.protect_udp(ue.port_uc, PORT_PS, data), 2.0)

    number, msg = ue.open(only(again("Contact: <sip:new@127.0.0.12:5099>"), SendIp))
    assert msg.status == 403 and "5.4.1.2.2" in msg.get("Warning")
    # with a reg-id, or a removal, or only the registered contact: forwarded
    for extra in (["Contact: <sip:new@127.0.0.12:5099>;reg-id=2"], ["Contact: <sip:new@127.0.0.12:5099>;expires=0"], []):
        assert any(isinstance(a, SendToHop) for a in again(*extra)), extra


def test_the_200_to_the_authenticated_register_carries_authentication_info():
    # RFC 3261 §20.6 (MAY), RFC 2617 §3.2.3 (rspauth, cnonce, nc of the request), RFC 3310 §3.5
    from conformance.ims.digest import rspauth

    edge, ue = make_edge(), Ue()
    challenged(edge, ue)
    back = _registrar_200(edge, edge.receive_esp(ue.protected(), 1.0), True)
    _, msg = ue.open(only(back, SendIp))
    info = parse_auth("Digest " + msg.get("Authentication-Info")).params
    want = rspauth(username=ue.impi, realm="ims.test", password=ue.aka.res, uri="sip:ims.test",
                   nonce=ue.challenge.get("nonce"), qop="auth", nc="00000001", cnonce="abc")
    assert (info["rspauth"], info["cnonce"], info["nc"]) == (want, "abc", "00000001")
