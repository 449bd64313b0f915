"""Steps beyond REGISTER: terminating requests from the PEER, keep-alives, and flows that vanish.

- ``peer_request``: the PEER (its own socket on the target's peer address) sends a request to
  a UE's AOR at the S-CSCF; the UE flows answer what reaches them, and the checks look at which
  flow got it (RFC 5626 §7) and at the PEER's final response.
- ``ping``: a CRLF ping over a TCP flow; the SUT MUST answer with a CRLF pong (RFC 5626 §5.4).
- ``stun``: a STUN Binding Request over a UDP flow; the answer carries the flow's address in
  XOR-MAPPED-ADDRESS (RFC 5626 §8, RFC 5389 §15.2).
- ``keepalive``: the flow's own keep-alive, a CRLF ping on TCP and a STUN Binding Request on
  UDP (RFC 5626 §4.4.1, §4.4.2).
- ``close``: the flow disappears as after lost coverage: its TCP connection is closed, its UDP
  socket closed (later datagrams to it draw ICMP port unreachable).

``ping``, ``stun`` and ``keepalive`` send one keep-alive, or with ``every`` and ``for`` one every
``every`` seconds for ``for`` seconds (the first at once; the step lasts ``for`` seconds, every
endpoint listened to meanwhile).  With ``unit: flow_timer`` both are multiples of the Flow-Timer
the SUT gave the flow in its latest 2xx to REGISTER (RFC 5626 §4.4.1), so a case adapts to the
SUT's value; a loop longer than 30 s, or a missing Flow-Timer, makes the step inconclusive.
"""

from __future__ import annotations

import os
import uuid

from ..meaning.results import StepResult
from ..sip.errors import LocalProtocolError
from ..sip.message import Request
from ..meaning.verdict import INCONCLUSIVE, Finding
from .nat_contact import owner_flow
from .transport import UdpEndpoint
from ..ue.uas import uas_status
from ..ue.model import new_branch, new_tag

PEER_FLOW = "peer"
MAX_LOOP = 30.0           # a keep-alive loop lasts at most this long (as a wait step)


def _peer_endpoint(run) -> UdpEndpoint:
    ep = run.endpoints.get(PEER_FLOW)
    if ep is None or ep.closed:
        ep = UdpEndpoint(run.target.peer_address, run._on_wire, sock_factory=run.sock_factory(run.target.peer_address))
        run.endpoints[PEER_FLOW] = ep
    return ep


def build_peer_request(method: str, aor: str, domain: str, local: tuple[str, int],
                       headers: list[tuple[str, str]], *, request_uri: str | None = None,
                       caller_via: bool = False) -> Request:
    """The PEER's request.  As an emulated S-CSCF (``request_uri`` = a registered Contact, a Route
    to the edge, ``caller_via``) it looks as a core request routed over a stored Path does:
    the Contact as Request-URI (RFC 3261 §16.6 step 2) and the caller's Via below its own."""
    host = f"[{local[0]}]" if ":" in local[0] else local[0]
    body = b"conformance suite: terminating request\r\n" if method == "MESSAGE" else b""
    vias = [("Via", f"SIP/2.0/UDP {host}:{local[1]};branch={new_branch()};rport")]
    if caller_via:
        vias.append(("Via", f"SIP/2.0/UDP caller.invalid:5060;branch={new_branch()}"))
    hdrs = vias + [
        ("Max-Forwards", "70"),
        ("From", f"<sip:peer@{domain}>;tag={new_tag()}"),
        ("To", f"<{aor}>"),
        ("Call-ID", f"{uuid.uuid4().hex}@{local[0]}"),
        ("CSeq", f"1 {method}"),
    ]
    if method == "INVITE":
        hdrs.append(("Contact", f"<sip:peer@{host}:{local[1]}>"))
    if body:
        hdrs.append(("Content-Type", "text/plain"))
    hdrs += headers
    return Request(method=method, uri=request_uri or aor, headers=hdrs, body=body)


def tamper_token(uri: str, how: str) -> str:
    """The URI with its user part (where the reference, Kamailio and RFC 5626 §5.2 put the flow
    token) changed.  ``flip`` changes the token's second character: in the RFC 5626 §5.2
    example layout (HMAC first, then the flow) and in Kamailio's that is inside the HMAC, so the
    flow it names is intact and only the integrity check can catch it (TP_EDGE_008 a).
    ``random`` replaces the token whole, same length and alphabet (TP_EDGE_008 c)."""
    if how == "none" or "@" not in uri:
        return uri
    scheme, rest = uri.split(":", 1)
    user, host = rest.split("@", 1)
    if how == "flip":
        i = 1 if len(user) > 1 else 0
        c = user[i]
        user = user[:i] + ("A" if c != "A" else "B") + user[i + 1:]
    else:
        alphabet = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789"
        user = "".join(alphabet[b % len(alphabet)] for b in os.urandom(len(user)))
    return f"{scheme}:{user}@{host}"


