"""RFC 3948 UDP-encapsulated ESP in tunnel mode (mod=UDP-enc-tun), sans-IO: framing, the inner
packet and its selectors, keep-alive timing, and the mode in sec-agree."""

from __future__ import annotations

import os
import struct

import pytest

from conformance.ims import udpencap
from conformance.ims.endpoint import EspEndpoint, SelectorMismatch
from conformance.ims.errors import BadIcv, MalformedEsp, ReplayedPacket, SecAgreeError, UnknownSpi
from conformance.ims.esp import PROTO_UDP
from conformance.ims.ippkt import ipv4_unwrap, udp_parse
from conformance.ims.sa import derive_sas
from conformance.ims.secagree import (ALG_PAIRS, IpsecMechanism, client_mechanisms, parse_ipsec,
                                      server_mechanisms)

UE_PRIVATE, PCSCF = "198.18.1.2", "198.18.2.2"
MSG = b"MESSAGE sip:a@ims.test SIP/2.0\r\nContent-Length: 0\r\n\r\n"


def sa_pair(alg="hmac-sha-1-96", ealg="aes-cbc"):
    client = IpsecMechanism(alg, ealg, 0x1001, 0x1002, 40001, 40002, mod="UDP-enc-tun")
    server = IpsecMechanism(alg, ealg, 0x2001, 0x2002, 50001, 50002, mod="UDP-enc-tun")
    sas = derive_sas(client, server, ck=os.urandom(16), ik=os.urandom(16), ue_addr=UE_PRIVATE,
                     pcscf_addr=PCSCF)
    return sas, EspEndpoint(sas, "ue"), EspEndpoint(sas, "pcscf")


# -- framing (RFC 3948 §2) --------------------------------------------------------------------
@pytest.mark.parametrize("payload, kind", [
    (b"\xff", "keepalive"),                             # §2.3
    (b"\x00\x00\x00\x00" + b"IKE header...", "non-esp"),  # §2.2 non-ESP marker
    (b"\x00\x00\x00\x00", "non-esp"),
    (b"\x00\x00\x10\x01\x00\x00", "malformed"),          # under SPI + sequence number
    (b"\xfe", "malformed"),
    (b"", "malformed"),
    (struct.pack("!II", 0x2002, 1) + b"x" * 40, "esp"),
])
def test_classify_tells_keepalive_marker_and_esp_apart(payload, kind):
    assert udpencap.classify(payload) == kind


def test_outer_udp_header_has_zero_checksum_and_right_length():
    seg = udpencap.outer_udp(40001, 50002, b"\xff")
    sport, dport, length, csum = struct.unpack_from("!HHHH", seg)
    assert (sport, dport, length, csum) == (40001, 50002, 9, 0)      # RFC 3948 §2.1
    assert seg[8:] == b"\xff"


# -- tunnel mode round trips ------------------------------------------------------------------
@pytest.mark.parametrize("alg, ealg", ALG_PAIRS)
def test_every_pair_round_trips_an_inner_ipv4_udp_packet(alg, ealg):
    sas, ue, pcscf = sa_pair(alg, ealg)
    payload = udpencap.seal_tunnel(ue, sas[1], MSG)
    assert udpencap.classify(payload) == "esp"
    assert struct.unpack_from("!I", payload)[0] == sas[1].spi
    inbound, data = udpencap.open_tunnel(pcscf, payload)
    assert data == MSG and inbound.sa.number == 1
    assert inbound.packet.next_header == udpencap.PROTO_IPV4                 # tunnel mode
    assert (inbound.src, inbound.dst) == (UE_PRIVATE, PCSCF)                 # the inner addresses
    src, dst, proto, seg = ipv4_unwrap(inbound.packet.payload)
    assert proto == PROTO_UDP and udp_parse(seg)[:2] == (40001, 50002)
    # and the other way, SA 3: port_pc -> port_us
    back = udpencap.seal_tunnel(pcscf, sas[3], b"SIP/2.0 200 OK\r\n\r\n")
    inbound, data = udpencap.open_tunnel(ue, back)
    assert inbound.sa.number == 3 and data.startswith(b"SIP/2.0 200")


def test_nothing_is_sealed_on_an_inbound_sa():
    sas, ue, _ = sa_pair()
    with pytest.raises(Exception, match="inbound"):
        udpencap.seal_tunnel(ue, sas[3], MSG)


