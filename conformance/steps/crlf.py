"""``crlf``: CRLF edge cases on a TCP flow (TP_EDGE_014), judged by the step itself.

``{flow: FLOW, variant: NAME}`` with the variants of the test purpose:

* ``single``: one CRLF alone. RFC 3261 section 7.5: implementations "MUST ignore any CRLF
  appearing before the start-line"; a closed connection or a SIP error answer fails.
* ``with_register``: a double CRLF and a refresh REGISTER of the flow in one TCP segment: one
  pong (RFC 5626 section 5.4, MUST) and the REGISTER processed (the step's ``expect``).
* ``split``: a double CRLF in two halves, ``gap`` seconds apart (default 0.5): one pong after the
  second half (section 5.4, MUST: TCP is a byte stream); a pong before it is recorded.
* ``flood``: ``count`` double CRLFs (default 10,000) in one write, over a connection of its own
  from the flow's address, read back for ``timeout`` seconds (default 1) without recording each
  pong: how many came back is recorded (rate limiting is acceptable); the case's next steps show
  that the SUT still serves (liveness).
* ``in_headers``: a refresh REGISTER with a double CRLF inside its header block: not a ping
  (section 4.4.1: ping and pong "cannot be sent in the middle of a SIP message"; no keyword), so
  a 400, a closed connection or no answer are what the text leads to; anything else is recorded.

The pong count and the answers are read from what the runner recorded (the run's :class:`~conformance.engine.keepalive_log.KeepaliveLog`
and ``run.messages``); the variants' byte strings are built by :func:`variant_bytes` (sans-IO).
"""

from __future__ import annotations

import selectors
import time

from ..cases.model import StepSpec
from ..engine.api import RunApi
from ..engine.bounds import answer_bound
from ..engine.keepalive_log import KeepaliveLog
from ..engine.registration import register_options
from ..engine.transport import TcpEndpoint
from ..meaning.results import StepResult
from ..meaning.verdict import FAIL, INFO, PASS, Finding
from ..sip.errors import LocalProtocolError
from ..ue.model import build_register, new_branch
from .kind import StepKind

VARIANTS = ("single", "with_register", "split", "flood", "in_headers")
PONG_REF = "RFC 5626 §5.4 ¶2"
SINGLE_REF = "RFC 3261 §7.5 (CRLF before the start-line ignored)"
IN_HEADERS_REF = "RFC 5626 §4.4.1 (ping and pong only between SIP messages)"
FLOOD_REF = "RFC 5626 §5.4 ¶2 (a ping burst or flood: rate limiting acceptable, reading)"
MAX_FLOOD = 20_000


def in_headers(message: bytes) -> bytes:
    """``message`` with a double CRLF after its first header line (inside the header block)."""
    first = message.index(b"\r\n") + 2
    second = message.index(b"\r\n", first) + 2
    return message[:second] + b"\r\n\r\n" + message[second:]


def _finding(step, result, check, level, ref, outcome, expected, observed, index=None) -> None:
    result.findings.append(Finding(check=check, level=level, ref=ref, outcome=outcome, expected=expected,
                                   observed=observed, step=step.name, location=result.location,
                                   message_index=index))


def _pongs(run, flow, start: int) -> list:
    return [k for k in run.state(KeepaliveLog).seen[start:] if k[0] == flow.name and k[1] == "pong"]


def _received(run, flow, start: int) -> list:
    return [m for m in run.messages[start:] if m.direction == "received" and m.flow == flow.name]


def _refresh(run, step, ue, flow):
    if flow.dialog is None:
        raise LocalProtocolError(f"crlf: flow {flow.name} has not registered yet")
    opts = register_options(run, step, ue)
    opts.kind = "refresh"
    flow.dialog.next_cseq()
    return build_register(ue, flow, opts, branch=new_branch())


