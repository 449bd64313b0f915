"""The reference S-CSCF as one sans-IO node: registrar (UAS) plus terminating proxy.

:class:`ScscfNode` takes what arrived on a flow and returns :mod:`~conformance.sut.actions`:

* REGISTER, requests addressed to the node itself (``OPTIONS sip:domain``), CANCEL/ACK that
  match nothing, and anything that does not parse go to the :class:`~.registrar.Registrar`,
  whose behaviour is unchanged (its response goes back over the flow, for UDP to the stamped
  Via: RFC 3261 section 18.2.2, RFC 3581 section 4);
* other requests for a user of our domain, or routed through us, go to the
  :class:`~.terminating.TerminatingProxy` (RFC 5626 section 7, RFC 3261 section 16);
* responses go to the proxy (they answer its branches);
* with ``reg_event`` on, SUBSCRIBE for the reg event package and the answers to its NOTIFYs go
  to the :class:`~.regevent.RegEventNotifier` (RFC 3680), which the binding table tells of
  every change; its NOTIFYs are flushed after each event (a REGISTER's 2xx goes out first).

The same interface (``receive``, ``flow_opened``, ``flow_closed``, ``flow_activity``,
``on_timer``, ``next_deadline``, ``send_failed``) is what :class:`~conformance.sut.edge.proxy.EdgeProxy` offers, so
the server drives both alike.

Direct flows and Flow-Timer (RFC 5626 section 6 paragraph 11): when the registrar's 2xx to a
REGISTER that came straight from the UA carries a Flow-Timer, the node supervises that flow
like an edge proxy does (section 5.4, ``FlowSupervisor`` in common/supervision.py); a flow
silent for longer than Flow-Timer + ``flow_grace`` is known to be dead, so every binding using it is
invalidated (section 7) and a TCP flow's connection is closed (section 7: "if a proxy closes a
file descriptor, it MUST invalidate all the bindings ... with flows that use that file
descriptor").
"""

from __future__ import annotations

from ...sip.errors import ParseError
from ...sip.headers import parse_flow_timer, parse_vias
from ...sip.message import Request, Response, parse_message
from ..actions import Action, CloseFlow, SendOnFlow
from ..common.keep import add_keep
from ..common.responses import basic_problem
from ..common.routing import udp_destination
from ..common.supervision import FlowSupervisor
from ..config import SutConfig
from ..flow import FlowInfo
from .regevent import RegEventNotifier
from .registrar import Registrar
from .terminating import TerminatingProxy


