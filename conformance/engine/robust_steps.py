"""Robustness steps: REGISTERs sent at once, without waiting for the answers (TP_ROB_003,
TP_ROB_004).  Every message is recorded (ladder, pcap) like any other step's.

- ``race: {flow: A, with: B}``: one REGISTER over A and one over B (two flows of one UE, the
  same reg-id), back to back.  Both must be answered (the SUT still serves); the step's
  ``expect`` judges the answer that came last (whose 2xx lists the bindings after both were
  processed, RFC 3261 §10.3: in order and atomically), and which flow that was is recorded.
- ``storm: {flow: F, ues: N}``: N copies of F's UE (own AOR, instance, Call-ID, a flow like F)
  register at once; then every one of those flows is dropped (its socket or connection closed)
  and each UE registers again at once from a new flow with the same reg-id (a Reg1b wave, the
  avalanche restart of TP_ROB_003).  Every REGISTER must get a final response (a 503 is retried
  once after its Retry-After, at most 1 s; a Digest challenge is answered); then each UE's fetch
  must list exactly its new flow (none lost, the replaced one gone: RFC 5626 §6 ¶8 and ¶10).

``burst`` (send all, then collect all answers, one retransmission for UDP at T1) is the shared
sans-timer core; matching is by Call-ID, CSeq and top Via branch (RFC 3261 §17.1.3).
"""

from __future__ import annotations

import dataclasses
import time

from ..sip.errors import LocalProtocolError, ParseError
from ..sip.headers import parse_contacts
from ..sip.message import Response, parse_message
from ..meaning.verdict import FAIL, INFO, PASS, Finding
from ..meaning.results import StepResult
from .limit_steps import LIMIT_STEPS, clone_flow, contact_listed, sub_exchange
from ..ue.model import UE, RegDialog, RegisterOptions, build_register, new_branch

ROBUST = "suite: robustness (the SUT still serves)"
NO_LOSS = "suite: robustness (no binding lost)"
ORDER = "RFC 3261 §10.3 (in order, atomically)"
MAX_RETRY_AFTER = 1.0


def _key(msg) -> tuple:
    return (msg.call_id, msg.cseq, msg.top_branch)


def burst(run, items: list, timeout: float) -> list:
    """Send every (flow name, endpoint, request) at once, then wait (at most ``timeout``) for
    their final responses.  Returns one (response or None, request index, response index) per
    item, in the items' order."""
    start = len(run.messages)
    sent = []
    for name, ep, request in items:
        data = request.to_bytes()
        dst = run.sut_for(ep.local[0])
        ep.send(data, dst)
        sent.append((name, ep, request, data, dst, run._record("sent", name, ep.transport, ep.local, dst, data,
                                                               request.summary(), "sent at once (burst)")))
    want = {_key(req): i for i, (_, _, req, _, _, _) in enumerate(sent)}
    found: dict[int, tuple] = {}
    deadline = run._now() + timeout
    retransmit_at = run._now() + run.target.timers.t1
    scanned = start
    with run._selector() as sel:
        while len(found) < len(sent):
            now = run._now()
            if now >= deadline:
                break
            if now >= retransmit_at:
                retransmit_at = deadline + 1
                for i, (name, ep, req, data, dst, _) in enumerate(sent):
                    if i not in found and ep.transport == "udp" and not ep.closed:
                        ep.send(data, dst)
                        run._record("sent", name, ep.transport, ep.local, dst, data, req.summary(),
                                    "retransmission (RFC 3261 §17.1.2.2)")
            run._poll(sel, min(deadline, retransmit_at) - now, None)
            for idx in range(scanned, len(run.messages)):
                m = run.messages[idx]
                if m.direction != "received" or not m.text.startswith("SIP/2.0"):
                    continue
                try:
                    msg = parse_message(m.text.encode("utf-8"))
                except ParseError:
                    continue
                i = want.get(_key(msg)) if isinstance(msg, Response) else None
                if i is not None and msg.status >= 200 and i not in found:
                    found[i] = (msg, idx)
                    m.note = ""
            scanned = len(run.messages)
    return [(found[i][0] if i in found else None, s[5], found[i][1] if i in found else None)
            for i, s in enumerate(sent)]


def _request(run, ue, flow, *, call_id_new: bool = True):
    if flow.dialog is None or call_id_new:
        flow.dialog = RegDialog(call_id=f"{new_branch()[7:]}@{flow.local_ip}")
    flow.dialog.next_cseq()
    ep = run._endpoint(flow)
    return ep, build_register(ue, flow, RegisterOptions(kind="register"), branch=new_branch())


def _settle(run, step, result, ue, flow, ep, request, outcome):
    """A Digest challenge answered, a 503 retried once after its Retry-After (at most 1 s)."""
    from .digest_steps import answer_challenges

    request, outcome = answer_challenges(run, step, result, ue, flow.name, ep, request, outcome,
                                         resend_cseq=flow.dialog.next_cseq)
    response = outcome[0]
    if response is not None and response.status == 503:
        try:
            wait = min(float((response.get("Retry-After") or "0").split(";")[0].strip() or 0), MAX_RETRY_AFTER)
        except ValueError:
            wait = 0.0
        run._wait(wait)
        flow.dialog.next_cseq()
        retry = build_register(ue, flow, RegisterOptions(kind="register"), branch=new_branch())
        outcome = run.exchange(flow.name, ep, retry, step.options.get("timeout"))
        request, outcome = answer_challenges(run, step, result, ue, flow.name, ep, retry, outcome,
                                             resend_cseq=flow.dialog.next_cseq)
    return request, outcome


