"""Requests from UE flows, and dialogs through the SUT's edge proxy (RFC 5626 §5.3, RFC 3261 §12).

Three step kinds (TP_EDGE_007, 010, 011, 012, TP_ROB_002):

- ``request: {from: FLOW|peer, to: UE, method, uri, route}``: one request through the SUT, from
  a UE flow (the "outgoing" direction of §5.3 when its Route carries the flow's own token) or
  from the PEER (playing the core: straight to the SUT's UE-facing address, as ``peer_request``
  with ``entry: sut``).  ``route`` is a list of Route values, each ``{path_of: FLOW}`` (the top
  Path URI of the flow's latest 2xx to REGISTER: the edge's URI with its token), optionally with
  ``host``/``port`` replaced or ``ob: false``, or ``{peer: true}`` (the PEER's own URI);
  ``uri`` is the Request-URI: ``{contact_of: FLOW}``, ``{path_of: FLOW}`` (the token in the
  Request-URI, TP_ROB_002) or, by default, the ``to`` UE's AOR.
- ``invite: {...same...}``: a dialog-forming INVITE.  The callee answers 200 with the
  Record-Route values copied (RFC 3261 §12.1.1) and a Contact; the caller takes the route set
  from the 200 (reversed, §12.1.2) and sends the ACK through it.  The callee is whoever receives
  the INVITE: a UE flow, or the tester's emulated registrar (REG-T) behind an edge-only SUT,
  which then plays the far end.  A UE's Contact in the dialog is not its flow's socket: it names
  another port of the UE's address, where the suite listens and records (as a UE behind a NAT
  advertises an address the network cannot reach), so an edge that routes mid-dialog requests by
  the Contact instead of over the flow is seen, also over UDP on loopback.  A UE's INVITE Contact
  has ``;ob`` (RFC 5626 §4.3).  SDP is a stub.
- ``in_dialog: {method: BYE|INFO, from: caller|callee}``: a mid-dialog request through the route
  set (RFC 3261 §12.2.1.1), Request-URI = the remote target.  A UE sends over its flow to the
  SUT (its outbound proxy); the PEER and REG-T send to the first route's address, or the SUT with
  an empty route set (the core reaches a UE only through the edge).

The callee side of a dialog answers in-dialog requests 200 and ACK not at all.  Checks: the
``routed`` kind (checks/routed.py) on ``ctx.dialog``, and ``delivered`` on the deliveries of the
step's method and Call-ID.
"""

from __future__ import annotations

import uuid
from dataclasses import dataclass, field

from ..sip.errors import LocalProtocolError, ParseError
from ..sip.headers import parse_name_addr, parse_uri
from ..sip.message import Request, Response
from .term_steps import PEER_FLOW, _peer_endpoint
from .transport import UdpEndpoint
from ..ue.model import new_branch, new_tag
from ..meaning.verdict import INCONCLUSIVE, Finding

DIALOG_ACTIONS = ("request", "invite", "in_dialog")
SDP_STUB = (b"v=0\r\no=- 0 0 IN IP4 127.0.0.1\r\ns=-\r\nc=IN IP4 127.0.0.1\r\nt=0 0\r\n"
            b"m=audio 9 RTP/AVP 0\r\n")
CALLEE_CSEQ = 1000


# -- the case file --------------------------------------------------------------------------
def parse_step(loader, action: str, value: dict, path: list):
    """Validate a dialog step's names; (options, flow, ue name, step name)."""
    from ..cases.loader import plain

    options = {k: plain(v) for k, v in value.items()}
    flow = None
    ue_name = None
    if action == "in_dialog":
        options.setdefault("method", "BYE")
        return options, None, None, f"in_dialog {options['method']} from the {options['from']}"
    sender = value["from"]
    if sender != "peer":
        flow = loader.flow_ref(sender, value, "from", path + [action, "from"])
    ue_name = value.get("to")
    if ue_name is not None and ue_name not in loader.ues:
        raise loader.error(f"unknown UE {ue_name!r}; this case declares: {', '.join(loader.ues)}",
                           value, "to", path + [action, "to"])
    for i, r in enumerate(value.get("route") or []):
        if isinstance(r, dict) and "path_of" in r:
            loader.flow_ref(r["path_of"], r, "path_of", path + [action, "route", i, "path_of"])
    uri = value.get("uri")
    if isinstance(uri, dict):
        for key in ("path_of", "contact_of", "elsewhere_of"):
            if key in uri:
                loader.flow_ref(uri[key], uri, key, path + [action, "uri", key])
    method = options.setdefault("method", "INVITE" if action == "invite" else "MESSAGE")
    return options, flow, ue_name, f"{action} {method} from {sender}" + (f" to {ue_name}" if ue_name else "")


