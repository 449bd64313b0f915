"""Subscriptions to the reg event package held by the reference S-CSCF (RFC 6665, RFC 3680),
as plain data: one :class:`Subscription` per SUBSCRIBE dialog, in a bounded table indexed by
dialog id and by AOR.  No I/O, no clock: times are passed in.
"""

from __future__ import annotations

from dataclasses import dataclass, field

from ..flow import FlowInfo

MAX_SUBSCRIPTIONS = 4096


@dataclass
class Subscription:
    """The notifier's side of one subscription dialog (RFC 3261 section 12.1.1 as UAS).

    ``local`` is the SUBSCRIBE's To value (the AOR) without tag, our From in NOTIFYs;
    ``remote`` the SUBSCRIBE's From with its tag, the NOTIFYs' To.  ``route_set`` are the
    SUBSCRIBE's Record-Route values in order (section 12.1.1: the UAS route set), ``target`` its
    Contact URI.  ``flow`` is where the SUBSCRIBE arrived; without a route set the NOTIFYs go
    back over it (the Contact carries ``ob``, RFC 5626 section 4.3).  ``version`` is the last
    reginfo version sent (-1 before the first, RFC 3680 section 5.1), ``cseq`` our last CSeq,
    ``remote_cseq`` the subscriber's."""

    call_id: str
    local_tag: str
    remote_tag: str
    aor: str
    local: str
    remote: str
    target: str
    route_set: tuple[str, ...]
    flow: FlowInfo
    expires_at: float
    event: str = "reg"
    remote_cseq: int = 0
    cseq: int = 0
    version: int = -1
    ended: bool = False

    @property
    def key(self) -> tuple[str, str, str]:
        return dialog_key(self.call_id, self.local_tag, self.remote_tag)


def dialog_key(call_id: str, local_tag: str, remote_tag: str) -> tuple[str, str, str]:
    return (call_id, local_tag, remote_tag)


@dataclass
class SubscriptionTable:
    """Subscriptions by dialog and by AOR; when full, the one expiring first is dropped."""

    max_entries: int = MAX_SUBSCRIPTIONS
    _by_key: dict[tuple[str, str, str], Subscription] = field(default_factory=dict)

    def add(self, sub: Subscription) -> None:
        self._by_key[sub.key] = sub
        while len(self._by_key) > self.max_entries:
            first = min(self._by_key.values(), key=lambda s: s.expires_at)
            self.remove(first)

    def get(self, key: tuple[str, str, str]) -> Subscription | None:
        return self._by_key.get(key)

    def remove(self, sub: Subscription) -> None:
        sub.ended = True
        self._by_key.pop(sub.key, None)

    def of_aor(self, aor: str) -> list[Subscription]:
        return [s for s in self._by_key.values() if s.aor == aor]

    def aors(self) -> set[str]:
        return {s.aor for s in self._by_key.values()}

    def all(self) -> list[Subscription]:
        return list(self._by_key.values())

    def __len__(self) -> int:
        return len(self._by_key)


__all__ = ["MAX_SUBSCRIPTIONS", "Subscription", "SubscriptionTable", "dialog_key"]