class ScscfNode:
    """Registrar + terminating proxy listening on ``address``."""

    role = "scscf"

    def __init__(self, config: SutConfig | None = None, registrar: Registrar | None = None,
                 address: tuple[str, int] = ("127.0.0.1", 5060)):
        self.config = config or SutConfig()
        self.registrar = registrar or Registrar(self.config)
        self.proxy = TerminatingProxy(self.config, self.registrar, address)
        self.supervisor = FlowSupervisor(self.config.flow_grace)
        if self.config.has_fault("no-flow-grace"):
            self.supervisor.grace = 0.0                  # FAULT: a flow fails at exactly Flow-Timer
        self.failed_flows: list[FlowInfo] = []            # declared failed, newest last (bounded)
        self.notifier: RegEventNotifier | None = None
        if self.config.reg_event_on:
            self.notifier = RegEventNotifier(
                self.config, self.registrar.table, tag_secret=self.registrar.tag_secret,
                server=self.registrar.server_header, address_of=lambda: self.proxy.address,
                gruus=self.registrar.gruu)
            self.registrar.table.observer = self.notifier.on_change
            if self.config.pcscf_reg_event:
                self.notifier.watchers.add(self.config.pcscf_uri)   # TS 24.229 5.2.3

    @property
    def address(self) -> tuple[str, int]:
        return self.proxy.address

    @address.setter
    def address(self, value: tuple[str, int]) -> None:
        self.proxy.address = value

    @property
    def stream_addresses(self) -> dict[str, tuple[str, int]]:
        """The TLS / WS / WSS listeners serving this node, transport -> (host, port) (filled by
        the server; a Route naming one of them names this node)."""
        return self.proxy.stream_addresses

    def receive(self, data: bytes, flow: FlowInfo, now: float,
                wall: float | None = None) -> list[Action]:
        actions = self._receive(data, flow, now, wall)
        if self.notifier is not None:
            actions += self.notifier.flush(now)          # RFC 3680: NOTIFYs after the change
        return actions

    def _receive(self, data: bytes, flow: FlowInfo, now: float,
                 wall: float | None = None) -> list[Action]:
        self.supervisor.activity(flow, now)              # any traffic keeps a flow alive
        try:
            message = parse_message(data)
        except ParseError:
            message = None
        if message is not None and not isinstance(message, Request):
            if self.notifier is not None and self.notifier.owns(message):
                return self.notifier.handle_response(message, now)
            return self.proxy.handle_response(message, flow, now)
        if (message is not None and self.notifier is not None and self.notifier.wants(message)
                and self._well_formed(message)):
            return self.notifier.handle_subscribe(message, flow, now)
        if message is not None and self._for_proxy(message):
            return self.proxy.handle_request(message, flow, now)
        response = self.registrar.handle_bytes(data, flow, now, wall=wall)
        if response is None:
            return []
        self._supervise(response, flow, now)
        add_keep(response, self.config.flow_timer)       # RFC 6223 §4.4: willing to receive keep-alives
        address = None if flow.reliable else udp_destination(response, flow)
        return [SendOnFlow(flow, bytes(response), address)]

    def _for_proxy(self, request: Request) -> bool:
        return self._well_formed(request) and self.proxy.wants(request)

    @staticmethod
    def _well_formed(request: Request) -> bool:
        try:
            vias = parse_vias(request)
        except ParseError:
            return False
        return bool(vias) and not basic_problem(request, vias)   # else the registrar answers 400

    def _supervise(self, response: Response, flow: FlowInfo, now: float) -> None:
        """A 2xx to REGISTER with a Flow-Timer went back over a direct flow (the registrar adds
        one only then, section 6 paragraph 11): watch that flow for keep-alives."""
        cseq = response.cseq
        if not (cseq and cseq[1] == "REGISTER" and 200 <= response.status < 300
                and response.has("Flow-Timer")):
            return
        try:
            value = parse_flow_timer(response.get("Flow-Timer") or "")
        except ParseError:
            return
        if not self.config.has_fault("ignore-flow-timer"):
            self.supervisor.watch(flow, value, now)
        # else FAULT: Flow-Timer announced, the flow never supervised

    def flow_opened(self, flow: FlowInfo) -> None:
        pass

    def flow_closed(self, flow: FlowInfo) -> None:
        self.registrar.flow_closed(flow)         # RFC 5626 section 7, last paragraph
        self.proxy.flow_closed(flow)
        self.supervisor.forget(flow)

    def flow_activity(self, flow: FlowInfo, now: float) -> None:
        """Traffic that is not a SIP message (a CRLF ping, a STUN request) arrived on the flow."""
        self.supervisor.activity(flow, now)

    def on_timer(self, now: float) -> list[Action]:
        actions = self.proxy.on_timer(now)
        if self.notifier is not None:
            actions += self.notifier.on_timer(now)       # retransmissions, expiries
        for flow in self.supervisor.expired(now):
            # Section 5.4: silent for longer than Flow-Timer + grace, the flow is dead; section 7:
            # every binding using it is invalidated, whatever its AOR.
            self.registrar.flow_closed(flow)
            self.proxy.flow_closed(flow)
            self.failed_flows.append(flow)
            del self.failed_flows[:-100]
            if flow.reliable:
                actions.append(CloseFlow(flow))
        if self.notifier is not None:
            actions += self.notifier.flush(now)          # "deactivated" contacts
        return actions

    def next_deadline(self) -> float | None:
        notifier = self.notifier.next_deadline() if self.notifier is not None else None
        times = [t for t in (self.proxy.next_deadline(), self.supervisor.next_deadline(), notifier)
                 if t is not None]
        return min(times) if times else None

    def send_failed(self, ref: object, now: float) -> list[Action]:
        if self.notifier is not None and isinstance(ref, tuple) and ref and ref[0] == "notify":
            return self.notifier.send_failed(ref, now)
        return self.proxy.send_failed(ref, now)


__all__ = ["ScscfNode"]
