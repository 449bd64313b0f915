"""A flow that advertises a Contact other than its socket, as a UE behind a NAT does.

On plain loopback every UE's Contact is its socket's address, so a registrar that routes a
terminating request to the registered Contact (instead of over the flow, RFC 5626 §7, or over
the stored Path, RFC 3327 §5.4) reaches the UE all the same.  With ``contact: elsewhere`` a
flow's Contact names another loopback address (IPv4: 127.0.2.N for a flow on 127.0.0.N; IPv6:
the same ::1 and another port), where the suite listens on the flow's transport and records
what arrives as a delivery to ``<flow>@contact``: a request arriving there was routed by
Contact.  The UE answers it as it would on the flow (a NAT would have dropped it), so the case
goes on; the ``by_flow`` check fails it.

By default (``contact:`` absent) a flow advertises elsewhere when its case sends a terminating
request (a ``peer_request`` step), the target declares ``outbound`` (RFC 5626 §7 binds it; a
registrar without outbound legitimately routes by Contact), the flow's address is loopback, no
network topology is in use (behind the suite's NAT the Contact already differs from what the
SUT sees) and the flow does not use sec-agree (its Contact carries port_us).
``contact: own`` keeps the socket's address.
"""

from __future__ import annotations

import ipaddress
import socket

from ..sip.transports import is_websocket
from .transport import TcpListenEndpoint, UdpEndpoint

SUFFIX = "@contact"


def owner_flow(name: str) -> str:
    """The flow a delivery name belongs to ("f1@contact#7" -> "f1")."""
    return name.split(SUFFIX, 1)[0].split("#", 1)[0]


def is_contact_delivery(name: str) -> bool:
    return SUFFIX in name


def alt_ip(ip: str) -> str | None:
    """The loopback address a flow on ``ip`` advertises instead; None off loopback."""
    try:
        addr = ipaddress.ip_address(ip)
    except ValueError:
        return None
    if not addr.is_loopback:
        return None
    if addr.version == 6:
        return ip                                   # ::1 alone: another port tells them apart
    return f"127.0.2.{ip.rsplit('.', 1)[1]}"


def wanted(run, fspec) -> bool:
    choice = getattr(fspec, "contact", None)
    if choice == "own":
        return False
    if choice == "elsewhere":
        return True
    return (any(s.action == "peer_request" for s in run.case.steps)
            and run.target.declares("outbound") and run.topology is None)


class _OwnedListen(TcpListenEndpoint):
    def close(self) -> None:
        self.closed = True
        try:
            self.sock.close()
        except OSError:
            pass


def open_contact(run, flow) -> None:
    """Bind the listener of a flow's advertised Contact (once per flow) and note its address
    in ``flow.contact_addr``; nothing when the flow keeps its own address."""
    if getattr(flow, "contact_addr", None) is not None or flow.sec is not None:
        return
    if not wanted(run, flow.spec) or is_websocket(flow.transport):
        # a WebSocket client's Contact is already elsewhere: <random>.invalid (RFC 7118 §8)
        return
    ip = alt_ip(flow.local_ip)
    if ip is None:
        return
    name = flow.name + SUFFIX
    if flow.transport == "udp":
        ep = UdpEndpoint(ip, run.on_wire)
        run.endpoints[name] = ep
        flow.contact_addr = tuple(ep.local[:2])
    else:
        sock = socket.socket(socket.AF_INET6 if ":" in ip else socket.AF_INET, socket.SOCK_STREAM)
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        sock.bind((ip, 0))
        sock.listen(8)
        sock.setblocking(False)
        ep = _OwnedListen(sock, run.on_wire)
        run.endpoints[name + "-listen"] = ep
        flow.contact_addr = tuple(ep.local[:2])


def contact_deliveries(deliveries: dict) -> dict[str, int]:
    """flow -> how many requests reached its advertised Contact address."""
    out: dict[str, int] = {}
    for name, reqs in deliveries.items():
        if is_contact_delivery(name) and reqs:
            out[owner_flow(name)] = out.get(owner_flow(name), 0) + len(reqs)
    return out
