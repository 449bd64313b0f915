"""The Scapy layer: dissection, exact round trips, building, pcaps and TCP reassembly."""

from __future__ import annotations

import pytest
from scapy.layers.inet import IP, TCP, UDP
from scapy.packet import Raw
from scapy.sessions import TCPSession
from scapy.utils import rdpcap, wrpcap
from scapy.sendrecv import sniff

from conformance.sip.layer import (
    SIP, SIPKeepAlive, SIPRequest, SIPResponse, bind_sip_port, from_message,
)
from conformance.sip.message import Request, Response, parse_message

from sip_corpus import rfc5626_wire

REGISTER = rfc5626_wire("msg09.txt")
OK = rfc5626_wire("msg11.txt")


def test_dissect_request_fields_keep_order_repeats_and_compact_names():
    data = (b"INVITE sip:bob@192.0.2.2;transport=tcp SIP/2.0\r\nv: SIP/2.0/UDP a;branch=z9hG4bK1\r\n"
            b"Via: SIP/2.0/UDP b;branch=z9hG4bK2\r\nm: <sip:x@a>\r\nContact: <sip:y@a>\r\n"
            b"Subject: folded\r\n  line\r\nl: 4\r\n\r\nbody")
    pkt = SIP(data)
    req = pkt[SIPRequest]
    assert (req.Method, req.Request_URI, req.SIP_Version) == (
        b"INVITE", b"sip:bob@192.0.2.2;transport=tcp", b"SIP/2.0")
    assert [n for n, _ in req.headers] == [b"v", b"Via", b"m", b"Contact", b"Subject", b"l"]
    assert req.header_all("Via") == [b"SIP/2.0/UDP a;branch=z9hG4bK1", b"SIP/2.0/UDP b;branch=z9hG4bK2"]
    assert req.header("Contact") == b"<sip:x@a>" and req.header("subject") == b"folded line"
    assert pkt[Raw].load == b"body"
    assert bytes(pkt) == data
    assert pkt.summary().endswith("SIP INVITE sip:bob@192.0.2.2;transport=tcp / Raw")


def test_dissect_response_and_bytes_after_content_length_become_padding():
    data = OK + b"garbage"
    pkt = SIP(data)
    rsp = pkt[SIPResponse]
    assert (rsp.Status_Code, rsp.Reason_Phrase) == (b"200", b"OK")
    assert bytes(pkt) == data
    assert pkt.payload.payload.__class__.__name__ == "Padding"
    assert rsp.to_message().body == b""


def test_build_from_fields_adds_content_length():
    pkt = SIP() / SIPRequest(Method="OPTIONS", Request_URI="sip:127.0.0.1:5070",
                             headers=[("Via", "SIP/2.0/UDP 127.0.0.1:5060;branch=z9hG4bKx"),
                                      ("Call-ID", "c1"), ("CSeq", "7 OPTIONS"),
                                      "Max-Forwards: 70"]) / Raw(b"v=0\r\n")
    assert bytes(pkt) == (b"OPTIONS sip:127.0.0.1:5070 SIP/2.0\r\n"
                          b"Via: SIP/2.0/UDP 127.0.0.1:5060;branch=z9hG4bKx\r\nCall-ID: c1\r\n"
                          b"CSeq: 7 OPTIONS\r\nMax-Forwards: 70\r\nContent-Length: 5\r\n\r\nv=0\r\n")
    msg = pkt.to_message()
    assert isinstance(msg, Request) and msg.method == "OPTIONS" and msg.body == b"v=0\r\n"
    rsp = SIPResponse(Status_Code=b"430", Reason_Phrase=b"Flow Failed", headers=[("l", "0")])
    assert bytes(rsp) == b"SIP/2.0 430 Flow Failed\r\nl: 0\r\n\r\n"


def test_modifying_a_dissected_packet_rebuilds_it():
    pkt = SIP(REGISTER)
    pkt[SIPRequest].headers.append((b"X-Test", b"1"))
    out = bytes(pkt)
    assert out != REGISTER and out.endswith(b"Content-Length: 0\r\nX-Test: 1\r\n\r\n")
    pkt = SIP(REGISTER)
    pkt[SIPRequest].Method = b"OPTIONS"
    assert bytes(pkt).startswith(b"OPTIONS sip:example.com SIP/2.0\r\n")


def test_message_conversions():
    msg = parse_message(REGISTER)
    pkt = from_message(msg)
    assert bytes(pkt) == REGISTER and SIP.from_message(msg).summary() == pkt.summary()
    back = pkt.to_message()
    assert isinstance(back, Request) and back.headers == msg.headers
    assert isinstance(SIP(OK).to_message(), Response)


