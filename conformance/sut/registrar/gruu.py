"""GRUUs of the reference registrar (RFC 5627 sections 5 and 6.1), sans-IO.

What the registry holds, per (AOR, instance) -- the instance in the comparison form of
:func:`~.bindings.instance_key`:

* the public GRUU (section 5.1: "constructed by adding the "gr" URI parameter, with a value, to
  the AOR"; Appendix A.1: the value is the instance URN): ``sip:alice@ims.test;gr=urn:uuid:...``.
  Once made it stays valid as long as the AOR is known here (section 5.3 SHOULD, section 5.4),
  so a request to it with no contact bound gets 480 (section 6.1 MUST);
* the temporary GRUUs, newest last: ``sip:tgruu.<128 random bits>@ims.test;gr`` (a random user
  part meets section 5.1's two MUSTs: collisions vanishingly unlikely, and two GRUUs cannot be
  linked to one AOR or instance).  A new one per registration of a Contact with an instance
  (section 5.1 SHOULD).  They are invalidated (section 5.1 MUST) when a REGISTER for that AOR,
  instance and -- for a flow (RFC 5626) -- reg-id carries a Call-ID other than the one of the most
  recently registered such contact: all of the instance's temporary GRUUs go, the instance's
  other bindings stay.  When the instance's last contact is gone they are invalid too (section
  5.3 MUST; applied when next looked at).  An invalid or unknown GRUU resolves to nothing: 404
  (section 6.1 SHOULD).

GRUUs are handed out only to a REGISTER with ``Supported: gruu`` (the registrar never shows them
otherwise); the Call-ID invalidation applies to every registration of an instance.

Faults (``FAULT:``): ``gruu-pub-per-flow`` makes the public GRUU per (instance, reg-id);
``gruu-temp-survives-callid`` skips the Call-ID invalidation.
"""

from __future__ import annotations

import secrets
from dataclasses import dataclass, field

from ...sip.headers import SipUri
from ..common.routing import canonical_aor
from ..config import SutConfig
from .bindings import Binding, instance_key

MAX_TEMP_PER_INSTANCE = 64          # bound: the oldest valid temp-gruu goes first
MAX_INSTANCES = 20_000              # bound on (AOR, instance) entries: the oldest goes first


@dataclass
class _Instance:
    pub: dict[object, str] = field(default_factory=dict)        # reg-id (or None) -> pub-gruu
    temps: list[tuple[str, int]] = field(default_factory=list)  # (temp-gruu, first CSeq), newest last


@dataclass(frozen=True)
class Resolved:
    """What a GRUU names: the AOR and the instance (comparison form); ``temporary`` tells which
    kind it is (an empty temporary GRUU is invalid, an empty public one gets 480)."""

    aor: str
    instance: str
    temporary: bool