# -- state ----------------------------------------------------------------------------------
@dataclass
class Side:
    """One end of a dialog, as RFC 3261 §12.1 builds it."""

    who: str                       # a flow name, "peer" or "reg-t"
    call_id: str
    local_uri: str
    local_tag: str
    remote_uri: str
    remote_tag: str = ""
    remote_target: str = ""
    route_set: list[str] = field(default_factory=list)
    cseq: int = 1
    regt_peer: tuple | None = None  # REG-T: where the SUT's request came from


@dataclass
class DialogState:
    caller: Side | None = None
    callee: Side | None = None
    contacts: dict[str, tuple[str, int]] = field(default_factory=dict)  # flow -> its dialog Contact address
    active: bool = False           # an invite step has run and its dialog is not ended


def state(run) -> DialogState:
    st = getattr(run, "dialog_state", None)
    if st is None:
        st = DialogState()
        run.dialog_state = st
    return st


def _contact_address(run, flow) -> tuple[str, int]:
    """A second socket on the UE's address: the flow's Contact in dialogs (see the module doc)."""
    st = state(run)
    if flow.name not in st.contacts:
        ep = UdpEndpoint(flow.local_ip, run._on_wire, sock_factory=run.sock_factory(flow.local_ip))
        run.endpoints[f"contact-{flow.name}"] = ep
        st.contacts[flow.name] = ep.local
    return st.contacts[flow.name]


def _host(addr) -> str:
    return f"[{addr[0]}]:{addr[1]}" if ":" in addr[0] else f"{addr[0]}:{addr[1]}"


def dialog_contact(run, flow, ue, *, ob: bool) -> str:
    addr = _contact_address(run, flow)
    tp = ";transport=tcp" if flow.transport == "tcp" else ""
    return f"<sip:{ue.user}@{_host(addr)}{tp}{';ob' if ob else ''}>"


# -- building requests ----------------------------------------------------------------------
def _uri_of(run, spec) -> str:
    """A URI from a case's spec: {path_of: F, host, port, ob}, {contact_of: F}, {peer: true}, text."""
    if isinstance(spec, str):
        return spec
    if spec.get("nobody"):              # an AOR of the domain that no one registered
        return f"sip:nobody-{run.run_token}@{run.target.domain}"
    if spec.get("peer"):
        return f"sip:{_host(_peer_endpoint(run).local)};lr"
    if "elsewhere_of" in spec:          # the UE's address, another port (recorded as contact-FLOW)
        owner, flow = run._flow(spec["elsewhere_of"])
        return dialog_contact(run, flow, owner, ob=False)[1:-1]
    if "contact_of" in spec:
        owner, flow = run._flow(spec["contact_of"])
        return owner.contact_uri(flow)
    uri = run.last_path.get(spec["path_of"])
    if uri is None:
        raise NoPath(f"flow {spec['path_of']} got no 2xx with a Path")
    if spec.get("at_peer"):             # the token in a Route naming another host (the PEER)
        spec = dict(spec, host=_peer_endpoint(run).local[0], port=_peer_endpoint(run).local[1])
    if "host" in spec or "port" in spec or spec.get("ob") is False:
        u = parse_uri(uri)
        params = {k: v for k, v in u.params.items() if not (k == "ob" and spec.get("ob") is False)}
        u = type(u)(u.scheme, u.user, host=spec.get("host", u.host), port=spec.get("port", u.port), params=params)
        uri = str(u)
    return uri


