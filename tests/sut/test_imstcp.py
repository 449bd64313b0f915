"""The reference P-CSCF's protected TCP, sans-IO: ESP carrying TCP goes back to the kernel
(InjectIp), the port_ps connection is the SA set's flow, replies are sealed by SA, and the
wrong-terminating-port fault opens port_pc -> port_us."""

from __future__ import annotations

import struct

from conformance.ims.endpoint import EspEndpoint
from conformance.ims.esp import PROTO_ESP, PROTO_TCP
from conformance.ims.ippkt import ipv4_unwrap, ipv4_wrap
from conformance.sip.message import parse_message
from conformance.sut.actions import InjectIp, SendFromPort, SendOnFlow, SendToHop
from conformance.sut.flow import FlowInfo

from test_imsedge import PCSCF, PORT_PC, PORT_PS, UE1, Ue, challenged, make_edge, only


def _segment(sport, dport, data=b""):
    return struct.pack("!HHIIBBHHH", sport, dport, 1, 1, 5 << 4, 0x18, 65535, 0, 0) + data


def _tcp_flow(ue, conn_id=7):
    return FlowInfo("tcp", (PCSCF, PORT_PS), (ue.ip, ue.port_uc), conn_id)


def _sip_of(ue, packet):
    """The SIP bytes of the UE's protected REGISTER (built as UDP/ESP by the helper)."""
    return EspEndpoint(ue.sas, "pcscf").unprotect_ipv4(packet)[1]


def test_esp_carrying_tcp_goes_back_to_the_kernel_unchanged():
    edge, ue = make_edge(), Ue()
    challenged(edge, ue)
    seg = _segment(ue.port_uc, PORT_PS, b"REGISTER ...")
    _, esp = ue.ep.protect(ue.port_uc, PORT_PS, PROTO_TCP, seg)
    actions = edge.receive_esp(ipv4_wrap(ue.ip, PCSCF, PROTO_ESP, esp), 0.0)
    assert only(actions, InjectIp).packet == ipv4_wrap(ue.ip, PCSCF, PROTO_TCP, seg)


def test_tampered_tcp_is_dropped_unless_the_fault_accepts_it():
    for faults, injected in (([], False), (["accept-bad-icv"], True)):
        edge, ue = make_edge(faults=faults), Ue()
        challenged(edge, ue)
        _, esp = ue.ep.protect(ue.port_uc, PORT_PS, PROTO_TCP, _segment(ue.port_uc, PORT_PS, b"x"))
        esp = esp[:-1] + bytes([esp[-1] ^ 1])
        actions = edge.receive_esp(ipv4_wrap(ue.ip, PCSCF, PROTO_ESP, esp), 0.0)
        assert bool([a for a in actions if isinstance(a, InjectIp)]) == injected
        if not injected:
            assert "ICV" in edge.dropped[-1]


def test_protected_register_on_the_port_ps_connection_makes_it_the_flow():
    edge, ue = make_edge(), Ue()
    challenged(edge, ue)
    data = _sip_of(ue, ue.protected())
    flow = _tcp_flow(ue)
    actions = edge.receive(data, flow, 0.0)
    forwarded = only(actions, SendToHop)
    assert parse_message(forwarded.data).method == "REGISTER"
    rec = next(iter(edge.by_nonce.values()))
    assert rec.established and rec.flow == flow and edge.by_flow[flow] is rec
    # a request for the UE on that flow stays a TCP send (the server writes it, the TUN seals it)
    request = b"MESSAGE sip:a@127.0.0.11 SIP/2.0\r\nContent-Length: 0\r\n\r\n"
    out = edge.protect([SendOnFlow(flow, request)], 0.0)
    assert out == [SendOnFlow(flow, request)]


def test_tcp_on_port_ps_without_an_sa_set_is_dropped():
    edge, ue = make_edge(), Ue()
    challenged(edge, ue)
    stranger = FlowInfo("tcp", (PCSCF, PORT_PS), (ue.ip, ue.port_uc + 99), 9)
    assert edge.receive(b"OPTIONS sip:x SIP/2.0\r\n\r\n", stranger, 0.0) == []
    assert "no SA set" in edge.dropped[-1]


def test_seal_tcp_picks_the_sa_by_ports_and_refuses_unknown_ones():
    edge, ue = make_edge(), Ue()
    challenged(edge, ue)
    seg = _segment(PORT_PS, ue.port_uc, b"SIP/2.0 200 OK\r\n\r\n")
    sealed = edge.seal_tcp(ipv4_wrap(PCSCF, ue.ip, PROTO_TCP, seg))
    src, dst, proto, esp = ipv4_unwrap(sealed)
    assert (src, dst, proto) == (PCSCF, ue.ip, PROTO_ESP)
    inbound = ue.ep.unprotect(esp)
    assert inbound.sa.number == 2 and inbound.packet.payload == seg
    sa3 = ue.sas[3]
    seg3 = _segment(sa3.sport, sa3.dport, b"MESSAGE")
    assert ue.ep.unprotect(ipv4_unwrap(edge.seal_tcp(ipv4_wrap(PCSCF, ue.ip, PROTO_TCP, seg3)))[3]).sa.number == 3
    assert edge.seal_tcp(ipv4_wrap(PCSCF, ue.ip, PROTO_TCP, _segment(PORT_PS, 1))) is None
    assert edge.seal_tcp(ipv4_wrap(PCSCF, "127.0.0.99", PROTO_TCP, seg)) is None


def test_wrong_terminating_port_fault_over_tcp_opens_port_pc_to_port_us():
    edge, ue = make_edge(faults=["wrong-terminating-port"]), Ue()
    challenged(edge, ue)
    flow = _tcp_flow(ue)
    edge.receive(_sip_of(ue, ue.protected()), flow, 0.0)
    request = b"MESSAGE sip:a@127.0.0.11 SIP/2.0\r\nContent-Length: 0\r\n\r\n"
    response = b"SIP/2.0 200 OK\r\nContent-Length: 0\r\n\r\n"
    out = edge.protect([SendOnFlow(flow, request), SendOnFlow(flow, response)], 0.0)
    assert out[0] == SendFromPort((PCSCF, PORT_PC), (UE1, ue.port_us), request)
    assert out[1] == SendOnFlow(flow, response)                # responses stay on the flow


def test_without_outbound_requests_go_from_port_pc_and_the_fault_swaps_the_two():
    for faults, expect_pc in (([], True), (["wrong-terminating-port"], False)):
        edge, ue = make_edge(faults=faults), Ue()
        challenged(edge, ue)
        flow = _tcp_flow(ue)
        plain = _sip_of(ue, ue.protected()).replace(b";reg-id=1", b"")   # no outbound
        edge.receive(plain, flow, 0.0)
        request = b"MESSAGE sip:a@127.0.0.11 SIP/2.0\r\nContent-Length: 0\r\n\r\n"
        out = edge.protect([SendOnFlow(flow, request)], 0.0)
        pc = SendFromPort((PCSCF, PORT_PC), (UE1, ue.port_us), request)
        assert out == ([pc] if expect_pc else [SendOnFlow(flow, request)])
