"""``peer_request: {to: UE, ...}``: the PEER (its own socket on the target's peer address) sends a
request to a UE's AOR at the S-CSCF; the UE flows answer what reaches them (``answer:`` chooses
codes per flow), and the checks look at which flow got it (RFC 5626 §7) and at the PEER's final
response.  With ``route_from: {flow: F}`` the PEER plays the S-CSCF routing over F's stored Path."""

from __future__ import annotations

from ..cases.model import StepSpec
from ..engine.api import RunApi
from ..engine.peer import PEER_FLOW, build_peer_request, peer_endpoint, tamper_token
from ..engine.registration import RegistrationState
from ..engine.ue_answers import UeAnswers
from ..meaning.results import StepResult
from ..meaning.verdict import INCONCLUSIVE, Finding
from ..yamlio.source import did_you_mean, plain, show
from .kind import StepKind
from .register import exchange_offline


def peer_request(run: RunApi, step: StepSpec, result: StepResult) -> None:
    ue = run.ues[step.ue]
    ep = peer_endpoint(run)
    extra = [(str(n), str(v)) for n, v in (step.options.get("headers") or [])]
    route_from = step.options.get("route_from")
    request_uri = None
    if route_from:
        # The PEER plays the S-CSCF routing over the stored Path: Route = the edge's Path URI,
        # Request-URI = the flow's registered Contact.
        uri = run.state(RegistrationState).last_path.get(route_from["flow"])
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
        owner, flow = run.flow(route_from["flow"])
        request_uri = owner.contact_uri(flow)
    request = build_peer_request(step.options.get("method", "MESSAGE"), ue.impu, ue.domain, ep.local, extra,
                                 request_uri=request_uri, caller_via=bool(route_from))
    first = len(run.deliveries)
    dst = run.sut if step.options.get("entry") == "sut" else run.peer
    answers = run.state(UeAnswers)
    answers.answers = dict(step.options.get("answer") or {})
    try:
        response, req_idx, resp_idx, why = run.exchange(PEER_FLOW, ep, request, step.options.get("timeout"),
                                                        dst=dst)
        # Requests can still be on their way to the UE when the PEER has its answer (e.g. a proxy
        # that answered on its own): listen briefly, bounded, for stragglers.
        run.wait(0.05)
    finally:
        answers.answers = {}
    result.request_index, result.response_index = req_idx, resp_idx
    mine = [(flow, req, idx) for flow, req, idx in run.deliveries[first:] if req.call_id == request.call_id]
    ctx = run.context(ue, request, response, why)
    ctx.deliveries = {}
    for flow, req, _ in mine:
        ctx.deliveries.setdefault(flow, []).append(req)
    ctx.delivery_index = mine[0][2] if mine else req_idx
    ctx.contact_elsewhere = {f.name: f.contact_addr for u in run.ues.values() for f in u.flows.values()
                             if f.contact_addr is not None and f.sec is None}
    ctx.path_transform = run.target.declares("path-transform")
    if response is None:
        result.note = why
    run.judge(step, result, ctx, resp_idx)


def offline(replay, step: StepSpec, result: StepResult) -> None:
    exchange_offline(replay, step, result, peer=True)


def parse(loader, action: str, value, path: list):
    """(options, flow, ue name, step name): the UE must exist, and ``route_from``'s flow."""
    ue_name = value["to"]
    if ue_name not in loader.ues:
        raise loader.error(f"unknown UE {show(ue_name)}{did_you_mean(ue_name, list(loader.ues))}; "
                           f"this case declares: {', '.join(loader.ues)}", value, "to", path + [action, "to"])
    options = {k: plain(v) for k, v in value.items()}
    options.setdefault("method", "MESSAGE")
    if "route_from" in value:
        loader.flow_ref(value["route_from"]["flow"], value["route_from"], "flow", path + [action, "route_from", "flow"])
    return options, None, ue_name, f"peer_request {options['method']} to {ue_name}"


KIND = StepKind(
    name="peer_request",
    summary="The PEER sends a request (MESSAGE by default) to a UE's AOR through the SUT (a terminating request).",
    schema={"$ref": "#/$defs/peer_request"}, needs_flow=False, live=peer_request, offline=offline, parse=parse, order=80,
    extra={"usage": "`peer_request: {to: UE, method, answer, route_from}`",
           "table": ("the PEER sends a request (MESSAGE by default) to the UE's AOR through the SUT (a terminating "
                     "request); the UE flows answer what reaches them (`answer: {FLOW: CODE}`)")})
