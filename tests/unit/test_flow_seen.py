"""What the SUT saw of a flow (engine/flow_seen.py) and the STUN mapped-address check that
compares a Binding response with it (RFC 5626 §8, RFC 3581 §4)."""

from __future__ import annotations

from conformance.meaning.checks import run_check
from conformance.meaning.checks.context import CheckContext
from conformance.engine.flow_seen import flow_seen_by_sut, via_seen_address
from conformance.meaning.results import MessageRecord
from conformance.sip.message import parse_message

OK = ("SIP/2.0 200 OK\r\nVia: SIP/2.0/UDP 127.0.0.21:5070;branch=z9hG4bK1;rport={rport}{received}\r\n"
      "From: <sip:a@ims.test>;tag=1\r\nTo: <sip:a@ims.test>;tag=2\r\nCall-ID: c\r\n"
      "CSeq: {cseq}\r\nContent-Length: 0\r\n\r\n")


def _resp(rport="40000", received=";received=127.0.0.98", cseq="1 REGISTER"):
    return OK.format(rport=rport, received=received, cseq=cseq)


def _record(i, text, flow="f1", direction="received"):
    return MessageRecord(index=i, time=0.0, direction=direction, flow=flow, transport="udp",
                         src=("127.0.0.1", 5060), dst=("127.0.0.21", 5070), summary="", text=text)


def test_the_top_via_received_and_rport_are_what_the_sut_saw():
    assert via_seen_address(parse_message(_resp().encode())) == ("127.0.0.98", 40000)
    # no received: the source address was the sent-by host (RFC 3261 §18.2.1)
    assert via_seen_address(parse_message(_resp(received="").encode())) == ("127.0.0.21", 40000)
    # rport without a value (ignored by the server): nothing known of the port
    assert via_seen_address(parse_message(_resp(rport="").encode())) is None


def test_the_latest_2xx_to_register_of_the_flow_counts():
    messages = [_record(0, _resp(rport="40000")), _record(1, _resp(rport="40001")),
                _record(2, _resp(rport="40002", cseq="3 MESSAGE")),       # not a REGISTER
                _record(3, _resp(rport="40003"), flow="f2")]              # another flow
    assert flow_seen_by_sut(messages, "f1")[0] == ("127.0.0.98", 40001)
    assert flow_seen_by_sut(messages, "f3") == (None, "no 2xx to REGISTER on the flow")


def _stun_ctx(mapped, expected=("127.0.0.98", 40000)):
    return CheckContext(None, None, flow_addresses={"f1": expected}, stun_mapped=mapped,
                        flow_address_source="the Via received/rport of the flow's latest 2xx")


def test_stun_mapped_passes_only_the_address_the_sut_saw():
    [ok] = run_check("stun_mapped", {}, _stun_ctx(("127.0.0.98", 40000)))
    assert ok.outcome == "pass" and "Via received/rport" in ok.expected
    # the UE's own socket behind a relay, or a port decoded without the XOR: a fail
    for wrong in (("127.0.0.21", 5070), ("127.0.0.98", 40000 ^ 0x2112)):
        [bad] = run_check("stun_mapped", {}, _stun_ctx(wrong))
        assert bad.outcome == "fail" and bad.level == "MUST"
        assert f"{wrong[0]}:{wrong[1]}" in bad.observed
