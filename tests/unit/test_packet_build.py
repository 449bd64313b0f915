"""The ``packet:`` step's builder: fragments, spoofed sources and ESP fields as Scapy and the
kernel will see them (reassembly and dissection by Scapy, no socket)."""

from __future__ import annotations

import pytest
from scapy.layers.inet import IP, UDP, defragment
from scapy.layers.inet6 import IPv6, IPv6ExtHdrFragment, defragment6
from scapy.layers.ipsec import ESP, SecurityAssociation

from types import SimpleNamespace
from conformance.sip.layer import SIP, SIPRequest
from conformance.engine.packet_build import (PAD_HEADER, Datagram, EspFields, build, fill_template,
                                            pad_message, wire_size)

REGISTER = (b"REGISTER sip:ims.test SIP/2.0\r\n"
            b"Via: SIP/2.0/UDP 127.0.0.11:5062;branch=z9hG4bKabc;rport\r\n"
            b"From: <sip:ue-a@ims.test>;tag=1\r\nTo: <sip:ue-a@ims.test>\r\n"
            b"Call-ID: c1@127.0.0.11\r\nCSeq: 1 REGISTER\r\n"
            b"Contact: <sip:ue-a@127.0.0.11:5062>\r\nContent-Length: 0\r\n\r\n")


def datagram(payload=REGISTER, **kw) -> Datagram:
    base = dict(src="127.0.0.11", dst="127.0.0.1", sport=5062, dport=5060, payload=payload)
    base.update(kw)
    return Datagram(**base)


def test_pad_message_reaches_the_size_with_a_header_before_the_empty_line():
    padded = pad_message(REGISTER, 1400)
    assert len(padded) == 1400
    head, _, body = padded.partition(b"\r\n\r\n")
    assert body == b""
    assert head.split(b"\r\n")[-1].startswith(PAD_HEADER.encode() + b": aaa")
    assert SIPRequest in SIP(padded)
    assert pad_message(REGISTER, 10) == REGISTER


def test_pad_message_keeps_the_body_and_its_length():
    msg = REGISTER.replace(b"Content-Length: 0\r\n\r\n", b"Content-Length: 5\r\n\r\nhello")
    padded = pad_message(msg, 900)
    assert len(padded) == 900 and padded.endswith(b"\r\n\r\nhello")
    assert b"Content-Length: 5\r\n" in padded


def test_fill_template_fills_names_only():
    assert fill_template("OPTIONS sip:{domain} SIP/2.0\nCSeq: {cseq} OPTIONS\n\n",
                         {"domain": "ims.test", "cseq": 3}) == b"OPTIONS sip:ims.test SIP/2.0\r\nCSeq: 3 OPTIONS\r\n\r\n"
    with pytest.raises(KeyError, match="unknown placeholder {nope}"):
        fill_template("{nope}", {"domain": "x"})
    # no attribute access or indexing: the braces around an expression are left as text
    assert fill_template("{domain.__class__}", {"domain": "x"}).startswith(b"{domain.__class__}")


def test_fill_template_ends_the_header_section():
    assert fill_template("OPTIONS sip:x SIP/2.0\nContent-Length: 0\n", {}) == \
        b"OPTIONS sip:x SIP/2.0\r\nContent-Length: 0\r\n\r\n"
    body = "MESSAGE sip:x SIP/2.0\nContent-Length: 2\n\nhi"
    assert fill_template(body, {}) == b"MESSAGE sip:x SIP/2.0\r\nContent-Length: 2\r\n\r\nhi"


def test_unfragmented_datagram_is_one_packet_with_its_fields():
    [pkt] = build(datagram(ttl=3, ip_id=77))
    assert pkt[IP].src == "127.0.0.11" and pkt[IP].dst == "127.0.0.1"
    assert (pkt[IP].ttl, pkt[IP].id, pkt[IP].flags, pkt[IP].frag) == (3, 77, 0, 0)
    assert (pkt[UDP].sport, pkt[UDP].dport) == (5062, 5060)
    assert bytes(pkt[UDP].payload) == REGISTER
    assert SIPRequest in pkt and pkt[SIPRequest].Method == b"REGISTER"


