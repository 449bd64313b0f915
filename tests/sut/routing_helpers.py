"""Builders for the routing tests: PEER requests, UE-side responses, reading actions."""

from __future__ import annotations

import itertools

from conformance.sip.message import Request, Response, parse_message
from conformance.sut.actions import SendOnFlow, SendToHop
from conformance.sut.flow import FlowInfo

CORE = ("127.0.0.1", 5070)
PEER_FLOW = FlowInfo("udp", CORE, ("127.0.0.7", 5099))
_n = itertools.count(1)


def peer_request(method: str = "MESSAGE", uri: str = "sip:ue-a@ims.test", branch: str | None = None,
                 routes: list[str] = (), call_id: str | None = None, cseq: int = 1,
                 via: str = "SIP/2.0/UDP 127.0.0.7:5099;rport") -> Request:
    branch = branch or f"z9hG4bK-peer{next(_n)}"
    headers = [("Via", f"{via};branch={branch}"), ("Max-Forwards", "70")]
    headers += [("Route", r) for r in routes]
    headers += [("From", "<sip:peer@other.test>;tag=p1"), ("To", "<sip:ue-a@ims.test>"),
                ("Call-ID", call_id or f"call-{branch}"), ("CSeq", f"{cseq} {method}")]
    if method == "INVITE":
        headers.append(("Contact", "<sip:peer@127.0.0.7:5099>"))
    headers.append(("Content-Type", "text/plain"))
    return Request(method=method, uri=uri, headers=headers, body=b"hello")


def answer(request: Request | bytes, status: int, reason: str = "X", tag: str = "ue") -> Response:
    """The UA's (or a downstream proxy's) response to a forwarded request."""
    if isinstance(request, (bytes, bytearray)):
        request = parse_message(request)
    headers = [("Via", v) for v in request.values("Via")]
    to = request.get("To") or ""
    if status > 100 and ";tag=" not in to:
        to += f";tag={tag}"
    headers += [("From", request.get("From")), ("To", to), ("Call-ID", request.get("Call-ID")),
                ("CSeq", request.get("CSeq"))]
    return Response(status=status, reason=reason, headers=headers)


def sent(actions) -> list:
    """(action, parsed message) pairs."""
    return [(a, parse_message(a.data)) for a in actions if isinstance(a, (SendOnFlow, SendToHop))]


def requests(actions) -> list:
    return [(a, m) for a, m in sent(actions) if isinstance(m, Request)]


def responses(actions) -> list:
    return [(a, m) for a, m in sent(actions) if isinstance(m, Response)]
