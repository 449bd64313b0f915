"""Path checks on the 2xx to REGISTER (RFC 3327 §5.3, RFC 5626 §5.1 and §9.2).

RFC 3327 §5.3 describes the registrar copying the request's Path into the 2xx without an RFC
2119 keyword, so ``path`` checks default to SHOULD.
"""

from __future__ import annotations

from ...sip.errors import ParseError
from ...sip.headers import parse_name_addr
from .context import CheckContext, Observation
from .kind import CheckKind


def _norm(values: list[str]) -> list[str]:
    return [" ".join(v.split()) for v in values]


def path_check(args: dict, ctx: CheckContext) -> list[Observation]:
    if ctx.response is None:
        return [Observation("Path", None, "a final response", ctx.no_response_reason)]
    got = ctx.response.values("Path")
    shown = ", ".join(got) if got else "no Path"
    out: list[Observation] = []
    if args.get("echo"):
        sent = ctx.request.values("Path") if ctx.request is not None else []
        if ctx.request is None:
            out.append(Observation("Path echoed", None, "the request's Path values", "the request is unknown"))
        elif not sent:
            # The tester added no Path (the SUT's own edge proxy adds one): nothing to compare.
            out.append(Observation("Path echoed", True, "the request's Path values",
                                   f"the request carried no Path; 2xx: {shown}"))
        else:
            out.append(Observation("Path echoed", _norm(got) == _norm(sent), f"Path: {', '.join(sent)}", shown))
    if "present" in args:
        want = bool(args["present"])
        out.append(Observation("Path present" if want else "Path absent", bool(got) == want,
                               "a Path header" if want else "no Path header", shown))
    if args.get("lr") or args.get("unique_token"):
        out.extend(_top_uri_checks(args, ctx, got, shown))
    if args.get("ob"):
        if not got:
            out.append(Observation("first Path URI has ;ob", None, "a Path URI with ;ob", shown))
        else:
            try:
                first = parse_name_addr(got[0])
                ok = first.uri is not None and first.uri.has_param("ob")
            except ParseError as exc:
                ok, shown = False, f"unparseable Path {got[0]!r}: {exc}"
            out.append(Observation("first Path URI has ;ob", ok, "a Path URI with ;ob", shown))
    return out


def _top_uri_checks(args: dict, ctx: CheckContext, got: list[str], shown: str) -> list[Observation]:
    out: list[Observation] = []
    if not got:
        if args.get("lr"):
            out.append(Observation("first Path URI has ;lr", None, "a Path URI with ;lr", shown))
        if args.get("unique_token"):
            out.append(Observation("Path URI unique to the flow", None, "a Path URI", shown))
        return out
    try:
        first = parse_name_addr(got[0])
    except ParseError as exc:
        return [Observation("Path URI", False, "a Path URI following RFC 3261 §25", f"unparseable: {exc}")]
    if args.get("lr"):
        # RFC 3327 §4: Path values MUST carry the loose-routing parameter.
        out.append(Observation("first Path URI has ;lr", first.uri is not None and first.uri.has_param("lr"),
                               "a Path URI with ;lr", shown))
    if args.get("unique_token"):
        # RFC 5626 §5.1: the flow token is unique to the flow; compare the whole URIs (the token
        # may sit anywhere in it).
        mine = str(first.uri)
        same = [p for p in ctx.earlier_paths if p == mine]
        out.append(Observation("Path URI unique to the flow", not same,
                               "a Path URI differing from those of the other flows",
                               f"{mine}; earlier flows: {', '.join(ctx.earlier_paths) or 'none'}"))
    return out


KIND = CheckKind(
    name="path",
    summary="The Path header of the 2xx.",
    handler=path_check,
    level="MAY",
    ref="RFC 3327 §5.3",
    order=50,
    args_doc="`{echo: true}` the 2xx Path equals the request's; `{present: true}`; `{ob: true}`",
    clause_doc="RFC 3327 §5.3 (no keyword)",
    schema={
        "type": "object",
        "additionalProperties": False,
        "minProperties": 1,
        "properties": {
            "echo": {"description": "The 2xx Path equals the request's.", "type": "boolean"},
            "present": {
                "description": "A Path header is (true) or is not (false) present.",
                "type": "boolean",
            },
            "ob": {"description": "The top Path URI carries ;ob.", "type": "boolean"},
            "lr": {"description": "The top Path URI carries ;lr (RFC 3327 section 4).", "type": "boolean"},
            "unique_token": {
                "description": (
                    "The top Path URI differs from the ones returned for the case's other flows (RFC 5626 "
                    "section 5.1)."
                ),
                "type": "boolean",
            },
        },
    },
)
