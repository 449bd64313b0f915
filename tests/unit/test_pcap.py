"""PcapRecorder: rebuilt IP/UDP/TCP packets in a pcap (conformance/engine/pcap.py)."""

import struct

import pytest
from scapy.layers.inet import IP, TCP, UDP
from scapy.layers.inet6 import IPv6
from scapy.layers.l2 import Ether
from scapy.utils import rdpcap

from conformance.engine.pcap import PcapRecorder

UE = ("127.0.0.1", 5070)
SUT = ("127.0.0.2", 5060)
REGISTER = (b"REGISTER sip:ims.test SIP/2.0\r\nVia: SIP/2.0/TCP 127.0.0.1:5070;branch=z9hG4bK1\r\n"
            b"Content-Length: 0\r\n\r\n")
OK = b"SIP/2.0 200 OK\r\nContent-Length: 0\r\n\r\n"


def flags(p):
    return str(p[TCP].flags)


def test_udp_packets(tmp_path):
    rec = PcapRecorder(start_time=1000.0)
    rec.udp(1000.25, UE, SUT, REGISTER)
    rec.udp(1000.5, SUT, UE, OK)
    assert len(rec) == 2
    out = rec.write(tmp_path / "c.pcap")
    assert out == tmp_path / "c.pcap"
    pkts = rdpcap(str(out))
    assert len(pkts) == 2
    p0, p1 = pkts
    assert p0[Ether].src == "02:00:00:00:00:01"
    assert (p0[IP].src, p0[IP].dst, p0[UDP].sport, p0[UDP].dport) == ("127.0.0.1", "127.0.0.2", 5070, 5060)
    assert (p1[IP].src, p1[IP].dst, p1[UDP].sport, p1[UDP].dport) == ("127.0.0.2", "127.0.0.1", 5060, 5070)
    assert bytes(p0[UDP].payload) == REGISTER
    assert str(p0[IP].flags) == "DF"
    assert bytes(p1[UDP].payload) == OK
    assert p0[UDP].len == 8 + len(REGISTER)
    assert float(p0.time) == pytest.approx(1000.25)
    assert float(p1.time) == pytest.approx(1000.5)


def test_tcp_open_data_close(tmp_path):
    rec = PcapRecorder(start_time=0.0)
    rec.tcp_open(1.0, UE, SUT)
    rec.tcp_data(1.1, UE, SUT, REGISTER)
    rec.tcp_data(1.2, SUT, UE, OK)
    rec.tcp_close(1.3, UE, SUT)
    pkts = rdpcap(str(rec.write(tmp_path / "t.pcap")))
    assert len(pkts) == 3 + 2 + 3
    assert all(TCP in p for p in pkts)
    assert [flags(p) for p in pkts] == ["S", "SA", "A", "PA", "PA", "FA", "FA", "A"]
    dirs = [(p[IP].src, p[TCP].sport, p[IP].dst, p[TCP].dport) for p in pkts]
    c2s, s2c = ("127.0.0.1", 5070, "127.0.0.2", 5060), ("127.0.0.2", 5060, "127.0.0.1", 5070)
    assert dirs == [c2s, s2c, c2s, c2s, s2c, c2s, s2c, c2s]

    syn, synack, ack, data_c, data_s, fin_c, fin_s, last = pkts
    isn_c, isn_s = syn[TCP].seq, synack[TCP].seq
    assert syn[TCP].ack == 0
    assert synack[TCP].ack == isn_c + 1           # SYN counts one
    assert (ack[TCP].seq, ack[TCP].ack) == (isn_c + 1, isn_s + 1)
    assert (data_c[TCP].seq, data_c[TCP].ack) == (isn_c + 1, isn_s + 1)
    assert bytes(data_c[TCP].payload) == REGISTER
    # the server's data acknowledges the client's bytes
    assert (data_s[TCP].seq, data_s[TCP].ack) == (isn_s + 1, isn_c + 1 + len(REGISTER))
    assert bytes(data_s[TCP].payload) == OK
    assert (fin_c[TCP].seq, fin_c[TCP].ack) == (isn_c + 1 + len(REGISTER), isn_s + 1 + len(OK))
    assert (fin_s[TCP].seq, fin_s[TCP].ack) == (isn_s + 1 + len(OK), isn_c + 2 + len(REGISTER))  # FIN counts one
    assert (last[TCP].seq, last[TCP].ack) == (isn_c + 2 + len(REGISTER), isn_s + 2 + len(OK))
    for p in pkts:
        assert p[IP].len == len(p[IP])  # consistent lengths
        assert p[TCP].window == 65535


