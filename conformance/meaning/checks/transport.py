"""Checks of what is specific to flows over TLS and WebSocket connections (RFC 3261 §18, §26,
RFC 7118, RFC 6455): the Via of the answer, the WebSocket upgrade, one SIP message per
WebSocket message, WebSocket Pong to Ping.

Which flow a terminating request reached, and that a closed connection fails its flow, are the
``delivered``/``by_flow`` checks (checks/terminating.py, RFC 5626 §7); the CRLF keep-alive is
``pong`` (checks/keepalive.py).  These read the exchange and ``ctx.stream``, what the flows'
connections showed (filled by the engine, engine/stream_facts.py)::

    ctx.stream = {FLOW: {"transport": "ws",
                         "upgrade": [{"status": 401, "headers": {...}}, {"status": 101, "subprotocol": "sip"}],
                         "error": None | "why the handshake failed",
                         "ws_messages": [bytes, ...],   # WebSocket messages from the SUT in this step
                         "closed": None | "how the connection ended"}}

RFC 7118 and RFC 6455 are not among the project's RFC texts: their clauses are marked [M] in
clauses/websocket.yaml, so these kinds are graded MAY (recorded) until the text is verified.
Sans-IO: plain functions of the context.
"""

from __future__ import annotations

import re

from ...sip.errors import ParseError
from ...sip.framing import Message, StreamFramer
from ...sip.headers import parse_vias
from .context import CheckContext, Observation
from .kind import CheckKind

WS_TRANSPORTS = ("ws", "wss")
_START_LINE = re.compile(rb"^(?:[A-Za-z0-9\-.!%*_+`'~]+ \S+ SIP/\d+\.\d+|SIP/\d+\.\d+ \d{3}(?: .*)?)$")
_CONTENT_LENGTH = re.compile(rb"^(?:content-length|l)[ \t]*:[ \t]*(.*?)[ \t]*\r?$", re.I | re.M)


# -- Via of the answer (RFC 3261 §8.2.6.2, §18.2.1) -------------------------------------------------

def _is_ip(host: str) -> bool:
    h = host.strip("[]")
    if ":" in h:
        return True
    parts = h.split(".")
    return len(parts) == 4 and all(p.isdigit() for p in parts)


def via_transport_check(args: dict, ctx: CheckContext) -> list[Observation]:
    """The response's top Via is the request's (its sent-protocol, WS/WSS/TLS, and sent-by, the
    WebSocket client's ``.invalid`` host: RFC 3261 §8.2.6.2), with ``received`` added where the
    sent-by host is a domain name (RFC 3261 §18.2.1)."""
    label = "top Via of the response"
    if ctx.response is None:
        return [Observation(label, None, "a response", ctx.no_response_reason)]
    if ctx.request is None:
        return [Observation(label, None, "a request", "no request was sent")]
    try:
        sent = parse_vias(ctx.request)[0]
    except (ParseError, IndexError) as exc:
        return [Observation(label, None, "the request's own Via", f"cannot read it: {exc}")]
    want = f"SIP/2.0/{sent.transport} {sent.host}" + (f":{sent.port}" if sent.port else "")
    try:
        vias = parse_vias(ctx.response)
    except ParseError as exc:
        return [Observation(label, False, want, f"unparseable Via: {exc}")]
    if not vias:
        return [Observation(label, False, want, "no Via")]
    top = vias[0]
    got = f"{top.protocol}/{top.transport} {top.host}" + (f":{top.port}" if top.port else "")
    same = (top.transport.upper() == sent.transport.upper() and top.host.lower() == sent.host.lower()
            and top.port == sent.port and top.branch == sent.branch)
    out = [Observation(label, same, f"{want};branch={sent.branch} (the request's)",
                       f"{got};branch={top.branch}")]
    if not _is_ip(sent.host):
        out.append(Observation("received on the top Via", bool(top.received),
                               "a received parameter (the sent-by host is a domain name)",
                               f"received={top.received}" if top.received else "no received parameter"))
    return out


# -- the WebSocket upgrade (RFC 7118 §4.1, §7) -------------------------------------------------------

def _ws_flows(args: dict, ctx: CheckContext) -> list[str]:
    if args.get("flow"):
        return [args["flow"]]
    return sorted(f for f, s in ctx.stream.items() if s.get("transport") in WS_TRANSPORTS)


