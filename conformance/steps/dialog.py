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

from ..cases.model import StepSpec
from ..engine.api import RunApi
from ..engine.dialogs import (SDP_STUB, DialogState, NoPath, Side, build_request, collect_routed, dialog_contact,
                              first_hop, host_port, is_gruu_spec, judge_routed, sender, uri_of)
from ..engine.peer import PEER_FLOW
from ..meaning.results import StepResult
from ..meaning.verdict import INCONCLUSIVE, Finding
from ..sip.errors import LocalProtocolError, ParseError
from ..sip.headers import parse_name_addr
from ..ue.model import new_tag
from ..yamlio.source import plain
from .kind import StepKind


def parse(loader, action: str, value: dict, path: list):
    """Validate a dialog step's names; (options, flow, ue name, step name)."""
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
        for key in ("path_of", "contact_of", "elsewhere_of", "pub_gruu_of", "temp_gruu_of"):
            if key in uri:
                loader.flow_ref(uri[key], uri, key, path + [action, "uri", key])
    method = options.setdefault("method", "INVITE" if action == "invite" else "MESSAGE")
    return options, flow, ue_name, f"{action} {method} from {sender}" + (f" to {ue_name}" if ue_name else "")


def request(run: RunApi, step: StepSpec, result: StepResult) -> None:
    try:
        _request_step(run, step, result)
    except NoPath as exc:
        result.note = str(exc)
        result.findings.append(Finding(
            check=exc.check, level="MAY", ref=exc.ref, outcome=INCONCLUSIVE, expected=exc.expected,
            observed=str(exc), step=step.name, location=result.location))


