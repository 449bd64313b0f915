"""The REGISTER family: ``register``, ``refresh``, ``deregister``, ``deregister_all`` and ``fetch``
over a flow (RFC 3261 §10, RFC 5626 §4.2).  A step with sec-agree options (or on a flow that has
an SA set) goes the IMS AKA way (engine/secreg.py)."""

from __future__ import annotations

from ..cases.model import StepSpec
from ..engine.api import RunApi
from ..engine.registration import SEC_OPTIONS, dialog_for, register_options
from ..engine.secreg import sec_register_step
from ..meaning.checks.atomic import note_answer
from ..meaning.checks.gruu import flow_gruus
from ..meaning.checks.unchanged import remember
from ..meaning.results import StepResult
from ..sip.errors import ParseError
from ..sip.headers import parse_name_addr
from ..sip.message import Request
from ..ue.model import build_register, new_branch
from .kind import StepKind


def register(run: RunApi, step: StepSpec, result: StepResult) -> None:
    ue, flow = run.flow(step.flow)
    if flow.sec is not None or any(k in step.options for k in SEC_OPTIONS):
        sec_register_step(run, step, result)
        return
    opts = register_options(run, step, ue)
    dialog_for(run, step, flow)
    ep = run.endpoint(flow, new_connection=bool(step.options.get("new_connection")))
    request = build_register(ue, flow, opts, branch=new_branch())
    run.send_and_judge(step, result, ue, flow.name, ep, request)


def offline(replay, step: StepSpec, result: StepResult) -> None:
    exchange_offline(replay, step, result)


def exchange_offline(replay, step: StepSpec, result: StepResult, *, peer: bool = False) -> None:
    """A REGISTER (or ``send``, or with ``peer`` the PEER's request) re-judged from a capture
    (analysis/rejudge.py): the next such request, its final response (after a Digest retry), what
    the SUT forwarded meanwhile and, for the PEER's, what reached each flow."""
    flow = None if peer else replay.st.flows[step.flow]
    if peer:
        hit = replay.next_stimulus(lambda ev: ev.kind == "sip" and ev.message.method != "REGISTER")
    elif step.action == "send":
        hit = replay.next_stimulus(lambda ev: ev.kind == "sip")
    else:
        hit = replay.next_stimulus(lambda ev: ev.kind == "sip" and ev.message.method == "REGISTER"
                                  and ev.transport == flow.transport)
    if hit is None:
        raise LookupError(f"{step.name}: no matching request in the capture")
    i, ev = hit
    req = ev.message
    replay.consume(i, ev)
    if flow is not None:
        flow.addr = ev.src
        replay.learn(flow, req)
    resp_ev = replay.final_response(i, ev)
    if not peer and step.options.get("digest") != "none":
        i, ev, req, resp_ev = replay.digest_retries(i, ev, resp_ev)
    resp = resp_ev.message if resp_ev is not None else None
    result.request_index = ev.number
    result.response_index = resp_ev.number if resp_ev is not None else None
    why = "" if resp is not None else "no final response in the capture"
    ue = replay.st.flows[step.flow].ue if flow is not None else step.ue
    if flow is not None:
        note_answer(replay.register_answers, step, flow.name, replay.case.ues[ue].flows, resp, req)
    ctx = replay.context(ue, req, resp, why)
    if flow is not None:
        ctx.earlier_paths = [uri for f, uri in replay.st.path_history if f != flow.name]
        ctx.gruu_history = list(replay.st.gruu_history)
    if ue is not None and req.method == "REGISTER":  # checks/unchanged.py
        ctx.register_history = list(replay.st.register_history.setdefault(ue, []))
        remember(replay.st.register_history[ue], resp)
    end = replay.window_end(i)
    # What the SUT forwarded to the tester's emulated registrar (an edge-only SUT), with the
    # emulated registrar's answer (the run's ``forwarded``).
    for j in range(i + 1, end):
        f = replay.events[j]
        if (f.kind == "sip" and isinstance(f.message, Request) and f.src in replay.st.sut
                and replay.flow_at(f.dst, f.transport) is None):
            answer = replay.final_response(j, f)
            ctx.forwarded.append((f.message, answer.message if answer is not None else None))
    if peer:
        ctx.deliveries = {}
        for d in replay.events[i + 1:end]:
            if d.kind == "sip" and isinstance(d.message, Request) and d.message.call_id == req.call_id:
                name = replay.flow_at(d.dst, d.transport)
                if name is not None:
                    ctx.deliveries.setdefault(name, []).append(d.message)
                    replay.st.deliveries.append(name)
    if resp is None:
        result.note = why
    elif flow is not None and 200 <= resp.status < 300 and req.method == "REGISTER":
        paths = resp.values("Path")
        if paths:
            try:
                uri = parse_name_addr(paths[0]).uri
                if uri is not None:
                    replay.st.path_history.append((flow.name, str(uri)))
            except ParseError:
                pass
        seen = flow_gruus(resp, flow.name, ctx.flow_contacts.get(flow.name), flow.reg_id, resp.call_id or "")
        if seen is not None and (seen.pub or seen.temp):   # as RegistrationState.remember_2xx
            replay.st.gruu_history.append(seen)
    replay.judge.judge(step, result, ctx, result.response_index)


def _kind(name: str, order: int, summary: str, usage: str, table: str) -> StepKind:
    return StepKind(name=name, summary=summary, schema={"$ref": "#/$defs/flow_action"}, needs_flow=True,
                    live=register, offline=offline, order=order, extra={"usage": usage, "table": table})


KINDS = (
    _kind("register", 10, "REGISTER for the flow's Contact (new Call-ID the first time, CSeq+1 after).",
          "`register: FLOW`", "REGISTER for the flow's Contact: new Call-ID the first time, CSeq+1 after"),
    _kind("refresh", 20, "Refresh over the same flow, same Call-ID, CSeq+1 (RFC 5626 section 4.2.2).",
          "`refresh: FLOW`", "the same Call-ID with CSeq+1 over the same flow (RFC 5626 section 4.2.2)"),
    _kind("deregister", 30, "The flow's Contact with expires=0.",
          "`deregister: FLOW`", "the flow's Contact with `expires=0`"),
    _kind("deregister_all", 40, "Contact: * and Expires: 0, over the flow with its Call-ID.",
          "`deregister_all: FLOW`", "`Contact: *` and `Expires: 0`, sent over FLOW with its Call-ID"),
    _kind("fetch", 50, "REGISTER without Contact (RFC 3261 section 10.2.3).",
          "`fetch: FLOW`", "REGISTER without Contact (RFC 3261 section 10.2.3)"),
)
