"""Keep-alive edge cases, sans-IO: malformed STUN variants and how their answers are judged
(steps/stun_raw.py, TP_EDGE_017), the CRLF-in-headers message (steps/crlf.py,
TP_EDGE_014), the Via keep parameter (sut/keep.py and the via_keep check, RFC 6223)."""

from __future__ import annotations

import os

import pytest

from conformance.meaning.checks import run_check
from conformance.meaning.checks.context import CheckContext
from conformance.steps.crlf import in_headers
from conformance.steps.stun_raw import UNKNOWN_REQUIRED, VARIANTS, build_variant, judge_stun_answer
from conformance.sip.message import parse_message
from conformance.sut.keep import add_keep
from conformance.sip.stun import binding_request, parse, stun_response

TID = bytes(range(12))


@pytest.mark.parametrize("variant", VARIANTS)
def test_the_reference_stun_server_treats_each_variant_as_rfc5389_describes(variant):
    data = build_variant(variant, TID)
    answer = stun_response(data, ("127.0.0.11", 40000))
    findings = judge_stun_answer(variant, answer, TID)
    assert all(outcome == "pass" for _, _, _, outcome, _, _ in findings), findings
    if variant in ("bad_cookie", "truncated", "bad_length", "indication"):
        assert parse(data) is None or variant == "indication"
        assert answer is None
    if variant == "oversize":
        assert len(data) == 65_000 and parse(answer)[1] == 0b10      # a success response
    if variant == "unknown_attribute":
        assert [f[0] for f in findings][1] == "UNKNOWN-ATTRIBUTES in the 420"


def test_an_answer_to_a_malformed_message_is_recorded_not_failed():
    answer = stun_response(binding_request(TID), ("127.0.0.11", 40000))
    [(check, level, _, outcome, _, observed)] = judge_stun_answer("bad_cookie", answer, TID)
    assert level == "MAY" and outcome == "info" and "success response" in observed


def test_a_420_without_unknown_attributes_fails_the_must():
    from conformance.sip.stun import ATTR_ERROR_CODE, CLASS_ERROR, _attr, _build
    import struct

    error = struct.pack("!HBB", 0, 4, 20) + b"Unknown Attribute"
    answer = _build(CLASS_ERROR, TID, [_attr(ATTR_ERROR_CODE, error)], False)
    findings = judge_stun_answer("unknown_attribute", answer, TID)
    must = [f for f in findings if f[1] == "MUST"]
    assert must and must[0][3] == "fail" and "absent" in must[0][5]
    # a success response to the request with an unknown comprehension-required attribute: recorded
    ok = stun_response(binding_request(TID), ("127.0.0.11", 40000))
    [(_, level, _, outcome, _, _)] = judge_stun_answer("unknown_attribute", ok, TID)
    assert level == "MAY" and outcome == "info"


def test_crlf_in_headers_goes_after_the_first_header_line():
    msg = b"REGISTER sip:ims.test SIP/2.0\r\nVia: SIP/2.0/TCP a:1;branch=z9hG4bK1\r\nTo: <sip:a@ims.test>\r\n\r\n"
    out = in_headers(msg)
    assert out.startswith(b"REGISTER sip:ims.test SIP/2.0\r\nVia: SIP/2.0/TCP a:1;branch=z9hG4bK1\r\n\r\n\r\nTo:")


OK = ("SIP/2.0 200 OK\r\nVia: SIP/2.0/UDP 127.0.0.11:5070;branch=z9hG4bK1;rport=5070;received=127.0.0.11{keep}\r\n"
      "Via: SIP/2.0/UDP 127.0.0.99:5070;branch=z9hG4bK2;keep\r\n"
      "From: <sip:a@ims.test>;tag=1\r\nTo: <sip:a@ims.test>;tag=2\r\nCall-ID: c\r\nCSeq: 1 {method}\r\n{extra}"
      "Content-Length: 0\r\n\r\n")


def _resp(keep=";keep", method="REGISTER", extra=""):
    return parse_message(OK.format(keep=keep, method=method, extra=extra).encode())


def test_add_keep_gives_the_bare_top_keep_the_flow_timer_or_zero():
    r = _resp(extra="Flow-Timer: 25\r\n")
    assert add_keep(r, 30) and r.values("Via")[0].endswith(";keep=25")     # equal to the Flow-Timer
    assert r.values("Via")[1].endswith(";keep")                            # only the top Via
    r = _resp()
    assert add_keep(r, None) and r.values("Via")[0].endswith(";keep=0")
    for r in (_resp(keep=""), _resp(keep=";keep=10"), _resp(method="MESSAGE")):
        before = r.values("Via")[0]
        assert not add_keep(r, 30) and r.values("Via")[0] == before


@pytest.mark.parametrize("keep, extra, outcomes", [
    (";keep=25", "Flow-Timer: 25\r\n", ["pass", "pass"]),
    (";keep=0", "", ["pass"]),
    (";keep", "", ["fail"]),                                   # no value added: RFC 6223 §4.4
    ("", "", ["fail"]),                                        # keep dropped
    (";keep=30", "Flow-Timer: 25\r\n", ["pass", "fail"]),      # not identical: RFC 6223 §5
])
def test_via_keep_check(keep, extra, outcomes):
    findings = run_check("via_keep", {}, CheckContext(None, _resp(keep=keep, extra=extra)))
    assert [f.outcome for f in findings] == outcomes
    assert all(f.level == "MUST" for f in findings)
