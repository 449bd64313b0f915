"""``send_bytes``: raw bytes to the SUT (an RFC 4475 invalid message adapted to the flow), the
answer recorded, no transaction: the SUT may answer 400 (or another error) or drop it, as RFC 4475
§3.1.2 leaves it; what the case asserts is the liveness probe after it."""

from __future__ import annotations

from ..cases.model import StepSpec
from ..engine.api import RunApi
from ..engine.bounds import DEFAULT_BOUND, answer_bound
from ..meaning.results import StepResult
from ..meaning.verdict import INFO, PASS, Finding
from ..sip.message import Response
from ..sip.torture import adapt, same_stimulus, torture_message
from .kind import StepKind

def send_bytes(run: RunApi, step: StepSpec, result: StepResult) -> None:
    ue, flow = run.flow(step.flow)
    name = step.options["rfc4475"]
    section, original = torture_message(name)
    ep = run.endpoint(flow, new_connection=bool(step.options.get("new_connection")))
    data, adapted = adapt(original, flow.sent_by(), flow.transport, ue.user)
    dst = run.dst_of(ep)
    ep.send(data, dst)
    result.request_index = run.record("sent", flow.name, ep.transport, ep.local, dst, data,
                                       f"RFC 4475 {name} (§{section})", f"invalid message (deliberate); {adapted}")
    bound = float(step.options["timeout"]) if "timeout" in step.options else answer_bound(run)
    start = len(run.messages)

    def final(m) -> bool:   # a final response, or the SUT closing the connection / refusing
        return not m.text or (m.text.startswith("SIP/") and not m.text[8:12].strip().startswith("1"))

    def received():
        return [m for m in run.messages[start:] if m.direction == "received" and m.flow == flow.name]

    run.wait(bound, until=lambda: any(final(m) for m in received()))
    got = received()
    if got:
        first = next((m for m in got if final(m)), got[-1])
        result.response_index = first.index
        first.note = f"answer to the RFC 4475 {name} message" if first.text else first.note
        observed = first.summary if first.text else (first.note or first.summary)
        status = first.summary.split()[0] if first.text.startswith("SIP/") else ""
        ok = (status.isdigit() and int(status) >= 300) or not first.text
    else:
        observed, ok = f"no answer within {bound:g} s", True
    judge_answer(step, result, name, observed, ok)


def judge_answer(step, result, name: str, observed: str, ok: bool) -> None:
    """The step's one finding: the answer, recorded (``ok``: an error response, a close or no
    answer; anything else is information).  Shared with offline re-judging."""
    section, _ = torture_message(name)
    result.note = observed
    result.findings.append(Finding(
        check=f"answer to the invalid message {name} (recorded)", level="MAY", ref=f"RFC 4475 §{section}",
        outcome=PASS if ok else INFO,
        expected="an error response (400 is what RFC 4475 suggests) or no answer; anything else is recorded",
        observed=observed, step=step.name, location=result.location, message_index=result.response_index))


def offline(replay, step: StepSpec, result: StepResult) -> None:
    """A ``send_bytes`` step: raw bytes, not a request to match by transaction.  The stimulus
    is found by its content (the RFC 4475 message, adapted to a flow); its answer is the next
    final response or close from the SUT to that flow, as the live run records it.  When the
    bytes never formed a message in the capture (a Content-Length longer than what went over
    TCP), the step is skipped with that reason: it asserts nothing the verdict depends on."""
    name = step.options["rfc4475"]
    _, original = torture_message(name)
    flow = replay.st.flows[step.flow]
    hit = next(((i, ev) for i, ev in enumerate(replay.events[replay.st.cursor:], replay.st.cursor)
                if ev.kind in ("sip", "unparseable") and ev.data and same_stimulus(original, ev.data)), None)
    if hit is None:
        result.note = (f"not re-judged offline: the raw stimulus {name} is not a complete message in the "
                       f"capture (e.g. its Content-Length exceeds the bytes sent); the live run recorded "
                       f"its answer, which decides nothing")
        return
    i, ev = hit
    replay.consume(i, ev)
    flow.addr = ev.src
    result.request_index = ev.number
    bound = float(step.options.get("timeout", DEFAULT_BOUND))
    answer = None
    for a in replay.events[i + 1:]:
        if a.time - ev.time > bound:
            break
        if a.src == ev.dst and a.dst == ev.src and (
                a.kind == "closed" or (a.kind == "sip" and isinstance(a.message, Response) and a.message.status >= 200)):
            answer = a
            break
    if answer is None:
        observed = f"no answer within {bound:g} s"
    elif answer.kind == "closed":
        observed = answer.note or "connection closed by the SUT"
        result.response_index = answer.number
    else:
        observed = answer.message.summary()
        result.response_index = answer.number
    judge_answer(step, result, name, observed, answer is None or answer.kind == "closed"
                 or answer.message.status >= 300)


KIND = StepKind(
    name="send_bytes",
    summary=("Raw bytes over a flow, no transaction: an RFC 4475 invalid message with the first Via adapted "
             "to the flow; the answer (or none) is recorded."),
    schema={"$ref": "#/$defs/send_bytes_action"}, needs_flow=True, live=send_bytes, offline=offline, order=70,
    extra={"usage": "`send_bytes: {flow: FLOW, rfc4475: NAME}`",
           "table": ("raw bytes, no transaction: an RFC 4475 §3.1.2 invalid message (`badinv01`, `clerr`, ... "
                     "`bigcode`) with only its first Via's transport and sent-by adapted to the flow (and, in a "
                     "REGISTER, its URI users made the case's own); the first final answer, a close, or none "
                     "within `timeout` (default: ten round trips of the SUT's latest answer in the case, 0.1 to "
                     "1 s) is recorded")})
