"""Sans-IO binding table of the reference registrar.

A binding ties an address-of-record to a contact.  Two kinds share one table (RFC 5626 section 6
para 7: "The registrar MUST be prepared to receive, simultaneously for the same AOR, some
registrations that use instance-id and reg-id and some registrations that do not"):

* outbound bindings, keyed by (AOR, instance-id, reg-id) (RFC 5626 section 6 para 8; "the
  Contact URI is not used for binding comparisons");
* plain bindings, keyed by (AOR, Contact URI) with the URI comparison of RFC 3261 section 19.1.4
  (RFC 3261 section 10.3 step 7).

Time is never read here: every call that depends on it takes ``now`` (seconds, any epoch).
The registrar edits a copy of an AOR's list and commits it in one step, which gives the
all-or-nothing processing of RFC 3261 section 10.3 ("processed atomically").

``observer`` (optional) hears every change of an AOR's list as ``observer(aor, before, after,
cause)`` with cause ``"register"`` (a committed REGISTER), ``"expired"`` (expired bindings
dropped when the AOR was read) or ``"deactivated"`` (a flow failed, RFC 5626 section 7): the reg
event notifier (regevent.py) turns these into NOTIFYs.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field
from typing import Callable, Iterable

from ..flow import FlowInfo


class TableFull(Exception):
    """Committing would exceed the configured bounds; the registrar answers 503."""


def instance_key(instance: str) -> str:
    """Comparison form of an instance-id.

    RFC 5626 section 4.1: instance-ids are URNs compared "using the rules for URN equality that
    are specific to the scheme in the URN".  The "urn" scheme and the namespace id are
    case-insensitive (RFC 8141 section 3); for the uuid namespace the hex digits are case
    insensitive too (RFC 4122 section 3).  Other namespaces keep their specific string as is.
    """
    value = instance.strip()
    if value.startswith("<") and value.endswith(">"):
        value = value[1:-1]
    parts = value.split(":", 2)
    if len(parts) == 3 and parts[0].lower() == "urn":
        nid = parts[1].lower()
        nss = parts[2].lower() if nid == "uuid" else parts[2]
        return f"urn:{nid}:{nss}"
    return value


@dataclass(frozen=True, eq=False)
class Binding:
    """One registered contact.  Frozen: updates create a new object.  Compared by identity
    (``eq=False``): two bindings are the same only if they are the same record.

    ``contact`` is the parsed Contact value as received (its ``expires`` parameter is ignored
    when the binding is listed; the remaining lifetime is computed from ``expires_at``).
    ``outbound`` is True when the binding is keyed by instance and reg-id; ``direct`` when the
    request came straight from the UA (a single Via), in which case ``flow`` is the flow to reuse
    for requests towards it (RFC 5626 section 6 para 9, section 7).
    """

    aor: str
    contact: object
    instance: str | None
    reg_id: int | None
    call_id: str
    cseq: int
    expires_at: float
    path: tuple[str, ...] = ()
    flow: FlowInfo | None = None
    impi: str | None = None
    outbound: bool = False
    direct: bool = False
    touched: int = 0                    # order of the last change, for "most recent" questions

    @property
    def instance_key(self) -> str | None:
        return instance_key(self.instance) if self.instance is not None else None

    def remaining(self, now: float) -> int:
        """Seconds left, never 0 for a live binding (0 would read as a removal)."""
        return max(1, math.ceil(self.expires_at - now - 1e-9)) if self.alive(now) else 0

    def alive(self, now: float) -> bool:
        return self.expires_at > now


@dataclass
class BindingTable:
    """All bindings, grouped by canonical AOR, with bounds on the total and per-AOR counts."""

    max_bindings: int = 10_000
    max_per_aor: int = 64
    _by_aor: dict[str, list[Binding]] = field(default_factory=dict)
    _counter: int = 0
    observer: Callable[[str, list[Binding], list[Binding], str], None] | None = None

    # -- reading -----------------------------------------------------------------------------
    def bindings(self, aor: str, now: float) -> list[Binding]:
        """Current bindings of an AOR in registration order; expired ones are dropped."""
        current = self._by_aor.get(aor, [])
        live = [b for b in current if b.alive(now)]
        if len(live) != len(current):
            self._store(aor, live, "expired")
        return list(live)

    lookup = bindings

    def __len__(self) -> int:
        return sum(len(v) for v in self._by_aor.values())

    def aors(self) -> list[str]:
        return list(self._by_aor)

    def stored(self, aor: str) -> list[Binding]:
        """The AOR's bindings as stored (expired ones not yet dropped), without a clock."""
        return list(self._by_aor.get(aor, []))

    # -- writing -----------------------------------------------------------------------------
    def next_touch(self) -> int:
        self._counter += 1
        return self._counter

    def commit(self, aor: str, bindings: Iterable[Binding], now: float) -> None:
        """Replace the AOR's list in one step, or raise :class:`TableFull` and change nothing."""
        new = [b for b in bindings if b.alive(now)]
        if len(new) > self.max_per_aor:
            raise TableFull(f"{aor} would have {len(new)} bindings (limit {self.max_per_aor})")
        others = len(self) - len(self._by_aor.get(aor, []))
        if others + len(new) > self.max_bindings:
            self.purge(now)
            others = len(self) - len(self._by_aor.get(aor, []))
            if others + len(new) > self.max_bindings:
                raise TableFull(f"the table holds {others} bindings (limit {self.max_bindings})")
        self._store(aor, new, "register")

    def purge(self, now: float) -> int:
        """Drop every expired binding; return how many went."""
        dropped = 0
        for aor in list(self._by_aor):
            before = len(self._by_aor[aor])
            dropped += before - len(self.bindings(aor, now))
        return dropped

    def drop_where(self, predicate: Callable[[Binding], bool]) -> list[Binding]:
        """Remove (regardless of AOR) the bindings matching ``predicate``; return them."""
        removed: list[Binding] = []
        for aor in list(self._by_aor):
            keep = []
            for b in self._by_aor[aor]:
                (removed if predicate(b) else keep).append(b)
            self._store(aor, keep, "deactivated")
        return removed

    def drop_flow(self, flow: FlowInfo) -> list[Binding]:
        """RFC 5626 section 7: when a flow is known to be dead (a TCP connection closed), the
        bindings that use it are invalidated, whatever their AOR.  Only bindings whose flow is
        a direct flow to the UA depend on it; bindings reached through an edge proxy's Path do
        not."""
        return self.drop_where(lambda b: b.direct and b.outbound and b.flow == flow)

    def clear(self) -> None:
        self._by_aor.clear()

    def _store(self, aor: str, bindings: list[Binding], cause: str) -> None:
        before = self._by_aor.get(aor, [])
        if self.observer is not None and (len(before) != len(bindings)
                                          or any(a is not b for a, b in zip(before, bindings))):
            self.observer(aor, list(before), list(bindings), cause)
        if bindings:
            self._by_aor[aor] = bindings
        else:
            self._by_aor.pop(aor, None)


__all__ = ["Binding", "BindingTable", "TableFull", "instance_key"]