def peer_request_step(run, step, result: StepResult) -> None:
    ue = run.ues[step.ue]
    ep = _peer_endpoint(run)
    extra = [(str(n), str(v)) for n, v in (step.options.get("headers") or [])]
    route_from = step.options.get("route_from")
    request_uri = None
    if route_from:
        # The PEER plays the S-CSCF routing over the stored Path: Route = the edge's Path URI,
        # Request-URI = the flow's registered Contact.
        uri = run.last_path.get(route_from["flow"])
        if uri is None:
            # the registrar need not return the Path (RFC 3327 §5.3 has no keyword): the stimulus
            # cannot be built, the state under test was not reached
            result.note = f"route_from: flow {route_from['flow']} got no 2xx with a Path"
            result.findings.append(Finding(
                check="Path URI of the flow", level="MAY", ref="RFC 3327 §5.3 (Path returned in the 2xx)",
            outcome=INCONCLUSIVE,
                expected="a Path in the flow's 2xx to REGISTER (the edge's URI with the flow token)",
                observed=result.note, step=step.name, location=result.location))
            return
        extra.insert(0, ("Route", f"<{tamper_token(uri, route_from.get('tamper', 'none'))}>"))
        owner, flow = run._flow(route_from["flow"])
        request_uri = owner.contact_uri(flow)
    request = build_peer_request(step.options.get("method", "MESSAGE"), ue.impu, ue.domain, ep.local, extra,
                                 request_uri=request_uri, caller_via=bool(route_from))
    first = len(run.deliveries)
    dst = run.sut if step.options.get("entry") == "sut" else run.peer
    run.ue_answers = dict(step.options.get("answer") or {})
    try:
        response, req_idx, resp_idx, why = run.exchange(PEER_FLOW, ep, request, step.options.get("timeout"),
                                                        dst=dst)
        # Requests can still be on their way to the UE when the PEER has its answer (e.g. a proxy
        # that answered on its own): listen briefly, bounded, for stragglers.
        run._wait(0.05)
    finally:
        run.ue_answers = {}
    result.request_index, result.response_index = req_idx, resp_idx
    mine = [(flow, req, idx) for flow, req, idx in run.deliveries[first:] if req.call_id == request.call_id]
    ctx = run._context(ue, request, response, why)
    ctx.deliveries = {}
    for flow, req, _ in mine:
        ctx.deliveries.setdefault(flow, []).append(req)
    ctx.delivery_index = mine[0][2] if mine else req_idx
    ctx.contact_elsewhere = {f.name: f.contact_addr for u in run.ues.values() for f in u.flows.values()
                             if f.contact_addr is not None and f.sec is None}
    ctx.path_transform = run.target.declares("path-transform")
    if response is None:
        result.note = why
    run._judge(step, result, ctx, resp_idx)


def _bound(run, step) -> float:
    return float(step.options.get("timeout", run.target.timers.response))


def _loop_plan(run, step, flow) -> tuple[float, float] | str | None:
    """(every, for) in seconds for a keep-alive loop, None for a single keep-alive, or why the
    loop cannot run."""
    o = step.options
    if "every" not in o:
        return None
    every, total = float(o["every"]), float(o["for"])
    if o.get("unit") == "flow_timer":
        ft = run.flow_timers.get(flow.name)
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


def _keepalive_loop(run, step, result: StepResult, flow, once) -> list | None:
    """Run ``once(bound)`` once, or in a loop as the step's options say; the outcomes, or None
    (with an inconclusive finding) when the loop cannot run."""
    plan = _loop_plan(run, step, flow)
    bound = _bound(run, step)
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
    start = run._now()
    outcomes = []
    n = 0
    while True:
        at = start + n * every
        if n and at >= start + total:
            break
        run._wait(max(0.0, at - run._now()))
        outcomes.append(once(min(bound, every)))
        n += 1
    run._wait(max(0.0, start + total - run._now()))
    result.note = f"{n} keep-alive(s), every {every:g} s for {total:g} s"
    if step.options.get("late"):
        result.note += f" ({step.options['late']:g} s of emulated transport delay on each interval)"
    return outcomes


