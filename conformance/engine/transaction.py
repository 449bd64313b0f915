"""Non-INVITE client transaction timers (RFC 3261 §17.1.2), sans-IO: time is passed in.

Over UDP the request is retransmitted at Timer E (T1, doubling up to T2; T2 once a provisional
response arrived) until a final response or Timer F.  Over TCP nothing is retransmitted.  Timer
F is 64*T1 in the RFC; the suite bounds it further by the target's response timeout so that a
silent SUT costs seconds, not half a minute.
"""

from __future__ import annotations

from dataclasses import dataclass, field

RETRANSMIT = "retransmit"
TIMEOUT = "timeout"


@dataclass
class ClientTransaction:
    reliable: bool
    t1: float
    t2: float
    timeout: float
    started: float
    state: str = "trying"  # trying | proceeding | completed | terminated
    retransmissions: int = 0
    _e_interval: float = field(init=False)
    _e_at: float | None = field(init=False)
    _f_at: float = field(init=False)

    def __post_init__(self) -> None:
        self._e_interval = self.t1
        self._e_at = None if self.reliable else self.started + self.t1
        self._f_at = self.started + min(64 * self.t1, self.timeout)

    def next_deadline(self) -> float | None:
        """When :meth:`on_timer` must next be called, or None once finished."""
        if self.state in ("completed", "terminated"):
            return None
        if self._e_at is None:
            return self._f_at
        return min(self._e_at, self._f_at)

    def on_timer(self, now: float) -> str | None:
        if self.state in ("completed", "terminated"):
            return None
        if now >= self._f_at:
            self.state = "terminated"
            return TIMEOUT
        if self._e_at is not None and now >= self._e_at:
            self.retransmissions += 1
            if self.state == "proceeding":
                self._e_interval = self.t2
            else:
                self._e_interval = min(2 * self._e_interval, self.t2)
            self._e_at = now + self._e_interval
            return RETRANSMIT
        return None

    def on_response(self, status: int) -> bool:
        """Feed a matching response; True when it is final."""
        if self.state in ("completed", "terminated"):
            return False
        if status < 200:
            self.state = "proceeding"
            if self._e_at is not None:
                self._e_interval = self.t2
            return False
        self.state = "completed"
        return True
