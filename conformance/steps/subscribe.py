"""Reg-event subscriptions (RFC 6665, RFC 3680): ``subscribe`` and ``notify``.

- ``subscribe: {flow: F, name: reg, expires: 600, event: reg, timeout: S}``: a SUBSCRIBE for the
  UE's AOR from flow F (ue/subscription.build_subscribe: the wire contract of issue 18).  The
  first one of a ``name`` starts a subscription (new Call-ID and From tag); later ones refresh it
  in its dialog (CSeq+1, the new Expires; ``expires: 0`` unsubscribes).  The step's ``expect``
  judges the final response (``status``) and the NOTIFYs that came with it: after a 2xx the step
  listens, bounded by ``timeout`` (default: the target's response timer), for the immediate
  NOTIFY (RFC 6665 §4.2.1.2).
- ``notify: {subscription: reg, timeout: 2, count: 1}``: listens, bounded, until ``count`` NOTIFYs
  of the subscription that no step has judged yet are there (those that came during earlier
  steps, e.g. after a REGISTER, count), and judges them and the view they leave.

NOTIFYs are answered 200 on the flow they arrive on by the exchange (ue/uas.py) and matched to
their subscription by Call-ID and tags (engine/subscriptions.py).  Offline (``conformance analyze
--case``) the same matching and merging run on the capture's NOTIFYs to the flows.
"""

from __future__ import annotations

import uuid

from ..cases.model import StepSpec
from ..engine.api import RunApi
from ..engine.subscriptions import Subscriptions
from ..meaning.results import StepResult
from ..meaning.verdict import INCONCLUSIVE, Finding
from ..sip.errors import ParseError
from ..sip.headers import parse_name_addr
from ..sip.message import Request
from ..ue.model import new_tag
from ..ue.subscription import Subscription, absorb, build_subscribe, learn_response, matches, repeated
from ..yamlio.source import plain
from .kind import StepKind

SETTLE = 0.05   # after the awaited NOTIFY: listen this long for stragglers of the same change


def _context(sub: Subscription, notifies, waited: float, subscribe: Request | None = None, response=None) -> dict:
    return {"subscription": sub.name, "event": sub.event, "aor": sub.aor, "notifies": list(notifies),
            "all": list(sub.notifies), "view": sub.view, "waited": waited, "subscribe": subscribe,
            "response": response}


# -- live ------------------------------------------------------------------------------------
def subscribe(run: RunApi, step: StepSpec, result: StepResult) -> None:
    o = step.options
    ue, flow = run.flow(step.flow)
    st = run.state(Subscriptions)
    st.collect(run.deliveries, run.messages)
    name = str(o.get("name", "reg"))
    sub = st.subs.get(name)
    if sub is None or sub.ended:
        sub = Subscription(name=name, flow=flow.name, ue=ue.name, aor=ue.impu, local_tag=new_tag(),
                           call_id=f"{uuid.uuid4().hex}@{flow.local_ip}", event=str(o.get("event", "reg")))
        st.subs[name] = sub
    sub.take_new()                    # what came before this SUBSCRIBE is not its answer
    expires = int(o.get("expires", 600))
    ep = run.endpoint(flow)
    request = build_subscribe(sub, ue, flow, expires=expires, event=o.get("event"))
    sub.expires = expires
    response, req_idx, resp_idx, why = run.exchange(flow.name, ep, request, o.get("timeout"))
    result.request_index, result.response_index = req_idx, resp_idx
    learn_response(sub, response)
    bound = float(o.get("timeout") or run.target.timers.response)
    waited = 0.0
    if response is not None and 200 <= response.status < 300:
        started = run.now()

        def arrived() -> bool:
            st.collect(run.deliveries, run.messages)
            return len(sub.notifies) > sub.consumed

        if not arrived():
            run.wait(bound, until=arrived)
        run.wait(SETTLE)
        st.collect(run.deliveries, run.messages)
        waited = run.now() - started
    ctx = run.context(ue, request, response, why)
    new = sub.take_new()
    ctx.reg_event = _context(sub, new, waited if new else bound, request, response)
    if response is None:
        result.note = why
    run.judge(step, result, ctx, resp_idx)


