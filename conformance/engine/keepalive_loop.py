"""Keep-alives from a flow, once or in a loop (``ping``, ``stun``, ``keepalive``, ``esp_keepalive``).

``ping``, ``stun`` and ``keepalive`` send one keep-alive, or with ``every`` and ``for`` one every
``every`` seconds for ``for`` seconds (the first at once; the step lasts ``for`` seconds, every
endpoint listened to meanwhile).  With ``unit: flow_timer`` both are multiples of the Flow-Timer
the SUT gave the flow in its latest 2xx to REGISTER (RFC 5626 §4.4.1), so a case adapts to the
SUT's value; a loop longer than 30 s, or a missing Flow-Timer, makes the step inconclusive.
"""

from __future__ import annotations

import os

from ..meaning.results import StepResult
from ..meaning.verdict import INCONCLUSIVE, Finding
from ..sip.stun import ATTR_XOR_MAPPED_ADDRESS, CLASS_SUCCESS, binding_request, decode_xor_address, parse
from .keepalive_log import KeepaliveLog
from .registration import RegistrationState

MAX_LOOP = 30.0           # a keep-alive loop lasts at most this long (as a wait step)


def response_bound(run, step) -> float:
    return float(step.options.get("timeout", run.target.timers.response))


def loop_plan(run, step, flow) -> tuple[float, float] | str | None:
    """(every, for) in seconds for a keep-alive loop, None for a single keep-alive, or why the
    loop cannot run."""
    o = step.options
    if "every" not in o:
        return None
    every, total = float(o["every"]), float(o["for"])
    if o.get("unit") == "flow_timer":
        ft = run.state(RegistrationState).flow_timers.get(flow.name)
        if ft is None:
            return (f"flow {flow.name} got no Flow-Timer in its latest 2xx to REGISTER; the loop is "
                    "given in Flow-Timer units")
        if ft == 0:
            return f"flow {flow.name} got Flow-Timer: 0; no keep-alive interval to derive"
        every, total = every * ft, total * ft
        if total > MAX_LOOP:
            return (f"the loop would last {total:g} s ({o['for']:g} x Flow-Timer {ft} s), over the "
                    f"{MAX_LOOP:g} s a step may take")
    # late: an emulated transport delay on each interval (RFC 5626 §5.4: the grace period absorbs it)
    return every + float(o.get("late", 0)), total


def keepalive_loop(run, step, result: StepResult, flow, once) -> list | None:
    """Run ``once(bound)`` once, or in a loop as the step's options say; the outcomes, or None
    (with an inconclusive finding) when the loop cannot run."""
    plan = loop_plan(run, step, flow)
    bound = response_bound(run, step)
    if isinstance(plan, str):
        result.note = plan
        result.findings.append(Finding(
            check="keep-alive loop", level="MUST", ref="RFC 5626 §4.4.1", outcome=INCONCLUSIVE,
            expected="a Flow-Timer short enough for the loop", observed=plan, step=step.name,
            location=result.location))
        return None
    if plan is None:
        return [once(bound)]
    every, total = plan
    start = run.now()
    outcomes = []
    n = 0
    while True:
        at = start + n * every
        if n and at >= start + total:
            break
        run.wait(max(0.0, at - run.now()))
        outcomes.append(once(min(bound, every)))
        n += 1
    run.wait(max(0.0, start + total - run.now()))
    result.note = f"{n} keep-alive(s), every {every:g} s for {total:g} s"
    if step.options.get("late"):
        result.note += f" ({step.options['late']:g} s of emulated transport delay on each interval)"
    return outcomes


def ping_once(run, flow, ep, bound: float):
    """One CRLF ping: (seconds to the pong or None, ping index, pong index or None)."""
    log = run.state(KeepaliveLog).seen
    start = len(log)
    sent_at = run.now()
    ep.send(b"\r\n\r\n")
    idx = run.record("sent", flow.name, ep.transport, ep.local, ep.remote, b"\r\n\r\n", "CRLF ping")
    run.wait(bound, until=lambda: any(k[0] == flow.name and k[1] == "pong" for k in log[start:]))
    pongs = [k for k in log[start:] if k[0] == flow.name and k[1] == "pong"]
    if pongs:
        return pongs[0][4] - sent_at, idx, pongs[0][3]
    return None, idx, None


def stun_once(run, flow, ep, bound: float):
    """One STUN Binding Request: (mapped address or None, why not, request index, response index)."""
    tid = os.urandom(12)
    data = binding_request(tid)
    log = run.state(KeepaliveLog).seen
    start = len(log)
    dst = run.dst_of(ep)
    ep.send(data, dst)
    req_idx = run.record("sent", flow.name, "udp", ep.local, dst, data, "STUN Binding Request")

    def answered():
        for k in log[start:]:
            if k[0] == flow.name and k[1] == "stun":
                parsed = parse(k[2])
                if parsed and parsed[2] == tid:
                    return True
        return False

    run.wait(bound, until=answered)
    note = f"no STUN Binding response within {bound:g} s"
    for name, kind, payload, idx, _ in log[start:]:
        if name != flow.name or kind != "stun":
            continue
        parsed = parse(payload)
        if not parsed or parsed[2] != tid:
            continue
        method, cls, _, attrs = parsed
        if cls != CLASS_SUCCESS:
            return None, f"STUN response of class {cls} (not a success response)", req_idx, idx
        xma = [v for t, v, _ in attrs if t == ATTR_XOR_MAPPED_ADDRESS]
        if not xma:
            return None, "Binding success response without XOR-MAPPED-ADDRESS", req_idx, idx
        try:
            return decode_xor_address(xma[0], tid), "", req_idx, idx
        except ValueError as exc:
            return None, f"malformed XOR-MAPPED-ADDRESS: {exc}", req_idx, idx
    return None, note, req_idx, None


def pong_counts(ctx, result: StepResult, outcomes: list, bound: float) -> tuple[list, list]:
    """The counts a ping-and-pong loop (CRLF ``ping``, WebSocket ``ws_ping``) gives its checks: the
    bound, pings sent and answered, the first ping's and the last pong's message indexes; returns
    (each ping's pong delay or None, the delays of those answered)."""
    ctx.keepalive_bound = bound
    delays = [d for d, _, _ in outcomes]
    answered = [d for d in delays if d is not None]
    ctx.keepalive_sent, ctx.keepalive_answered = len(outcomes), len(answered)
    result.request_index = outcomes[0][1]
    result.response_index = next((p for _, _, p in reversed(outcomes) if p is not None), None)
    return delays, answered
