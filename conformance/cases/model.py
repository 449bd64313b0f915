"""The test-case model: what a YAML case file says, as plain data.

The loader (``conformance.cases.loader``) validates a YAML document against
``conformance/schema/case.schema.yaml`` and builds these objects; the engine runs them.  Every
object that came from YAML keeps its source ``Location`` so that errors found later (at run time)
can still point at file, line and key.  See docs/case-format.md for the language itself.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from ..yamlio.errors import Location


@dataclass
class FlowSpec:
    """One flow of a UE: a local address, a transport and a reg-id (RFC 5626 section 4.2)."""

    name: str
    address: int  # 1-based index into the target's ue_addresses pool ("IP1", "IP2", ...)
    reg_id: int | None = None  # None: the Contact carries no reg-id
    transport: str | None = None  # None: the case's transport (udp/tcp)
    # Emulated edge proxy in front of the SUT for this flow (the catalogue's EP-T): when set,
    # the REGISTER carries an extra top Via and a Path.  None: the UE talks to the SUT directly.
    edge: "EdgeSpec | None" = None
    location: Location | None = None
    port: int | None = None  # a fixed local port (default: any free port)
    site: int = 1  # the UE namespace of a topology (2: a second UE behind the same NAT)
    socket: str | None = None  # another flow of the UE whose local socket (address:port) this one shares
    contact: str | None = None  # elsewhere | own | None (default, engine/nat_contact.py)
    # tls/ws/wss flows: this case's overrides of the profile's tls: / ws: (engine/streamsetup.py),
    # e.g. {server_name: wrong.example.invalid} to see the certificate refused
    tls: dict | None = None
    ws: dict | None = None


@dataclass
class EdgeSpec:
    """What the emulated edge proxy adds: a Via always; a Path unless ``path`` is false."""

    path: bool = True
    ob: bool = True  # ;ob on the Path URI (RFC 5626 section 5.1)
    extra_path: list[str] = field(default_factory=list)  # further Path values above ours
    # Keep this proxy even when the SUT is itself an edge proxy (role edge or core): the SUT is
    # then not the first hop (RFC 5626 §5.1).  By default the SUT's own edge takes its place.
    in_front: bool = False


@dataclass
class UESpec:
    name: str
    instance: bool = True  # send +sip.instance (RFC 5626 section 4.1)
    flows: dict[str, FlowSpec] = field(default_factory=dict)
    location: Location | None = None
    # The USIM, overriding the target's subscriber record: {k, opc, op, algorithm, sqn_ms}
    # (sqn_ms: the highest SQN the USIM has accepted, e.g. to provoke a resynchronisation).
    aka: dict | None = None
    aor_of: str | None = None  # another UE whose AOR (and private identity) this one shares


@dataclass
class CheckSpec:
    """One expectation on a response.

    ``kind`` names a check of ``conformance.meaning.checks`` (``require``, ``contacts``, ...), ``args``
    its arguments from YAML.  ``level`` (MUST/SHOULD/MAY) and ``ref`` override the defaults the
    check kind declares for its usual clause; ``None`` keeps the default.
    """

    kind: str
    args: Any
    level: str | None = None
    ref: str | None = None
    ue: str | None = None  # which UE's instance "the UE" means (default: the step's UE)
    location: Location | None = None
    # A stricter reading the suite keeps on purpose (the clause does not require it): the check
    # is then recorded only (never a fail) and the note is shown beside the finding.
    reading: str | None = None


@dataclass
class Grade:
    """How a classification outcome is graded: ``level`` against the clause ``ref``, only when
    the target declares the capability ``when`` (None: always); ``reading`` as on a check."""

    level: str = "MAY"
    ref: str | None = None
    when: str | None = None
    reading: str | None = None


@dataclass
class ClassSpec:
    """One outcome class of a classification step (e.g. "outbound" or "legacy")."""

    name: str
    description: str
    checks: list[CheckSpec]
    location: Location | None = None
    fails: Grade | None = None  # this class is a finding (e.g. Rel-7 behaviour where outbound is declared)


@dataclass
class Expect:
    status: list[int] | None = None  # accepted final status codes; None: no status check
    status_level: str = "MUST"
    status_ref: str | None = None
    or_closed: bool = False  # the SUT closing the connection instead of answering is an allowed outcome
    checks: list[CheckSpec] = field(default_factory=list)
    location: Location | None = None


@dataclass
class StepSpec:
    """One step of a case.

    ``action`` is one of: ``register`` (add or replace a binding for the flow), ``refresh``
    (same Call-ID, CSeq+1, same flow), ``deregister`` (the flow's Contact with expires=0),
    ``deregister_all`` (``Contact: *`` with ``Expires: 0``), ``fetch`` (REGISTER without
    Contact), ``send`` (a raw message template), ``wait`` (seconds, bounded).
    """

    action: str
    flow: str | None = None
    ue: str | None = None  # the UE owning ``flow`` (filled in by the loader)
    options: dict[str, Any] = field(default_factory=dict)
    expect: Expect | None = None
    classify: list[ClassSpec] | None = None
    preamble: bool = False  # a failed check here makes the case inconclusive, not failed
    unclassified: Grade | None = None  # a response fitting no class (None: recorded only)
    name: str = ""
    location: Location | None = None


@dataclass
class CaseSpec:
    id: str
    title: str
    purpose: str
    references: list[str]
    requirements: list[str]
    test_purposes: list[str]
    applies_to: list[str]
    transports: list[str]
    ues: dict[str, UESpec]
    steps: list[StepSpec]
    roles: list[str] = field(default_factory=lambda: ["registrar", "core"])
    tags: list[str] = field(default_factory=list)
    location: Location | None = None
    topology: list[str] = field(default_factory=list)  # topology features needed (topology/model.py)
    # declared local policies under which the case's stimulus is refused by design (e.g.
    # reject-non-outbound for a case registering a Contact without reg-id): not applicable there
    applies_unless: list[str] = field(default_factory=list)

    def flow(self, name: str) -> tuple[UESpec, FlowSpec]:
        for ue in self.ues.values():
            if name in ue.flows:
                return ue, ue.flows[name]
        raise KeyError(name)
