"""Helpers of the unit tests: hand-built SIP responses and check contexts (no sockets)."""

import pytest

from conformance.meaning.checks import CheckContext
from conformance.sip.message import parse_message

INSTANCE = "<urn:uuid:00000000-0000-1000-8000-AABBCCDDEEFF>"


def raw_response(*header_lines: str, status: int = 200, reason: str = "OK") -> bytes:
    head = [f"SIP/2.0 {status} {reason}",
            "Via: SIP/2.0/UDP 127.0.0.1:5070;branch=z9hG4bKabc;rport=5070",
            "From: <sip:ue@ims.test>;tag=1", "To: <sip:ue@ims.test>;tag=2",
            "Call-ID: c1", "CSeq: 1 REGISTER", *header_lines, "Content-Length: 0"]
    return ("\r\n".join(head) + "\r\n\r\n").encode()


def response(*header_lines: str, status: int = 200, reason: str = "OK"):
    return parse_message(raw_response(*header_lines, status=status, reason=reason))


def ctx(resp, request=None, **kw) -> CheckContext:
    kw.setdefault("instance", INSTANCE)
    return CheckContext(request=request, response=resp, **kw)


@pytest.fixture
def make_response():
    return response


@pytest.fixture
def make_ctx():
    return ctx