def test_tcp_isn_deterministic():
    def first_seq():
        rec = PcapRecorder(0.0)
        rec.tcp_open(0.0, UE, SUT)
        return [Ether(b)[TCP].seq for _, b in rec._packets]
    assert first_seq() == first_seq()


def test_large_tcp_payload_split(tmp_path):
    body = b"x" * 3000
    big = REGISTER.replace(b"Content-Length: 0", b"Content-Length: 3000") + body
    rec = PcapRecorder(0.0)
    rec.tcp_open(0.0, UE, SUT)
    rec.tcp_data(0.1, UE, SUT, big)
    pkts = rdpcap(str(rec.write(tmp_path / "big.pcap")))
    data = [p for p in pkts if len(p[TCP].payload) > 0]
    sizes = [len(p[TCP].payload) for p in data]
    assert len(data) == 3
    assert all(s <= 1400 for s in sizes)
    assert sizes == [1400, 1400, len(big) - 2800]
    assert b"".join(bytes(p[TCP].payload) for p in data) == big
    seqs = [p[TCP].seq for p in data]
    assert seqs[1] - seqs[0] == 1400 and seqs[2] - seqs[1] == 1400


def test_exact_multiple_of_segment_size_and_empty_data():
    rec = PcapRecorder(0.0)
    rec.tcp_open(0.0, UE, SUT)
    rec.tcp_data(0.1, UE, SUT, b"y" * 2800)
    assert len(rec) == 3 + 2
    rec.tcp_data(0.2, UE, SUT, b"")
    assert len(rec) == 5


def test_sip_bytes_present_in_payloads(tmp_path):
    rec = PcapRecorder(0.0)
    rec.udp(0.0, UE, SUT, REGISTER)
    rec.tcp_open(0.1, ("127.0.0.1", 40000), SUT)
    rec.tcp_data(0.2, SUT, ("127.0.0.1", 40000), OK)
    raw = (tmp_path / "s.pcap")
    rec.write(raw)
    blob = raw.read_bytes()
    assert REGISTER in blob and OK in blob
    payloads = [bytes(p[UDP].payload) if UDP in p else bytes(p[TCP].payload) for p in rdpcap(str(raw))]
    assert REGISTER in payloads and OK in payloads


def test_empty_recorder_writes_valid_pcap(tmp_path):
    out = PcapRecorder(0.0).write(tmp_path / "sub" / "empty.pcap")
    data = out.read_bytes()
    assert len(data) == 24
    magic, major, minor, _, _, snaplen, linktype = struct.unpack("<IHHiIII", data)
    assert (magic, major, minor, linktype) == (0xA1B2C3D4, 2, 4, 1)
    assert snaplen >= 65535
    assert len(rdpcap(str(out))) == 0
    assert not list((tmp_path / "sub").glob("*.tmp"))


def test_record_header_lengths(tmp_path):
    rec = PcapRecorder(0.0)
    rec.udp(12.999_999_9, UE, SUT, b"abc")
    data = rec.write(tmp_path / "r.pcap").read_bytes()
    sec, usec, incl, orig = struct.unpack("<IIII", data[24:40])
    assert sec == 12 and usec <= 999_999
    assert incl == orig == len(data) - 40 == 14 + 20 + 8 + 3


def test_ipv6_packets(tmp_path):
    ue6, sut6 = ("::1", 5070), ("fd00::2", 5060)
    rec = PcapRecorder(0.0)
    rec.udp(0.0, ue6, sut6, REGISTER)
    rec.tcp_open(0.1, ue6, sut6)
    rec.tcp_data(0.2, ue6, sut6, REGISTER)
    pkts = rdpcap(str(rec.write(tmp_path / "v6.pcap")))
    assert len(pkts) == 5
    for p in pkts:
        assert IPv6 in p and IP not in p
    assert (pkts[0][IPv6].src, pkts[0][IPv6].dst) == ("::1", "fd00::2")
    assert pkts[0][UDP].dport == 5060
    assert (pkts[2][IPv6].src, pkts[2][IPv6].dst) == ("fd00::2", "::1")
    assert bytes(pkts[4][TCP].payload) == REGISTER


def test_reopen_restarts_sequence_numbers():
    rec = PcapRecorder(0.0)
    rec.tcp_open(0.0, UE, SUT)
    rec.tcp_data(0.1, UE, SUT, b"abc")
    rec.tcp_close(0.2, UE, SUT)
    rec.tcp_open(0.3, UE, SUT)
    pkts = [Ether(b) for _, b in rec._packets]
    assert pkts[0][TCP].seq == pkts[7][TCP].seq
    assert str(pkts[7][TCP].flags) == "S"