def _ping_once(run, flow, ep, bound: float):
    """One CRLF ping: (seconds to the pong or None, ping index, pong index or None)."""
    start = len(run._keepalives)
    sent_at = run._now()
    ep.send(b"\r\n\r\n")
    idx = run._record("sent", flow.name, "tcp", ep.local, ep.remote, b"\r\n\r\n", "CRLF ping")
    run._wait(bound, until=lambda: any(k[0] == flow.name and k[1] == "pong" for k in run._keepalives[start:]))
    pongs = [k for k in run._keepalives[start:] if k[0] == flow.name and k[1] == "pong"]
    if pongs:
        return pongs[0][4] - sent_at, idx, pongs[0][3]
    return None, idx, None


def ping_step(run, step, result: StepResult) -> None:
    ue, flow = run._flow(step.flow)
    if flow.transport != "tcp":
        raise LocalProtocolError(f"ping needs a TCP flow; {flow.name} is {flow.transport} (use stun)")
    ep = run._endpoint(flow)
    bounds: list[float] = []
    closed: list[str] = []

    def once(bound):
        bounds.append(bound)
        if bounds[1:] and ep.closed:
            # the SUT closed the flow's connection during the loop: this ping cannot go out,
            # which is the SUT giving up the flow (judged as an unanswered keep-alive)
            if not closed:
                closed.append(f"the SUT closed the flow's connection before ping {len(bounds)}")
            return None, None, None
        return _ping_once(run, flow, ep, bound)

    outcomes = _keepalive_loop(run, step, result, flow, once)
    if outcomes is None:
        return
    bound = min(bounds)
    ctx = run._context(ue, None, None, f"no pong within {bound:g} s")
    ctx.keepalive_bound = bound
    delays = [d for d, _, _ in outcomes]
    answered = [d for d in delays if d is not None]
    ctx.keepalive_sent, ctx.keepalive_answered = len(outcomes), len(answered)
    result.request_index = outcomes[0][1]
    result.response_index = next((p for _, _, p in reversed(outcomes) if p is not None), None)
    if len(answered) == len(delays):
        ctx.pong_delay = max(delays)
    elif len(outcomes) == 1:
        result.note = f"no CRLF pong within {bound:g} s"
    else:
        ctx.pong_note = f"{len(delays) - len(answered)} of {len(delays)} pings got no pong within {bound:g} s"
        if closed:
            ctx.pong_note += f" ({closed[0]})"
        result.note += f"; {ctx.pong_note}"
    ctx.keepalive_note = ctx.pong_note or result.note
    run._judge(step, result, ctx, result.response_index)


def _stun_once(run, flow, ep, bound: float):
    """One STUN Binding Request: (mapped address or None, why not, request index, response index)."""
    from ..sip.stun import ATTR_XOR_MAPPED_ADDRESS, CLASS_SUCCESS, binding_request, decode_xor_address, parse

    tid = os.urandom(12)
    data = binding_request(tid)
    start = len(run._keepalives)
    dst = run.sut_for(ep.local[0])
    ep.send(data, dst)
    req_idx = run._record("sent", flow.name, "udp", ep.local, dst, data, "STUN Binding Request")

    def answered():
        for k in run._keepalives[start:]:
            if k[0] == flow.name and k[1] == "stun":
                parsed = parse(k[2])
                if parsed and parsed[2] == tid:
                    return True
        return False

    run._wait(bound, until=answered)
    note = f"no STUN Binding response within {bound:g} s"
    for name, kind, payload, idx, _ in run._keepalives[start:]:
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


def expected_mapping(run, flow) -> tuple[dict, str]:
    """({flow: the address a STUN Binding response must map it to}, where that comes from)."""
    from .flow_seen import flow_seen_by_sut

    if getattr(run, "topology", None) is not None:
        mapped = run.flow_mapping(flow)
        if mapped is not None:
            return {flow.name: tuple(mapped)}, "the NAT's mapping of the flow"
    seen, source = flow_seen_by_sut(run.messages, flow.name)
    if seen is not None:
        return {flow.name: seen}, source
    for ue in run.ues.values():          # another flow seen elsewhere than its socket: a NAT or
        for other in ue.flows.values():  # relay the suite does not know, so no address to expect
            if other is flow or other.local_port is None:
                continue
            got = flow_seen_by_sut(run.messages, other.name)[0]
            if got is not None and got != (_norm(other.local_ip), other.local_port):
                return {}, (f"unknown: flow {other.name} was seen at {got[0]}:{got[1]}, a NAT or relay "
                            f"the suite does not know, and flow {flow.name} carried no SIP")
    return {flow.name: (flow.local_ip, flow.local_port)}, f"the flow's socket ({source})"


def _norm(ip: str) -> str:
    import ipaddress

    try:
        return str(ipaddress.ip_address(ip.strip("[]")))
    except ValueError:
        return ip


