"""The reference P-CSCF's protected TCP: SIP over TCP over ESP on ``port_ps`` (TUN gateway).

:class:`~.imsedge.ImsEdgeProxy` demultiplexes ESP itself (its mailbox of the raw-socket hub) and
checks every packet (unknown SPI, replay window, ICV, selectors).  A checked packet that carries
TCP goes back to the kernel through the TUN device (:func:`inject_tcp`, the ``InjectIp``
action), where the P-CSCF's listener on ``port_ps`` (bound to the TUN, so clear TCP over ``lo``
never reaches it) and its connections live.  What those sockets send comes out of the TUN and
is sealed by :func:`seal_tcp` with the SA set whose selectors it matches (the gateway's
protector).

What arrives on a ``port_ps`` connection is handled as protected traffic of the SA set whose
SA 1 names that connection's ports (UE ``port_uc`` -> P-CSCF ``port_ps``): a REGISTER as
:meth:`~.imsedge.ImsEdgeProxy._protected_register` does, anything else as the edge proxy does on
that flow.  The connection becomes the SA set's flow: with outbound, TS 24.229 5.1.1.2.2 b)
makes "the TCP connection between the UE and the P-CSCF [...] established by the UE" the flow,
so responses and terminating requests use it (TP_IMS_013).  A registration without outbound
(no reg-id in its Contact) gets its requests the TS 33.203 way instead: over a connection the
P-CSCF opens from ``port_pc`` to the UE's ``port_us`` (SA 3 out, SA 4 back; TS 33.203 7.1, [M]
not read here) -- :func:`route_tcp_request`.
"""

from __future__ import annotations

import socket

from ...ims.errors import EspError
from ...ims.esp import PROTO_ESP, PROTO_TCP
from ...ims.ippkt import ipv4_wrap
from ...ims.tuncore import clear_selector
from ...sip.errors import ParseError
from ...sip.headers import parse_contacts
from ...sip.message import Response, parse_message
from ..actions import Action, InjectIp, SendFromPort, SendOnFlow
from ..flow import FlowInfo

__all__ = ["inject_tcp", "receive_protected_tcp", "route_tcp_request", "seal_tcp",
           "send_from_port", "start_tcp", "stop_tcp"]

CONNECT_TIMEOUT = 3.0


def inject_tcp(edge, src: str, dst: str, segment: bytes) -> list[Action]:
    """A checked TCP segment from ESP: into the TUN with the SA's addresses."""
    return [InjectIp(ipv4_wrap(src, dst, PROTO_TCP, segment))]


def _record_for(edge, flow: FlowInfo):
    (ue_ip, port_uc), port_ps = flow.remote, flow.local[1]
    for rec in reversed(list(edge.by_nonce.values())):     # the newest set first
        sa1 = rec.sas[1]
        if (sa1.src, sa1.sport, sa1.dport) == (ue_ip, port_uc, port_ps):
            return rec
    return None


def receive_protected_tcp(edge, data: bytes, flow: FlowInfo, now: float) -> list[Action]:
    rec = _record_for(edge, flow)
    if rec is None:
        return edge._drop(f"TCP from {flow.remote[0]}:{flow.remote[1]} on protected port "
                          f"{flow.local[1]} with no SA set")
    try:
        message = parse_message(data)
    except ParseError:
        return edge._drop("protected TCP data is not SIP")
    if rec.flow != flow:            # this connection is now the SA set's flow (TS 24.229 5.1.1.2.2 b))
        if edge.by_flow.get(rec.flow) is rec:
            del edge.by_flow[rec.flow]
            edge.by_flow[flow] = rec
        rec.flow = flow
    edge.supervisor.activity(flow, now)
    if isinstance(message, Response):
        return edge._protect(edge._response(message, flow, now), now)
    try:
        if message.method == "REGISTER":
            _outbound_flows(edge)[flow] = _uses_outbound(message)
            actions = edge._protected_register(message, rec, now)
        else:
            actions = edge._request(message, flow, now)
    except Exception as exc:  # noqa: BLE001 - as EdgeProxy.receive
        actions = [] if message.method == "ACK" else \
            edge._reply(message, flow, 500, f"internal error: {exc!r}")
    return edge._protect(actions, now)


def seal_tcp(edge, packet: bytes) -> bytes | None:
    """The ESP packet for a clear packet the P-CSCF's TUN-bound sockets sent (None: no SA set
    has its selectors, e.g. the set was deleted: the gateway drops it)."""
    (src, sport, dst, dport), proto, segment = clear_selector(packet)
    for rec in reversed(list(edge.by_nonce.values())):
        sa = rec.sas.for_ports(sport, dport)
        if sa is not None and sa.inbound_at == "ue" and (sa.src, sa.dst) == (src, dst):
            _, esp = rec.endpoint.protect(sport, dport, proto, segment)
            return ipv4_wrap(src, dst, PROTO_ESP, esp)
    return None


