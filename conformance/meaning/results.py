"""Case results as data: what any report (console, HTML, JSON, JUnit, certificate) renders."""

from __future__ import annotations

from dataclasses import dataclass, field, fields
from typing import Any

from .verdict import Finding, Verdict


@dataclass
class MessageRecord:
    """One message as it crossed the wire, seen from the tester."""

    index: int
    time: float  # seconds since the case started
    direction: str  # "sent" | "received"
    flow: str  # the tester flow (UE flow name, or "peer")
    transport: str  # "udp" | "tcp" | "tls" | "ws" | "wss"
    src: tuple[str, int]
    dst: tuple[str, int]
    summary: str  # "REGISTER sip:ims.test" / "200 OK" / "CRLF pong" / "unparseable: ..."
    text: str  # the bytes as text (UTF-8, errors replaced)
    step: str = ""
    note: str = ""  # e.g. why it could not be parsed

    def to_dict(self) -> dict:
        # field by field, not dataclasses.asdict: its deep copy of each value was a fifth of a
        # suite run's CPU (three dicts a case: the report row, the HTML extras, the ladder)
        d = {name: getattr(self, name) for name in _MESSAGE_FIELDS}
        d["src"], d["dst"] = list(self.src), list(self.dst)
        return d


@dataclass
class StepResult:
    name: str
    action: str
    flow: str | None
    request_index: int | None = None
    response_index: int | None = None
    findings: list[Finding] = field(default_factory=list)
    classification: str | None = None
    note: str = ""
    location: str = ""

    def to_dict(self) -> dict:
        d = {name: getattr(self, name) for name in _STEP_FIELDS}  # every field but findings is a str, an int or None
        d["findings"] = [f.to_dict() for f in self.findings]
        return d


_MESSAGE_FIELDS = tuple(f.name for f in fields(MessageRecord))
_STEP_FIELDS = tuple(f.name for f in fields(StepResult))


@dataclass
class CaseResult:
    id: str  # "REG-003[udp]"
    case_id: str  # "REG-003"
    title: str
    purpose: str
    transport: str
    verdict: Verdict
    reason: str
    requirements: list[str] = field(default_factory=list)
    references: list[str] = field(default_factory=list)
    test_purposes: list[str] = field(default_factory=list)
    target: str = ""
    pcap: str | None = None
    classification: str | None = None
    warnings: list[str] = field(default_factory=list)
    duration: float = 0.0
    steps: list[StepResult] = field(default_factory=list)
    messages: list[MessageRecord] = field(default_factory=list)
    location: str = ""

    @property
    def findings(self) -> list[Finding]:
        return [f for s in self.steps for f in s.findings]

    def to_dict(self, *, with_messages: bool = True) -> dict[str, Any]:
        d = {
            "id": self.id, "case_id": self.case_id, "title": self.title, "purpose": self.purpose,
            "transport": self.transport, "verdict": str(self.verdict), "reason": self.reason,
            "requirements": self.requirements, "references": self.references,
            "test_purposes": self.test_purposes, "target": self.target, "pcap": self.pcap,
            "classification": self.classification, "warnings": self.warnings,
            "duration": round(self.duration, 4), "location": self.location,
            "steps": [s.to_dict() for s in self.steps],
        }
        if with_messages:
            d["messages"] = [m.to_dict() for m in self.messages]
        return d