def ws_handshake_check(args: dict, ctx: CheckContext) -> list[Observation]:
    """``subprotocol: true``: the 101 that opened the flow's WebSocket carried
    ``Sec-WebSocket-Protocol: sip`` (RFC 7118 §4.1).  ``challenged: true``: the upgrade was first
    answered 401 (a challenge), and the upgrade with credentials got the 101 (RFC 7118 §7)."""
    flows = _ws_flows(args, ctx)
    if not flows:
        return [Observation("WebSocket upgrade", None, "a ws or wss flow", "no WebSocket flow in the step")]
    out = []
    for flow in flows:
        facts = ctx.stream.get(flow) or {}
        answers = facts.get("upgrade") or []
        shown = ", ".join(str(a.get("status")) for a in answers) or "no answer"
        if not answers:
            out.append(Observation(f"WebSocket upgrade of flow {flow}", None, "an answer to the upgrade",
                                   facts.get("error") or "the flow's upgrade was not seen"))
            continue
        last = answers[-1]
        if args.get("subprotocol"):
            sub = last.get("subprotocol")
            ok = last.get("status") == 101 and (sub or "").lower() == "sip"
            out.append(Observation(f"Sec-WebSocket-Protocol of flow {flow}", ok if last.get("status") == 101 else None,
                                   "101 Switching Protocols with Sec-WebSocket-Protocol: sip",
                                   f"{last.get('status')}" + (f" with Sec-WebSocket-Protocol: {sub}" if sub
                                                              else " without Sec-WebSocket-Protocol")))
        if args.get("challenged"):
            first = answers[0]
            challenge = {k.lower(): v for k, v in (first.get("headers") or {}).items()}.get("www-authenticate")
            # the challenge's WWW-Authenticate is shown where the endpoint kept the 401's headers
            ok = first.get("status") == 401 and last.get("status") == 101 and len(answers) > 1
            out.append(Observation(f"401 on the upgrade of flow {flow}", ok,
                                   "401 with WWW-Authenticate, then 101 to the upgrade with credentials",
                                   f"answers {shown}" + (f"; WWW-Authenticate: {challenge}" if challenge else "")))
    return out


# -- one SIP message per WebSocket message (RFC 7118 §5.1) ------------------------------------------

def sip_messages_in(payload: bytes) -> tuple[int, str]:
    """How many SIP messages one WebSocket message holds, and what else is in it (a note).

    Over WebSocket the message boundary frames SIP, so Content-Length may be absent (the body is
    the rest of the WebSocket message); where it is present, bytes beyond it are framed as a
    stream to count further messages."""
    head, sep, body = payload.partition(b"\r\n\r\n")
    first = head.split(b"\r\n", 1)[0]
    if not sep or not _START_LINE.match(first):
        return 0, "not a SIP message"
    lengths = _CONTENT_LENGTH.findall(head + b"\r\n")
    if not lengths:
        return 1, ""
    try:
        length = int(lengths[0])
    except ValueError:
        return 1, f"invalid Content-Length {lengths[0][:20]!r}"
    if len(body) < length:
        return 1, f"{length - len(body)} byte(s) of the body missing"
    rest = body[length:]
    if not rest:
        return 1, ""
    framer = StreamFramer()
    try:
        frames = framer.feed(rest) + framer.flush()
    except ParseError as exc:
        return 1, f"{len(rest)} byte(s) after the message ({exc})"
    n = sum(isinstance(f, Message) for f in frames)
    left = framer.pending()
    return 1 + n, (f"{left} byte(s) of an unfinished message" if left else
                   "" if n else f"{len(rest)} byte(s) after the message")


def ws_messages_check(args: dict, ctx: CheckContext) -> list[Observation]:
    """Each WebSocket message the SUT sent on the step's WebSocket flows holds exactly one whole
    SIP message (a keep-alive CRLF message aside)."""
    flows = _ws_flows(args, ctx)
    seen = [(f, m) for f in flows for m in (ctx.stream.get(f) or {}).get("ws_messages") or []
            if m not in (b"\r\n", b"\r\n\r\n")]
    if not seen:
        return [Observation("one SIP message per WebSocket message", None, "a WebSocket message from the SUT",
                            "none in this step")]
    bad = []
    for flow, payload in seen:
        n, note = sip_messages_in(payload)
        if n != 1 or note:
            bad.append(f"flow {flow}: {n} SIP message(s)" + (f", {note}" if note else ""))
    return [Observation("one SIP message per WebSocket message", not bad,
                        f"each of the {len(seen)} WebSocket message(s) one whole SIP message",
                        "; ".join(bad) or f"{len(seen)} message(s), one SIP message each")]


# -- WebSocket Pong (RFC 6455 §5.5.2) ---------------------------------------------------------------

def ws_pong_check(args: dict, ctx: CheckContext) -> list[Observation]:
    """The step's WebSocket Ping(s) were answered by a Pong with the same payload (the ``ws_ping``
    step fills ``pong_delay``/``pong_note`` as ``ping`` does for CRLF)."""
    within = float(args.get("within", ctx.keepalive_bound or 10.0))
    n = max(ctx.keepalive_sent, 1)
    expected = f"a WebSocket Pong with the Ping's payload within {within:g} s" + (
        f" for each of the {n} Pings" if n > 1 else "")
    if ctx.pong_delay is None:
        return [Observation("WebSocket Pong", False, expected,
                            ctx.pong_note or f"no Pong within {ctx.keepalive_bound:g} s")]
    return [Observation("WebSocket Pong", ctx.pong_delay <= within, expected,
                        f"Pong after {ctx.pong_delay * 1000:.0f} ms")]


