"""Dialogs through the SUT's edge proxy (RFC 5626 §5.3, RFC 3261 §12): their state, the requests
the dialog steps build (steps/dialog.py), and the callee's answers, which the exchange calls
(:func:`ue_response` for a UE flow, :func:`regt_answer` for REG-T as a dialog's far end).

The callee side of a dialog answers in-dialog requests 200 and ACK not at all.  A UE's Contact in
the dialog is not its flow's socket: it names another port of the UE's address, where the suite
listens and records (as a UE behind a NAT advertises an address the network cannot reach), so an
edge that routes mid-dialog requests by the Contact instead of over the flow is seen.
"""

from __future__ import annotations

from dataclasses import dataclass, field

from ..sip.errors import ParseError
from ..sip.headers import parse_name_addr, parse_uri
from ..sip.message import Request, Response
from ..sip.transports import uri_transport
from .peer import PEER_FLOW, peer_endpoint
from .registration import RegistrationState
from .transport import UdpEndpoint
from ..ue.model import new_branch
from ..ue.uas import build_response

SDP_STUB = (b"v=0\r\no=- 0 0 IN IP4 127.0.0.1\r\ns=-\r\nc=IN IP4 127.0.0.1\r\nt=0 0\r\n"
            b"m=audio 9 RTP/AVP 0\r\n")
CALLEE_CSEQ = 1000


# -- the case file --------------------------------------------------------------------------
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


def contact_address(run, flow) -> tuple[str, int]:
    """A second socket on the UE's address: the flow's Contact in dialogs (see the module doc)."""
    st = run.state(DialogState)
    if flow.name not in st.contacts:
        ep = UdpEndpoint(flow.local_ip, run.on_wire, sock_factory=run.sock_factory(flow.local_ip))
        run.endpoints[f"contact-{flow.name}"] = ep
        st.contacts[flow.name] = ep.local
    return st.contacts[flow.name]


def host_port(addr) -> str:
    return f"[{addr[0]}]:{addr[1]}" if ":" in addr[0] else f"{addr[0]}:{addr[1]}"


def dialog_contact(run, flow, ue, *, ob: bool) -> str:
    addr = contact_address(run, flow)
    tp = uri_transport(flow.transport)
    return f"<sip:{ue.user}@{host_port(addr)}{';transport=' + tp if tp else ''}{';ob' if ob else ''}>"


# -- building requests ----------------------------------------------------------------------
def uri_of(run, spec) -> str:
    """A URI from a case's spec: {path_of: F, host, port, ob}, {contact_of: F}, {peer: true},
    {pub_gruu_of: F}, {temp_gruu_of: F, which: latest|first}, text."""
    if isinstance(spec, str):
        return spec
    if "pub_gruu_of" in spec or "temp_gruu_of" in spec:
        return gruu_uri(run.state(RegistrationState), spec)
    if spec.get("nobody"):              # an AOR of the domain that no one registered
        return f"sip:nobody-{run.run_token}@{run.target.domain}"
    if spec.get("peer"):
        return f"sip:{host_port(peer_endpoint(run).local)};lr"
    if "elsewhere_of" in spec:          # the UE's address, another port (recorded as contact-FLOW)
        owner, flow = run.flow(spec["elsewhere_of"])
        return dialog_contact(run, flow, owner, ob=False)[1:-1]
    if "contact_of" in spec:
        owner, flow = run.flow(spec["contact_of"])
        return owner.contact_uri(flow)
    uri = run.state(RegistrationState).last_path.get(spec["path_of"])
    if uri is None:
        raise NoPath(f"flow {spec['path_of']} got no 2xx with a Path")
    if spec.get("at_peer"):             # the token in a Route naming another host (the PEER)
        spec = dict(spec, host=peer_endpoint(run).local[0], port=peer_endpoint(run).local[1])
    if "host" in spec or "port" in spec or spec.get("ob") is False:
        u = parse_uri(uri)
        params = {k: v for k, v in u.params.items() if not (k == "ob" and spec.get("ob") is False)}
        u = type(u)(u.scheme, u.user, host=spec.get("host", u.host), port=spec.get("port", u.port), params=params)
        uri = str(u)
    return uri


def sender(run, who: str):
    """(name for exchange/records, endpoint, Via sent-by, transport, destination, UE or None, flow or None)."""
    if who == PEER_FLOW:
        ep = peer_endpoint(run)
        return PEER_FLOW, ep, host_port(ep.local), "UDP", run.sut, None, None
    if who == "reg-t":
        ep = run.endpoints["reg-t"]
        return "reg-t", ep, host_port(ep.local), "UDP", run.sut, None, None
    ue, flow = run.flow(who)
    ep = run.endpoint(flow)
    return flow.name, ep, flow.sent_by(), flow.via_protocol, run.dst_of(ep), ue, flow


def first_hop(run, routes: list[str], default):
    """Where the PEER or REG-T sends: the first route's host and port (loose routing)."""
    if not routes:
        return default
    try:
        u = parse_name_addr(routes[0]).uri
        return (u.host.strip("[]"), u.port or 5060)
    except (ParseError, AttributeError):
        return default