def race_step(run, step, result) -> None:
    from ..meaning.checks.atomic import note_answer

    ue, first = run._flow(step.flow)
    ue2, second = run._flow(step.options["with"])
    if ue2 is not ue:
        raise LocalProtocolError(f"race: flows {first.name} and {second.name} belong to different UEs")
    timeout = float(step.options.get("timeout", run.target.timers.response))
    items = []
    for flow in (first, second):
        ep, request = _request(run, ue, flow)
        items.append((flow.name, ep, request))
    answers = burst(run, items, timeout)
    settled = []
    for (name, ep, request), outcome in zip(items, answers):
        flow = ue.flows[name]
        full = (outcome[0], outcome[1], outcome[2], "" if outcome[0] else f"no final response within {timeout:g} s")
        request, full = _settle(run, step, result, ue, flow, ep, request, full)
        note_answer(run.register_answers, dataclasses.replace(step, action="register", options={}), name,
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
    ctx = run._context(ue, request, response, why)
    run._judge(dataclasses.replace(step, classify=step.classify), result, ctx, resp_idx)


def _clone_ue(run, ue: UE, i: int) -> UE:
    t = run.target
    user = f"{ue.user}-s{i}"
    fmt = dict(user=user, domain=t.domain)
    new = UE(name=f"{ue.name}_s{i}", user=user, impu=t.identities.impu.format(**fmt),
             impi=t.identities.impi.format(**fmt), domain=ue.domain, instance=UE.new_instance())
    run.ues[new.name] = new
    return new


def storm_step(run, step, result) -> None:
    ue, template = run._flow(step.flow)
    count = int(step.options["ues"])
    timeout = float(step.options.get("timeout", run.target.timers.response))
    clones = [_clone_ue(run, ue, i) for i in range(1, count + 1)]
    t0 = time.monotonic()
    unanswered: list[str] = []
    bound: dict[str, str] = {}
    for wave in (1, 2):
        items = []
        for c in clones:
            if wave == 2:
                old = c.flows[f"{c.name}_w1"]
                ep = run.endpoints.get(old.name)
                if ep is not None:
                    ep.close()                       # the flow is gone (lost coverage, a restart)
                run.closed_flows.add(old.name)
            flow = clone_flow(c, template, f"{c.name}_w{wave}", template.reg_id)
            ep, request = _request(run, c, flow)
            items.append((flow.name, ep, request, c))
        answers = burst(run, [(n, e, r) for n, e, r, _ in items], timeout)
        for (name, ep, request, c), outcome in zip(items, answers):
            full = (outcome[0], outcome[1], outcome[2], "" if outcome[0] else "no final response")
            request, full = _settle(run, step, result, c, c.flows[name], ep, request, full)
            if full[0] is None:
                unanswered.append(f"{name} (wave {wave})")
            elif 200 <= full[0].status < 300:
                bound[c.name] = name
    elapsed = time.monotonic() - t0
    result.findings.append(Finding(
        check=f"every REGISTER of the storm answered ({count} UEs, 2 waves)", level="MUST", ref=ROBUST,
        outcome=FAIL if unanswered else PASS, expected=f"{2 * count} final responses",
        observed=(f"{len(unanswered)} without an answer, first: {', '.join(unanswered[:3])}" if unanswered
                  else f"all answered in {elapsed:.2f} s"), step=step.name, location=result.location))
    problems = []
    for c in clones:
        new, old = c.flows[f"{c.name}_w2"], c.flows[f"{c.name}_w1"]
        scratch = StepResult(name=step.name, action="fetch", flow=new.name, location=result.location)
        fetch = sub_exchange(run, step, "fetch", new.name, scratch, options={})
        result.findings.extend(f for f in scratch.findings if f.outcome == FAIL)
        if fetch is None or not 200 <= fetch.status < 300:
            problems.append(f"{c.name}: fetch {'unanswered' if fetch is None else fetch.status}")
            continue
        mine = [x for x in parse_contacts(fetch.values("Contact")) if not x.star and x.instance == c.instance]
        if bound.get(c.name) != new.name:
            continue                                 # its Reg1b was refused: nothing to expect
        if len(mine) != 1 or not contact_listed(fetch, c.contact_uri(new)) or contact_listed(fetch, c.contact_uri(old)):
            problems.append(f"{c.name}: {len(mine)} binding(s) of its instance"
                            + (", the replaced flow still listed" if contact_listed(fetch, c.contact_uri(old)) else "")
                            + ("" if contact_listed(fetch, c.contact_uri(new)) else ", its new flow missing"))
    result.findings.append(Finding(
        check="after the storm each UE has exactly its new flow bound", level="MUST", ref=NO_LOSS,
        outcome=FAIL if problems else PASS, expected="one binding per UE: the Reg1b flow",
        observed=("; ".join(problems[:3]) + (f" (+{len(problems) - 3} more)" if len(problems) > 3 else ""))
        if problems else f"{sum(1 for v in bound.values() if v.endswith('_w2'))} UEs checked",
        step=step.name, location=result.location))
    result.note = f"{count} UEs, 2 waves, {elapsed:.2f} s for the waves"


ROBUST_STEPS = {"race": race_step, "storm": storm_step}

#: Every step kind of the two modules, for the runner's dispatch.
STEPS = {**LIMIT_STEPS, **ROBUST_STEPS}

__all__ = ["ROBUST_STEPS", "STEPS", "burst", "race_step", "storm_step"]