def stun_step(run, step, result: StepResult) -> None:
    ue, flow = run._flow(step.flow)
    if flow.transport != "udp":
        raise LocalProtocolError(f"stun needs a UDP flow; {flow.name} is {flow.transport} (use ping)")
    ep = run._endpoint(flow)
    outcomes = _keepalive_loop(run, step, result, flow, lambda bound: _stun_once(run, flow, ep, bound))
    if outcomes is None:
        return
    ctx = run._context(ue, None, None, "")
    # the flow's address as the SUT sees it (RFC 5626 §8): the NAT's mapping where the suite built
    # the NAT, else what the SUT reported of the flow (a NAT or relay the suite does not know)
    ctx.flow_addresses, ctx.flow_address_source = expected_mapping(run, flow)
    result.request_index = outcomes[0][2]
    result.response_index = next((r for _, _, _, r in reversed(outcomes) if r is not None), None)
    good = [m for m, _, _, r in outcomes if m is not None]
    ctx.keepalive_sent = len(outcomes)
    ctx.keepalive_answered = sum(1 for _, _, _, r in outcomes if r is not None)
    bad = [(i, why) for i, (m, why, _, _) in enumerate(outcomes) if m is None]
    if not bad and len({tuple(m) for m in good}) == 1:
        ctx.stun_mapped = good[-1]
    elif not bad:
        ctx.stun_note = "the STUN responses map the flow to different addresses: " + \
            ", ".join(sorted({f"{m[0]}:{m[1]}" for m in good}))
    elif len(outcomes) == 1:
        ctx.stun_note = bad[0][1]
    else:
        ctx.stun_note = f"{len(bad)} of {len(outcomes)} STUN requests failed; the first: {bad[0][1]}"
    if ctx.stun_mapped is None:
        result.note = (result.note + "; " if result.note else "") + ctx.stun_note
    ctx.keepalive_note = ctx.stun_note or result.note
    run._judge(step, result, ctx, result.response_index)


def keepalive_step(run, step, result: StepResult) -> None:
    """The flow's keep-alive: a CRLF ping on TCP, STUN on UDP (RFC 5626 §4.4.1)."""
    _, flow = run._flow(step.flow)
    (ping_step if flow.transport == "tcp" else stun_step)(run, step, result)


def close_step(run, step, result: StepResult) -> None:
    name = step.flow
    if step.options.get("last_delivered"):
        flows = [f for f, _, _ in run.deliveries if f != PEER_FLOW]
        if not flows:
            raise LocalProtocolError("close: last_delivered, but no flow has received a request yet")
        name = owner_flow(flows[-1])   # a request routed to f1's Contact: f1 is the flow meant
    _, flow = run._flow(name)
    ep = run.endpoints.pop(flow.name, None)
    if ep is not None:
        ep.close()
    run.closed_flows.add(flow.name)
    result.flow = flow.name
    result.note = f"flow {flow.name} closed ({flow.transport} {flow.local_ip}:{flow.local_port})"


def ue_answer(run, flow_name: str, request) -> tuple[int, str]:
    """How the UE (or, on a flow with the tester's emulated edge, that edge) answers a request
    delivered on ``flow_name``: the step's ``answer:`` ({FLOW: CODE}, ``first: CODE`` for the
    step's first delivery), else the default of engine/uas.py.  A request that reached a flow's
    advertised Contact gets that flow's answer."""
    answers = getattr(run, "ue_answers", None) or {}
    if answers and request.method != "ACK":
        owner = owner_flow(flow_name)
        mine = [owner_flow(f) for f, _, _ in run.deliveries[run._step_marks[1]:] if f != PEER_FLOW]
        code = None
        if "first" in answers and mine and mine[0] == owner:
            code = answers["first"]     # every copy on the first flow reached (retransmissions too)
        elif owner in answers:
            code = answers[owner]
        if code is not None:
            return int(code), REASONS.get(int(code), "Response")
    return uas_status(request)


REASONS = {200: "OK", 408: "Request Timeout", 430: "Flow Failed", 480: "Temporarily Unavailable",
           486: "Busy Here", 500: "Server Internal Error", 603: "Decline"}


TERMINATING_STEPS = {
    "peer_request": peer_request_step,
    "ping": ping_step,
    "stun": stun_step,
    "keepalive": keepalive_step,
    "close": close_step,
}

from .crlf_steps import crlf_step  # noqa: E402  (keep-alive edge cases, TP_EDGE_014 / TP_EDGE_017)
from .stun_raw_steps import stun_raw_step  # noqa: E402

TERMINATING_STEPS.update(crlf=crlf_step, stun_raw=stun_raw_step)
