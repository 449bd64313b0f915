"""What the sans-IO parts of the reference ask the server to do (h11 / aioquic style).

The edge proxy and the S-CSCF never touch a socket: each call returns a list of these actions
and the server performs them.  ``ref`` is opaque to the server; when a send cannot be done (the
TCP connection is gone, a connect fails), the server hands it back through the component's
``send_failed(ref, now)``, which is how a transport error becomes a 503 (RFC 3261 section
16.9) or a 430 at the edge (RFC 5626 section 5.3.1).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Union

from .flow import FlowInfo


@dataclass(frozen=True)
class SendOnFlow:
    """Send over an existing flow: for TCP on that very connection (``flow.conn_id``); for UDP
    from the local socket ``flow.local`` to ``address`` (default ``flow.remote``)."""

    flow: FlowInfo
    data: bytes
    address: tuple[str, int] | None = None
    ref: object = None


@dataclass(frozen=True)
class SendToHop:
    """Send to a next hop.  UDP: from the component's own socket.  TCP: over a connection the
    component already has whose remote address is ``address`` (accepted or opened), else over a
    new connection (connect bounded in time)."""

    transport: str
    address: tuple[str, int]
    data: bytes
    ref: object = None


@dataclass(frozen=True)
class CloseFlow:
    """Close a flow the component declared failed (RFC 5626 section 5.4): for TCP that
    connection (the component is told through ``flow_closed`` as for any close); nothing to do
    for UDP."""

    flow: FlowInfo
    ref: object = None


@dataclass(frozen=True)
class SendIp:
    """Send a whole IPv4 packet built by the component (an ESP packet of the IMS P-CSCF) with
    the process's raw socket (:mod:`conformance.ims.espio`)."""

    packet: bytes
    ref: object = None


@dataclass(frozen=True)
class ClaimSpi:
    """Deliver inbound ESP with this SPI to the component (``receive_esp``)."""

    spi: int
    ref: object = None


@dataclass(frozen=True)
class ReleaseSpi:
    """Stop delivering ESP with this SPI: the SA is gone, its packets are dropped."""

    spi: int
    ref: object = None


@dataclass(frozen=True)
class InjectIp:
    """Hand a checked clear IPv4 packet (TCP that arrived inside ESP) to the kernel through the
    TUN gateway (:mod:`conformance.ims.tungw`, sut/ims/tcp.py, sut/server/protected_tcp.py)."""

    packet: bytes
    ref: object = None


@dataclass(frozen=True)
class SendFromPort:
    """Send over TCP from a fixed local address and port to ``address`` through the TUN gateway
    (a connection of that pair is reused, else opened): the P-CSCF's port_pc -> UE port_us."""

    local: tuple[str, int]
    address: tuple[str, int]
    data: bytes
    ref: object = None


Action = Union[SendOnFlow, SendToHop, CloseFlow, SendIp, ClaimSpi, ReleaseSpi, InjectIp,
               SendFromPort]

__all__ = ["Action", "ClaimSpi", "CloseFlow", "InjectIp", "ReleaseSpi", "SendFromPort", "SendIp",
           "SendOnFlow", "SendToHop"]
