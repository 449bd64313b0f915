"""Generic header checks: presence and pattern of any header, and Flow-Timer grammar."""

from __future__ import annotations

import re

from ...sip.errors import ParseError
from ...sip.headers import parse_flow_timer, parse_option_tags
from .context import CheckContext, Observation
from .kind import CheckKind


def header_check(args: dict, ctx: CheckContext) -> list[Observation]:
    name = args["name"]
    if ctx.response is None:
        return [Observation(f"{name} header", None, f"a response with {name}", ctx.no_response_reason)]
    values = ctx.response.get_all(name)
    shown = f"{name}: " + " | ".join(values) if values else f"no {name} header"
    out: list[Observation] = []
    if "present" in args:
        want = bool(args["present"])
        out.append(Observation(f"{name} {'present' if want else 'absent'}", bool(values) == want,
                               f"{name} {'present' if want else 'absent'}", shown))
    if "matches" in args:
        pattern = re.compile(args["matches"])
        ok = any(pattern.search(v) for v in values)
        out.append(Observation(f"{name} matches /{args['matches']}/", ok,
                               f"{name} matching /{args['matches']}/", shown))
    return out


def flow_timer_check(args: dict, ctx: CheckContext) -> list[Observation]:
    if ctx.response is None:
        return [Observation("Flow-Timer grammar", None, "a final response", ctx.no_response_reason)]
    values = ctx.response.get_all("Flow-Timer")
    out: list[Observation] = []
    if args.get("with_require"):
        # RFC 5626 §5.4 and §6 ¶11 permit Flow-Timer in a 2xx with Require: outbound only.
        try:
            required = {t.lower() for t in parse_option_tags(ctx.response.values("Require"))}
        except ParseError:
            required = set()
        shown = " | ".join(values) if values else "no Flow-Timer"
        has = "outbound" in required
        out.append(Observation("Flow-Timer only with Require: outbound", not values or has,
                               "no Flow-Timer unless Require has outbound",
                               f"Flow-Timer: {shown}, Require {'has' if has else 'lacks'} outbound"
                               if values else shown))
    if not args.get("valid", not args.get("with_require")):
        return out                     # {with_require: true} alone: only that question
    if not values:
        return out + [Observation("Flow-Timer grammar", True, "Flow-Timer absent or 1*DIGIT", "no Flow-Timer")]
    try:
        for v in values:
            parse_flow_timer(v)
        ok = len(values) == 1
    except ParseError:
        ok = False
    return out + [Observation("Flow-Timer grammar", ok, "one Flow-Timer: 1*DIGIT", " | ".join(values))]


KINDS = (
    CheckKind(
        name="header",
        summary="Presence or pattern of any header.",
        handler=header_check,
        level="MUST",
        ref=None,
        order=60,
        args_doc="`{name: H, present: bool, matches: REGEX}`",
        clause_doc="no usual clause: `ref:` required",
        schema={
            "type": "object",
            "additionalProperties": False,
            "required": ["name"],
            "properties": {
                "name": {"description": "The header name.", "type": "string", "minLength": 1},
                "present": {
                    "description": "The header is (true) or is not (false) present.",
                    "type": "boolean",
                },
                "matches": {"description": "A regular expression every value must match.", "type": "string"},
            },
        },
    ),
    CheckKind(
        name="flow_timer",
        summary=(
            "Flow-Timer: {valid: true} its grammar, {with_require: true} only together with Require: "
            "outbound."
        ),
        handler=flow_timer_check,
        level="MAY",
        ref="RFC 5626 §10",
        order=70,
        args_doc=(
            "`{valid: true}`: a Flow-Timer, if present, is `1*DIGIT`; `{with_require: true}`: a Flow-Timer "
            "comes only with `Require: outbound`"
        ),
        clause_doc="RFC 5626 §10 (grammar, no keyword)",
        schema={
            "type": "object",
            "additionalProperties": False,
            "minProperties": 1,
            "properties": {
                "valid": {"description": "A Flow-Timer, if present, is 1*DIGIT.", "type": "boolean"},
                "with_require": {
                    "description": (
                        "A Flow-Timer, if present, comes in a response with Require outbound (RFC 5626 "
                        "sections 5.4, 6)."
                    ),
                    "type": "boolean",
                },
            },
        },
    ),
)