def crlf(run: RunApi, step: StepSpec, result: StepResult) -> None:
    ue, flow = run.flow(step.flow)
    if flow.transport != "tcp":
        raise LocalProtocolError(f"crlf needs a TCP flow; {flow.name} is {flow.transport}")
    variant = step.options["variant"]
    bound = float(step.options["timeout"]) if "timeout" in step.options else max(0.5, answer_bound(run))
    if variant == "flood":
        _flood(run, step, result, flow, float(step.options.get("timeout", 1.0)))
        return
    ep = run.endpoint(flow)
    k0, m0 = len(run.state(KeepaliveLog).seen), len(run.messages)
    if variant == "single":
        ep.send(b"\r\n")
        result.request_index = run.record("sent", flow.name, "tcp", ep.local, ep.remote, b"\r\n", "single CRLF")
        run.wait(bound, until=lambda: ep.closed)
        got = _received(run, flow, m0)
        errors = [m for m in got if m.text.startswith("SIP/2.0 ")]
        closed = ep.closed or any(not m.text for m in got)
        observed = ("the SUT closed the connection" if closed else
                    f"a SIP answer: {errors[0].summary}" if errors else "nothing (ignored)")
        if _pongs(run, flow, k0):
            observed += "; a CRLF came back (recorded)"
        _finding(step, result, "a lone CRLF is ignored", "MUST", SINGLE_REF,
                 FAIL if closed or errors else PASS, "the CRLF ignored: no SIP answer, the connection kept",
                 observed, got[0].index if got else None)
        result.note = observed
        return
    if variant == "split":
        gap = float(step.options.get("gap", 0.5))
        ep.send(b"\r\n")
        result.request_index = run.record("sent", flow.name, "tcp", ep.local, ep.remote, b"\r\n",
                                           "CRLF ping, first half")
        run.wait(gap)
        early = _pongs(run, flow, k0)
        k1 = len(run.state(KeepaliveLog).seen)
        if ep.closed:
            _finding(step, result, "one pong after the second half", "MUST", PONG_REF, FAIL,
                     "a CRLF pong after the second half of the ping", "the SUT closed the connection after the first half")
            return
        ep.send(b"\r\n")
        run.record("sent", flow.name, "tcp", ep.local, ep.remote, b"\r\n", "CRLF ping, second half")
        run.wait(bound, until=lambda: bool(_pongs(run, flow, k1)))
        late = _pongs(run, flow, k1)
        result.response_index = late[0][3] if late else None
        observed = f"{len(late)} pong(s) after the second half" + (f", {len(early)} before it" if early else "")
        _finding(step, result, "one pong after the second half", "MUST", PONG_REF,
                 PASS if late else FAIL, f"a CRLF pong within {bound:g} s of the second half", observed,
                 result.response_index)
        if early:
            _finding(step, result, "no pong to half a ping (recorded)", "MAY", SINGLE_REF, INFO,
                     "nothing before the ping is complete", f"{len(early)} pong(s) after the first half alone")
        result.note = observed
        return
    if variant == "with_register":
        request = _refresh(run, step, ue, flow)
        send = ep.send

        def prefixed(data, dst=None):     # the REGISTER goes in the same segment as the ping
            ep.send = send
            return send(b"\r\n\r\n" + data, dst)

        ep.send = prefixed
        try:
            run.send_and_judge(step, result, ue, flow.name, ep, request)
        finally:
            ep.send = send
        run.wait(0.05)
        for idx in (result.request_index, result.response_index):
            if idx is not None:   # the pong may share a segment with the answer: dissectors may stumble
                m = run.messages[idx]
                m.note = "; ".join(n for n in (m.note, "next to a CRLF ping or pong in one TCP segment "
                                                       "(deliberate stimulus)") if n)
        pongs = _pongs(run, flow, k0)
        _finding(step, result, "a pong to the ping before the REGISTER", "MUST", PONG_REF,
                 PASS if pongs else FAIL, "one CRLF pong (the ping and the REGISTER in one segment)",
                 f"{len(pongs)} pong(s)", pongs[0][3] if pongs else None)
        return
    if variant == "in_headers":
        request = _refresh(run, step, ue, flow)
        data = in_headers(request.to_bytes())
        ep.send(data)
        result.request_index = run.record("sent", flow.name, "tcp", ep.local, ep.remote, data,
                                           f"{request.summary()} with CRLF CRLF inside its headers",
                                           "invalid message (deliberate): a double CRLF after the first header line")

        def final():
            return ep.closed or any(m.text.startswith("SIP/2.0 ") and not m.text[8:9] == "1"
                                    for m in _received(run, flow, m0))

        run.wait(bound, until=final)
        got = [m for m in _received(run, flow, m0) if m.text.startswith("SIP/2.0 ")]
        pongs = _pongs(run, flow, k0)
        closed = ep.closed
        status = int(got[0].summary.split()[1]) if got and got[0].summary.split()[1:2] and \
            got[0].summary.split()[1].isdigit() else None
        observed = (f"{got[0].summary}" if got else "the SUT closed the connection" if closed else "no answer")
        if pongs:
            observed += f"; {len(pongs)} CRLF pong(s)"
        ok = (status is not None and status >= 400) or (not got) and not pongs
        result.response_index = got[0].index if got else None
        _finding(step, result, "a double CRLF inside the headers is not a ping (recorded)", "MAY", IN_HEADERS_REF,
                 PASS if ok else INFO, "a 400 (or another error), a closed connection or no answer; no pong",
                 observed, result.response_index)
        result.note = observed
        return
    raise LocalProtocolError(f"unknown crlf variant {variant!r}; valid: {', '.join(VARIANTS)}")


