"""Flow supervision by Flow-Timer (RFC 5626 section 5.4, section 6 paragraph 11), sans-IO.

A server that put ``Flow-Timer: N`` in the 2xx to a flow's REGISTER expects a keep-alive at
least every N seconds (section 4.4.1: "The UA MUST send keep-alives at least as often as this
number of seconds").  The server "MUST wait for an amount of time larger than the Flow-Timer in
order to have a grace period to account for transport delay" (section 5.4), so a flow is
declared failed only after N + grace seconds without *any* traffic from it: a SIP message, a
CRLF ping (TCP) or a STUN request (UDP) all count.  What follows a failure is the owner's
business (the edge forgets the flow, so its token gets 430; a registrar with a direct flow
invalidates the bindings using it, section 7; a TCP connection is closed).

Time is passed in; :meth:`FlowSupervisor.next_deadline` and :meth:`FlowSupervisor.expired`
fit the ``next_deadline`` / ``on_timer(now)`` style of the nodes.
"""

from __future__ import annotations

from collections import OrderedDict

from ..flow import FlowInfo

MAX_SUPERVISED = 10_000


class FlowSupervisor:
    """Flows under supervision: flow -> (last activity, its Flow-Timer)."""

    def __init__(self, grace: float, limit: int = MAX_SUPERVISED):
        if not grace > 0:
            raise ValueError("the grace period must be positive (RFC 5626 section 5.4)")
        self.grace = float(grace)
        self.limit = limit
        self._flows: OrderedDict[FlowInfo, tuple[float, int]] = OrderedDict()
        self._next: float | None = None       # cached earliest deadline; None = recompute
        self._stale = False

    def __contains__(self, flow: FlowInfo) -> bool:
        return flow in self._flows

    def __len__(self) -> int:
        return len(self._flows)

    def watch(self, flow: FlowInfo, flow_timer: int, now: float) -> None:
        """Start (or restart) supervising ``flow`` with the Flow-Timer the UA was given."""
        self._flows[flow] = (now, int(flow_timer))
        self._flows.move_to_end(flow)
        while len(self._flows) > self.limit:
            self._flows.popitem(last=False)
        self._stale = True

    def forget(self, flow: FlowInfo) -> None:
        if self._flows.pop(flow, None) is not None:
            self._stale = True

    def activity(self, flow: FlowInfo, now: float) -> None:
        """Traffic from the flow: its deadline moves on."""
        entry = self._flows.get(flow)
        if entry is None:
            return
        before = self._deadline(entry)
        self._flows[flow] = (max(now, entry[0]), entry[1])
        if self._next is not None and before <= self._next:
            self._stale = True                 # it may have been the earliest one

    def deadline(self, flow: FlowInfo) -> float | None:
        entry = self._flows.get(flow)
        return self._deadline(entry) if entry is not None else None

    def _deadline(self, entry: tuple[float, int]) -> float:
        return entry[0] + entry[1] + self.grace

    def next_deadline(self) -> float | None:
        if self._stale or (self._next is None and self._flows):
            self._next = min((self._deadline(e) for e in self._flows.values()), default=None)
            self._stale = False
        return self._next

    def expired(self, now: float) -> list[FlowInfo]:
        """The flows silent for longer than Flow-Timer + grace; they are no longer supervised."""
        nxt = self.next_deadline()
        if nxt is None or nxt > now:
            return []
        dead = [f for f, e in self._flows.items() if self._deadline(e) <= now]
        for f in dead:
            del self._flows[f]
        self._stale = True
        return dead


__all__ = ["FlowSupervisor", "MAX_SUPERVISED"]