def test_fragments_are_at_most_the_size_with_offsets_in_eights_and_reassemble():
    d = datagram(payload=pad_message(REGISTER, 4000), fragment=1300, ip_id=4242)
    frags = build(d)
    whole = 4000 + 28
    assert len(frags) == 4                     # 1280 + 1280 + 1280 + 168 octets of IP payload
    assert all(len(bytes(f)) <= 1300 for f in frags)
    assert [f[IP].frag * 8 for f in frags] == [0, 1280, 2560, 3840]
    assert [bool(f[IP].flags.MF) for f in frags] == [True, True, True, False]
    assert {f[IP].id for f in frags} == {4242}
    assert sum(len(bytes(f[IP].payload)) for f in frags) == whole - 20
    [again] = defragment(frags)
    again = IP(bytes(again))
    assert bytes(again[UDP].payload) == pad_message(REGISTER, 4000)
    assert again[UDP].len == whole - 20
    assert SIPRequest in again
    fresh = IP(bytes(again))
    del fresh[UDP].chksum
    assert IP(bytes(fresh))[UDP].chksum == again[UDP].chksum   # the checksum covers the whole datagram


def test_a_datagram_above_65000_octets_goes_in_fragments():
    d = datagram(payload=pad_message(REGISTER, 65100), fragment=1300)
    frags = build(d)
    assert wire_size(d) == 65128 and len(frags) == 51
    assert bytes(IP(bytes(defragment(frags)[0]))[UDP].payload) == pad_message(REGISTER, 65100)


def test_ipv4_cannot_carry_more_than_65535_octets():
    with pytest.raises(ValueError, match="does not fit one IPv4 datagram"):
        build(datagram(payload=pad_message(REGISTER, 65508)))


def test_spoofed_source_is_what_every_fragment_carries():
    frags = build(datagram(src="198.18.1.2", dst="198.18.2.2", sport=40000, fragment=600,
                           payload=pad_message(REGISTER, 1400)))
    assert len(frags) == 3
    assert {(f[IP].src, f[IP].dst) for f in frags} == {("198.18.1.2", "198.18.2.2")}
    assert IP(bytes(defragment(frags)[0]))[UDP].sport == 40000


def test_ipv6_fragments_reassemble():
    d = datagram(src="2001:db8:1::2", dst="2001:db8:2::2", fragment=1280,
                 payload=pad_message(REGISTER, 3000), ip_id=9)
    frags = build(d)
    assert len(frags) == 3 and all(len(bytes(f)) <= 1280 for f in frags)
    assert {f[IPv6ExtHdrFragment].id for f in frags} == {9}
    assert [f[IPv6ExtHdrFragment].offset * 8 for f in frags][0] == 0
    assert [f[IPv6ExtHdrFragment].m for f in frags] == [1, 1, 0]
    whole = defragment6(frags)
    assert bytes(IPv6(bytes(whole))[UDP].payload) == pad_message(REGISTER, 3000)


def test_esp_spi_and_seq_are_set_and_the_sa_opens_it():
    sa = SimpleNamespace(spi=0x1234, alg="hmac-sha-1-96", ealg="null", auth_key=b"k" * 20, enc_key=b"")
    [pkt] = build(datagram(esp=EspFields(spi=0x1234, seq=7, sa=sa)))
    assert (pkt[ESP].spi, pkt[ESP].seq) == (0x1234, 7) and pkt[IP].proto == 50
    clear = SecurityAssociation(ESP, spi=0x1234, auth_algo="HMAC-SHA1-96", auth_key=b"k" * 20,
                                crypt_algo="NULL").decrypt(pkt)
    assert bytes(clear[UDP].payload) == REGISTER


def test_esp_with_a_chosen_spi_and_no_sa_is_null_protected_and_may_fragment():
    frags = build(datagram(esp=EspFields(spi=0xdead, seq=1), fragment=700, payload=pad_message(REGISTER, 1500)))
    assert len(frags) == 3
    whole = IP(bytes(defragment(frags)[0]))
    assert (whole[ESP].spi, whole[ESP].seq) == (0xdead, 1)