def build_request(method: str, uri: str, *, sent_by: str, transport: str, from_uri: str, from_tag: str,
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


# -- the callee (called from the exchange) ----------------------------------------------
def callee_side(request: Request, who: str, local_tag: str) -> Side:
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


def answer_200(request: Request, to_tag: str, contact: str | None) -> Response:
    response = build_response(request, 200, "OK", to_tag=to_tag)
    for rr in request.get_all("Record-Route"):     # RFC 3261 §12.1.1: copied into the 2xx
        response.add("Record-Route", rr)
    if contact:
        response.add("Contact", contact)
    return response


def ue_response(run, flow_name: str, request: Request) -> Response | None:
    """A UE flow's answer while a dialog case runs: 200 to the INVITE (the UE is the callee) and
    to in-dialog requests; None: the ordinary answer (ue/uas.py)."""
    st = run.state(DialogState)
    if not st.active or flow_name.startswith("contact-"):
        return None
    if request.method == "INVITE" and not has_to_tag(request):
        ue, flow = run.flow(flow_name)
        st.callee = callee_side(request, flow_name, run.uas_tag)
        return answer_200(request, run.uas_tag, dialog_contact(run, flow, ue, ob=True))
    if request.method in ("BYE", "INFO") or (request.method == "INVITE" and has_to_tag(request)):
        return answer_200(request, run.uas_tag, None)
    return None


def regt_answer(run, ep, request: Request, src, idx: int) -> bool:
    """REG-T as the far end of a dialog (edge-only SUT): answer a non-REGISTER request itself.
    False: not a dialog case, REG-T answers as a registrar."""
    st = run.state(DialogState)
    if not st.active or request.method == "REGISTER":
        return False
    if request.method == "ACK":
        run.forwarded.append((request, idx, None))
        return True
    if request.method == "INVITE" and not has_to_tag(request):
        st.callee = callee_side(request, "reg-t", run.uas_tag)
        st.callee.regt_peer = tuple(src)
        response = answer_200(request, run.uas_tag, f"<sip:far-end@{host_port(ep.local)}>")
    else:
        response = answer_200(request, run.uas_tag, None)
    run.forwarded.append((request, idx, response))
    data = response.to_bytes()
    ep.send(data, src)
    run.record("sent", "reg-t", ep.transport, ep.local, src, data, response.summary(), "answer of the far end (REG-T)")
    return True


def has_to_tag(request: Request) -> bool:
    try:
        return bool(parse_name_addr(request.get("To") or "").params.get("tag"))
    except ParseError:
        return False


class NoPath(Exception):
    """A flow named by path_of got no 2xx with a Path: the stimulus cannot be built."""

    check = "Path URI of the flow"
    ref = "RFC 3327 §5.3 (Path returned in the 2xx)"
    expected = "a Path in the flow's 2xx to REGISTER (the edge's URI with the flow token)"


class NoGruu(NoPath):
    """A flow named by pub_gruu_of / temp_gruu_of got no such GRUU in a 2xx to REGISTER."""

    check = "GRUU of the flow"
    ref = "RFC 5627 §5.2"
    expected = "a pub-gruu / temp-gruu on the flow's Contact in a 2xx to REGISTER"


def is_gruu_spec(spec) -> bool:
    return isinstance(spec, dict) and ("pub_gruu_of" in spec or "temp_gruu_of" in spec)


def gruu_uri(reg: RegistrationState, spec: dict) -> str:
    """``{pub_gruu_of: F}``: the flow's latest pub-gruu; ``{temp_gruu_of: F, which: latest|first}``:
    the latest (default) or the first temp-gruu the flow got (RFC 5627 §5.2)."""
    if "pub_gruu_of" in spec:
        flow, values, what = spec["pub_gruu_of"], reg.gruus(spec["pub_gruu_of"], "pub"), "pub-gruu"
    else:
        flow, values, what = spec["temp_gruu_of"], reg.gruus(spec["temp_gruu_of"], "temp"), "temp-gruu"
    if not values:
        raise NoGruu(f"flow {flow} got no 2xx to REGISTER with a {what} on its Contact")
    return values[0] if spec.get("which") == "first" else values[-1]


def collect_routed(run, request: Request, first_delivery: int, first_forward: int, method: str):
    """Where the SUT sent ``request`` since the marks: (deliveries to UE flows, copies that
    reached the emulated registrar), matched by Call-ID and method."""
    mine = [(f, r, i) for f, r, i in run.deliveries[first_delivery:]
            if r.call_id == request.call_id and r.method == method]
    up = [r for r, _, _ in run.forwarded[first_forward:] if r.call_id == request.call_id and r.method == method]
    return mine, up


def judge_routed(run, step, result, ue, request, response, why, mine, up, sender, extra=None):
    """Judge a request step on its answer and on where the SUT sent it: ``ctx.deliveries`` and
    ``ctx.dialog`` for the ``routed`` and ``delivered`` checks (request/invite/in_dialog, packet)."""
    ctx = run.context(ue, request, response, why)
    ctx.deliveries = {}
    for flow, req, _ in mine:
        ctx.deliveries.setdefault(flow, []).append(req)
    ctx.delivery_index = mine[0][2] if mine else result.request_index
    ctx.dialog = {"sent": request, "sender": sender, "upstream": up, "sut": tuple(run.sut),
                  "peer": tuple(peer_endpoint(run).local), **(extra or {})}
    if response is None:
        result.note = why
    run.judge(step, result, ctx, result.response_index)
