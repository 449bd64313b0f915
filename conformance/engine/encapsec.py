"""sec-agree flows whose ESP travels in UDP (RFC 3948, ``mod=UDP-enc-tun``).

``register: {flow: F, sec_agree: true, udp_encap: true}`` gives the flow an
:class:`~.encapflow.EncapFlowEndpoint` instead of the raw-socket one: its port_uc and port_us
are ordinary UDP sockets made where the flow's address lives (inside the UE namespace of a
topology), its Security-Client offers every pair with ``mod=UDP-enc-tun`` and ``mod=trans``
(TS 33.203 Annex M), and the rest of the sequence is :mod:`.secreg` unchanged.

The ``esp_keepalive`` step (steps/esp_keepalive.py) keeps such a flow's NAT mappings.
"""

from __future__ import annotations

import socket

from .encapflow import EncapFlowEndpoint
from .espstate import EspState
from .flowsec import FlowSec, SecUnavailable


def encap_flow_sec(run, flow, step):
    """The flow's :class:`~.flowsec.FlowSec` over UDP-encapsulated ESP (first use)."""
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
    ports = run.state(EspState).encap_ports
    ep = EncapFlowEndpoint(socks[0], socks[1], run.on_wire, make, ports)
    ports.update((ep.local[1], ep.port_us))
    offer = [tuple(p) for p in (step.options.get("algorithms") or run.target.sec_agree.offer)]
    sec = FlowSec(ep.local[1], ep.port_us, ep, offer)
    ep.sec = sec
    flow.sec = sec
    flow.port_uc, flow.port_us = sec.port_uc, sec.port_us
    run.endpoints[f"{flow.name}~esp"] = ep
    run.endpoints[f"{flow.name}~esp-us"] = ep.us
    return sec
