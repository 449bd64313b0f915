"""``send_bytes``: raw bytes to the SUT (an RFC 4475 invalid message adapted to the flow), the
answer recorded, no transaction: the SUT may answer 400 (or another error) or drop it, as RFC 4475
§3.1.2 leaves it; what the case asserts is the liveness probe after it."""

from __future__ import annotations

from ..sip.torture import adapt, torture_message
from ..meaning.verdict import INFO, PASS, Finding

DEFAULT_BOUND = 1.0  # seconds to wait for an answer at most (a final answer ends the wait at once)
MIN_BOUND = 0.1      # ... and at least, when the SUT's round trip is known


def answer_bound(run) -> float:
    """How long to wait for an answer that need not come: ten round trips of the SUT's latest
    final response in this case (at least MIN_BOUND), else DEFAULT_BOUND; never above the
    target's response timer.  A silent drop then costs a fraction of a second on a local SUT."""
    cap = min(DEFAULT_BOUND, run.target.timers.response)
    msgs = run.messages
    for j in range(len(msgs) - 1, -1, -1):
        m = msgs[j]
        if m.direction == "received" and m.text.startswith("SIP/2.0 ") and m.text[8:9] in "23456":
            sent = next((msgs[i] for i in range(j - 1, -1, -1)
                         if msgs[i].direction == "sent" and msgs[i].flow == m.flow), None)
            if sent is not None:
                return min(cap, max(MIN_BOUND, 10 * (m.time - sent.time)))
            break
    return cap


def send_bytes_step(run, step, result) -> None:
    ue, flow = run._flow(step.flow)
    name = step.options["rfc4475"]
    section, original = torture_message(name)
    ep = run._endpoint(flow, new_connection=bool(step.options.get("new_connection")))
    data, adapted = adapt(original, flow.host_port(), flow.transport, ue.user)
    dst = run.sut_for(ep.local[0])
    ep.send(data, dst)
    result.request_index = run._record("sent", flow.name, ep.transport, ep.local, dst, data,
                                       f"RFC 4475 {name} (§{section})", f"invalid message (deliberate); {adapted}")
    bound = float(step.options["timeout"]) if "timeout" in step.options else answer_bound(run)
    start = len(run.messages)

    def final(m) -> bool:   # a final response, or the SUT closing the connection / refusing
        return not m.text or (m.text.startswith("SIP/") and not m.text[8:12].strip().startswith("1"))

    def received():
        return [m for m in run.messages[start:] if m.direction == "received" and m.flow == flow.name]

    run._wait(bound, until=lambda: any(final(m) for m in received()))
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
