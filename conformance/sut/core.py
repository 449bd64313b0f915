"""The reference S-CSCF as one sans-IO node: registrar (UAS) plus terminating proxy.

:class:`ScscfNode` takes what arrived on a flow and returns :mod:`.actions`:

* REGISTER, requests addressed to the node itself (``OPTIONS sip:domain``), CANCEL/ACK that
  match nothing, and anything that does not parse go to the :class:`~.registrar.Registrar`,
  whose behaviour is unchanged (its response goes back over the flow, for UDP to the stamped
  Via: RFC 3261 section 18.2.2, RFC 3581 section 4);
* other requests for a user of our domain, or routed through us, go to the
  :class:`~.proxy.TerminatingProxy` (RFC 5626 section 7, RFC 3261 section 16);
* responses go to the proxy (they answer its branches).

The same interface (``receive``, ``flow_opened``, ``flow_closed``, ``on_timer``,
``next_deadline``, ``send_failed``) is what :class:`~.edge.EdgeProxy` offers, so the server
drives both alike.
"""

from __future__ import annotations

from ..sip.errors import ParseError
from ..sip.message import Request, parse_message
from .actions import Action, SendOnFlow
from .config import SutConfig
from .flow import FlowInfo
from .proxy import TerminatingProxy
from .registrar import Registrar, _basic_problem
from .routing import udp_destination
from ..sip.headers import parse_vias


class ScscfNode:
    """Registrar + terminating proxy listening on ``address``."""

    role = "scscf"

    def __init__(self, config: SutConfig | None = None, registrar: Registrar | None = None,
                 address: tuple[str, int] = ("127.0.0.1", 5060)):
        self.config = config or SutConfig()
        self.registrar = registrar or Registrar(self.config)
        self.proxy = TerminatingProxy(self.config, self.registrar, address)

    @property
    def address(self) -> tuple[str, int]:
        return self.proxy.address

    @address.setter
    def address(self, value: tuple[str, int]) -> None:
        self.proxy.address = value

    def receive(self, data: bytes, flow: FlowInfo, now: float,
                wall: float | None = None) -> list[Action]:
        try:
            message = parse_message(data)
        except ParseError:
            message = None
        if message is not None and not isinstance(message, Request):
            return self.proxy.handle_response(message, flow, now)
        if message is not None and self._for_proxy(message):
            return self.proxy.handle_request(message, flow, now)
        response = self.registrar.handle_bytes(data, flow, now, wall=wall)
        if response is None:
            return []
        address = None if flow.reliable else udp_destination(response, flow)
        return [SendOnFlow(flow, bytes(response), address)]

    def _for_proxy(self, request: Request) -> bool:
        try:
            vias = parse_vias(request)
        except ParseError:
            return False
        if not vias or _basic_problem(request, vias):
            return False                         # the registrar answers 400 (or drops)
        return self.proxy.wants(request)

    def flow_opened(self, flow: FlowInfo) -> None:
        pass

    def flow_closed(self, flow: FlowInfo) -> None:
        self.registrar.flow_closed(flow)         # RFC 5626 section 7, last paragraph
        self.proxy.flow_closed(flow)

    def on_timer(self, now: float) -> list[Action]:
        return self.proxy.on_timer(now)

    def next_deadline(self) -> float | None:
        return self.proxy.next_deadline()

    def send_failed(self, ref: object, now: float) -> list[Action]:
        return self.proxy.send_failed(ref, now)


__all__ = ["ScscfNode"]