def test_answers_and_hashret_follow_the_transaction():
    req, rsp = SIP(REGISTER), SIP(OK.replace(b"SIP/2.0/TCP 192.0.2.15;branch=z9hG4bKnuiqisi\r\nVia: ", b""))
    assert rsp.hashret() == req.hashret()
    assert rsp.answers(req) and not req.answers(rsp)
    other = SIP(REGISTER.replace(b"z9hG4bKnashds7", b"z9hG4bKother"))
    assert not rsp.answers(other)
    full_ip = IP(dst="127.0.0.1") / UDP(sport=5060, dport=5060) / req
    full_rsp = IP(src="127.0.0.1") / UDP(sport=5060, dport=5060) / rsp
    assert full_rsp.answers(full_ip)


def test_ip_udp_sip_builds_and_dissects_on_5060():
    pkt = IP(dst="127.0.0.1") / UDP() / SIP() / SIPRequest(headers=[("Call-ID", "x")])
    assert pkt[UDP].dport == 5060
    again = IP(bytes(pkt))
    assert SIPRequest in again and again[SIPRequest].header("Call-ID") == b"x"


def test_non_sip_bytes_stay_raw():
    for junk in (b"\x00\x01garbage", b"GET / HTTP/1.1\r\n\r\n", b"", b"INVITE", b"\xff" * 40):
        pkt = IP(bytes(IP(dst="127.0.0.1") / UDP(sport=1, dport=5060) / Raw(junk)))
        assert SIPRequest not in pkt and SIPResponse not in pkt
        assert bytes(pkt[UDP].payload) == junk


def test_truncated_message_dissects_without_raising():
    pkt = SIP(REGISTER[:60])
    assert bytes(pkt) == REGISTER[:60] and pkt[SIPRequest].Method == b"REGISTER"


def test_keepalive_layer():
    assert SIP(b"\r\n\r\n")[SIPKeepAlive].mysummary() == "SIP keep-alive ping"
    assert SIP(b"\r\n")[SIPKeepAlive].mysummary() == "SIP keep-alive pong"


def test_pcap_write_read(tmp_path):
    path = tmp_path / "sip.pcap"
    wrpcap(str(path), [IP(src="127.0.0.1", dst="127.0.0.2") / UDP(sport=5070, dport=5060) / Raw(REGISTER),
                       IP(src="127.0.0.2", dst="127.0.0.1") / UDP(sport=5060, dport=5070) / Raw(OK)])
    first, second = rdpcap(str(path))
    assert bytes(first[SIPRequest]) == REGISTER and first[SIPRequest].Method == b"REGISTER"
    assert second[SIPResponse].Status_Code == b"200"


def test_bind_sip_port_for_other_ports(tmp_path):
    data = bytes(IP(src="127.0.0.1", dst="127.0.0.2") / UDP(sport=45001, dport=45002) / Raw(REGISTER))
    assert SIPRequest not in IP(data)
    bind_sip_port(45002)
    bind_sip_port(45002)  # idempotent
    assert SIPRequest in IP(data)
    tcp = IP(bytes(IP() / TCP(sport=45002, dport=33333) / Raw(OK)))
    assert SIPResponse in tcp


MESSAGE = (b"MESSAGE sip:bob@192.0.2.2 SIP/2.0\r\nl: 9\r\nCall-ID: m\r\nCSeq: 3 MESSAGE\r\n"
           b"\r\nhi\r\n\r\nyou")
STREAM = b"\r\n\r\n" + REGISTER + OK + MESSAGE + b"\r\n" + REGISTER
CUT_SETS = {
    "mixed": [0, 3, 40, len(REGISTER) + 10, len(REGISTER) + 4 + len(OK) + 1, len(STREAM) - 30,
              len(STREAM)],
    "one-segment": [0, len(STREAM)],
    "every-7": list(range(0, len(STREAM), 7)) + [len(STREAM)],
    "every-64": list(range(0, len(STREAM), 64)) + [len(STREAM)],
}


@pytest.mark.parametrize("cuts", CUT_SETS.values(), ids=CUT_SETS.keys())
def test_tcp_session_reassembles_several_messages_and_keepalives(tmp_path, cuts):
    stream = STREAM
    packets, seq = [], 1000
    for a, b in zip(cuts, cuts[1:]):
        packets.append(IP(src="127.0.0.1", dst="127.0.0.2") /
                       TCP(sport=40000, dport=5060, flags="PA", seq=seq) / Raw(stream[a:b]))
        seq += b - a
    path = tmp_path / "tcp.pcap"
    wrpcap(str(path), packets)
    kinds, data = [], b""
    for pkt in sniff(offline=str(path), session=TCPSession):
        if TCP not in pkt or not pkt[TCP].payload:
            continue
        data += bytes(pkt[TCP].payload)
        layer = pkt[TCP].payload
        while layer:
            if isinstance(layer, SIPKeepAlive):
                kinds.append(layer.crlf)
            elif isinstance(layer, (SIPRequest, SIPResponse)):
                kinds.append(layer.to_message().summary())
            layer = layer.payload
    assert data == stream
    assert kinds == [b"\r\n\r\n", "REGISTER sip:example.com", "200 OK", "MESSAGE sip:bob@192.0.2.2",
                     b"\r\n", "REGISTER sip:example.com"]