class GruuRegistry:
    """All GRUUs the registrar has made; see the module docstring."""

    def __init__(self, config: SutConfig):
        self.config = config
        self._by_instance: dict[tuple[str, str], _Instance] = {}
        self._pub_index: dict[str, tuple[str, str]] = {}       # gr value -> (aor, instance key)
        self._temp_index: dict[str, tuple[str, str]] = {}      # temp user -> (aor, instance key)

    # -- making and invalidating ---------------------------------------------------------------
    def registered(self, aor: str, binding: Binding, previous: list[Binding], call_id: str,
                   cseq: int, supported: bool) -> None:
        """A Contact with an instance was registered with a non-zero expiry (section 5.1).

        ``previous`` are the AOR's live bindings before this REGISTER.  Invalidation first, then
        (with ``supported``) a public GRUU if none is valid, and a new temporary GRUU."""
        key = instance_key(binding.instance)
        entry = self._by_instance.get((aor, key))
        same = [b for b in previous if b.instance_key == key]
        if entry is not None and not same:
            self._drop_temps(aor, key)                 # section 5.3: its last contact had gone
        if binding.outbound:
            same = [b for b in same if b.outbound and b.reg_id == binding.reg_id]
        if same and not self.config.has_fault("gruu-temp-survives-callid"):
            newest = max(same, key=lambda b: b.touched)
            if newest.call_id != call_id:
                self._drop_temps(aor, key)             # section 5.1 MUST
        # FAULT gruu-temp-survives-callid: the old temporary GRUUs stay valid
        if not supported:
            return
        entry = self._by_instance.setdefault((aor, key), _Instance())
        while len(self._by_instance) > MAX_INSTANCES:
            self._forget(next(iter(self._by_instance)))
        flow_key = binding.reg_id if self.config.has_fault("gruu-pub-per-flow") else None
        if flow_key not in entry.pub:
            gr = binding.instance.strip().strip("<>")
            if flow_key is not None:
                gr = f"{gr}-flow{flow_key}"            # FAULT gruu-pub-per-flow: one per reg-id
            entry.pub[flow_key] = f"{aor};gr={gr}"
            self._pub_index[gr.lower()] = (aor, key)
        user = f"tgruu.{secrets.token_hex(16)}"
        host = aor.split("@", 1)[1]
        entry.temps.append((f"sip:{user}@{host};gr", cseq))
        self._temp_index[user] = (aor, key)
        while len(entry.temps) > MAX_TEMP_PER_INSTANCE:
            old, _ = entry.temps.pop(0)
            self._temp_index.pop(_temp_user(old), None)

    def _forget(self, aor_key: tuple[str, str]) -> None:
        self._drop_temps(*aor_key)
        entry = self._by_instance.pop(aor_key)
        for pub in entry.pub.values():
            self._pub_index.pop(pub.split(";gr=", 1)[1].lower(), None)

    def _drop_temps(self, aor: str, key: str) -> None:
        entry = self._by_instance.get((aor, key))
        if entry is None:
            return
        for uri, _ in entry.temps:
            self._temp_index.pop(_temp_user(uri), None)
        entry.temps.clear()

    # -- reading -------------------------------------------------------------------------------
    def __len__(self) -> int:
        """How many (AOR, instance) entries are held."""
        return len(self._by_instance)

    def pub_gruu(self, binding: Binding) -> str | None:
        if binding.instance is None:
            return None
        entry = self._by_instance.get((binding.aor, binding.instance_key))
        if entry is None:
            return None
        flow_key = binding.reg_id if self.config.has_fault("gruu-pub-per-flow") else None
        return entry.pub.get(flow_key)

    def temp_gruus(self, binding: Binding) -> list[tuple[str, int]]:
        """The instance's valid temporary GRUUs with the CSeq each was made at, oldest first."""
        if binding.instance is None:
            return []
        entry = self._by_instance.get((binding.aor, binding.instance_key))
        return list(entry.temps) if entry is not None else []

    def temp_gruu(self, binding: Binding) -> str | None:
        """Section 5.2: "the most recently created temporary GRUU for that AOR and instance ID"."""
        temps = self.temp_gruus(binding)
        return temps[-1][0] if temps else None

    def resolve(self, uri: SipUri, live: list[Binding] | None = None) -> Resolved | None:
        """The AOR and instance a Request-URI with ``gr`` names, or None when it is no valid
        GRUU here (section 6.1: 404).  ``live`` (the AOR's current bindings) lets a temporary
        GRUU whose instance has no contact left be invalidated first (section 5.3)."""
        if not uri.has_param("gr"):
            return None
        value = uri.param("gr")
        if value is None:                              # a temporary GRUU: ;gr without a value
            found = self._temp_index.get(uri.user or "")
            if found is None or uri.host.lower() != found[0].split("@", 1)[1]:
                return None
            aor, key = found
            if live is not None and not any(b.instance_key == key for b in live):
                self._drop_temps(aor, key)
                return None
            return Resolved(aor, key, True)
        found = self._pub_index.get(value.lower())
        if found is None or found[0] != canonical_aor(uri):
            return None
        return Resolved(found[0], found[1], False)


def _temp_user(uri: str) -> str:
    return uri.split(":", 1)[1].split("@", 1)[0]


__all__ = ["GruuRegistry", "MAX_TEMP_PER_INSTANCE", "Resolved"]