def _outbound_flows(edge) -> dict:
    """flow -> whether its latest REGISTER used outbound (kept on the edge, bounded)."""
    flows = edge.__dict__.setdefault("_tcp_outbound", {})
    while len(flows) > 4096:
        flows.pop(next(iter(flows)))
    return flows


def _uses_outbound(request) -> bool:
    try:
        return any(c.has_param("reg-id") for c in parse_contacts(request) if not c.star)
    except ParseError:
        return False


def route_tcp_request(edge, action: SendOnFlow) -> list[Action]:
    """Where a request for the UE goes on a protected TCP flow: with outbound on the flow itself,
    the UE's connection (TS 24.229 5.1.1.2.2 b)); without, over a connection from ``port_pc``
    to the UE's ``port_us`` (TS 33.203 7.1 [M]).  FAULT ``wrong-terminating-port`` swaps the
    two."""
    outbound = _outbound_flows(edge).get(action.flow, True)
    if outbound != edge.config.has_fault("wrong-terminating-port"):
        return [action]
    rec = edge.by_flow.get(action.flow) or next(
        (r for r in edge.by_nonce.values() if r.flow == action.flow), None)
    if rec is None:
        return [action]
    sa3 = rec.sas[3]
    return [SendFromPort((sa3.src, sa3.sport), (sa3.dst, sa3.dport), action.data, action.ref)]


# -- the server's side (sut/server.py) -----------------------------------------------------------
def start_tcp(server, listener_cls):
    """A TUN-bound TCP listener on ``port_ps`` and the gateway's protector; None (and UDP only)
    when the gateway cannot run here or the P-CSCF is not on IPv4."""
    from ...ims.tungw import TunGateway, TunUnavailable

    if server._family != socket.AF_INET:
        return None
    try:
        gateway = TunGateway.shared()
    except TunUnavailable:
        return None
    port_ps = server.edge.port_ps
    tcp = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    try:
        gateway.bind_socket(tcp)
        tcp.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        tcp.bind((server._host, port_ps))
        tcp.listen(64)
        tcp.setblocking(False)
    except OSError:
        tcp.close()
        return None
    # port_pc reserved for TCP too (bound, not listening: a connection may bind it again)
    pc = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    try:
        gateway.bind_socket(pc)
        pc.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        pc.bind((server._host, server.edge.port_pc))
    except OSError:
        pc.close()
        tcp.close()
        return None
    # the main edge listener's UDP socket: what the edge forwards over UDP leaves from there
    lst = listener_cls("edge-ps-tcp", server.edge, port_ps,
                       udp=server._listener("edge").udp, tcp=tcp)

    def protector(packet: bytes) -> bytes | None:
        with server._lock:
            try:
                return seal_tcp(server.edge, packet)
            except EspError:
                raise
            except Exception as exc:  # noqa: BLE001 - the gateway thread must survive
                raise EspError(f"P-CSCF protector: {exc!r}") from None

    gateway.add_protector(protector)
    server._tcp_esp = (gateway, lst, protector, pc)
    return lst


def stop_tcp(server) -> None:
    state = getattr(server, "_tcp_esp", None)
    if state is None:
        return
    gateway, lst, protector, pc = state
    gateway.remove_protector(protector)
    pc.close()
    if lst.tcp is not None:
        lst.tcp.close()
        lst.tcp = None
    server._tcp_esp = None


def send_from_port(server, action: SendFromPort) -> bool:
    """Perform :class:`~.actions.SendFromPort`: reuse the connection of that address pair or open
    one, bound to the TUN and to the local port, with a bounded connect (as the server's own)."""
    import errno
    import selectors
    import time

    from ..server.reference import _Conn

    state = getattr(server, "_tcp_esp", None)
    if state is None:
        return False
    gateway, lst = state[0], state[1]
    for conn in server._conns.values():
        if conn.flow.local == tuple(action.local) and conn.flow.remote == tuple(action.address):
            if conn.connecting:
                conn.refs.append(action.ref)
            return server._send(conn, action.data)
    sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    try:
        gateway.bind_socket(sock)
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        sock.setblocking(False)
        sock.bind(tuple(action.local))
        rc = sock.connect_ex(tuple(action.address))
        if rc not in (0, errno.EINPROGRESS):
            raise OSError(rc, "connect failed")
    except OSError:
        sock.close()
        return False
    flow = FlowInfo("tcp", tuple(action.local), tuple(action.address), next(server._conn_ids))
    conn = _Conn(sock, flow, lst, connecting=True,
                 connect_deadline=time.monotonic() + CONNECT_TIMEOUT, refs=[action.ref])
    conn.out += action.data
    server._add_conn(conn, selectors.EVENT_WRITE)
    return True
