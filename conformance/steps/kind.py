"""What a step kind is: one module of ``conformance.steps`` describes one (or one family of) step
kinds -- its YAML name, its schema fragment, whether it acts on a flow, its live handler and,
where re-judging a capture can judge it, its offline handler.

The loader, the runner and the offline re-judge read :data:`conformance.steps.KINDS`; the case
schema's step list and docs/case-format.md's step table are generated from it.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any, Callable


@dataclass(frozen=True)
class StepKind:
    #: The YAML key of the step (``register``, ``packet``).
    name: str
    #: One line for the schema's description and the docs' step table.
    summary: str
    #: JSON Schema fragment (draft 2020-12, as YAML would give it) for the step's value; it may
    #: ``$ref`` the shared ``#/$defs/...`` of conformance/schema/case.schema.yaml.
    schema: dict[str, Any]
    #: The value is a flow name or ``{flow: NAME, ...options}``.
    needs_flow: bool
    #: ``live(run, step, result)``: carries the step out against the SUT through the run API.
    live: Callable[..., None]
    #: ``offline(rejudge, step, result)``: judges the step from a capture, or None.
    offline: Callable[..., None] | None = None
    #: Why a capture cannot be re-judged for this kind (when ``offline`` is None), for the message.
    offline_reason: str = ""
    #: ``parse(loader, action, value, path) -> options``: a value the generic flow/options parser
    #: does not read (dialog steps), or None.
    parse: Callable[..., Any] | None = None
    #: Position in the docs' step table and the schema's step list.
    order: int = 1000
    #: Where the docs' table points for details (a docs/ anchor or file).
    docs: str = ""
    #: The flow transports the kind can act on, or None (any).  Checked only for tls / ws / wss:
    #: a case with a step of this kind on such a flow is not applicable there, with
    #: ``transport_reason`` (engine/applicability.py); udp / tcp items keep their behaviour.
    transports: tuple[str, ...] | None = None
    transport_reason: str = ""
    #: Free-form extras for the kind's own use.
    extra: dict[str, Any] = field(default_factory=dict)
