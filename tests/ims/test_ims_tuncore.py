"""The TUN gateway's rules without a device: SA choice by selectors, ESP round trips through
two gateways (UE and P-CSCF), drops with reasons, negative modes on data segments only."""

from __future__ import annotations

import struct

import pytest

from conformance.ims.endpoint import EspEndpoint
from conformance.ims.errors import EspError
from conformance.ims.esp import PROTO_ESP, PROTO_TCP
from conformance.ims.ippkt import ipv4_unwrap, ipv4_wrap
from conformance.ims.tuncore import Binding, GatewayCore, clear_selector, tcp_payload_len

from ims_vectors import PCSCF_IP, UE_IP, make_sas

UC, US, PC, PS = 5100, 5101, 6100, 6101
SYN, ACK, PSH = 0x02, 0x10, 0x08


def tcp_packet(src, sport, dst, dport, flags=ACK, data=b"", seq=1000):
    seg = struct.pack("!HHIIBBHHH", sport, dport, seq, 1, 5 << 4, flags, 65535, 0, 0) + data
    return ipv4_wrap(src, dst, PROTO_TCP, seg)


def gateways(pair=("hmac-sha-1-96", "aes-cbc")):
    _, _, sas = make_sas(pair)
    ue, pcscf = GatewayCore(), GatewayCore()
    ub = Binding(EspEndpoint(sas, "ue"), "ue", "ue")
    pb = Binding(EspEndpoint(sas, "pcscf"), "pcscf", "pcscf")
    ue.attach(ub)
    pcscf.attach(pb)
    return sas, ue, pcscf, ub, pb


def test_clear_selector_and_payload_length():
    pkt = tcp_packet(UE_IP, UC, PCSCF_IP, PS, PSH | ACK, b"REGISTER")
    sel, proto, seg = clear_selector(pkt)
    assert sel == (UE_IP, UC, PCSCF_IP, PS) and proto == PROTO_TCP
    assert tcp_payload_len(seg) == 8
    assert tcp_payload_len(clear_selector(tcp_packet(UE_IP, UC, PCSCF_IP, PS, SYN))[2]) == 0


def test_round_trip_every_pair_both_directions(pair):
    sas, ue, pcscf, ub, pb = gateways(pair)
    for gw_out, gw_in, src, sport, dst, dport, sa_no in (
            (ue, pcscf, UE_IP, UC, PCSCF_IP, PS, 1), (pcscf, ue, PCSCF_IP, PS, UE_IP, UC, 2),
            (pcscf, ue, PCSCF_IP, PC, UE_IP, US, 3), (ue, pcscf, UE_IP, US, PCSCF_IP, PC, 4)):
        clear = tcp_packet(src, sport, dst, dport, PSH | ACK, b"SIP/2.0 200 OK" * 50)
        out = gw_out.outbound(clear)
        s, d, proto, esp = ipv4_unwrap(out.packet)
        assert (s, d, proto) == (src, dst, PROTO_ESP)
        assert struct.unpack_from("!I", esp)[0] == sas[sa_no].spi
        assert (b"SIP/2.0" in out.packet) == (pair[1] == "null")
        binding, back = gw_in.inbound(out.packet)
        assert back == clear and binding.last_inbound[(sport, dport)][0] == sa_no
    assert ue.dropped == pcscf.dropped == 0


def test_no_sa_for_the_ports_is_dropped_with_the_reason():
    _, ue, _, _, _ = gateways()
    assert ue.outbound(tcp_packet(UE_IP, UC + 7, PCSCF_IP, PS)) is None
    assert ue.dropped == 1 and f"{UC + 7} -> {PCSCF_IP}:{PS}" in ue.reasons[-1]
    # an SA the UE only receives on (SA 2's direction) is no outbound SA either
    assert ue.outbound(tcp_packet(PCSCF_IP, PS, UE_IP, UC)) is None
    assert ue.outbound(b"\x60" + bytes(47)) is None and ue.dropped == 2  # IPv6 noise: ignored


def test_inbound_refuses_replay_tamper_unknown_spi_and_wrong_address():
    sas, ue, pcscf, ub, pb = gateways()
    esp = ue.outbound(tcp_packet(UE_IP, UC, PCSCF_IP, PS, PSH | ACK, b"x")).packet
    assert pcscf.inbound(esp) is not None
    assert pcscf.inbound(esp) is None and "duplicate" in pcscf.reasons[-1]
    esp2 = ue.outbound(tcp_packet(UE_IP, UC, PCSCF_IP, PS, PSH | ACK, b"y")).packet
    assert pcscf.inbound(esp2[:-1] + bytes([esp2[-1] ^ 1])) is None and "ICV" in pcscf.reasons[-1]
    spoofed = ipv4_wrap("127.0.0.99", PCSCF_IP, PROTO_ESP, ipv4_unwrap(esp2)[3])
    assert pcscf.inbound(spoofed) is None and "127.0.0.99" in pcscf.reasons[-1]
    assert ue.inbound(esp2) is None and "bound to no SA set" in ue.reasons[-1]  # SA 1 is not the UE's
    pcscf.detach(pb)
    assert pcscf.inbound(esp2) is None and not pcscf.by_selector


@pytest.mark.parametrize("mode", ["tamper_icv", "wrong_spi"])
def test_negative_modes_spare_the_handshake_and_spoil_data(mode):
    sas, ue, pcscf, ub, pb = gateways()
    ub.mode = mode
    syn = ue.outbound(tcp_packet(UE_IP, UC, PCSCF_IP, PS, SYN)).packet
    assert pcscf.inbound(syn) is not None                    # the connection still opens
    data = ue.outbound(tcp_packet(UE_IP, UC, PCSCF_IP, PS, PSH | ACK, b"REGISTER")).packet
    assert pcscf.inbound(data) is None
    assert ("ICV" in pcscf.reasons[-1]) if mode == "tamper_icv" else ("no SA set" in pcscf.reasons[-1])
    ub.mode = None
    again = ue.outbound(tcp_packet(UE_IP, UC, PCSCF_IP, PS, PSH | ACK, b"REGISTER")).packet
    assert pcscf.inbound(again) is not None


def test_protector_seals_what_no_binding_claims_and_conflicts_are_refused():
    sas, ue, pcscf, ub, pb = gateways()
    core = GatewayCore()
    calls = []

    def protector(packet):
        calls.append(packet)
        return b"sealed" if clear_selector(packet)[0][1] == PS else None

    core.protectors.append(protector)
    assert core.outbound(tcp_packet(PCSCF_IP, PS, UE_IP, UC)).packet == b"sealed"
    assert core.outbound(tcp_packet(PCSCF_IP, 9, UE_IP, UC)) is None and len(calls) == 2
    other = Binding(EspEndpoint(sas, "ue"), "ue", "second")
    with pytest.raises(EspError, match="already bound"):
        ue.attach(other)
