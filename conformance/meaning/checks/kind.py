"""What a check kind is: its YAML name, the schema of its arguments, the function that judges
and its usual level and clause.  Each check module defines ``KIND`` or ``KINDS`` beside its
functions, so a kind is described where it is written; :mod:`conformance.meaning.checks`
collects them, and the case schema's check list, docs/case-format.md's check table and the
loader's list are made from that one registry (``python -m conformance.meaning.checks.vocabulary``).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Callable

from .context import CheckContext, Observation

Handler = Callable[[dict, CheckContext], "list[Observation]"]

#: The arguments of a kind that takes none: ``{}``.
NO_ARGS: dict[str, Any] = {"type": "object", "additionalProperties": False, "properties": {}}


@dataclass(frozen=True)
class CheckKind:
    #: The YAML key of the check (``require``, ``contacts``).
    name: str
    #: One line: the ``description`` of the kind in the case schema.
    summary: str
    #: JSON Schema fragment (draft 2020-12, as YAML would give it) for the kind's arguments; it may
    #: ``$ref`` the shared ``#/$defs/...`` of conformance/schema/case.schema.yaml.
    schema: dict[str, Any]
    #: ``handler(args, ctx) -> [Observation]``: what the check saw.
    handler: Handler
    #: The normative level when the case gives no ``level:``.
    level: str
    #: The usual clause for the given arguments, when the case gives no ``ref:``: a text, a
    #: function of the arguments, or None (no usual clause: the case must give ``ref:``).
    ref: "Callable[[dict], str | None] | str | None"
    #: docs/case-format.md's check table: the arguments column, and the clause after the level.
    args_doc: str
    clause_doc: str
    #: Position in the docs' table and the schema's list.
    order: int = 1000
    #: Arguments that name flows of the case (a name or a list of names): the loader refuses a
    #: case naming a flow it does not declare.
    flow_args: tuple[str, ...] = ()
    #: Why a check of this kind is judged live only (it reads what the engine saw below SIP,
    #: e.g. WebSocket frames); a case using it is not re-judged from its capture. "" : offline too.
    live_only: str = ""

    def __post_init__(self) -> None:
        if not callable(self.ref):
            text = self.ref
            object.__setattr__(self, "ref", lambda args: text)


__all__ = ["NO_ARGS", "CheckKind", "Handler"]
