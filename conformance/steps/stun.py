"""``stun: FLOW``: a STUN Binding Request over a UDP flow, or a loop of them
(engine/keepalive_loop.py); the answer carries the flow's address in XOR-MAPPED-ADDRESS
(RFC 5626 §8, RFC 5389 §15.2)."""

from __future__ import annotations

import ipaddress

from ..cases.model import StepSpec
from ..engine.api import RunApi
from ..engine.flow_seen import flow_seen_by_sut
from ..engine.keepalive_loop import keepalive_loop, stun_once
from ..meaning.results import StepResult
from ..sip.errors import LocalProtocolError
from .kind import StepKind
from .ping import offline_keepalive


def expected_mapping(run, flow) -> tuple[dict, str]:
    """({flow: the address a STUN Binding response must map it to}, where that comes from)."""
    if run.topology is not None:
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
    try:
        return str(ipaddress.ip_address(ip.strip("[]")))
    except ValueError:
        return ip


def stun(run: RunApi, step: StepSpec, result: StepResult) -> None:
    ue, flow = run.flow(step.flow)
    if flow.transport != "udp":
        raise LocalProtocolError(f"stun needs a UDP flow; {flow.name} is {flow.transport} (use ping)")
    ep = run.endpoint(flow)
    outcomes = keepalive_loop(run, step, result, flow, lambda bound: stun_once(run, flow, ep, bound))
    if outcomes is None:
        return
    ctx = run.context(ue, None, None, "")
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
    run.judge(step, result, ctx, result.response_index)


KIND = StepKind(
    name="stun",
    summary="A STUN Binding Request over the flow's UDP socket (RFC 5626 section 8), or a loop of them.",
    schema={"$ref": "#/$defs/keepalive_action"}, needs_flow=True, live=stun, offline=offline_keepalive, order=100,
    transports=("udp",), transport_reason="STUN keep-alives are for UDP flows (RFC 5626 §4.4.2)",
    extra={"keepalive_loop": True, "usage": "`stun: FLOW`", "table": "a STUN Binding Request from the flow's UDP socket (RFC 5626 section 8)"})