def test_receiver_refuses_replay_tamper_unknown_spi_and_keepalives():
    sas, ue, pcscf = sa_pair()
    payload = udpencap.seal_tunnel(ue, sas[1], MSG)
    udpencap.open_tunnel(pcscf, payload)
    with pytest.raises(ReplayedPacket):
        udpencap.open_tunnel(pcscf, payload)                           # RFC 4303 §3.4.3
    tampered = udpencap.seal_tunnel(ue, sas[1], MSG)
    tampered = tampered[:-1] + bytes([tampered[-1] ^ 1])
    with pytest.raises(BadIcv):
        udpencap.open_tunnel(pcscf, tampered)                          # RFC 4303 §3.4.4
    other, other_ue, _ = sa_pair()
    with pytest.raises(UnknownSpi):
        udpencap.open_tunnel(pcscf, struct.pack("!I", 0x7777) + payload[4:])
    with pytest.raises(MalformedEsp):
        udpencap.open_tunnel(pcscf, udpencap.KEEPALIVE)


def test_inner_selectors_are_checked_after_decryption():
    sas, ue, pcscf = sa_pair()
    # a transport-mode packet (next header UDP) on a tunnel SA
    from conformance.ims.ippkt import udp_build
    _, esp = ue.protect(40001, 50002, PROTO_UDP, udp_build(UE_PRIVATE, PCSCF, 40001, 50002, MSG))
    with pytest.raises(SelectorMismatch, match="not tunnel mode"):
        udpencap.open_tunnel(pcscf, esp)
    # an inner packet from another address than the SA's
    from dataclasses import replace
    forged = replace(sas[1], src="198.18.1.99")
    _, esp = ue.protect(40001, 50002, udpencap.PROTO_IPV4, udpencap.inner_packet(forged, MSG))
    with pytest.raises(SelectorMismatch, match="198.18.1.99"):
        udpencap.open_tunnel(pcscf, esp)
    # other inner ports
    forged = replace(sas[1], sport=40009)
    _, esp = ue.protect(40001, 50002, udpencap.PROTO_IPV4, udpencap.inner_packet(forged, MSG))
    with pytest.raises(SelectorMismatch, match="40009"):
        udpencap.open_tunnel(pcscf, esp)


def test_keepalive_schedule_sends_after_an_idle_interval():
    ka = udpencap.KeepaliveSchedule(interval=20.0)
    assert ka.due(0.0) and ka.next_at() is None
    ka.sent(1.0)
    assert not ka.due(20.9) and ka.due(21.0) and ka.next_at() == 21.0
    with pytest.raises(ValueError):
        udpencap.KeepaliveSchedule(interval=0)


# -- the mode in sec-agree (TS 33.203 Annex M) -----------------------------------------------
def test_client_offers_each_pair_per_mode_and_parses_back():
    mechs = client_mechanisms([("hmac-sha-1-96", "aes-cbc"), ("hmac-md5-96", "null")], port_c=1, port_s=2,
                              spi_c=300, spi_s=301, modes=["UDP-enc-tun", "trans"])
    assert [(m.pair, m.mod) for m in mechs] == [
        (("hmac-sha-1-96", "aes-cbc"), "UDP-enc-tun"), (("hmac-sha-1-96", "aes-cbc"), "trans"),
        (("hmac-md5-96", "null"), "UDP-enc-tun"), (("hmac-md5-96", "null"), "trans")]
    parsed = parse_ipsec(", ".join(str(m) for m in mechs), "Security-Client")
    assert [m.mode for m in parsed] == ["udp-enc-tun", "trans"] * 2
    assert "mod=UDP-enc-tun" in str(mechs[0])


def test_unknown_modes_are_refused_and_absent_mod_is_transport():
    with pytest.raises(SecAgreeError, match="mod=tun"):
        parse_ipsec("ipsec-3gpp;alg=hmac-md5-96;mod=tun;spi-c=300;spi-s=301;port-c=1;port-s=2", "x")
    m = parse_ipsec("ipsec-3gpp;alg=hmac-md5-96;spi-c=300;spi-s=301;port-c=1;port-s=2", "x")[0]
    assert m.mode == "trans"


def test_server_answers_in_the_mode_it_was_given():
    client = client_mechanisms([("hmac-md5-96", "null")], port_c=1, port_s=2, spi_c=300, spi_s=301,
                               modes=["UDP-enc-tun"])
    server = server_mechanisms(client, spi_c=400, spi_s=401, port_c=3, port_s=4, mod="UDP-enc-tun")
    assert server[0].mode == "udp-enc-tun" and "mod=UDP-enc-tun" in str(server[0])
