"""sec-agree flows whose ESP travels in UDP (RFC 3948, ``mod=UDP-enc-tun``), and their
NAT-keepalives.

``register: {flow: F, sec_agree: true, udp_encap: true}`` gives the flow an
:class:`~.encapflow.EncapFlowEndpoint` instead of the raw-socket one: its port_uc and port_us
are ordinary UDP sockets made where the flow's address lives (inside the UE namespace of a
topology), its Security-Client offers every pair with ``mod=UDP-enc-tun`` and ``mod=trans``
(TS 33.203 Annex M), and the rest of the sequence is :mod:`.sec_steps` unchanged.

``esp_keepalive: {flow: F, every: S, for: S}`` sends RFC 3948 NAT-keepalives from both protected
ports every ``every`` seconds for ``for`` seconds (once without ``every``), listening meanwhile,
so that the NAT keeps the mappings the P-CSCF sends to (RFC 3948 §4).
"""

from __future__ import annotations

import socket

from ..meaning.results import StepResult
from ..sip.errors import LocalProtocolError
from .encapflow import EncapFlowEndpoint
from .term_steps import _loop_plan


def encap_flow_sec(run, flow, step):
    """The flow's :class:`~.sec_steps.FlowSec` over UDP-encapsulated ESP (first use)."""
    from .sec_steps import FlowSec, SecUnavailable

    if flow.transport != "udp":
        raise SecUnavailable("UDP-encapsulated ESP carries UDP flows only (RFC 3948)")
    family = socket.AF_INET6 if ":" in flow.local_ip else socket.AF_INET
    if family == socket.AF_INET6:
        raise SecUnavailable("UDP-encapsulated ESP is implemented for IPv4 only")
    make = run.sock_factory(flow.local_ip, getattr(flow.spec, "site", 1)) or socket.socket
    socks = []
    try:
        for _ in range(2):
            s = make(family, socket.SOCK_DGRAM)
            socks.append(s)
            s.bind((flow.local_ip, 0))
            s.setblocking(False)
    except OSError as exc:
        for s in socks:
            s.close()
        raise SecUnavailable(f"cannot bind the protected ports on {flow.local_ip}: {exc}") from None
    ports = getattr(run, "encap_ports", None)
    if ports is None:
        ports = run.encap_ports = set()
    ep = EncapFlowEndpoint(socks[0], socks[1], run._on_wire, make, ports)
    ports.update((ep.local[1], ep.port_us))
    offer = [tuple(p) for p in (step.options.get("algorithms") or run.target.sec_agree.offer)]
    sec = FlowSec(ep.local[1], ep.port_us, ep, offer)
    ep.sec = sec
    flow.sec = sec
    flow.port_uc, flow.port_us = sec.port_uc, sec.port_us
    run.endpoints[f"{flow.name}~esp"] = ep
    run.endpoints[f"{flow.name}~esp-us"] = ep.us
    return sec


def esp_keepalive_step(run, step, result: StepResult) -> None:
    _, flow = run._flow(step.flow)
    ep = flow.sec.esp if flow.sec is not None else None
    if not isinstance(ep, EncapFlowEndpoint):
        raise LocalProtocolError(f"esp_keepalive: flow {flow.name} has no UDP-encapsulated SA set "
                                 "(register it with sec_agree and udp_encap first)")
    plan = _loop_plan(run, step, flow)          # (every, for) in seconds, None: once
    if isinstance(plan, str):
        raise LocalProtocolError(f"esp_keepalive: {plan}")
    every, total = plan or (0.0, 0.0)
    start = run._now()
    rounds = 0
    while True:
        if not ep.keepalive():
            result.note = ep.refused or "no SA set: nothing to keep alive"
            return
        rounds += 1
        if every <= 0 or start + rounds * every >= start + total:
            break
        run._wait(max(0.0, start + rounds * every - run._now()))
    if every > 0:
        run._wait(max(0.0, start + total - run._now()))
    result.note = (f"{rounds} round(s) of NAT-keepalives (RFC 3948 §2.3) from port_uc "
                   f"{flow.sec.port_uc} and port_us {flow.sec.port_us}"
                   + (f", every {every:g} s for {total:g} s" if every > 0 else ""))