def _flood(run, step, result, flow, bound: float) -> None:
    count = int(step.options.get("count", 10_000))
    if not 0 < count <= MAX_FLOOD:
        raise LocalProtocolError(f"crlf flood: count must be 1 to {MAX_FLOOD}")
    ip = flow.local_ip
    ep = TcpEndpoint(ip, run.sut_for(ip), run.on_wire, run.target.timers.connect,
                     sock_factory=run.sock_factory(ip, getattr(flow.spec, "site", 1)))
    data = b"\r\n\r\n" * count
    started = time.monotonic()
    pongs, closed = 0, ""
    try:
        ep.send(data)
        result.request_index = run.record("sent", flow.name, "tcp", ep.local, ep.remote, b"",
                                           f"{count} CRLF pings in one write ({len(data)} bytes)",
                                           "a flood (deliberate), over a connection of its own")
        with selectors.DefaultSelector() as sel:
            sel.register(ep.sock, selectors.EVENT_READ)
            deadline = started + bound
            while pongs < count and not closed:
                left = deadline - time.monotonic()
                if left <= 0 or not sel.select(left):
                    break
                for inc in ep.read():
                    if inc.kind == "pong":
                        pongs += 1
                    elif inc.kind == "closed":
                        closed = inc.note
    finally:
        ep.close()
    observed = f"{pongs} of {count} pongs within {bound:g} s" + (f"; {closed}" if closed else "")
    result.response_index = run.record("received", flow.name, "tcp", ep.remote, ep.local, b"",
                                        f"{pongs} CRLF pongs", observed)
    _finding(step, result, "answers to the flood (recorded; rate limiting acceptable)", "MAY", FLOOD_REF,
             PASS, "any number of pongs, or a closed connection", observed, result.response_index)
    result.note = observed


__all__ = ["KIND", "VARIANTS", "crlf", "in_headers"]


KIND = StepKind(
    name="crlf",
    summary=("CRLF edge cases on a TCP flow (steps/crlf.py, TP_EDGE_014): single, with_register, split, flood, "
             "in_headers."),
    schema={"$ref": "#/$defs/crlf_action"}, needs_flow=True, live=crlf, order=190,
    transports=("tcp",),
    transport_reason=("crlf writes CRLFs as raw TCP segments (split, flooded on a connection of its own, inside "
                      "a message's header block); under TLS or WebSocket framing those bytes are not what "
                      "the variant is about"),
    offline_reason="its raw stimulus is not re-judged from a capture",
    extra={"usage": "`crlf: {flow: FLOW, variant: V}`",
           "table": ("CRLF edge cases on a TCP flow (TP_EDGE_014), judged by the step: `single` (one CRLF: ignored, "
                     "MUST, RFC 3261 §7.5), `with_register` (a ping and a refresh REGISTER in one segment: a pong, "
                     "MUST, and the step's `expect` on the REGISTER's answer), `split` (a ping in two halves `gap` s "
                     "apart, default 0.5: one pong after the second half, MUST), `flood` (`count` pings, default "
                     "10000, in one write over a connection of its own: the pongs within `timeout`, default 1 s, "
                     "recorded), `in_headers` (a refresh REGISTER with a double CRLF inside its headers: the answer "
                     "recorded)")})
