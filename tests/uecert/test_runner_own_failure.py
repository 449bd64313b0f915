"""A 5xx the network side sent of its own accord (the reference's Warning names why) makes the UE
case an error of the suite's; a 5xx the case's behaviour injected does not."""

from __future__ import annotations

from conformance.sip.message import parse_message
from conformance.uecert.observation import IN, OUT, SIP, Event, FlowKey, Observation
from conformance.uecert.runner import own_failure

FLOW = FlowKey("tls", ("127.0.0.11", 40000), ("127.0.0.1", 5061))
REGISTER = (b"REGISTER sip:ims.test SIP/2.0\r\nVia: SIP/2.0/TLS 127.0.0.11:40000;branch=z9hG4bKa\r\n"
            b"From: <sip:ue@ims.test>;tag=1\r\nTo: <sip:ue@ims.test>\r\nCall-ID: c1\r\nCSeq: 1 REGISTER\r\n"
            b"Content-Length: 0\r\n\r\n")


def _obs(extra: bytes) -> Observation:
    answer = (b"SIP/2.0 503 Service Unavailable\r\nVia: SIP/2.0/TLS 127.0.0.11:40000;branch=z9hG4bKa\r\n"
              b"From: <sip:ue@ims.test>;tag=1\r\nTo: <sip:ue@ims.test>;tag=2\r\nCall-ID: c1\r\n"
              b"CSeq: 1 REGISTER\r\n" + extra + b"Content-Length: 0\r\n\r\n")
    obs = Observation()
    obs.add(Event(1, 0.0, SIP, IN, FLOW, parse_message(REGISTER)))
    obs.add(Event(2, 0.01, SIP, OUT, FLOW, parse_message(answer)))
    return obs


def test_the_references_own_503_is_the_suites_failure():
    why = own_failure(_obs(b'Warning: 399 outbound-conformance-reference "next hop unreachable"\r\n'))
    assert why is not None and "next hop unreachable" in why and "packet 2" in why


def test_an_injected_503_is_the_cases_stimulus():
    assert own_failure(_obs(b"Server: outbound-conformance UE network\r\nRetry-After: 3\r\n")) is None
