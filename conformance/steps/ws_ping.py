"""``ws_ping: FLOW``: a WebSocket Ping control frame on a ws/wss flow (RFC 6455 §5.5.2, the
keep-alive RFC 7118 §6 names beside the CRLF one), or a loop of them (engine/keepalive_loop.py);
each Ping carries its own payload and the ``ws_pong`` check asks for a Pong echoing it.  The
endpoint reports Pongs as ``ws-pong`` items (engine/streamflow.py), which the runner logs with
the other keep-alive answers (engine/keepalive_log.py)."""

from __future__ import annotations

from ..cases.model import StepSpec
from ..engine.api import RunApi
from ..engine.keepalive_log import KeepaliveLog
from ..engine.keepalive_loop import keepalive_loop, pong_counts
from ..meaning.results import StepResult
from ..sip.errors import LocalProtocolError
from .kind import StepKind

WS_PONG = "ws-pong"


def ws_ping_once(run: RunApi, flow, ep, bound: float, payload: bytes):
    """One WebSocket Ping: (seconds to the Pong with its payload or None, ping index, pong index)."""
    log = run.state(KeepaliveLog).seen
    start = len(log)
    sent_at = run.now()
    ep.ws_ping(payload)
    idx = run.record("sent", flow.name, flow.transport, ep.local, ep.remote, payload,
                     f"WebSocket Ping ({payload.decode('ascii', 'replace')})")

    def mine():
        return [k for k in log[start:] if k[0] == flow.name and k[1] == WS_PONG and k[2] == payload]

    run.wait(bound, until=lambda: bool(mine()))
    hits = mine()
    if hits:
        return hits[0][4] - sent_at, idx, hits[0][3]
    return None, idx, None


def ws_ping(run: RunApi, step: StepSpec, result: StepResult) -> None:
    ue, flow = run.flow(step.flow)
    if flow.transport not in ("ws", "wss"):
        raise LocalProtocolError(f"ws_ping needs a ws or wss flow; {flow.name} is {flow.transport}")
    ep = run.endpoint(flow)
    bounds: list[float] = []

    def once(bound):
        bounds.append(bound)
        if ep.closed:
            return None, None, None
        return ws_ping_once(run, flow, ep, bound, f"ka-{step.name}-{len(bounds)}".encode()[:125])

    outcomes = keepalive_loop(run, step, result, flow, once)
    if outcomes is None:
        return
    bound = min(bounds)
    ctx = run.context(ue, None, None, f"no WebSocket Pong within {bound:g} s")
    delays, answered = pong_counts(ctx, result, outcomes, bound)
    if answered and len(answered) == len(delays):
        ctx.pong_delay = max(delays)
    else:
        ctx.pong_note = (f"{len(delays) - len(answered)} of {len(delays)} WebSocket Pings got no Pong within "
                         f"{bound:g} s" + (" (the connection closed)" if ep.closed else ""))
        result.note = (result.note + "; " if result.note else "") + ctx.pong_note
    ctx.keepalive_note = ctx.pong_note
    run.judge(step, result, ctx, result.response_index)


KIND = StepKind(
    name="ws_ping",
    summary=("A WebSocket Ping control frame on a ws/wss flow (RFC 6455 section 5.5.2, RFC 7118 section 6), "
             "or a loop of them; the ws_pong check asks for the Pong."),
    schema={"$ref": "#/$defs/keepalive_action"}, needs_flow=True, live=ws_ping, order=92,
    offline_reason="WebSocket control frames are not re-judged from a capture yet",
    extra={"keepalive_loop": True, "usage": "`ws_ping: FLOW`",
           "table": ("a WebSocket Ping on a ws/wss flow (RFC 6455 section 5.5.2), each with its own payload; "
                     "the `ws_pong` check wants the Pong echoing it")})