def _sender(run, who: str):
    """(name for exchange/records, endpoint, Via sent-by, transport, destination, UE or None, flow or None)."""
    if who == PEER_FLOW:
        ep = _peer_endpoint(run)
        return PEER_FLOW, ep, _host(ep.local), "UDP", run.sut, None, None
    if who == "reg-t":
        ep = run.endpoints["reg-t"]
        return "reg-t", ep, _host(ep.local), "UDP", run.sut, None, None
    ue, flow = run._flow(who)
    ep = run._endpoint(flow)
    return flow.name, ep, flow.host_port(), flow.transport.upper(), run.sut_for(ep.local[0]), ue, flow


def _first_hop(run, routes: list[str], default):
    """Where the PEER or REG-T sends: the first route's host and port (loose routing)."""
    if not routes:
        return default
    try:
        u = parse_name_addr(routes[0]).uri
        return (u.host.strip("[]"), u.port or 5060)
    except (ParseError, AttributeError):
        return default


def _build(method: str, uri: str, *, sent_by: str, transport: str, from_uri: str, from_tag: str,
           to_uri: str, to_tag: str = "", call_id: str, cseq: int, routes: list[str],
           contact: str | None = None, branch: str | None = None, cseq_method: str | None = None,
           body: bytes = b"") -> Request:
    hdrs = [("Via", f"SIP/2.0/{transport} {sent_by};branch={branch or new_branch()};rport"),
            ("Max-Forwards", "70"),
            ("From", f"<{from_uri}>;tag={from_tag}"),
            ("To", f"<{to_uri}>" + (f";tag={to_tag}" if to_tag else "")),
            ("Call-ID", call_id),
            ("CSeq", f"{cseq} {cseq_method or method}")]
    hdrs += [("Route", r if r.startswith("<") else f"<{r}>") for r in routes]
    if contact:
        hdrs.append(("Contact", contact))
    if body:
        hdrs.append(("Content-Type", "application/sdp" if method == "INVITE" else "text/plain"))
    return Request(method=method, uri=uri, headers=hdrs, body=body)


# -- the callee (hooks called from the runner) ----------------------------------------------
def _callee_side(request: Request, who: str, local_tag: str) -> Side:
    contact = request.get("Contact") or ""
    try:
        target = str(parse_name_addr(contact).uri) if contact else ""
        frm = parse_name_addr(request.get("From") or "")
        to = parse_name_addr(request.get("To") or "")
    except ParseError:
        target, frm, to = "", None, None
    return Side(who=who, call_id=request.call_id or "", local_uri=str(to.uri) if to else "",
                local_tag=local_tag, remote_uri=str(frm.uri) if frm else "",
                remote_tag=(frm.params.get("tag") or "") if frm else "", remote_target=target,
                route_set=list(request.values("Record-Route")), cseq=CALLEE_CSEQ)


def _answer_200(request: Request, to_tag: str, contact: str | None) -> Response:
    from ..ue.uas import build_response

    response = build_response(request, 200, "OK", to_tag=to_tag)
    for rr in request.get_all("Record-Route"):     # RFC 3261 §12.1.1: copied into the 2xx
        response.add("Record-Route", rr)
    if contact:
        response.add("Contact", contact)
    return response


def ue_response(run, flow_name: str, request: Request) -> Response | None:
    """A UE flow's answer while a dialog case runs: 200 to the INVITE (the UE is the callee) and
    to in-dialog requests; None: the ordinary answer (engine/uas.py)."""
    st = getattr(run, "dialog_state", None)
    if st is None or not st.active or flow_name.startswith("contact-"):
        return None
    if request.method == "INVITE" and not _has_to_tag(request):
        ue, flow = run._flow(flow_name)
        st.callee = _callee_side(request, flow_name, run._uas_tag)
        return _answer_200(request, run._uas_tag, dialog_contact(run, flow, ue, ob=True))
    if request.method in ("BYE", "INFO") or (request.method == "INVITE" and _has_to_tag(request)):
        return _answer_200(request, run._uas_tag, None)
    return None


