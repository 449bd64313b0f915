"""What the network side saw of a UE, as plain data (sans-IO).

The network side appends one :class:`Event` per thing that crossed its sockets (and per
connection open / close); ``conformance analyze`` builds the same from a capture.  Checks read
only this, so a check judges a live case and a field capture alike.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Iterator

from ..sip.message import Request, Response

# Event kinds.
SIP = "sip"  # a SIP message (msg is a parsed Request / Response)
UNPARSEABLE = "unparseable"  # bytes that are not a SIP message (text holds them)
PING = "ping"  # CRLFCRLF keep-alive ping (RFC 5626 §4.4.1), or a STUN Binding request (§4.4.2)
PONG = "pong"  # CRLF pong, or a STUN Binding success response
OPEN = "open"  # a connection was opened (by the UE: direction "in")
CLOSE = "close"  # a connection was closed (by whom: direction "in" = the UE closed it)

IN, OUT = "in", "out"  # in: from the UE to the network; out: from the network to the UE


@dataclass(frozen=True)
class FlowKey:
    """A flow as the network sees it (RFC 5626 §3.5): transport, UE address, network address.

    For udp the UE's source address:port; for connection transports the connection's.  With
    sec-agree, the UE's port_uc (requests it sends) and port_us (requests it receives) are two
    keys of one logical flow; ``logical`` names it (the network side fills it in)."""

    transport: str  # udp | tcp | tls | ws | wss
    ue: tuple[str, int]
    net: tuple[str, int]
    logical: str = ""  # a stable name for the flow in reports ("flow 1", "127.0.0.11:41001/udp")

    def __str__(self) -> str:
        return self.logical or f"{self.ue[0]}:{self.ue[1]}/{self.transport}"


@dataclass
class Event:
    index: int  # 1-based packet number in the case's pcap (or the capture), 0 if not in one
    time: float  # seconds since the case (capture) started
    kind: str  # SIP | UNPARSEABLE | PING | PONG | OPEN | CLOSE
    direction: str  # IN (from the UE) | OUT (to the UE)
    flow: FlowKey
    msg: Request | Response | None = None
    keepalive: str = ""  # "crlf" | "stun" for PING / PONG
    stun_mapped: tuple[str, int] | None = None  # XOR-MAPPED-ADDRESS of a STUN PONG
    text: str = ""  # raw text of an UNPARSEABLE event

    @property
    def is_request(self) -> bool:
        return isinstance(self.msg, Request)

    def method(self) -> str | None:
        if isinstance(self.msg, Request):
            return self.msg.method
        if isinstance(self.msg, Response):
            cseq = self.msg.cseq
            return cseq[1] if cseq else None
        return None


@dataclass
class Observation:
    """Everything seen in one case (or, offline, for one UE in a capture)."""

    events: list[Event] = field(default_factory=list)
    # what the network did, as the checks need it: the behaviour in force, and notes such as
    # ("closed", flow, time) the network side appends when it cut a flow on purpose
    behaviour: object | None = None  # model.NetworkBehaviour
    # (time, "network.close_flow", args); the runner notes each ue.* line too ("ue.add_flow",
    # "ue.move", ...): reg_id_distinct, add_flow_new_reg_id, move_same_reg_id and
    # no_outbound_one_flow read what the UE was asked to do
    actions: list[tuple[float, str, dict]] = field(default_factory=list)
    timers: object | None = None  # model.UeTimers declared for the UE
    instance: str | None = None  # the instance-id the profile says the UE has (None: unknown)
    aor: str | None = None
    # when the observation ended (seconds, as Event.time): the network side sets it when the case
    # ends, so a keep-alive or a retry that never came is judged over the whole case (None: the
    # last event's time)
    end: float | None = None

    def add(self, event: Event) -> Event:
        self.events.append(event)
        return event

    def sip(self, direction: str | None = None) -> Iterator[Event]:
        for e in self.events:
            if e.kind == SIP and (direction is None or e.direction == direction):
                yield e

    def requests(self, method: str | None = None) -> Iterator[Event]:
        """Requests from the UE (direction IN), of one method if given."""
        for e in self.sip(IN):
            if isinstance(e.msg, Request) and (method is None or e.msg.method == method):
                yield e

    def response_to(self, request: Event) -> Event | None:
        """The network's final response to a UE request (same Call-ID, CSeq and top Via branch)."""
        req = request.msg
        for e in self.sip(OUT):
            r = e.msg
            if (isinstance(r, Response) and r.status >= 200 and e.index > request.index
                    and r.call_id == req.call_id and r.cseq == req.cseq
                    and r.top_branch == req.top_branch):
                return e
        return None

    def keepalives(self, flow: FlowKey | None = None, direction: str = IN) -> list[Event]:
        return [e for e in self.events if e.kind == PING and e.direction == direction
                and (flow is None or e.flow == flow)]

    def network_actions(self, name: str) -> list[tuple[float, dict]]:
        return [(t, a) for t, n, a in self.actions if n == name]
