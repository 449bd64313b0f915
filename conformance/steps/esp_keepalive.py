"""``esp_keepalive: {flow: F, every: S, for: S}``: RFC 3948 NAT-keepalives from both protected ports
of a flow with a UDP-encapsulated SA set (engine/encapsec.py), every ``every`` seconds for
``for`` seconds (once without ``every``), listening meanwhile, so that the NAT keeps the mappings
the P-CSCF sends to (RFC 3948 §4)."""

from __future__ import annotations

from ..cases.model import StepSpec
from ..engine.api import RunApi
from ..engine.encapflow import EncapFlowEndpoint
from ..engine.keepalive_loop import loop_plan
from ..meaning.results import StepResult
from ..sip.errors import LocalProtocolError
from .kind import StepKind


def esp_keepalive(run: RunApi, step: StepSpec, result: StepResult) -> None:
    _, flow = run.flow(step.flow)
    ep = flow.sec.esp if flow.sec is not None else None
    if not isinstance(ep, EncapFlowEndpoint):
        raise LocalProtocolError(f"esp_keepalive: flow {flow.name} has no UDP-encapsulated SA set "
                                 "(register it with sec_agree and udp_encap first)")
    plan = loop_plan(run, step, flow)          # (every, for) in seconds, None: once
    if isinstance(plan, str):
        raise LocalProtocolError(f"esp_keepalive: {plan}")
    every, total = plan or (0.0, 0.0)
    start = run.now()
    rounds = 0
    while True:
        if not ep.keepalive():
            result.note = ep.refused or "no SA set: nothing to keep alive"
            return
        rounds += 1
        if every <= 0 or start + rounds * every >= start + total:
            break
        run.wait(max(0.0, start + rounds * every - run.now()))
    if every > 0:
        run.wait(max(0.0, start + total - run.now()))
    result.note = (f"{rounds} round(s) of NAT-keepalives (RFC 3948 §2.3) from port_uc "
                   f"{flow.sec.port_uc} and port_us {flow.sec.port_us}"
                   + (f", every {every:g} s for {total:g} s" if every > 0 else ""))


KIND = StepKind(
    name="esp_keepalive",
    summary=("RFC 3948 NAT-keepalives (one 0xFF octet) from the flow's protected ports port_uc and port_us to the "
             "P-CSCF, once or in a loop; the flow has a UDP-encapsulated SA set (udp_encap)."),
    schema={"$ref": "#/$defs/keepalive_action"}, needs_flow=True, live=esp_keepalive, order=120,
    transports=("udp",), transport_reason="ESP NAT keep-alives are UDP datagrams (RFC 3948)",
    extra={"usage": "`esp_keepalive: FLOW`",
           "table": ("RFC 3948 NAT-keepalives (one `0xFF` octet) from the flow's protected ports `port_uc` and "
                     "`port_us` to the P-CSCF; the flow carries ESP in UDP (`udp_encap`, below)")})