def _request_step(run, step, result) -> None:
    o = step.options
    st = run.state(DialogState)
    who = o["from"]
    name, ep, sent_by, transport, dst, ue, flow = sender(run, who)
    target_ue = run.ues[o["to"]] if o.get("to") else None
    routes = [uri_of(run, r) for r in (o.get("route") or [])]
    uri = o.get("uri")
    request_uri = uri_of(run, uri) if uri is not None else (target_ue.impu if target_ue else f"sip:peer@{run.target.domain}")
    if who == PEER_FLOW and is_gruu_spec(uri):
        dst = run.peer     # a GRUU is dereferenced by the authoritative proxy (RFC 5627 §3.4), as peer_request
    method = o["method"]
    if ue is not None:
        from_uri = ue.impu
    else:
        from_uri = f"sip:peer@{run.target.domain}"
    to_uri = target_ue.impu if target_ue else request_uri
    if step.action == "invite":
        st.active = True
        contact = dialog_contact(run, flow, ue, ob=True) if flow is not None else f"<sip:peer@{host_port(ep.local)}>"
    else:
        contact = None
    if who != PEER_FLOW and flow is None:
        raise LocalProtocolError(f"{step.action}: unknown sender {who!r}")
    call_id = f"{uuid.uuid4().hex}@{ep.local[0]}"
    tag = new_tag()
    body = SDP_STUB if method == "INVITE" else (b"conformance suite\r\n" if method == "MESSAGE" else b"")
    request = build_request(method, request_uri, sent_by=sent_by, transport=transport, from_uri=from_uri, from_tag=tag,
                     to_uri=to_uri, call_id=call_id, cseq=1, routes=routes, contact=contact, body=body)
    first_d, first_f = len(run.deliveries), len(run.forwarded)
    response, req_idx, resp_idx, why = run.exchange(name, ep, request, o.get("timeout"), dst=dst)
    result.request_index, result.response_index = req_idx, resp_idx
    if method == "INVITE" and response is not None:
        _ack(run, st, request, response, who, name, ep, sent_by, transport, from_uri, tag, to_uri, dst)
    run.wait(0.05)
    mine, up = collect_routed(run, request, first_d, first_f, method)
    top = (o.get("route") or [None])[0]
    token_flow = top.get("path_of") if isinstance(top, dict) else None
    judge_routed(run, step, result, ue or (target_ue or next(iter(run.ues.values()))), request, response, why, mine, up, who,
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
        ack = build_request("ACK", target, sent_by=sent_by, transport=transport, from_uri=from_uri, from_tag=tag,
                     to_uri=to_uri, to_tag=to_tag, call_id=invite.call_id or "", cseq=1, routes=routes)
        if who == PEER_FLOW:
            dst = first_hop(run, routes, run.sut)
    else:
        ack = build_request("ACK", invite.uri, sent_by=sent_by, transport=transport, from_uri=from_uri, from_tag=tag,
                     to_uri=to_uri, to_tag=to_tag, call_id=invite.call_id or "", cseq=1,
                     routes=invite.values("Route"), branch=invite.top_branch)
    data = ack.to_bytes()
    try:
        ep.send(data, dst)
    except Exception as exc:  # noqa: BLE001 - recorded; the ACK is not what the case judges
        run.record("sent", name, ep.transport, ep.local, dst, data, ack.summary(), f"send failed: {exc}")
        return
    run.record("sent", name, ep.transport, ep.local, dst, data, ack.summary())


def in_dialog(run: RunApi, step: StepSpec, result: StepResult) -> None:
    o = step.options
    st = run.state(DialogState)
    side = st.caller if o["from"] == "caller" else st.callee
    if side is None:
        result.note = f"no dialog: no invite step of the case got a 2xx, so the {o['from']} has no route set"
        result.findings.append(Finding(
            check="dialog established", level="MUST", ref="RFC 3261 §12.1", outcome=INCONCLUSIVE,
            expected="a 2xx to the case's INVITE", observed=result.note, step=step.name,
            location=result.location))
        return
    who = side.who
    name, ep, sent_by, transport, dst, ue, flow = sender(run, who)
    if who in (PEER_FLOW, "reg-t"):
        dst = first_hop(run, side.route_set, run.sut)
    side.cseq += 1
    method = o["method"]
    request = build_request(method, side.remote_target, sent_by=sent_by, transport=transport, from_uri=side.local_uri,
                     from_tag=side.local_tag, to_uri=side.remote_uri, to_tag=side.remote_tag, call_id=side.call_id,
                     cseq=side.cseq, routes=side.route_set,
                     body=b"conformance suite\r\n" if method == "INFO" else b"")
    first_d, first_f = len(run.deliveries), len(run.forwarded)
    response, req_idx, resp_idx, why = run.exchange(name, ep, request, o.get("timeout"), dst=dst)
    result.request_index, result.response_index = req_idx, resp_idx
    run.wait(0.05)
    mine, up = collect_routed(run, request, first_d, first_f, method)
    owner = ue or next(iter(run.ues.values()))
    judge_routed(run, step, result, owner, request, response, why, mine, up, who,
           {"callee_request": (mine[0][1] if mine else (up[0] if up else None)), "route_set": list(side.route_set)})
    if method == "BYE":
        st.active = False


def _kind(name: str, live, order: int, summary: str, schema: str, usage: str, table: str) -> StepKind:
    return StepKind(name=name, summary=summary, schema={"$ref": f"#/$defs/{schema}"}, needs_flow=False, live=live,
                    parse=parse, order=order,
                    extra={"usage": usage, "table": table})


KINDS = (
    _kind("request", request, 160,
          ("One request through the SUT from a UE flow or the PEER, with Route values and Request-URI built from "
           "the flows' Path URIs (steps/dialog.py)."), "dialog_request",
          "`request: {from: FLOW\\|peer, to: UE, method, uri, route}`",
          ("one request through the SUT from a UE flow (over the flow) or from the PEER (to the SUT's UE-facing "
           "address); `route` values and `uri` are `{path_of: FLOW}` (the flow's top Path URI from its latest 2xx: "
           "the edge's URI with its token; `host`, `port`, `ob: false`, `at_peer: true` change it), "
           "`{contact_of: FLOW}`, `{elsewhere_of: FLOW}` (the flow's address, another port: not the flow, recorded "
           "as `contact-FLOW`), `{peer: true}`, `{nobody: true}` (an AOR no one registered), `{pub_gruu_of: FLOW}`, "
           "`{temp_gruu_of: FLOW, which: latest\\|first}` (GRUUs from the flow's 2xx to REGISTER; the PEER sends "
           "these where terminating requests go) or a literal; default Request-URI the `to` UE's AOR "
           "(steps/dialog.py)")),
    _kind("invite", request, 170,
          ("A dialog-forming INVITE through the SUT (from a UE flow or the PEER): the callee answers 200 with "
           "Record-Route copied, the caller ACKs through the route set."), "dialog_request",
          "`invite: {...as request...}`",
          ("a dialog-forming INVITE (SDP stub): the callee (a UE flow, or REG-T as far end behind an edge-only SUT) "
           "answers 200 with Record-Route copied and a Contact that is not its flow (another port of the UE's "
           "address, recorded as flow `contact-FLOW`); the caller ACKs through the route set; a UE's Contact "
           "carries `;ob`")),
    _kind("in_dialog", in_dialog, 180,
          "A mid-dialog request (BYE, INFO) of the case's dialog, from its caller or callee, through the route set.",
          "in_dialog", "`in_dialog: {from: caller\\|callee, method: BYE\\|INFO}`",
          ("a mid-dialog request of the case's dialog through the sender's route set to the remote target (a UE "
           "sends over its flow to the SUT)")),
)
