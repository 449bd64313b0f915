"""TCP reassembly and datagram sorting: split and merged segments, out of order, retransmitted."""

from analysis_craft import REGISTRAR, UE1, UE2, contact, ok, register, tcp, tcp_sample_packets, udp, write

from conformance.analysis.capture import CaptureReader
from conformance.analysis.reassembly import Reassembler


def _events(path):
    ra = Reassembler()
    out = []
    for seg in CaptureReader(path):
        out += ra.feed(seg)
    return out + ra.finish(), ra


def test_split_merged_out_of_order_and_retransmitted(tmp_path):
    events, ra = _events(write(tmp_path / "t.pcap", tcp_sample_packets()))
    sip = [e for e in events if e.kind == "sip"]
    assert [e.message.summary() for e in sip] == ["REGISTER sip:ims.test", "REGISTER sip:ims.test", "200 OK", "200 OK"]
    assert sip[0].number == 6 and sip[0].first == 4  # completed by the late middle segment
    assert sip[2].number == sip[3].number  # two messages in one segment
    assert [e.kind for e in events if e.kind in ("ping", "pong")] == ["ping", "pong"]
    assert ra.stats.retransmissions == 1 and ra.stats.out_of_order == 1


def test_overlapping_retransmission_keeps_only_new_bytes(tmp_path):
    r = register(UE1, transport="tcp")
    pk = [tcp(UE1, REGISTRAR, 99, flags="S", ack=0), tcp(UE1, REGISTRAR, 100, r[:50]),
          tcp(UE1, REGISTRAR, 100, r[:80]), tcp(UE1, REGISTRAR, 180, r[80:])]
    events, _ = _events(write(tmp_path / "o.pcap", pk))
    assert [e.kind for e in events] == ["sip"] and bytes(events[0].message) == r


def test_sip_on_any_port_and_ipv6_and_link_types(tmp_path):
    v6a, v6b = ("2001:db8::1", 7777), ("2001:db8::2", 9999)
    r = register(v6a, call_id="v6")
    pk = [udp(v6a, v6b, r), udp(v6b, v6a, ok(r, [contact(v6a)])), udp(UE1, REGISTRAR, b"not sip at all"),
          udp(UE2, REGISTRAR, b"\r\n\r\n")]
    for link in ("ether", "raw", "sll"):
        events, ra = _events(write(tmp_path / f"{link}.pcap", pk, link=link))
        assert [e.kind for e in events] == ["sip", "sip", "keepalive"], link
        assert events[0].src == v6a and ra.stats.non_sip_datagrams == 1
    events, _ = _events(write(tmp_path / "ng.pcapng", pk, ng=True))
    assert [e.kind for e in events] == ["sip", "sip", "keepalive"]


def test_non_sip_tcp_stream_is_ignored(tmp_path):
    pk = [tcp(UE1, REGISTRAR, 1, b"GET / HTTP/1.1\r\nHost: x\r\n\r\n"), tcp(UE1, REGISTRAR, 28, b"more")]
    events, ra = _events(write(tmp_path / "h.pcap", pk))
    assert events == [] and ra.stats.non_sip_streams == 1


def test_stream_resyncs_after_garbage(tmp_path):
    r = register(UE1, transport="tcp")
    bad = b"REGISTER sip:x SIP/2.0\r\nVia: SIP/2.0/TCP a\r\n\r\n"  # no Content-Length on a stream
    pk = [tcp(UE1, REGISTRAR, 1, bad), tcp(UE1, REGISTRAR, 1 + len(bad), r)]
    events, _ = _events(write(tmp_path / "g.pcap", pk))
    assert [e.kind for e in events] == ["unparseable", "sip"]