def notify(run: RunApi, step: StepSpec, result: StepResult) -> None:
    o = step.options
    st = run.state(Subscriptions)
    st.collect(run.deliveries, run.messages)
    name = str(o.get("subscription", "reg"))
    sub = st.subs.get(name)
    if sub is None:
        _no_subscription(step, result, name)
        return
    count = int(o.get("count", 1))
    bound = float(o.get("timeout", 2))

    def enough() -> bool:
        st.collect(run.deliveries, run.messages)
        return len(sub.notifies) - sub.consumed >= count

    started = run.now()
    if not enough():
        run.wait(bound, until=enough)
        if enough():
            run.wait(SETTLE)
            st.collect(run.deliveries, run.messages)
    new = sub.take_new()
    _judge_notifies(run.judge, run.context(run.ues[sub.ue], new[-1].request if new else None, None,
                                           f"no NOTIFY of subscription {name} within {bound:g} s"),
                    step, result, sub, new, bound if not new else run.now() - started)


def _judge_notifies(judge, ctx, step, result, sub, new, waited) -> None:
    ctx.reg_event = _context(sub, new, waited)
    result.request_index = new[0].index if new else None
    idx = new[-1].index if new else None
    if not new:
        result.note = ctx.no_response_reason
    judge(step, result, ctx, idx)


def _no_subscription(step, result, name) -> None:
    result.note = f"no subscription {name!r}: no subscribe step of the case made it"
    result.findings.append(Finding(
        check="subscription", level="MUST", ref="", outcome=INCONCLUSIVE, expected=f"a subscribe step named {name}",
        observed=result.note, step=step.name, location=result.location))


# -- offline (conformance analyze --case) ----------------------------------------------------
def _collect_offline(replay, st: Subscriptions, upto: int) -> None:
    """The capture's NOTIFYs to the flows, from where the last collection stopped up to ``upto``."""
    for j in range(st.scanned, upto):
        ev = replay.events[j]
        msg = ev.message
        if ev.kind != "sip" or not isinstance(msg, Request) or msg.method != "NOTIFY":
            continue
        flow = replay.flow_at(ev.dst, ev.transport)
        if flow is None:
            continue
        sub = next((s for s in st.subs.values() if matches(s, msg)), None)
        if sub is not None and not repeated(sub, msg):
            absorb(sub, msg, ev.number, flow.split("@", 1)[0])
    st.scanned = max(st.scanned, upto)


def subscribe_offline(replay, step: StepSpec, result: StepResult) -> None:
    flow = replay.st.flows[step.flow]
    hit = replay.next_stimulus(lambda ev: ev.kind == "sip" and ev.message.method == "SUBSCRIBE"
                               and ev.transport == flow.transport)
    if hit is None:
        raise LookupError(f"{step.name}: no SUBSCRIBE in the capture")
    i, ev = hit
    req = ev.message
    st = replay.state(Subscriptions)
    _collect_offline(replay, st, i)
    replay.consume(i, ev)
    flow.addr = ev.src
    name = str(step.options.get("name", "reg"))
    sub = st.subs.get(name)
    if sub is None or sub.call_id != req.call_id:
        try:
            tag = parse_name_addr(req.get("From") or "").params.get("tag") or ""
        except ParseError:
            tag = ""
        try:
            aor = str(parse_name_addr(req.get("To") or "").uri)
        except ParseError:
            aor = req.uri
        sub = Subscription(name=name, flow=flow.name, ue=flow.ue, aor=aor, local_tag=tag,
                           call_id=req.call_id or "", event=(req.get("Event") or "reg").split(";")[0].strip())
        st.subs[name] = sub
    sub.take_new()
    sub.subscribes.append(req)
    resp_ev = replay.final_response(i, ev)
    resp = resp_ev.message if resp_ev is not None else None
    learn_response(sub, resp)
    _collect_offline(replay, st, replay.window_end(i))
    result.request_index = ev.number
    result.response_index = resp_ev.number if resp_ev is not None else None
    why = "" if resp is not None else "no final response in the capture"
    ctx = replay.context(flow.ue, req, resp, why)
    ctx.reg_event = _context(sub, sub.take_new(), replay.bound, req, resp)
    if resp is None:
        result.note = why
    replay.judge.judge(step, result, ctx, result.response_index)


