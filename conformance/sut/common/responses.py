"""Building the registrar's responses from the request (RFC 3261 section 8.2.6).

Sans-IO helpers.  The response copies From, Call-ID, CSeq and every Via in order (section
8.2.6.2); To gets a tag when it has none; the top Via gets ``received``/``rport`` as the server
transport would have added them on receipt (RFC 3261 section 18.2.1, RFC 3581 section 4), which
is also where the I/O layer reads the destination of a UDP response (section 18.2.2).
"""

from __future__ import annotations

import hashlib
import ipaddress
import re

from ...sip.errors import ParseError
from ...sip.headers import Via, parse_cseq, parse_name_addr, quote_string
from ...sip.message import Request, Response
from ..flow import FlowInfo

REASONS = {
    100: "Trying", 200: "OK", 408: "Request Timeout", 430: "Flow Failed",
    480: "Temporarily Unavailable", 483: "Too Many Hops", 487: "Request Terminated", 400: "Bad Request", 401: "Unauthorized", 403: "Forbidden", 404: "Not Found", 416: "Unsupported URI Scheme",
    420: "Bad Extension", 421: "Extension Required", 423: "Interval Too Brief", 439: "First Hop Lacks Outbound Support",
    481: "Call/Transaction Does Not Exist", 500: "Server Internal Error", 501: "Not Implemented",
    503: "Service Unavailable",
}


def _ip(text: str) -> ipaddress.IPv4Address | ipaddress.IPv6Address | None:
    try:
        return ipaddress.ip_address(text.strip("[]"))
    except ValueError:
        return None


def stamp_top_via(raw: str, via: Via | None, flow: FlowInfo) -> str:
    """The top Via value with ``received`` and ``rport`` filled in.

    RFC 3261 section 18.2.1: add ``received`` when sent-by is a domain name or an address other
    than the packet source.  RFC 3581 section 4: an ``rport`` without value gets the source port,
    and then ``received`` MUST be added even when it equals sent-by.
    """
    src_ip, src_port = flow.remote
    text = raw
    wants_rport = via is not None and "rport" in via.params
    sent_by = _ip(via.host) if via is not None else None
    need_received = wants_rport or sent_by is None or sent_by != _ip(src_ip)
    if wants_rport:
        text = re.sub(r";\s*rport\s*(=\s*\d*)?", f";rport={src_port}", text, count=1, flags=re.I)
    if need_received:
        if re.search(r";\s*received\s*=", text, re.I):
            text = re.sub(r"(;\s*received\s*=\s*)[^;,\s]*", rf"\g<1>{src_ip}", text, count=1, flags=re.I)
        else:
            text = f"{text};received={src_ip}"
    return text


def to_tag(request: Request, secret: str) -> str:
    """A stable To tag for the request's (Call-ID, From tag) pair: a retransmission or another
    REGISTER of the same registration gets the same tag."""
    seed = f"{secret}|{request.get('Call-ID')}|{request.get('From')}"
    return hashlib.sha256(seed.encode("utf-8", "replace")).hexdigest()[:12]


def warning_value(agent: str, text: str) -> str:
    """``Warning: 399 agent "text"`` (RFC 3261 section 20.43; 399 is "Miscellaneous warning")."""
    agent = re.sub(r"[^A-Za-z0-9\-.!%*_+`'~]", "-", agent) or "registrar"
    return f"399 {agent} {quote_string(text[:200])}"


def build_response(request: Request, status: int, flow: FlowInfo, *, top_via: Via | None,
                   tag_secret: str, server: str, reason: str | None = None,
                   headers: list[tuple[str, str]] | None = None, warning: str | None = None,
                   warn_agent: str = "registrar") -> Response:
    """A response to ``request`` with the mandatory copied headers and the ``headers`` given."""
    out: list[tuple[str, str]] = []
    vias = request.values("Via")
    for i, value in enumerate(vias):
        out.append(("Via", stamp_top_via(value, top_via, flow) if i == 0 else value))
    for name in ("From", "To", "Call-ID", "CSeq"):
        value = request.get(name)
        if value is None:
            continue
        if name == "To" and status != 100:
            value = _with_tag(value, to_tag(request, tag_secret))
        out.append((name, value))
    out.extend(headers or [])
    if warning:
        out.append(("Warning", warning_value(warn_agent, warning)))
    out.append(("Server", server))
    out.append(("Content-Length", "0"))
    return Response(status=status, reason=reason or REASONS.get(status, "Unknown"), headers=out)


def _with_tag(to_value: str, tag: str) -> str:
    try:
        if parse_name_addr(to_value).tag is not None:
            return to_value
    except ParseError:
        # An unparseable To is echoed unchanged (the request is answered with 400 anyway).
        return to_value
    return f"{to_value};tag={tag}"


def basic_problem(request: Request, vias: list[Via]) -> str | None:
    """RFC 3261 section 8.1.1 mandatory headers and their syntax; the reason text, or None."""
    for name in ("To", "From", "Call-ID", "CSeq"):
        values = request.get_all(name)
        if not values:
            return f"missing {name} header"
        if len(values) > 1:
            return f"more than one {name} header"
    for name in ("To", "From"):
        try:
            parse_name_addr(request.get(name) or "")
        except ParseError as exc:
            return f"malformed {name}: {exc.reason}"
    try:
        number, method = parse_cseq(request.get("CSeq") or "")
    except ParseError as exc:
        return exc.reason
    if method != request.method:
        # RFC 3261 section 8.1.1.5: the CSeq method MUST match the request's method.
        return f"CSeq method {method} does not match {request.method}"
    if not request.call_id or not request.call_id.strip():
        return "empty Call-ID"
    if any(v.duplicate_params for v in vias[:1]):
        return f"repeated Via parameter(s): {', '.join(vias[0].duplicate_params)}"
    return None


__all__ = ["basic_problem", "build_response", "REASONS", "stamp_top_via", "to_tag", "warning_value"]