_FLOW_ONLY = {"flow": {"description": "The WebSocket flow to look at (default: every ws/wss flow of the case).",
                       "$ref": "#/$defs/flow_name"}}

KINDS = (
    CheckKind(
        name="via_transport",
        summary=(
            "The response's top Via is the request's (sent-protocol WS/WSS/TLS, sent-by, branch: RFC 3261 "
            "section 8.2.6.2) with received added where the sent-by host is a domain, e.g. a WebSocket "
            "client's .invalid host (section 18.2.1): {}."
        ),
        handler=via_transport_check,
        level="MUST",
        ref="RFC 3261 §8.2.6.2; RFC 3261 §18.2.1 (received)",
        order=200,
        args_doc=(
            "`{}`: the response's top Via is the request's (sent-protocol such as `SIP/2.0/WSS`, the "
            "`.invalid` sent-by, branch), with `received` where the sent-by is a domain name"
        ),
        clause_doc="RFC 3261 §8.2.6.2; RFC 3261 §18.2.1",
        schema={"type": "object", "additionalProperties": False, "properties": {}},
    ),
    CheckKind(
        name="ws_handshake",
        live_only="the WebSocket upgrade and frames the engine saw are not handed to the offline judge yet",
        summary=(
            "The WebSocket upgrade of the step's ws/wss flow(s): {subprotocol: true} the 101 carried "
            "Sec-WebSocket-Protocol: sip (RFC 7118 section 4.1); {challenged: true} a 401 with "
            "WWW-Authenticate came first and the upgrade with credentials got the 101 (section 7)."
        ),
        handler=ws_handshake_check,
        level="MAY",
        ref=lambda args: ("RFC 7118 §7 (the server rejects with 401)" if args.get("challenged")
                          else "RFC 7118 §4.1 (101 with Sec-WebSocket-Protocol: sip)"),
        order=202,
        flow_args=("flow",),
        args_doc=(
            "`{subprotocol: true}`: the 101 carried `Sec-WebSocket-Protocol: sip`; `{challenged: true}`: a "
            "401 with `WWW-Authenticate` first, then the 101; `flow:` one flow (default every ws/wss flow)"
        ),
        clause_doc=("MAY while RFC 7118 is [M] (not in the project's texts); subprotocol: RFC 7118 §4.1, "
                    "challenged: §7"),
        schema={"type": "object", "additionalProperties": False, "minProperties": 1,
                "properties": {**_FLOW_ONLY,
                               "subprotocol": {"description": "true: the 101 names the sip subprotocol.",
                                               "const": True},
                               "challenged": {"description": "true: 401 with a challenge, then 101.",
                                              "const": True}}},
    ),
    CheckKind(
        name="ws_messages",
        live_only="the WebSocket upgrade and frames the engine saw are not handed to the offline judge yet",
        summary=(
            "Each WebSocket message the SUT sent on the step's ws/wss flow(s) holds exactly one whole SIP "
            "message (RFC 7118 section 5.1): {} or {flow: FLOW}."
        ),
        handler=ws_messages_check,
        level="MAY",
        ref="RFC 7118 §5.1 (one SIP message per WebSocket message)",
        order=204,
        flow_args=("flow",),
        args_doc="`{}` or `{flow: FLOW}`: each WebSocket message from the SUT in the step is one whole SIP message",
        clause_doc="MAY while RFC 7118 is [M]; RFC 7118 §5.1",
        schema={"type": "object", "additionalProperties": False, "properties": dict(_FLOW_ONLY)},
    ),
    CheckKind(
        name="ws_pong",
        live_only="the WebSocket upgrade and frames the engine saw are not handed to the offline judge yet",
        summary="A WebSocket Pong with the Ping's payload answers the step's ws_ping: {} or {within: SECONDS}.",
        handler=ws_pong_check,
        level="MAY",
        ref="RFC 6455 §5.5.2 (Pong to Ping)",
        order=206,
        args_doc="`{}` or `{within: SECONDS}`: a Pong with the Ping's payload answers each WebSocket Ping of the step",
        clause_doc="MAY while RFC 6455 is [M]; RFC 6455 §5.5.2",
        schema={"type": "object", "additionalProperties": False,
                "properties": {"within": {"description": "Seconds (default: the step's bound, 10).",
                                          "type": "number", "exclusiveMinimum": 0}}},
    ),
)
