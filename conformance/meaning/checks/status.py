"""The ``status`` check: a further question on the final status, with its own level (the step's
``expect.status`` is judged through :func:`status_check` too)."""

from __future__ import annotations

from .context import CheckContext, Observation
from .kind import CheckKind


def status_check(allowed: list[int], ctx: CheckContext) -> Observation:
    def show(codes: list[int]) -> str:
        if len(codes) > 3 and codes == list(range(codes[0], codes[-1] + 1)):
            return f"{codes[0]}-{codes[-1]}"
        return " or ".join(map(str, codes))

    expected = f"status {show(allowed)}"
    if ctx.response is None:
        return Observation("final response status", None, expected, ctx.no_response_reason)
    r = ctx.response
    return Observation("final response status", r.status in allowed, expected, f"{r.status} {r.reason}")


def status_kind_check(args: dict, ctx: CheckContext) -> list[Observation]:
    # the loader has turned {in: 4xx | [codes]} into a list of codes
    return [status_check(list(args["in"]), ctx)]


KIND = CheckKind(
    name="status",
    summary="A further check on the final status, with its own level: {in: CODE | [CODES] | 4xx}.",
    handler=status_kind_check,
    level="MUST",
    ref=None,
    order=65,
    args_doc="`{in: CODE \\| [CODES] \\| 4xx}`: a further check on the final status, with its own level",
    clause_doc="no usual clause: `ref:` required",
    schema={
        "type": "object",
        "additionalProperties": False,
        "required": ["in"],
        "properties": {
            "in": {
                "description": "A code, a list of codes, or a class such as 4xx.",
                "anyOf": [
                    {"type": "integer", "minimum": 100, "maximum": 699},
                    {
                        "type": "array",
                        "minItems": 1,
                        "items": {
                            "anyOf": [
                                {"type": "integer", "minimum": 100, "maximum": 699},
                                {"type": "string", "pattern": "^[1-6]xx$"},
                            ],
                        },
                    },
                    {"type": "string", "pattern": "^[1-6]xx$"},
                ],
            },
        },
    },
)
