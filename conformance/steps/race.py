"""``race: {flow: A, with: B}`` (TP_ROB_004): one REGISTER over A and one over B (two flows of one
UE, the same reg-id), back to back, without waiting for the first answer (engine/burst.py).  Both
must be answered (the SUT still serves); the step's ``expect`` judges the answer that came last
(whose 2xx lists the bindings after both were processed, RFC 3261 §10.3: in order and
atomically), and which flow that was is recorded."""

from __future__ import annotations

import dataclasses

from ..cases.model import StepSpec
from ..engine.api import RunApi
from ..engine.burst import ORDER, ROBUST, burst, register_request, settle
from ..engine.registration import RegistrationState
from ..meaning.checks.atomic import note_answer
from ..meaning.results import StepResult
from ..meaning.verdict import FAIL, INFO, PASS, Finding
from ..sip.errors import LocalProtocolError
from .flow_limit import contact_listed
from .kind import StepKind


def race(run: RunApi, step: StepSpec, result: StepResult) -> None:
    ue, first = run.flow(step.flow)
    ue2, second = run.flow(step.options["with"])
    if ue2 is not ue:
        raise LocalProtocolError(f"race: flows {first.name} and {second.name} belong to different UEs")
    timeout = float(step.options.get("timeout", run.target.timers.response))
    items = []
    for flow in (first, second):
        ep, request = register_request(run, ue, flow)
        items.append((flow.name, ep, request))
    answers = burst(run, items, timeout)
    settled = []
    for (name, ep, request), outcome in zip(items, answers):
        flow = ue.flows[name]
        full = (outcome[0], outcome[1], outcome[2], "" if outcome[0] else f"no final response within {timeout:g} s")
        request, full = settle(run, step, result, ue, flow, ep, request, full)
        note_answer(run.state(RegistrationState).register_answers, dataclasses.replace(step, action="register", options={}), name,
                    ue.flows, full[0], request)
        settled.append((name, request, full))
    silent = [name for name, _, full in settled if full[0] is None]
    result.findings.append(Finding(
        check="both racing REGISTERs answered", level="MUST", ref=ROBUST, outcome=FAIL if silent else PASS,
        expected="a final response to each", observed=f"no answer over {', '.join(silent)}" if silent else
        "; ".join(f"{n}: {f[0].status}" for n, _, f in settled), step=step.name, location=result.location))
    answered = [s for s in settled if s[2][0] is not None]
    if not answered:
        return
    name, request, (response, req_idx, resp_idx, why) = max(answered, key=lambda s: s[2][2])
    result.request_index, result.response_index = req_idx, resp_idx
    order = sorted(answered, key=lambda s: s[2][2])
    result.note = "answers in order: " + ", ".join(f"{n} {f[0].status}" for n, _, f in order)
    if 200 <= response.status < 300:
        uri = ue.contact_uri(ue.flows[name])
        last = contact_listed(response, uri)
        result.findings.append(Finding(
            check="the binding kept is that of the REGISTER answered last", level="MAY", ref=ORDER + " [I]",
            outcome=PASS if last else INFO, expected=f"the last 2xx lists <{uri}> ({name})",
            observed="listed" if last else "not listed", step=step.name, location=result.location,
            message_index=resp_idx))
    ctx = run.context(ue, request, response, why)
    run.judge(dataclasses.replace(step, classify=step.classify), result, ctx, resp_idx)


def offline(replay, step: StepSpec, result: StepResult) -> None:
    """``race`` offline: the two REGISTERs sent at once (over the step's
    flow, then over ``with``), each with its final answer (after a Digest retry); the answer
    that came last is judged, as live."""
    answered = []
    for name in (step.flow, step.options["with"]):
        flow = replay.st.flows[name]
        hit = replay.next_stimulus(lambda ev, f=flow: ev.kind == "sip" and ev.message.method == "REGISTER"
                                  and ev.transport == f.transport)
        if hit is None:
            raise LookupError(f"{step.name}: no REGISTER of flow {name} in the capture")
        i, ev = hit
        replay.consume(i, ev)
        flow.addr = ev.src
        replay.learn(flow, ev.message)
        answered.append((name, i, ev))
    done = []
    for name, i, ev in answered:
        resp_ev = replay.final_response(i, ev)
        i, ev, req, resp_ev = replay.digest_retries(i, ev, resp_ev)
        resp = resp_ev.message if resp_ev is not None else None
        note_answer(replay.register_answers, dataclasses.replace(step, action="register", options={}), name,
                    replay.case.ues[replay.st.flows[name].ue].flows, resp, req)
        done.append((name, req, resp_ev))
    replay.st.cursor = max(replay.st.cursor, *(replay.events.index(r) + 1 for _, _, r in done if r is not None))
    silent = [n for n, _, r in done if r is None]
    result.findings.append(Finding(
        check="both racing REGISTERs answered", level="MUST", ref=ROBUST, outcome=FAIL if silent else PASS,
        expected="a final response to each", observed=f"no answer over {', '.join(silent)}" if silent else
        "; ".join(f"{n}: {r.message.status}" for n, _, r in done), step=step.name, location=result.location))
    live = [d for d in done if d[2] is not None]
    if not live:
        return
    name, req, resp_ev = max(live, key=lambda d: replay.events.index(d[2]))
    resp = resp_ev.message
    result.request_index, result.response_index = None, resp_ev.number
    if 200 <= resp.status < 300:
        uri = replay.contact(replay.st.flows[name])
        last = uri is not None and contact_listed(resp, uri)
        result.findings.append(Finding(
            check="the binding kept is that of the REGISTER answered last", level="MAY", ref=ORDER + " [I]",
            outcome=PASS if last else INFO, expected=f"the last 2xx lists <{uri}> ({name})",
            observed="listed" if last else "not listed", step=step.name, location=result.location,
            message_index=resp_ev.number))
    ctx = replay.context(replay.st.flows[name].ue, req, resp, "")
    replay.judge.judge(step, result, ctx, result.response_index)


KIND = StepKind(
    name="race",
    summary=("Two REGISTERs of one instance with the flows' reg-id, over the flow and over 'with', sent back to back "
             "without waiting for the first answer (TP_ROB_004, steps/race.py); expect judges the answer that came "
             "last."),
    schema={"$ref": "#/$defs/race_action"}, needs_flow=True, live=race, offline=offline, order=220,
    extra={"usage": "`race: {flow: A, with: B}`",
           "table": ("one REGISTER over A and one over B (one UE, the same reg-id, each its own Call-ID) sent back "
                     "to back; both must be answered (robustness); the step's `expect` judges the answer that came "
                     "last, and whether its 2xx lists the flow answered last is recorded (TP_ROB_004)")})
