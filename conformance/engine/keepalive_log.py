"""The keep-alives a case run received (CRLF pongs and pings, STUN answers): the exchange records
them as they arrive on any flow, and the keep-alive step kinds look for theirs in the log."""

from __future__ import annotations

from dataclasses import dataclass, field


@dataclass
class KeepaliveLog:
    #: (flow, kind "pong"|"ping"|"stun", data, message index, monotonic time)
    seen: list[tuple[str, str, bytes, int, float]] = field(default_factory=list)
