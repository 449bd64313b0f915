"""A thin tap around the reference edge node (the P-CSCF the UE talks to).

The reference's I/O layer calls its node for everything that arrives and performs the actions
the node returns; :class:`EdgeTap` stands in for the node, records what crosses the UE side
(the S-CSCF side is the network's inside and is left out) and applies the behaviours that
answer instead of the edge (``reject``).  Network actions that touch a flow (close it) are
queued and handed to the I/O layer from ``on_timer``, in its own thread.
"""

from __future__ import annotations

from ...sip.errors import ParseError
from ...sip.headers import parse_vias
from ...sip.message import Request, Response, parse_message
from ...sut.actions import CloseFlow, SendOnFlow, SendToHop
from ...sut.common.responses import build_response
from ...sut.common.routing import udp_destination
from ...sut.flow import FlowInfo
from ..observation import IN, OUT
from .record import UeRecorder, flow_key

_OWN = ("_node", "_rec", "_side", "flows", "_pending", "_closing", "_rejected", "_registered")


class EdgeTap:
    def __init__(self, node, recorder: UeRecorder, side) -> None:
        object.__setattr__(self, "_node", node)
        object.__setattr__(self, "_rec", recorder)
        object.__setattr__(self, "_side", side)
        object.__setattr__(self, "flows", {})        # FlowKey -> FlowInfo of every UE flow seen
        object.__setattr__(self, "_pending", [])     # actions queued by the runner's thread
        object.__setattr__(self, "_closing", set())  # flows the network closes on purpose
        object.__setattr__(self, "_rejected", 0)
        object.__setattr__(self, "_registered", set())  # Call-IDs that got a 2xx to REGISTER

    def __getattr__(self, name):
        return getattr(self._node, name)

    def __setattr__(self, name, value):
        if name in _OWN:
            object.__setattr__(self, name, value)
        else:
            setattr(self._node, name, value)

    # -- the node interface the I/O layer calls ----------------------------------------------
    def receive(self, data: bytes, flow: FlowInfo, now: float, wall: float):
        if not self._side.is_ue(flow.remote):
            return self._out(self._node.receive(data, flow, now, wall))
        self.flows.setdefault(flow_key(flow), flow)
        event = self._rec.sip(IN, flow, data)
        if isinstance(event.msg, Request) and event.msg.method == "REGISTER":
            refusal = self._refusal(event.msg, flow)
            if refusal is not None:
                return self._out([refusal])
        return self._out(self._node.receive(data, flow, now, wall))

    def flow_opened(self, flow: FlowInfo) -> None:
        if self._side.is_ue(flow.remote):
            self.flows.setdefault(flow_key(flow), flow)
            self._rec.opened(flow)
        self._node.flow_opened(flow)

    def flow_closed(self, flow: FlowInfo) -> None:
        if self._side.is_ue(flow.remote):
            by = OUT if flow in self._closing else IN
            self._closing.discard(flow)
            self._rec.closed(flow, by)
        self._node.flow_closed(flow)

    def flow_activity(self, flow: FlowInfo, now: float) -> None:
        self._node.flow_activity(flow, now)

    def on_timer(self, now: float):
        queued, self._pending[:] = list(self._pending), []
        actions = []
        for item in queued:
            if isinstance(item, FlowInfo):       # a UDP flow the network forgets
                self._rec.closed(item, OUT)
                self._node.flow_closed(item)
            else:
                actions.append(item)
        return actions + self._out(self._node.on_timer(now))

    def next_deadline(self):
        if self._pending:
            return 0.0                            # due at once: the I/O loop calls on_timer
        return self._node.next_deadline()

    def send_failed(self, ref, now: float):
        return self._out(self._node.send_failed(ref, now))

    # -- the runner's side -------------------------------------------------------------------
    def close(self, flow: FlowInfo) -> None:
        """Close (tcp/tls/ws/wss) or forget (udp) a UE flow, from the I/O thread."""
        if flow.reliable:
            self._closing.add(flow)
            self._pending.append(CloseFlow(flow))
        else:
            self._pending.append(flow)

    # -- helpers -----------------------------------------------------------------------------
    def _out(self, actions):
        actions = list(actions or ())
        for a in actions:
            if isinstance(a, SendOnFlow):
                dest = a.address or a.flow.remote
                if self._side.is_ue(dest):
                    flow = a.flow if a.address is None else FlowInfo("udp", a.flow.local, tuple(dest))
                    self._note_response(self._rec.sip(OUT, flow, a.data))
            elif isinstance(a, SendToHop) and self._side.is_ue(a.address):
                edge = self._side.edge_address(a.transport)
                self._note_response(self._rec.sip(OUT, FlowInfo("udp" if a.transport == "udp" else "tcp", edge,
                                                                tuple(a.address)), a.data))
        return actions

    def _note_response(self, event) -> None:
        r = event.msg
        if isinstance(r, Response) and 200 <= r.status < 300 and r.cseq and r.cseq[1] == "REGISTER":
            self._registered.add(r.call_id)

    def _refusal(self, request: Request, flow: FlowInfo):
        """The behaviour's ``reject``: an error response instead of the edge, ``count`` times."""
        spec = self._side.behaviour.reject
        if not spec or self._rejected >= int(spec.get("count", 1)):
            return None
        match = spec.get("match", "any")
        refresh = request.call_id in self._registered
        if (match == "initial" and refresh) or (match == "refresh" and not refresh):
            return None
        try:
            top = parse_vias(request)[0]
        except (ParseError, IndexError):
            return None
        self._rejected += 1
        headers = []
        if spec.get("retry_after") is not None:
            headers.append(("Retry-After", str(int(spec["retry_after"]))))
        response = build_response(request, int(spec["status"]), flow, top_via=top,
                                  tag_secret="uecert-network", server="outbound-conformance UE network",
                                  headers=headers)
        data = bytes(response)
        return SendOnFlow(flow, data, None if flow.reliable else udp_destination(parse_message(data), flow))
