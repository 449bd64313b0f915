"""Non-INVITE server transactions, reduced to what a registrar needs: absorb retransmissions.

RFC 3261 section 17.2.2: in the Completed state "the server transaction MUST pass the final
response to the transport layer for retransmission" whenever the request is retransmitted, and
it stays there for Timer J, 64*T1 = 32 s for unreliable transports (section 17.2.2, Table 4).
Matching follows section 17.2.3: top Via branch (when it carries the magic cookie), sent-by and
method; for older clients without the cookie, the RFC 2543 style fields are compared.

Sans-IO: the caller passes ``now``.
"""

from __future__ import annotations

from collections import OrderedDict
from dataclasses import dataclass
from typing import Hashable

from ...sip.message import Request, Response

MAGIC_COOKIE = "z9hG4bK"
TIMER_J = 32.0  # 64 * T1 with T1 = 500 ms (RFC 3261 section 17.2.2)


def transaction_key(request: Request, branch: str | None, sent_by: tuple[str, int | None]) -> Hashable:
    """The section 17.2.3 match key of a request (ACK is keyed like the INVITE it acknowledges)."""
    method = "INVITE" if request.method == "ACK" else request.method
    host, port = sent_by
    if branch and branch.startswith(MAGIC_COOKIE):
        return ("3261", branch, host.lower(), port, method)
    vias = request.values("Via")
    return ("2543", request.uri, request.get("From"), request.get("To"), request.get("Call-ID"),
            request.get("CSeq"), vias[0] if vias else None, method)


@dataclass
class _Entry:
    expires_at: float
    response: Response


class TransactionCache:
    """Final responses of recent server transactions, bounded in size and in time."""

    def __init__(self, max_entries: int = 4096, lifetime: float = TIMER_J):
        self.max_entries = max_entries
        self.lifetime = lifetime
        self._entries: OrderedDict[Hashable, _Entry] = OrderedDict()

    def get(self, key: Hashable, now: float) -> Response | None:
        self.expire(now)
        entry = self._entries.get(key)
        return entry.response if entry is not None else None

    def put(self, key: Hashable, response: Response, now: float) -> None:
        self.expire(now)
        self._entries[key] = _Entry(now + self.lifetime, response)
        self._entries.move_to_end(key)
        while len(self._entries) > self.max_entries:
            self._entries.popitem(last=False)

    def expire(self, now: float) -> None:
        # Entries are inserted in time order with one lifetime, so the oldest expire first.
        while self._entries:
            key, entry = next(iter(self._entries.items()))
            if entry.expires_at > now:
                break
            del self._entries[key]

    def __len__(self) -> int:
        return len(self._entries)


__all__ = ["MAGIC_COOKIE", "TIMER_J", "TransactionCache", "transaction_key"]
