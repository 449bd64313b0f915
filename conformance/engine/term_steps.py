"""Steps beyond REGISTER: terminating requests from the PEER, keep-alives, and flows that vanish.

- ``peer_request``: the PEER (its own socket on the target's peer address) sends a request to
  a UE's AOR at the S-CSCF; the UE flows answer what reaches them, and the checks look at which
  flow got it (RFC 5626 §7) and at the PEER's final response.
- ``ping``: a CRLF ping over a TCP flow; the SUT MUST answer with a CRLF pong (RFC 5626 §5.4).
- ``stun``: a STUN Binding Request over a UDP flow; the answer carries the flow's address in
  XOR-MAPPED-ADDRESS (RFC 5626 §8, RFC 5389 §15.2).
- ``close``: the flow disappears as after lost coverage: its TCP connection is closed, its UDP
  socket closed (later datagrams to it draw ICMP port unreachable).
"""

from __future__ import annotations

import os
import uuid

from ..results import StepResult
from ..sip.errors import LocalProtocolError
from ..sip.message import Request
from .transport import UdpEndpoint
from .ue import new_branch, new_tag

PEER_FLOW = "peer"


def _peer_endpoint(run) -> UdpEndpoint:
    ep = run.endpoints.get(PEER_FLOW)
    if ep is None or ep.closed:
        ep = UdpEndpoint(run.target.peer_address, run._on_wire)
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
            raise LocalProtocolError(f"route_from: flow {route_from['flow']} got no 2xx with a Path yet")
        extra.insert(0, ("Route", f"<{tamper_token(uri, route_from.get('tamper', 'none'))}>"))
        owner, flow = run._flow(route_from["flow"])
        request_uri = owner.contact_uri(flow)
    request = build_peer_request(step.options.get("method", "MESSAGE"), ue.impu, ue.domain, ep.local, extra,
                                 request_uri=request_uri, caller_via=bool(route_from))
    first = len(run.deliveries)
    dst = run.sut if step.options.get("entry") == "sut" else run.peer
    response, req_idx, resp_idx, why = run.exchange(PEER_FLOW, ep, request, step.options.get("timeout"), dst=dst)
    # Requests can still be on their way to the UE when the PEER has its answer (e.g. a proxy
    # that answered on its own): listen briefly, bounded, for stragglers.
    run._wait(0.05)
    result.request_index, result.response_index = req_idx, resp_idx
    mine = [(flow, req) for flow, req, _ in run.deliveries[first:] if req.call_id == request.call_id]
    ctx = run._context(ue, request, response, why)
    ctx.deliveries = {}
    for flow, req in mine:
        ctx.deliveries.setdefault(flow, []).append(req)
    if response is None:
        result.note = why
    run._judge(step, result, ctx, resp_idx)


def _bound(run, step) -> float:
    return float(step.options.get("timeout", run.target.timers.response))


def ping_step(run, step, result: StepResult) -> None:
    ue, flow = run._flow(step.flow)
    if flow.transport != "tcp":
        raise LocalProtocolError(f"ping needs a TCP flow; {flow.name} is {flow.transport} (use stun)")
    ep = run._endpoint(flow)
    start = len(run._keepalives)
    sent_at = run._now()
    ep.send(b"\r\n\r\n")
    result.request_index = run._record("sent", flow.name, "tcp", ep.local, ep.remote, b"\r\n\r\n", "CRLF ping")
    bound = _bound(run, step)
    run._wait(bound, until=lambda: any(k[0] == flow.name and k[1] == "pong" for k in run._keepalives[start:]))
    pongs = [k for k in run._keepalives[start:] if k[0] == flow.name and k[1] == "pong"]
    ctx = run._context(ue, None, None, f"no pong within {bound:g} s")
    ctx.keepalive_bound = bound
    if pongs:
        ctx.pong_delay = pongs[0][4] - sent_at
        result.response_index = pongs[0][3]
    else:
        result.note = f"no CRLF pong within {bound:g} s"
    run._judge(step, result, ctx, result.response_index)


def stun_step(run, step, result: StepResult) -> None:
    from ..sut.stun import ATTR_XOR_MAPPED_ADDRESS, CLASS_SUCCESS, binding_request, decode_xor_address, parse

    ue, flow = run._flow(step.flow)
    if flow.transport != "udp":
        raise LocalProtocolError(f"stun needs a UDP flow; {flow.name} is {flow.transport} (use ping)")
    ep = run._endpoint(flow)
    tid = os.urandom(12)
    data = binding_request(tid)
    start = len(run._keepalives)
    ep.send(data, run.sut)
    result.request_index = run._record("sent", flow.name, "udp", ep.local, run.sut, data, "STUN Binding Request")
    bound = _bound(run, step)

    def answered():
        for k in run._keepalives[start:]:
            if k[0] == flow.name and k[1] == "stun":
                parsed = parse(k[2])
                if parsed and parsed[2] == tid:
                    return True
        return False

    run._wait(bound, until=answered)
    ctx = run._context(ue, None, None, "")
    ctx.flow_addresses = {flow.name: (flow.local_ip, flow.local_port)}
    ctx.stun_note = f"no STUN Binding response within {bound:g} s"
    for name, kind, payload, idx, _ in run._keepalives[start:]:
        if name != flow.name or kind != "stun":
            continue
        parsed = parse(payload)
        if not parsed or parsed[2] != tid:
            continue
        result.response_index = idx
        method, cls, _, attrs = parsed
        if cls != CLASS_SUCCESS:
            ctx.stun_note = f"STUN response of class {cls} (not a success response)"
            break
        xma = [v for t, v, _ in attrs if t == ATTR_XOR_MAPPED_ADDRESS]
        if not xma:
            ctx.stun_note = "Binding success response without XOR-MAPPED-ADDRESS"
            break
        try:
            ctx.stun_mapped = decode_xor_address(xma[0], tid)
        except ValueError as exc:
            ctx.stun_note = f"malformed XOR-MAPPED-ADDRESS: {exc}"
        break
    if ctx.stun_mapped is None:
        result.note = ctx.stun_note
    run._judge(step, result, ctx, result.response_index)


def close_step(run, step, result: StepResult) -> None:
    name = step.flow
    if step.options.get("last_delivered"):
        flows = [f for f, _, _ in run.deliveries if f != PEER_FLOW]
        if not flows:
            raise LocalProtocolError("close: last_delivered, but no flow has received a request yet")
        name = flows[-1]
    _, flow = run._flow(name)
    ep = run.endpoints.pop(flow.name, None)
    if ep is not None:
        ep.close()
    run.closed_flows.add(flow.name)
    result.flow = flow.name
    result.note = f"flow {flow.name} closed ({flow.transport} {flow.local_ip}:{flow.local_port})"


TERMINATING_STEPS = {
    "peer_request": peer_request_step,
    "ping": ping_step,
    "stun": stun_step,
    "close": close_step,
}
