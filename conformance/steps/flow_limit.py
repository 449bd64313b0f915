"""Steps that need more flows or UEs than a case can list: the declared flow limit (TP_REG_028).

``flow_limit: {flow: F}``: the target declares (capability ``max-flows``, field ``max_flows:
N``) the operator's maximum number of flows per (IMPU, IMPI, instance), TS 24.229 5.4.1.2.2.
The step registers N flows of F's UE, each a copy of F (its address, transport and edge) on a
new local port with reg-id 1..N and its own Call-ID, then flow N+1 (reg-id N+1): the step's
``expect`` judges that last answer (403, "shall reject"), and a fetch afterwards must list the N
flows and not the refused one.  The first N must be accepted (the limit declared is N, not
less: declared versus observed).  Copies are named ``F_1`` ... ``F_<N+1>``; every exchange is in
the case's messages and pcap.

Shared helpers (``clone_flow``, ``sub_exchange``, ``response_of``) are used by the robustness
steps too (steps/storm.py).
"""

from __future__ import annotations

import dataclasses

from ..cases.model import StepSpec
from ..meaning.results import StepResult
from ..sip.errors import LocalProtocolError, ParseError
from ..sip.headers import parse_contacts, parse_uri, uri_equal
from ..sip.message import Response, parse_message
from ..meaning.verdict import FAIL, INCONCLUSIVE, PASS, Finding
from ..ue.model import FlowState
from ..engine.api import RunApi
from .kind import StepKind
from .register import register

DECLARED = "suite: declared policy"
ATOMIC = "RFC 3261 §10.3 (processed atomically)"


def clone_flow(ue, template: FlowState, name: str, reg_id: int | None) -> FlowState:
    """A new flow of ``ue`` like ``template`` (address, transport, edge) with its own socket."""
    spec = dataclasses.replace(template.spec, name=name, reg_id=reg_id)
    flow = FlowState(spec=spec, local_ip=template.local_ip, transport=template.transport, edge=template.edge)
    ue.flows[name] = flow
    return flow


def response_of(run, result: StepResult) -> Response | None:
    """The final response a sub-exchange recorded (by its message index), parsed again."""
    if result.response_index is None:
        return None
    try:
        msg = parse_message(run.messages[result.response_index].text.encode("utf-8"))
    except (ParseError, IndexError):
        return None
    return msg if isinstance(msg, Response) else None


def sub_exchange(run, step: StepSpec, action: str, flow: str, into: StepResult, *, expect=None,
                 options: dict | None = None) -> Response | None:
    """One REGISTER (register, refresh, fetch...) over ``flow`` within ``step``, through the
    runner's own path (digest answers included); judged by ``expect`` into ``into`` if given,
    else only the exchange's own findings (a To tag) are kept."""
    opts = dict(options if options is not None else step.options)
    sub = dataclasses.replace(step, action=action, flow=flow, options=opts, expect=expect, classify=None,
                              preamble=False)
    scratch = into if expect is not None else StepResult(name=step.name, action=action, flow=flow,
                                                         location=into.location)
    register(run, sub, scratch)
    if scratch is not into:
        into.findings.extend(f for f in scratch.findings if f.outcome in (FAIL, INCONCLUSIVE))
        into.request_index, into.response_index = scratch.request_index, scratch.response_index
        if scratch.note:
            into.note = "; ".join(n for n in (into.note, scratch.note) if n)
    return response_of(run, scratch)


def contact_listed(response: Response, uri: str) -> bool:
    """Whether the 2xx lists a Contact equal to ``uri`` (RFC 3261 URI comparison)."""
    try:
        want = parse_uri(uri)
        return any(c.uri is not None and not c.star and uri_equal(c.uri, want)
                   for c in parse_contacts(response.values("Contact")))
    except ParseError:
        return False


def flow_limit(run: RunApi, step: StepSpec, result: StepResult) -> None:
    limit = getattr(run.target, "max_flows", None)
    if not limit:
        raise LocalProtocolError("flow_limit: the target declares no max_flows (the operator's limit, "
                                 "docs/targets.md)")
    ue, template = run.flow(step.flow)
    base = {k: v for k, v in step.options.items() if k not in ("contact",)}
    names = []
    for i in range(1, limit + 2):
        name = f"{template.name}_{i}"
        clone_flow(ue, template, name, i)
        names.append(name)
    refused = []
    for name in names[:-1]:
        r = sub_exchange(run, step, "register", name, result, options=base)
        if r is None or not 200 <= r.status < 300:
            refused.append(f"{name}: {'no answer' if r is None else f'{r.status} {r.reason}'}")
    result.findings.append(Finding(
        check=f"the first {limit} flows (the declared limit) accepted", level="MUST", ref=DECLARED,
        outcome=FAIL if refused else PASS, expected=f"a 2xx for each of reg-id 1..{limit}",
        observed="; ".join(refused) if refused else f"{limit} accepted", step=step.name,
        location=result.location))
    if refused:
        return
    over = names[-1]
    r = sub_exchange(run, step, "register", over, result, expect=step.expect, options=base)
    fetch = sub_exchange(run, step, "fetch", names[0], result, options={k: v for k, v in base.items()
                                                                        if k in ("digest", "timeout")})
    kept_uris = {n: ue.contact_uri(ue.flows[n]) for n in names}
    if fetch is None or not 200 <= fetch.status < 300:
        result.findings.append(Finding(
            check="bindings after the refused flow", level="MUST", ref=ATOMIC, outcome=INCONCLUSIVE,
            expected="a 2xx to the fetch", observed="no answer" if fetch is None else f"{fetch.status}",
            step=step.name, location=result.location))
        return
    lost = [n for n in names[:-1] if not contact_listed(fetch, kept_uris[n])]
    accepted = r is not None and 200 <= r.status < 300
    bound = contact_listed(fetch, kept_uris[over])
    result.findings.append(Finding(
        check=f"the {limit} flows kept", level="MUST", ref=ATOMIC, outcome=FAIL if lost else PASS,
        expected=f"flows {', '.join(names[:-1])} listed by the fetch", observed=(
            f"missing: {', '.join(lost)}" if lost else "all listed"), step=step.name,
        location=result.location, message_index=result.response_index))
    if not accepted:
        result.findings.append(Finding(
            check=f"the refused flow {over} not bound", level="MUST", ref=ATOMIC,
            outcome=FAIL if bound else PASS, expected=f"no Contact for <{kept_uris[over]}>",
            observed="listed by the fetch" if bound else "not listed", step=step.name,
            location=result.location, message_index=result.response_index))


__all__ = ["KIND", "clone_flow", "contact_listed", "flow_limit", "response_of", "sub_exchange"]


KIND = StepKind(
    name="flow_limit",
    summary=("Registers copies of the flow (reg-id 1..N, N = the target's max_flows) and then one more, judged by "
             "expect; a fetch afterwards must list the N and not the refused one (TS 24.229 5.4.1.2.2, "
             "steps/flow_limit.py)."),
    schema={"$ref": "#/$defs/flow_action"}, needs_flow=True, live=flow_limit, order=210,
    extra={"usage": "`flow_limit: FLOW`",
           "table": ("against a target declaring `max-flows` with `max_flows: N`: copies of FLOW (its address, "
                     "transport, edge; a new port and Call-ID each, named `FLOW_1`...) register reg-ids 1..N, each "
                     "must be accepted, then reg-id N+1, judged by the step's `expect`; a fetch afterwards must list "
                     "the N and not the refused one (TS 24.229 5.4.1.2.2)")})