def regt_answer(run, ep, request: Request, src, idx: int) -> bool:
    """REG-T as the far end of a dialog (edge-only SUT): answer a non-REGISTER request itself.
    False: not a dialog case, REG-T answers as a registrar."""
    st = getattr(run, "dialog_state", None)
    if st is None or not st.active or request.method == "REGISTER":
        return False
    if request.method == "ACK":
        run.forwarded.append((request, idx, None))
        return True
    if request.method == "INVITE" and not _has_to_tag(request):
        st.callee = _callee_side(request, "reg-t", run._uas_tag)
        st.callee.regt_peer = tuple(src)
        response = _answer_200(request, run._uas_tag, f"<sip:far-end@{_host(ep.local)}>")
    else:
        response = _answer_200(request, run._uas_tag, None)
    run.forwarded.append((request, idx, response))
    data = response.to_bytes()
    ep.send(data, src)
    run._record("sent", "reg-t", ep.transport, ep.local, src, data, response.summary(), "answer of the far end (REG-T)")
    return True


def _has_to_tag(request: Request) -> bool:
    try:
        return bool(parse_name_addr(request.get("To") or "").params.get("tag"))
    except ParseError:
        return False


# -- the steps ------------------------------------------------------------------------------
def _collect(run, request: Request, first_delivery: int, first_forward: int, method: str):
    mine = [(f, r, i) for f, r, i in run.deliveries[first_delivery:]
            if r.call_id == request.call_id and r.method == method]
    up = [r for r, _, _ in run.forwarded[first_forward:] if r.call_id == request.call_id and r.method == method]
    return mine, up


def _judge(run, step, result, ue, request, response, why, mine, up, sender, extra=None):
    ctx = run._context(ue, request, response, why)
    ctx.deliveries = {}
    for flow, req, _ in mine:
        ctx.deliveries.setdefault(flow, []).append(req)
    ctx.delivery_index = mine[0][2] if mine else result.request_index
    ctx.dialog = {"sent": request, "sender": sender, "upstream": up, "sut": tuple(run.sut),
                  "peer": tuple(_peer_endpoint(run).local), **(extra or {})}
    if response is None:
        result.note = why
    run._judge(step, result, ctx, result.response_index)


class NoPath(Exception):
    """A flow named by path_of got no 2xx with a Path: the stimulus cannot be built."""


def request_step(run, step, result) -> None:
    try:
        _request_step(run, step, result)
    except NoPath as exc:
        result.note = str(exc)
        result.findings.append(Finding(
            check="Path URI of the flow", level="MAY", ref="RFC 3327 §5.3 (Path returned in the 2xx)",
            outcome=INCONCLUSIVE,
            expected="a Path in the flow's 2xx to REGISTER (the edge's URI with the flow token)",
            observed=str(exc), step=step.name, location=result.location))


def _request_step(run, step, result) -> None:
    o = step.options
    st = state(run)
    who = o["from"]
    name, ep, sent_by, transport, dst, ue, flow = _sender(run, who)
    target_ue = run.ues[o["to"]] if o.get("to") else None
    routes = [_uri_of(run, r) for r in (o.get("route") or [])]
    uri = o.get("uri")
    request_uri = _uri_of(run, uri) if uri is not None else (target_ue.impu if target_ue else f"sip:peer@{run.target.domain}")
    method = o["method"]
    if ue is not None:
        from_uri = ue.impu
    else:
        from_uri = f"sip:peer@{run.target.domain}"
    to_uri = target_ue.impu if target_ue else request_uri
    if step.action == "invite":
        st.active = True
        contact = dialog_contact(run, flow, ue, ob=True) if flow is not None else f"<sip:peer@{_host(ep.local)}>"
    else:
        contact = None
    if who != PEER_FLOW and flow is None:
        raise LocalProtocolError(f"{step.action}: unknown sender {who!r}")
    call_id = f"{uuid.uuid4().hex}@{ep.local[0]}"
    tag = new_tag()
    body = SDP_STUB if method == "INVITE" else (b"conformance suite\r\n" if method == "MESSAGE" else b"")
    request = _build(method, request_uri, sent_by=sent_by, transport=transport, from_uri=from_uri, from_tag=tag,
                     to_uri=to_uri, call_id=call_id, cseq=1, routes=routes, contact=contact, body=body)
    first_d, first_f = len(run.deliveries), len(run.forwarded)
    response, req_idx, resp_idx, why = run.exchange(name, ep, request, o.get("timeout"), dst=dst)
    result.request_index, result.response_index = req_idx, resp_idx
    if method == "INVITE" and response is not None:
        _ack(run, st, request, response, who, name, ep, sent_by, transport, from_uri, tag, to_uri, dst)
    run._wait(0.05)
    mine, up = _collect(run, request, first_d, first_f, method)
    top = (o.get("route") or [None])[0]
    token_flow = top.get("path_of") if isinstance(top, dict) else None
    _judge(run, step, result, ue or (target_ue or next(iter(run.ues.values()))), request, response, why, mine, up, who,
           {"callee_request": (mine[0][1] if mine else (up[0] if up else None)), "token_flow": token_flow})


