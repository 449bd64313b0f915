"""The reference P-CSCF's protected TCP: SIP over TCP over ESP on ``port_ps`` (TUN gateway), sans-IO.

:class:`~.proxy.ImsEdgeProxy` demultiplexes ESP itself (its mailbox of the raw-socket hub) and
checks every packet (unknown SPI, replay window, ICV, selectors).  A checked packet that carries
TCP goes back to the kernel through the TUN device (:meth:`ProtectedTcpMixin.inject_tcp`, the
``InjectIp`` action), where the P-CSCF's listener on ``port_ps`` (bound to the TUN, so clear
TCP over ``lo`` never reaches it) and its connections live (the server's side:
:mod:`conformance.sut.server.protected_tcp`).  What those sockets send comes out of the TUN and
is sealed by :meth:`~ProtectedTcpMixin.seal_tcp` with the SA set whose selectors it matches (the
gateway's protector).

What arrives on a ``port_ps`` connection is handled as protected traffic of the SA set whose
SA 1 names that connection's ports (UE ``port_uc`` -> P-CSCF ``port_ps``): a REGISTER as
:meth:`~.proxy.ImsEdgeProxy._protected_register` does, anything else as the edge proxy does on
that flow.  The connection becomes the SA set's flow: with outbound, TS 24.229 5.1.1.2.2 b)
makes "the TCP connection between the UE and the P-CSCF [...] established by the UE" the flow,
so responses and terminating requests use it (TP_IMS_013).  A registration without outbound
(no reg-id in its Contact) gets its requests the TS 33.203 way instead: over a connection the
P-CSCF opens from ``port_pc`` to the UE's ``port_us`` (SA 3 out, SA 4 back; TS 33.203 7.1, [M]
not read here) -- :meth:`~ProtectedTcpMixin.route_tcp_request`.
"""

from __future__ import annotations

from ...ims.esp import PROTO_ESP, PROTO_TCP
from ...ims.ippkt import ipv4_wrap
from ...ims.tuncore import clear_selector
from ...sip.errors import ParseError
from ...sip.headers import parse_contacts
from ...sip.message import Response, parse_message
from ..actions import Action, InjectIp, SendFromPort, SendOnFlow
from ..flow import FlowInfo

__all__ = ["ProtectedTcpMixin"]

MAX_TCP_FLOWS = 4096


def _uses_outbound(request) -> bool:
    try:
        return any(c.has_param("reg-id") for c in parse_contacts(request) if not c.star)
    except ParseError:
        return False


class ProtectedTcpMixin:
    """Needs ``port_ps``, ``by_nonce``, ``by_flow``, ``supervisor``, ``config``, ``protect``,
    ``_drop``, ``_response``, ``_request``, ``_reply``, ``_protected_register`` (all of
    :class:`~.proxy.ImsEdgeProxy`)."""

    def __init__(self, *args, **kwargs):
        super().__init__(*args, **kwargs)
        # flow -> whether its latest REGISTER used outbound (bounded)
        self._tcp_outbound: dict[FlowInfo, bool] = {}

    @staticmethod
    def inject_tcp(src: str, dst: str, segment: bytes) -> list[Action]:
        """A checked TCP segment from ESP: into the TUN with the SA's addresses."""
        return [InjectIp(ipv4_wrap(src, dst, PROTO_TCP, segment))]

    def _tcp_record(self, flow: FlowInfo):
        (ue_ip, port_uc), port_ps = flow.remote, flow.local[1]
        for rec in reversed(list(self.by_nonce.values())):     # the newest set first
            sa1 = rec.sas[1]
            if (sa1.src, sa1.sport, sa1.dport) == (ue_ip, port_uc, port_ps):
                return rec
        return None

    def receive_tcp(self, data: bytes, flow: FlowInfo, now: float) -> list[Action]:
        """A SIP message on a ``port_ps`` connection (it came through the TUN gateway)."""
        rec = self._tcp_record(flow)
        if rec is None:
            return self._drop(f"TCP from {flow.remote[0]}:{flow.remote[1]} on protected port "
                              f"{flow.local[1]} with no SA set")
        try:
            message = parse_message(data)
        except ParseError:
            return self._drop("protected TCP data is not SIP")
        if rec.flow != flow:        # this connection is now the SA set's flow (TS 24.229 5.1.1.2.2 b))
            if self.by_flow.get(rec.flow) is rec:
                del self.by_flow[rec.flow]
                self.by_flow[flow] = rec
            rec.flow = flow
        self.supervisor.activity(flow, now)
        if isinstance(message, Response):
            return self.protect(self._response(message, flow, now), now)
        try:
            if message.method == "REGISTER":
                self._outbound_flows()[flow] = _uses_outbound(message)
                actions = self._protected_register(message, rec, now)
            else:
                actions = self._request(message, flow, now)
        except Exception as exc:  # noqa: BLE001 - as EdgeProxy.receive
            actions = [] if message.method == "ACK" else \
                self._reply(message, flow, 500, f"internal error: {exc!r}")
        return self.protect(actions, now)

    def seal_tcp(self, packet: bytes) -> bytes | None:
        """The ESP packet for a clear packet the P-CSCF's TUN-bound sockets sent (None: no SA set
        has its selectors, e.g. the set was deleted: the gateway drops it)."""
        (src, sport, dst, dport), proto, segment = clear_selector(packet)
        for rec in reversed(list(self.by_nonce.values())):
            sa = rec.sas.for_ports(sport, dport)
            if sa is not None and sa.inbound_at == "ue" and (sa.src, sa.dst) == (src, dst):
                _, esp = rec.endpoint.protect(sport, dport, proto, segment)
                return ipv4_wrap(src, dst, PROTO_ESP, esp)
        return None

    def _outbound_flows(self) -> dict:
        flows = self._tcp_outbound
        while len(flows) > MAX_TCP_FLOWS:
            flows.pop(next(iter(flows)))
        return flows

    def route_tcp_request(self, action: SendOnFlow) -> list[Action]:
        """Where a request for the UE goes on a protected TCP flow: with outbound on the flow
        itself, the UE's connection (TS 24.229 5.1.1.2.2 b)); without, over a connection from
        ``port_pc`` to the UE's ``port_us`` (TS 33.203 7.1 [M]).  FAULT ``wrong-terminating-port``
        swaps the two."""
        outbound = self._outbound_flows().get(action.flow, True)
        if outbound != self.config.has_fault("wrong-terminating-port"):
            return [action]
        rec = self.by_flow.get(action.flow) or next(
            (r for r in self.by_nonce.values() if r.flow == action.flow), None)
        if rec is None:
            return [action]
        sa3 = rec.sas[3]
        return [SendFromPort((sa3.src, sa3.sport), (sa3.dst, sa3.dport), action.data, action.ref)]
