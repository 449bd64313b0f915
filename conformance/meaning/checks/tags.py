"""Option-tag checks: Require / Supported in the response (RFC 5626 §6 ¶6 and ¶8, §11.4)."""

from __future__ import annotations

from ...sip.errors import ParseError
from ...sip.headers import parse_option_tags
from .context import CheckContext, Observation
from .kind import CheckKind


def _tags(ctx: CheckContext, header: str) -> tuple[list[str] | None, str]:
    values = ctx.response.values(header)
    try:
        return parse_option_tags(values), ", ".join(values) or "(no header)"
    except ParseError as exc:
        return None, f"unparseable {header} {values!r}: {exc}"


def option_tag_check(header: str):
    def check(args: dict, ctx: CheckContext) -> list[Observation]:
        tag = str(args.get("has") or args.get("lacks")).lower()
        wants = "has" in args
        label = f"{header} {'has' if wants else 'lacks'} {tag}"
        expected = f"{header}: {tag}" if wants else f"no '{tag}' in {header}"
        if ctx.response is None:
            return [Observation(label, None, expected, ctx.no_response_reason)]
        tags, shown = _tags(ctx, header)
        if tags is None:
            return [Observation(label, False, expected, shown)]
        present = tag in tags
        observed = f"{header}: {shown}" if tags else f"no {header} header"
        return [Observation(label, present if wants else not present, expected, observed)]

    return check


def default_ref_require(args: dict) -> str:
    return "RFC 5626 §6 ¶8" if "has" in args else "RFC 5626 §6 ¶6"


KINDS = (
    CheckKind(
        name="require",
        summary="Require header: {has: TAG} or {lacks: TAG}.",
        handler=option_tag_check("Require"),
        level="MUST",
        ref=default_ref_require,
        order=10,
        args_doc="`{has: TAG}` or `{lacks: TAG}`",
        clause_doc="has: RFC 5626 §6 ¶8, lacks: RFC 5626 §6 ¶6",
        schema={"$ref": "#/$defs/tag_args"},
    ),
    CheckKind(
        name="supported",
        summary="Supported header: {has: TAG} or {lacks: TAG}.",
        handler=option_tag_check("Supported"),
        level="MAY",
        ref="RFC 3261 §20.37",
        order=20,
        args_doc="`{has: TAG}` or `{lacks: TAG}`",
        clause_doc="RFC 3261 §20.37",
        schema={"$ref": "#/$defs/tag_args"},
    ),
)
