"""REGISTERs sent at once, without waiting for the answers (``race``, ``storm``): ``burst`` sends
them all, then collects all answers (one retransmission for UDP at T1), matching by Call-ID, CSeq
and top Via branch (RFC 3261 §17.1.3); ``settle`` answers a Digest challenge and retries a 503
once after its Retry-After (at most 1 s)."""

from __future__ import annotations

from ..sip.errors import ParseError
from ..sip.message import Response, parse_message
from ..ue.model import RegDialog, RegisterOptions, build_register, new_branch
from .digest import answer_challenges

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
        dst = run.dst_of(ep)
        ep.send(data, dst)
        sent.append((name, ep, request, data, dst, run.record("sent", name, ep.transport, ep.local, dst, data,
                                                               request.summary(), "sent at once (burst)")))
    want = {_key(req): i for i, (_, _, req, _, _, _) in enumerate(sent)}
    found: dict[int, tuple] = {}
    deadline = run.now() + timeout
    retransmit_at = run.now() + run.target.timers.t1
    scanned = start
    with run.selector() as sel:
        while len(found) < len(sent):
            now = run.now()
            if now >= deadline:
                break
            if now >= retransmit_at:
                retransmit_at = deadline + 1
                for i, (name, ep, req, data, dst, _) in enumerate(sent):
                    if i not in found and ep.transport == "udp" and not ep.closed:
                        ep.send(data, dst)
                        run.record("sent", name, ep.transport, ep.local, dst, data, req.summary(),
                                    "retransmission (RFC 3261 §17.1.2.2)")
            run.poll(sel, min(deadline, retransmit_at) - now, None)
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


def register_request(run, ue, flow, *, call_id_new: bool = True):
    if flow.dialog is None or call_id_new:
        flow.dialog = RegDialog(call_id=f"{new_branch()[7:]}@{flow.local_ip}")
    flow.dialog.next_cseq()
    ep = run.endpoint(flow)
    return ep, build_register(ue, flow, RegisterOptions(kind="register"), branch=new_branch())


def settle(run, step, result, ue, flow, ep, request, outcome):
    """A Digest challenge answered, a 503 retried once after its Retry-After (at most 1 s)."""
    request, outcome = answer_challenges(run, step, result, ue, flow.name, ep, request, outcome,
                                         resend_cseq=flow.dialog.next_cseq)
    response = outcome[0]
    if response is not None and response.status == 503:
        try:
            wait = min(float((response.get("Retry-After") or "0").split(";")[0].strip() or 0), MAX_RETRY_AFTER)
        except ValueError:
            wait = 0.0
        run.wait(wait)
        flow.dialog.next_cseq()
        retry = build_register(ue, flow, RegisterOptions(kind="register"), branch=new_branch())
        outcome = run.exchange(flow.name, ep, retry, step.options.get("timeout"))
        request, outcome = answer_challenges(run, step, result, ue, flow.name, ep, retry, outcome,
                                             resend_cseq=flow.dialog.next_cseq)
    return request, outcome
