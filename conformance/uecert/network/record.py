"""What the network side saw, three ways at once: :class:`~conformance.uecert.observation.Event` s
(the checks), the case's pcap (Wireshark) and :class:`~conformance.meaning.results.MessageRecord` s
(the HTML ladder).  Called from the reference's selector thread and from the runner: one lock."""

from __future__ import annotations

import threading
import time

from ...engine.recording import Recording
from ...sip.errors import ParseError
from ...sip.message import parse_message
from ...sut.flow import FlowInfo
from ..observation import CLOSE, IN, OPEN, OUT, PING, PONG, SIP, UNPARSEABLE, Event, FlowKey, Observation


def flow_key(flow: FlowInfo) -> FlowKey:
    return FlowKey(flow.transport, tuple(flow.remote), tuple(flow.local),
                   f"{flow.remote[0]}:{flow.remote[1]}/{flow.transport}")


class UeRecorder:
    def __init__(self, observation: Observation | None = None):
        self.obs = observation or Observation()
        self.rec = Recording()
        self.lock = threading.RLock()
        self.changed = threading.Condition(self.lock)

    def now(self) -> float:
        """Seconds since the case started (the events' clock)."""
        return time.monotonic() - self.rec.t0

    # -- one entry per thing seen -----------------------------------------------------------
    def sip(self, direction: str, flow: FlowInfo, data: bytes) -> Event:
        try:
            msg = parse_message(data)
            kind, text, summary = SIP, "", msg.summary()
        except (ParseError, ValueError):
            msg, kind, text = None, UNPARSEABLE, data.decode("utf-8", "replace")
            summary = "unparseable: " + text[:40].replace("\r\n", " ")
        return self._add(direction, flow, data, kind, summary, msg=msg, text=text)

    def keepalive(self, direction: str, flow: FlowInfo, data: bytes, kind: str, style: str,
                  mapped: tuple[str, int] | None = None) -> Event:
        label = {("crlf", PING): "CRLF ping", ("crlf", PONG): "CRLF pong",
                 ("stun", PING): "STUN Binding request", ("stun", PONG): "STUN Binding response"}
        return self._add(direction, flow, data, kind, label[(style, kind)], keepalive=style, stun_mapped=mapped)

    def opened(self, flow: FlowInfo) -> Event:
        return self._add(IN, flow, b"", OPEN, "connection opened")

    def closed(self, flow: FlowInfo, by: str) -> Event:
        """``by``: IN (the UE closed it) or OUT (the network did)."""
        return self._add(by, flow, b"", CLOSE, "connection closed")

    def _add(self, direction: str, flow: FlowInfo, data: bytes, kind: str, summary: str, **fields) -> Event:
        ue, net = tuple(flow.remote), tuple(flow.local)
        src, dst = (ue, net) if direction == IN else (net, ue)
        with self.changed:
            index = len(self.rec.pcap) + 1
            if kind in (OPEN, CLOSE) and flow.transport == "udp":
                index = 0                     # a UDP flow forgotten: nothing on the wire
            elif kind == OPEN:
                self.rec.on_wire(direction, flow.transport, ue, net, b"", "open")
            elif kind == CLOSE:
                self.rec.on_wire(direction, flow.transport, src, dst, b"", "close")
            else:
                self.rec.on_wire(direction, flow.transport, src, dst, data, "data")
            event = self.obs.add(Event(index, round(self.now(), 6), kind, direction, flow_key(flow), **fields))
            if kind not in (OPEN, CLOSE):
                self.rec.record("received" if direction == IN else "sent", str(event.flow), flow.transport,
                                src, dst, data, summary)
            self.changed.notify_all()
            return event

    def note(self, name: str, args: dict) -> None:
        with self.changed:
            self.obs.actions.append((round(self.now(), 6), name, dict(args)))

    def wait_for(self, predicate, timeout: float) -> bool:
        """Wait (bounded) until ``predicate()`` holds over the observation."""
        deadline = time.monotonic() + max(0.0, timeout)
        with self.changed:
            while not predicate():
                left = deadline - time.monotonic()
                if left <= 0:
                    return False
                self.changed.wait(min(left, 0.2))
            return True