def _ack(run, st, invite, response, who, name, ep, sent_by, transport, from_uri, tag, to_uri, dst) -> None:
    """RFC 3261 §13.2.2.4 (2xx: a new transaction through the route set, to the remote target)
    and §17.1.1.3 (non-2xx: hop by hop, the INVITE's branch and Route)."""
    try:
        to_tag = parse_name_addr(response.get("To") or "").params.get("tag") or ""
    except ParseError:
        to_tag = ""
    if 200 <= response.status < 300:
        try:
            target = str(parse_name_addr(response.get("Contact") or "").uri)
        except (ParseError, AttributeError):
            target = invite.uri
        routes = list(reversed(response.values("Record-Route")))
        st.caller = Side(who=who, call_id=invite.call_id or "", local_uri=from_uri, local_tag=tag, remote_uri=to_uri,
                         remote_tag=to_tag, remote_target=target, route_set=routes, cseq=1)
        ack = _build("ACK", target, sent_by=sent_by, transport=transport, from_uri=from_uri, from_tag=tag,
                     to_uri=to_uri, to_tag=to_tag, call_id=invite.call_id or "", cseq=1, routes=routes)
        if who == PEER_FLOW:
            dst = _first_hop(run, routes, run.sut)
    else:
        ack = _build("ACK", invite.uri, sent_by=sent_by, transport=transport, from_uri=from_uri, from_tag=tag,
                     to_uri=to_uri, to_tag=to_tag, call_id=invite.call_id or "", cseq=1,
                     routes=invite.values("Route"), branch=invite.top_branch)
    data = ack.to_bytes()
    try:
        ep.send(data, dst)
    except Exception as exc:  # noqa: BLE001 - recorded; the ACK is not what the case judges
        run._record("sent", name, ep.transport, ep.local, dst, data, ack.summary(), f"send failed: {exc}")
        return
    run._record("sent", name, ep.transport, ep.local, dst, data, ack.summary())


def in_dialog_step(run, step, result) -> None:
    o = step.options
    st = state(run)
    side = st.caller if o["from"] == "caller" else st.callee
    if side is None:
        result.note = f"no dialog: no invite step of the case got a 2xx, so the {o['from']} has no route set"
        result.findings.append(Finding(
            check="dialog established", level="MUST", ref="RFC 3261 §12.1", outcome=INCONCLUSIVE,
            expected="a 2xx to the case's INVITE", observed=result.note, step=step.name,
            location=result.location))
        return
    who = side.who
    name, ep, sent_by, transport, dst, ue, flow = _sender(run, who)
    if who in (PEER_FLOW, "reg-t"):
        dst = _first_hop(run, side.route_set, run.sut)
    side.cseq += 1
    method = o["method"]
    request = _build(method, side.remote_target, sent_by=sent_by, transport=transport, from_uri=side.local_uri,
                     from_tag=side.local_tag, to_uri=side.remote_uri, to_tag=side.remote_tag, call_id=side.call_id,
                     cseq=side.cseq, routes=side.route_set,
                     body=b"conformance suite\r\n" if method == "INFO" else b"")
    first_d, first_f = len(run.deliveries), len(run.forwarded)
    response, req_idx, resp_idx, why = run.exchange(name, ep, request, o.get("timeout"), dst=dst)
    result.request_index, result.response_index = req_idx, resp_idx
    run._wait(0.05)
    mine, up = _collect(run, request, first_d, first_f, method)
    owner = ue or next(iter(run.ues.values()))
    _judge(run, step, result, owner, request, response, why, mine, up, who,
           {"callee_request": (mine[0][1] if mine else (up[0] if up else None)), "route_set": list(side.route_set)})
    if method == "BYE":
        st.active = False


DIALOG_STEPS = {"request": request_step, "invite": request_step, "in_dialog": in_dialog_step}
