"""Non-INVITE client transaction timers (RFC 3261 §17.1.2), sans-IO: time is passed in.

Over UDP the request is retransmitted at Timer E (T1, doubling up to T2; T2 once a provisional
response arrived) until a final response or Timer F.  Over TCP nothing is retransmitted.  Timer
F is 64*T1 in the RFC; the suite bounds it further by the target's response timeout so that a
silent SUT costs seconds, not half a minute.
"""

from __future__ import annotations

RETRANSMIT = "retransmit"
TIMEOUT = "timeout"


_DONE = ("completed", "terminated")


class ReliableTransaction:
    """Over TCP: no retransmission, only Timer F.  Slotted and small, as the load generator
    makes one per request (hundreds of thousands a run)."""

    __slots__ = ("state", "retransmissions", "_f_at")

    def __init__(self, f_at: float):
        self.state = "trying"  # trying | proceeding | completed | terminated
        self.retransmissions = 0
        self._f_at = f_at

    def next_deadline(self) -> float | None:
        """When :meth:`on_timer` must next be called, or None once finished."""
        return None if self.state in _DONE else self._f_at

    def on_timer(self, now: float) -> str | None:
        if self.state in _DONE:
            return None
        if now >= self._f_at:
            self.state = "terminated"
            return TIMEOUT
        return None

    def on_response(self, status: int) -> bool:
        """Feed a matching response; True when it is final."""
        if self.state in _DONE:
            return False
        self.state = "proceeding" if status < 200 else "completed"
        return status >= 200


class UnreliableTransaction:
    """Over UDP: Timer E (T1 doubling up to T2; T2 once a provisional response came) and
    Timer F."""

    __slots__ = ("state", "retransmissions", "t2", "_e_interval", "_e_at", "_f_at")

    def __init__(self, t1: float, t2: float, f_at: float, started: float):
        self.state = "trying"
        self.retransmissions = 0
        self.t2 = t2
        self._e_interval = t1
        self._e_at = started + t1
        self._f_at = f_at

    def next_deadline(self) -> float | None:
        if self.state in _DONE:
            return None
        return min(self._e_at, self._f_at)

    def on_timer(self, now: float) -> str | None:
        if self.state in _DONE:
            return None
        if now >= self._f_at:
            self.state = "terminated"
            return TIMEOUT
        if now >= self._e_at:
            self.retransmissions += 1
            if self.state == "proceeding":
                self._e_interval = self.t2
            else:
                self._e_interval = min(2 * self._e_interval, self.t2)
            self._e_at = now + self._e_interval
            return RETRANSMIT
        return None

    def on_response(self, status: int) -> bool:
        if self.state in _DONE:
            return False
        if status < 200:
            self.state = "proceeding"
            self._e_interval = self.t2
            return False
        self.state = "completed"
        return True


def timer_f(t1: float, timeout: float, started: float) -> float:
    """Timer F's deadline: 64*T1 (RFC 3261 §17.1.2.2), bounded by the case's response timeout."""
    return started + min(64 * t1, timeout)


def ClientTransaction(*, reliable: bool, t1: float, t2: float, timeout: float,  # noqa: N802
                      started: float) -> ReliableTransaction | UnreliableTransaction:
    """The client transaction for one request sent at ``started``."""
    f_at = timer_f(t1, timeout, started)
    return ReliableTransaction(f_at) if reliable else UnreliableTransaction(t1, t2, f_at, started)
