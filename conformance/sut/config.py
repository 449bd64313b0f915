"""Configuration of the embedded reference CSCF (the suite's default SUT).

The reference is meant to be *correct*; the only way to make it misbehave is to name a fault
from :data:`KNOWN_FAULTS`.  Each fault breaks exactly one rule so that the suite can prove that
the matching check notices it.
"""

from __future__ import annotations

from dataclasses import dataclass

MODES = ("rel8", "rel7")

#: Fault name -> what it breaks.  The code switched on by each name is marked ``FAULT:``.
KNOWN_FAULTS: dict[str, str] = {
    "omit-require-outbound":
        "never send Require: outbound (breaks RFC 5626 section 6, paragraph 8)",
    "replace-on-new-reg-id":
        "a new reg-id for an instance replaces that instance's bindings instead of adding one "
        "(breaks the (AOR, instance, reg-id) key of RFC 5626 section 6, paragraph 8)",
    "list-only-newest":
        "the 2xx lists only the most recently touched binding (breaks RFC 3261 section 10.3 step 8)",
    "keep-old-on-reg1b":
        "the same instance and reg-id from a new Contact URI with a new Call-ID adds a second "
        "binding instead of replacing the old one (breaks RFC 5626 section 6, paragraphs 8 and 10)",
    "path-without-ob-accepted":
        "apply outbound processing although the first Path URI lacks ;ob or Path is missing, "
        "and never send 439 (breaks RFC 5626 section 6, paragraph 3)",
    "require-without-supported":
        "send Require: outbound in every 2xx to REGISTER, even without Supported: outbound or "
        "without a usable reg-id (breaks RFC 5626 section 6, paragraphs 6 and 8; RFC 3261 8.2.4)",
}


@dataclass
class SutConfig:
    """Settings of :class:`~conformance.sut.registrar.Registrar` and the server around it.

    ``mode`` is ``"rel8"`` (an S-CSCF implementing RFC 5626) or ``"rel7"`` (a Rel-7 S-CSCF that
    knows nothing of outbound and replaces a UE's contact on a new initial registration, the
    problem P1 of the catalogue).  ``min_expires`` switches on 423 answers (RFC 3261 10.3 step 7);
    ``flow_timer`` switches on Flow-Timer in direct-flow outbound 2xx (RFC 5626 section 6 para 11).
    ``max_bindings`` and ``max_bindings_per_aor`` bound the binding table.
    """

    mode: str = "rel8"
    domain: str = "ims.test"
    faults: frozenset[str] = frozenset()
    flow_timer: int | None = None
    min_expires: int | None = None
    max_expires: int = 3600 * 24 * 7
    default_expires: int = 3600
    require_path_support: bool = True
    server_name: str = "outbound-conformance-reference"
    max_bindings: int = 10_000
    max_bindings_per_aor: int = 64
    transaction_cache_size: int = 4096

    def __post_init__(self) -> None:
        if self.mode not in MODES:
            raise ValueError(f"unknown mode {self.mode!r}; valid modes: {', '.join(MODES)}")
        if isinstance(self.faults, str):
            raise ValueError("faults must be a collection of fault names, not one string")
        self.faults = frozenset(self.faults)
        unknown = sorted(self.faults - KNOWN_FAULTS.keys())
        if unknown:
            raise ValueError(
                f"unknown fault(s) {', '.join(unknown)}; valid faults: {', '.join(sorted(KNOWN_FAULTS))}")
        if not self.domain or not isinstance(self.domain, str):
            raise ValueError("domain must be a non-empty string")
        self.domain = self.domain.lower()
        for name in ("max_expires", "default_expires", "max_bindings", "max_bindings_per_aor",
                     "transaction_cache_size"):
            if getattr(self, name) <= 0:
                raise ValueError(f"{name} must be positive")
        if self.min_expires is not None and self.min_expires <= 0:
            raise ValueError("min_expires must be positive when set")
        if self.flow_timer is not None and self.flow_timer <= 0:
            raise ValueError("flow_timer must be positive when set")

    def has_fault(self, name: str) -> bool:
        return name in self.faults

    @property
    def outbound(self) -> bool:
        """True when the registrar implements RFC 5626 (Rel-8 and later)."""
        return self.mode == "rel8"

    @property
    def supported_tags(self) -> tuple[str, ...]:
        """Option tags this registrar understands (RFC 3261 8.2.2.3).  GRUU is not implemented."""
        return ("path", "outbound") if self.outbound else ("path",)


__all__ = ["KNOWN_FAULTS", "MODES", "SutConfig"]
