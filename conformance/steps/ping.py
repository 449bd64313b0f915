"""``ping: FLOW``: a CRLF ping over a TCP flow, or a loop of them (engine/keepalive_loop.py); the
SUT MUST answer with a CRLF pong (RFC 5626 §5.4)."""

from __future__ import annotations

from ..cases.model import StepSpec
from ..engine.api import RunApi
from ..engine.keepalive_loop import keepalive_loop, ping_once, pong_counts
from ..meaning.results import StepResult
from ..sip.errors import LocalProtocolError
from ..sip.transports import is_stream
from ..sip.stun import ATTR_XOR_MAPPED_ADDRESS, CLASS_SUCCESS, decode_xor_address, parse
from .kind import StepKind


def ping(run: RunApi, step: StepSpec, result: StepResult) -> None:
    ue, flow = run.flow(step.flow)
    if not is_stream(flow.transport):
        raise LocalProtocolError(f"ping needs a connection flow (tcp, tls, ws, wss); {flow.name} is "
                                 f"{flow.transport} (use stun)")
    ep = run.endpoint(flow)
    bounds: list[float] = []
    closed: list[str] = []

    def once(bound):
        bounds.append(bound)
        if bounds[1:] and ep.closed:
            # the SUT closed the flow's connection during the loop: this ping cannot go out,
            # which is the SUT giving up the flow (judged as an unanswered keep-alive)
            if not closed:
                closed.append(f"the SUT closed the flow's connection before ping {len(bounds)}")
            return None, None, None
        return ping_once(run, flow, ep, bound)

    outcomes = keepalive_loop(run, step, result, flow, once)
    if outcomes is None:
        return
    bound = min(bounds)
    ctx = run.context(ue, None, None, f"no pong within {bound:g} s")
    delays, answered = pong_counts(ctx, result, outcomes, bound)
    if len(answered) == len(delays):
        ctx.pong_delay = max(delays)
    elif len(outcomes) == 1:
        result.note = f"no CRLF pong within {bound:g} s"
    else:
        ctx.pong_note = f"{len(delays) - len(answered)} of {len(delays)} pings got no pong within {bound:g} s"
        if closed:
            ctx.pong_note += f" ({closed[0]})"
        result.note += f"; {ctx.pong_note}"
    ctx.keepalive_note = ctx.pong_note or result.note
    run.judge(step, result, ctx, result.response_index)


def offline_keepalive(replay, step: StepSpec, result: StepResult) -> None:
    """``ping`` or ``stun`` re-judged from a capture (analysis/rejudge.py): the flow's next CRLF ping
    (STUN Binding request) and the pong (the Binding response with its transaction id) within the
    bound, judged as live."""
    flow = replay.st.flows[step.flow]
    ping = step.action == "ping"
    kind, what = ("ping", "CRLF ping") if ping else ("stun", "STUN Binding request")
    hit = replay.next_stimulus(lambda ev: ev.kind == kind and ev.src == flow.addr)
    if hit is None:
        raise LookupError(f"{step.name}: no {what} from flow {flow.name} in the capture")
    i, ev = hit
    replay.st.cursor = i + 1
    result.request_index = ev.number
    bound = float(step.options.get("timeout", replay.bound))
    if ping:
        ctx = replay.context(flow.ue, None, None, f"no pong within {bound:g} s")
        ctx.keepalive_bound = bound
    else:
        ctx = replay.context(flow.ue, None, None, "")
        ctx.flow_addresses = {flow.name: flow.addr}
        ctx.stun_note = f"no STUN Binding response within {bound:g} s"
    for answer in replay.events[i + 1:]:
        if answer.dst != ev.src or answer.time - ev.time > bound:
            continue
        if ping and answer.kind == "pong" and answer.src == ev.dst:
            ctx.pong_delay = answer.time - ev.time
        elif ping or answer.kind != "stun" or not _read_stun_answer(answer.data, ev.data[8:20], ctx):
            continue
        result.response_index = answer.number
        break
    if ping and ctx.pong_delay is None:
        result.note = f"no CRLF pong within {bound:g} s"
    elif not ping and ctx.stun_mapped is None:
        result.note = ctx.stun_note
    replay.judge.judge(step, result, ctx, result.response_index)


def _read_stun_answer(data: bytes, tid: bytes, ctx) -> bool:
    """Whether ``data`` answers the Binding request ``tid``; if so its mapping (or why none) in ``ctx``."""
    parsed = parse(data)
    if not parsed or parsed[2] != tid:
        return False
    _, cls, _, attrs = parsed
    if cls != CLASS_SUCCESS:
        ctx.stun_note = f"STUN response of class {cls} (not a success response)"
        return True
    xma = [v for t, v, _ in attrs if t == ATTR_XOR_MAPPED_ADDRESS]
    if not xma:
        ctx.stun_note = "Binding success response without XOR-MAPPED-ADDRESS"
        return True
    try:
        ctx.stun_mapped = decode_xor_address(xma[0], tid)
    except ValueError as exc:
        ctx.stun_note = f"malformed XOR-MAPPED-ADDRESS: {exc}"
    return True


KIND = StepKind(
    name="ping",
    summary="A CRLF ping (double CRLF) over the flow's TCP connection (RFC 5626 section 4.4.1), or a loop of them.",
    schema={"$ref": "#/$defs/keepalive_action"}, needs_flow=True, live=ping, offline=offline_keepalive, order=90,
    extra={"keepalive_loop": True, "usage": "`ping: FLOW`", "table": "a CRLF ping on the flow's TCP connection (RFC 5626 section 4.4.1)"})
