"""Keep-alive checks: CRLF pong on TCP (RFC 5626 §5.4) and STUN on UDP (RFC 5626 §8).

A keep-alive step may send several keep-alives (a loop): ``pong`` then holds for every ping
(the slowest pong counts), ``stun_mapped`` for every Binding response, and ``keepalive`` asks
that each keep-alive of the step was answered, whatever the transport.
"""

from __future__ import annotations

from ...sip.errors import ParseError
from ...sip.headers import parse_flow_timer, parse_vias
from .context import CheckContext, Observation
from .kind import NO_ARGS, CheckKind


def pong_check(args: dict, ctx: CheckContext) -> list[Observation]:
    within = float(args.get("within", ctx.keepalive_bound or 10.0))
    expected = f"a CRLF pong within {within:g} s of the ping"
    if ctx.keepalive_sent > 1:
        expected = f"a CRLF pong within {within:g} s of each of the {ctx.keepalive_sent} pings"
    if ctx.pong_delay is None:
        return [Observation("CRLF pong", False, expected,
                            ctx.pong_note or f"no pong within {ctx.keepalive_bound:g} s")]
    return [Observation("CRLF pong", ctx.pong_delay <= within, expected,
                        f"pong after {ctx.pong_delay * 1000:.0f} ms")]


def stun_mapped_check(args: dict, ctx: CheckContext) -> list[Observation]:
    flow_addr = None
    if ctx.flow_addresses:
        flow_addr = next(iter(ctx.flow_addresses.values())) if len(ctx.flow_addresses) == 1 else None
    expected = f"a Binding success response with XOR-MAPPED-ADDRESS {flow_addr[0]}:{flow_addr[1]}" \
        if flow_addr else "a Binding success response with the flow's address"
    if ctx.flow_address_source:
        expected += f" ({ctx.flow_address_source})"
    if ctx.stun_mapped is None:
        return [Observation("STUN XOR-MAPPED-ADDRESS", False, expected, ctx.stun_note or "no STUN response")]
    ip, port = ctx.stun_mapped
    return [Observation("STUN XOR-MAPPED-ADDRESS", flow_addr is None or (ip, port) == tuple(flow_addr),
                        expected, f"XOR-MAPPED-ADDRESS {ip}:{port}")]


def keepalive_check(args: dict, ctx: CheckContext) -> list[Observation]:
    """Every keep-alive of the step was answered: a CRLF pong (TCP, RFC 5626 §5.4) or a STUN
    Binding response (UDP, RFC 5626 §8)."""
    n, got = ctx.keepalive_sent, ctx.keepalive_answered
    if n == 0:
        return [Observation("keep-alives answered", None, "a keep-alive step", "no keep-alive was sent")]
    observed = f"{got} of {n} answered" + (f" ({ctx.keepalive_note})" if got < n and ctx.keepalive_note else "")
    return [Observation("keep-alives answered", got == n, f"an answer to each of the {n} keep-alive(s)",
                        observed)]


def via_keep_check(args: dict, ctx: CheckContext) -> list[Observation]:
    """RFC 6223: the request's top Via carried a bare ``keep``; the SUT, willing to receive
    keep-alives (the profile declares ``keep``), "MUST add a parameter value to the "keep"
    parameter" (section 4.4), and with a Flow-Timer in the same message "the header field value
    and the "keep" parameter value MUST be identical" (section 5)."""
    label = "Via keep has a value"
    expected = "keep=<seconds> on the top Via"
    if ctx.response is None:
        return [Observation(label, None, expected, ctx.no_response_reason)]
    try:
        vias = parse_vias(ctx.response)
    except ParseError as exc:
        return [Observation(label, False, expected, f"unparseable Via: {exc}")]
    if not vias:
        return [Observation(label, False, expected, "no Via")]
    top = vias[0]
    keep = top.params.get("keep") if "keep" in top.params else None
    shown = "no keep parameter" if "keep" not in top.params else f"keep={keep}" if keep else "keep (no value)"
    ok = bool(keep) and keep.isdigit()
    out = [Observation(label, ok, expected, f"top Via: {shown}")]
    if ok and ctx.response.has("Flow-Timer"):
        try:
            ft = parse_flow_timer(ctx.response.get("Flow-Timer") or "")
        except ParseError:
            ft = None
        out.append(Observation("keep equals Flow-Timer", ft == int(keep), f"keep={ctx.response.get('Flow-Timer')}",
                               f"keep={keep}, Flow-Timer: {ctx.response.get('Flow-Timer')}"))
    return out


KINDS = (
    CheckKind(
        name="keepalive",
        summary=(
            "Each keep-alive of the step was answered (a CRLF pong on TCP, a STUN Binding response on UDP): "
            "{}."
        ),
        handler=keepalive_check,
        level="MUST",
        ref="RFC 5626 §5.4 ¶2; RFC 5626 §8 ¶3",
        order=80,
        args_doc="`{}`: each keep-alive of the step (ping, stun, keepalive) was answered",
        clause_doc="RFC 5626 §5.4 ¶2; RFC 5626 §8 ¶3",
        schema=NO_ARGS,
    ),
    CheckKind(
        name="pong",
        summary="A CRLF pong answers the step's ping: {} or {within: SECONDS}.",
        handler=pong_check,
        level="MUST",
        ref="RFC 5626 §5.4 ¶2",
        order=82,
        args_doc=(
            "`{}` or `{within: SECONDS}`: a CRLF pong answers the step's ping within that many seconds "
            "(default 10)"
        ),
        clause_doc="RFC 5626 §5.4 ¶2",
        schema={
            "type": "object",
            "additionalProperties": False,
            "properties": {
                "within": {
                    "description": "Seconds (default 10, RFC 5626 section 4.4.1).",
                    "type": "number",
                    "exclusiveMinimum": 0,
                },
            },
        },
    ),
    CheckKind(
        name="stun_mapped",
        summary="A STUN Binding success response with XOR-MAPPED-ADDRESS equal to the flow's address: {}.",
        handler=stun_mapped_check,
        level="MUST",
        ref="RFC 5626 §8 ¶2",
        order=84,
        args_doc="`{}`: a STUN Binding success response whose XOR-MAPPED-ADDRESS is the flow's address",
        clause_doc="RFC 5626 §8 ¶2",
        schema=NO_ARGS,
    ),
    CheckKind(
        name="via_keep",
        summary=(
            "The 2xx's top Via gives the bare keep of the request a value, equal to the Flow-Timer of the "
            "same response if any (RFC 6223 sections 4.4 and 5): {}."
        ),
        handler=via_keep_check,
        level="MUST",
        ref="RFC 6223 §4.4; RFC 6223 §5",
        order=100,
        args_doc=(
            "`{}`: the request had a bare `keep` on its top Via (`via_keep: true`); the 2xx's top Via gives "
            "it a value, equal to the response's Flow-Timer if any"
        ),
        clause_doc="RFC 6223 §4.4; RFC 6223 §5",
        schema=NO_ARGS,
    ),
)
