"""Checks on what an edge-only SUT forwarded to the tester's emulated registrar (REG-T).

RFC 5626 §5.1: the first-hop edge inserts its URI in a Path with a flow token and ;ob, and an
edge that is not the first hop MUST NOT put ;ob in its Path; RFC 3327 §4: Path values carry
;lr; RFC 3261 §16.6 step 8: a proxy adds its Via; RFC 3327 §5.2: proxies SHOULD NOT alter the
Path values of the REGISTER response they relay.
"""

from __future__ import annotations

from ...sip.errors import ParseError
from ...sip.headers import parse_name_addr
from .context import CheckContext, Observation
from .kind import CheckKind


def _top_path(request):
    values = request.values("Path")
    if not values:
        return None, "no Path"
    try:
        return parse_name_addr(values[0]), values[0]
    except ParseError as exc:
        return None, f"unparseable Path {values[0]!r}: {exc}"


def forwarded_check(args: dict, ctx: CheckContext) -> list[Observation]:
    regs = [(req, resp) for req, resp in ctx.forwarded if req.method == "REGISTER"]
    if not regs:
        return [Observation("REGISTER forwarded to the registrar", None, "the SUT forwards the REGISTER",
                            "nothing reached the emulated registrar in this step")]
    req, resp = regs[-1]
    out: list[Observation] = []
    top, shown = _top_path(req)
    if "path_ob" in args:
        want = bool(args["path_ob"])
        label = "SUT's Path has ;ob" if want else "SUT's Path has no ;ob"
        if top is None or top.uri is None:
            out.append(Observation(label, None if "no Path" in shown else False, "a Path inserted by the SUT", shown))
        else:
            out.append(Observation(label, top.uri.has_param("ob") == want,
                                   "a top Path URI with ;ob" if want else "no ;ob on the SUT's Path URI", shown))
    if args.get("path_lr"):
        ok = None if top is None and "no Path" in shown else (top is not None and top.uri is not None
                                                               and top.uri.has_param("lr"))
        out.append(Observation("SUT's Path has ;lr", ok, "a top Path URI with ;lr", shown))
    if args.get("via_added"):
        sent = len(ctx.request.values("Via")) if ctx.request is not None else None
        got = len(req.values("Via"))
        out.append(Observation("SUT added its Via", None if sent is None else got == sent + 1,
                               f"{(sent or 0) + 1} Via values", f"{got} Via values"))
    if args.get("relayed_unaltered"):
        sent_path = resp.values("Path") if resp is not None else []
        got_path = ctx.response.values("Path") if ctx.response is not None else None
        if got_path is None or resp is None:
            out.append(Observation("Path relayed unaltered", None, "the registrar's 2xx relayed to the UE",
                                   "no response on one side"))
        else:
            out.append(Observation("Path relayed unaltered", got_path == sent_path,
                                   f"Path: {', '.join(sent_path) or '(none)'}", f"Path: {', '.join(got_path) or '(none)'}"))
    return out


KIND = CheckKind(
    name="forwarded",
    summary="What an edge-only SUT forwarded to the tester's emulated registrar (REG-T) in this step.",
    handler=forwarded_check,
    level="MUST",
    ref="RFC 5626 §5.1",
    order=155,
    args_doc=(
        "`{path_ob: bool}`, `{path_lr: true}`, `{via_added: true}`, `{relayed_unaltered: true}`: what an "
        "edge-only SUT forwarded to the tester's emulated registrar (REG-T) in this step"
    ),
    clause_doc="RFC 5626 §5.1",
    schema={
        "type": "object",
        "additionalProperties": False,
        "minProperties": 1,
        "properties": {
            "path_ob": {
                "description": (
                    "The top Path URI (the SUT's) has (true) or has not "
                    "(false) ;ob (RFC 5626 section 5.1)."
                ),
                "type": "boolean",
            },
            "path_lr": {
                "description": "The top Path URI has ;lr (RFC 3327 section 4).",
                "type": "boolean",
            },
            "via_added": {
                "description": "The SUT added exactly one Via (RFC 3261 section 16.6 step 8).",
                "type": "boolean",
            },
            "relayed_unaltered": {
                "description": (
                    "The 2xx the UE got carries the Path values of the registrar's 2xx unchanged (RFC 3327 "
                    "section 5.2)."
                ),
                "type": "boolean",
            },
        },
    },
)
