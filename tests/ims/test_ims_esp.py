"""RFC 4303 ESP codec: round trips, ICV, replay window, endpoints, scapy cross-checks."""

from __future__ import annotations

import struct

import pytest
from scapy.layers.inet import IP, UDP
from scapy.layers.ipsec import ESP
from scapy.packet import Raw, raw

from conformance.ims import espscapy
from conformance.ims.endpoint import EspEndpoint, SelectorMismatch
from conformance.ims.errors import (BadIcv, EspError, MalformedEsp, ReplayedPacket,
                                    UnknownSpi)
from conformance.ims.esp import (ICV_LEN, PROTO_UDP, EspCodec, EspReceiver, EspSender,
                                 ReplayWindow)

from ims_vectors import PCSCF_IP, UE_IP, make_sas

SIP = (b"REGISTER sip:ims.test SIP/2.0\r\nVia: SIP/2.0/UDP 127.0.0.2:5100;branch=z9hG4bK1\r\n"
       b"Call-ID: c1\r\nCSeq: 2 REGISTER\r\nContent-Length: 0\r\n\r\n")


def test_codec_round_trip(pair):
    sa = make_sas(pair)[2][1]
    codec = EspCodec.from_sa(sa)
    for size in (0, 1, 2, 3, 13, 14, 15, 16, 17, 1400):
        esp = codec.seal(9, PROTO_UDP, bytes(size))
        assert struct.unpack_from("!II", esp) == (sa.spi, 9)
        assert (len(esp) - 8 - ICV_LEN - codec.iv_len) % max(4, codec.block) == 0
        pkt = codec.open(esp)
        assert (pkt.spi, pkt.seq, pkt.next_header, pkt.payload) == (sa.spi, 9, 17, bytes(size))


def test_encryption_hides_the_payload(pair):
    esp = EspCodec.from_sa(make_sas(pair)[2][1]).seal(1, PROTO_UDP, SIP)
    assert (b"REGISTER" in esp) == (pair[1] == "null")


def test_endpoints_round_trip_both_directions(pair):
    client, server, sas = make_sas(pair)
    ue, pcscf = EspEndpoint(sas, "ue"), EspEndpoint(sas, "pcscf")
    inbound, data = pcscf.unprotect_ipv4(ue.protect_udp(client.port_c, server.port_s, SIP))
    assert (inbound.sa.number, inbound.packet.seq, data) == (1, 1, SIP)
    assert (inbound.src, inbound.dst) == (UE_IP, PCSCF_IP)
    inbound, data = ue.unprotect_ipv4(pcscf.protect_udp(server.port_c, client.port_s, SIP))
    assert (inbound.sa.number, data) == (3, SIP)
    inbound, _ = pcscf.unprotect_ipv4(ue.protect_udp(client.port_s, server.port_c, SIP))
    assert inbound.sa.number == 4
    with pytest.raises(EspError):
        ue.protect_udp(server.port_s, client.port_c, SIP)      # SA 2 is inbound at the UE


def test_tampered_icv_or_payload_rejected(pair):
    sa = make_sas(pair)[2][1]
    sender, receiver = EspSender(EspCodec.from_sa(sa)), EspReceiver([EspCodec.from_sa(sa)])
    esp = sender.seal(PROTO_UDP, SIP)
    for where in (len(esp) - 1, 20, 5):                        # ICV, body, sequence number
        bad = bytearray(esp)
        bad[where] ^= 0x01
        with pytest.raises(BadIcv):
            receiver.open(bytes(bad))
    assert receiver.open(esp).payload == SIP                   # the window did not move


def test_wrong_key_rejected():
    sa = make_sas(("hmac-sha-1-96", "aes-cbc"))[2][1]
    other = make_sas(("hmac-sha-1-96", "aes-cbc"), ik=bytes(16))[2][1]
    with pytest.raises(BadIcv):
        EspCodec.from_sa(other).open(EspCodec.from_sa(sa).seal(1, PROTO_UDP, SIP))


def test_unknown_spi_and_short_packets():
    sa = make_sas(("hmac-md5-96", "null"))[2][1]
    receiver = EspReceiver([EspCodec.from_sa(sa)])
    esp = EspCodec.from_sa(sa).seal(1, PROTO_UDP, SIP)
    with pytest.raises(UnknownSpi) as err:
        receiver.open(struct.pack("!I", 0xDEAD) + esp[4:])
    assert err.value.spi == 0xDEAD
    with pytest.raises(MalformedEsp):
        receiver.open(esp[:6])
    with pytest.raises(MalformedEsp):
        receiver.open(esp[:8 + ICV_LEN])


def test_bad_padding_with_a_good_icv_is_malformed():
    codec = EspCodec.from_sa(make_sas(("hmac-md5-96", "null"))[2][1])
    header = struct.pack("!II", codec.spi, 1)
    body = b"abcd" + b"\x07\x07" + bytes([2, 17])               # padding must be 1, 2
    with pytest.raises(MalformedEsp, match="padding"):
        codec.open(header + body + codec.icv(header + body))