def notify_offline(replay, step: StepSpec, result: StepResult) -> None:
    st = replay.state(Subscriptions)
    name = str(step.options.get("subscription", "reg"))
    sub = st.subs.get(name)
    if sub is None:
        _no_subscription(step, result, name)
        return
    nxt = replay.next_stimulus(lambda ev: True)
    _collect_offline(replay, st, nxt[0] if nxt is not None else len(replay.events))
    new = sub.take_new()
    bound = float(step.options.get("timeout", 2))
    ctx = replay.context(sub.ue, new[-1].request if new else None, None,
                         f"no NOTIFY of subscription {name} within {bound:g} s")
    _judge_notifies(replay.judge.judge, ctx, step, result, sub, new, bound)


# -- the case file ---------------------------------------------------------------------------
def parse_notify(loader, action: str, value, path: list):
    """(options, flow, ue name, step name) of ``notify: {subscription, timeout, count}``."""
    options = {k: plain(v) for k, v in (value or {}).items()} if isinstance(value, dict) else {}
    options.setdefault("subscription", "reg")
    return options, None, None, f"notify of subscription {options['subscription']}"


KINDS = (
    StepKind(
        name="subscribe",
        summary=("SUBSCRIBE for Event: reg to the UE's AOR from the flow (RFC 6665, RFC 3680); the first of a name "
                 "starts the subscription, later ones refresh it in its dialog, expires: 0 ends it; expect judges "
                 "the final response and the immediate NOTIFY."),
        schema={"anyOf": [{"$ref": "#/$defs/flow_name"},
                          {"type": "object", "additionalProperties": False, "required": ["flow"],
                           "properties": {
                               "flow": {"description": "The flow that subscribes.", "$ref": "#/$defs/flow_name"},
                               "name": {"description": "The subscription's name (default reg).", "type": "string"},
                               "expires": {"description": "Expires of the SUBSCRIBE (default 600; 0 unsubscribes).",
                                           "type": "integer", "minimum": 0},
                               "event": {"description": "The Event header (default reg).", "type": "string"},
                               "timeout": {"description": "Seconds to wait for the final response, then for the "
                                                          "immediate NOTIFY.", "type": "number", "exclusiveMinimum": 0,
                                           "maximum": 30}}}],
                "x-expected": "a flow name, or {flow, name, expires, event, timeout}"},
        needs_flow=True, live=subscribe, offline=subscribe_offline, order=190,
        extra={"usage": "`subscribe: {flow: FLOW, name, expires, event, timeout}`",
               "table": ("SUBSCRIBE for `Event: reg` to the UE's AOR over the flow (`Contact` with `;ob`; with an "
                         "emulated edge its Via and `Record-Route`); the first of a `name` (default `reg`) starts the "
                         "subscription, later ones refresh it in its dialog, `expires: 0` ends it; `expect` judges the "
                         "final response and the NOTIFY that follows (steps/subscribe.py)")}),
    StepKind(
        name="notify",
        summary=("Waits (bounded) for the next NOTIFY(s) of a subscription not yet judged, those that came during "
                 "earlier steps included, and judges them and the registration view."),
        schema={"anyOf": [{"type": "null"},
                          {"type": "object", "additionalProperties": False,
                           "properties": {
                               "subscription": {"description": "The subscription's name (default reg).",
                                                "type": "string"},
                               "timeout": {"description": "Seconds to listen at most (default 2).", "type": "number",
                                           "exclusiveMinimum": 0, "maximum": 30},
                               "count": {"description": "NOTIFYs to wait for (default 1).", "type": "integer",
                                         "minimum": 1}}}],
                "x-expected": "{subscription, timeout, count}"},
        needs_flow=False, live=notify, offline=notify_offline, parse=parse_notify, order=195,
        extra={"usage": "`notify: {subscription: NAME, timeout: S, count: N}`",
               "table": ("listens (at most `timeout` s, default 2) until `count` (default 1) NOTIFYs of the "
                         "subscription not judged yet are there, those that came during earlier steps included; "
                         "`expect` judges them and the registration view they leave")}),
)