def test_sender_sequence_starts_at_one_and_replay_rejected():
    sa = make_sas(("hmac-sha-1-96", "null"))[2][1]
    sender, receiver = EspSender(EspCodec.from_sa(sa)), EspReceiver([EspCodec.from_sa(sa)])
    first = sender.seal(PROTO_UDP, b"one")
    assert receiver.open(first).seq == 1
    with pytest.raises(ReplayedPacket, match="duplicate"):
        receiver.open(first)
    forced = sender.seal(PROTO_UDP, b"again", seq=1)           # a deliberate replay
    with pytest.raises(ReplayedPacket):
        receiver.open(forced)
    assert receiver.open(sender.seal(PROTO_UDP, b"two")).seq == 2
    with pytest.raises(ReplayedPacket, match="never"):
        receiver.open(sender.seal(PROTO_UDP, b"zero", seq=0))
    lax = EspReceiver([EspCodec.from_sa(sa)], check_replay=False)
    lax.open(first)
    lax.open(first)


def test_sender_does_not_cycle():
    sender = EspSender(EspCodec.from_sa(make_sas(("hmac-md5-96", "null"))[2][1]),
                       seq=0xFFFFFFFF)
    with pytest.raises(EspError, match="cycle"):
        sender.seal(PROTO_UDP, b"x")


def test_window_slides():
    w = ReplayWindow(32)
    for seq in (1, 2, 5, 40):
        assert w.why_not(seq) is None
        w.update(seq)
    assert w.top == 40
    assert w.why_not(9) is None and w.why_not(10) is None       # 9..40 inside, never seen
    assert "left of the window" in w.why_not(8)
    assert "left of the window" in w.why_not(5)                  # 40 - 5 >= 32
    assert "left of the window" in w.why_not(2)
    w.update(9)
    assert w.why_not(9) == "duplicate" and w.why_not(40) == "duplicate"
    w.update(100)                                                # jump: everything old is out
    assert "left of the window" in w.why_not(40)
    assert w.why_not(69) is None and w.why_not(99) is None
    with pytest.raises(ValueError):
        ReplayWindow(16)


def test_out_of_order_within_window_accepted():
    sa = make_sas(("hmac-md5-96", "aes-cbc"))[2][1]
    sender, receiver = EspSender(EspCodec.from_sa(sa)), EspReceiver([EspCodec.from_sa(sa)])
    packets = [sender.seal(PROTO_UDP, bytes([i])) for i in range(70)]
    assert receiver.open(packets[69]).seq == 70
    assert receiver.open(packets[10]).seq == 11                  # 70 - 11 < 64
    with pytest.raises(ReplayedPacket):
        receiver.open(packets[5])                                # 70 - 6 >= 64


def test_selector_mismatch_detected():
    client, server, sas = make_sas(("hmac-sha-1-96", "null"))
    codec = EspCodec.from_sa(sas[1])
    udp = raw(UDP(sport=client.port_c + 7, dport=server.port_s) / Raw(SIP))
    with pytest.raises(SelectorMismatch):
        EspEndpoint(sas, "pcscf").unprotect(codec.seal(1, PROTO_UDP, udp))


# -- cross-checks with scapy's SecurityAssociation --------------------------------------------
def test_codec_packet_decrypts_with_scapy(pair):
    client, server, sas = make_sas(pair)
    packet = IP(EspEndpoint(sas, "ue").protect_udp(client.port_c, server.port_s, SIP))
    before = raw(packet)
    clear = espscapy.dissect(sas[1], packet)
    assert raw(packet) == before                                 # the original is untouched
    assert (clear[UDP].sport, clear[UDP].dport) == (client.port_c, server.port_s)
    assert bytes(clear[UDP].payload) == SIP
    bad = bytearray(before)
    bad[-1] ^= 1
    with pytest.raises(BadIcv):
        espscapy.dissect(sas[1], IP(bytes(bad)))


def test_scapy_packet_decrypts_with_codec(pair):
    client, server, sas = make_sas(pair)
    inner = IP(src=PCSCF_IP, dst=UE_IP) / UDP(sport=server.port_c, dport=client.port_s) / Raw(SIP)
    packet = espscapy.build(sas[3], inner, seq=77)
    inbound, data = EspEndpoint(sas, "ue").unprotect_ipv4(raw(packet))
    assert (inbound.sa.number, inbound.packet.seq, data) == (3, 77, SIP)


def test_same_iv_gives_the_same_bytes_as_scapy(pair):
    client, server, sas = make_sas(pair)
    codec = EspCodec.from_sa(sas[1])
    iv = bytes(range(codec.iv_len)) or None
    for size in (0, 5, 31):
        inner = IP(src=UE_IP, dst=PCSCF_IP) / UDP(sport=client.port_c, dport=server.port_s) \
            / Raw(bytes(size))
        theirs = raw(espscapy.build(sas[1], inner, seq=3, iv=iv)[ESP])
        assert codec.seal(3, PROTO_UDP, raw(inner[UDP]), iv) == theirs
