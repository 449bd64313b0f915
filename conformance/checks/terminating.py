"""Terminating-request checks: which UE flow a request for the AOR reached.

RFC 5626 §7: the authoritative proxy sends a request for an instance over one flow at a time
(the flow saved with the binding), and never to a binding that was replaced; RFC 3327 §5.4: it
uses the stored Path as a preloaded Route, so an emulated edge sees its own flow token in the
top Route of what it receives.
"""

from __future__ import annotations

from ..sip.errors import ParseError
from .context import CheckContext, Observation


def _top_route_user(request) -> str | None:
    from ..sip.headers import parse_name_addr

    routes = request.values("Route")
    if not routes:
        return None
    try:
        na = parse_name_addr(routes[0])
    except ParseError:
        return None
    return na.uri.user if na.uri is not None else None


def delivered_check(args: dict, ctx: CheckContext) -> list[Observation]:
    got = {flow: reqs for flow, reqs in ctx.deliveries.items() if reqs}
    shown = ", ".join(f"{flow} ({len(r)}x)" for flow, r in sorted(got.items())) or "no flow"
    out: list[Observation] = []
    if "on" in args:
        flow = args["on"]
        n = len(got.get(flow, []))
        out.append(Observation(f"delivered on flow {flow}", n == 1,
                               f"the request once on flow {flow}", f"received on {shown}"))
    for flow in args.get("not_on", []) or []:
        n = len(got.get(flow, []))
        out.append(Observation(f"not delivered on flow {flow}", n == 0,
                               f"nothing on flow {flow}", f"received on {shown}"))
    if args.get("none"):
        out.append(Observation("delivered on no flow", not got, "no flow receives the request",
                               f"received on {shown}"))
    if args.get("route_token"):
        flow = args.get("on")
        reqs = got.get(flow, []) if flow else []
        token = ctx.flow_tokens.get(flow) if flow else None
        if not reqs or token is None:
            why = "no emulated edge on that flow" if reqs else f"nothing received on {flow}"
            out.append(Observation("Route carries the flow's token", None,
                                   f"top Route with token {token}", why))
        else:
            user = _top_route_user(reqs[0])
            out.append(Observation("Route carries the flow's token", user == token,
                                   f"top Route user part {token} (the stored Path)",
                                   f"top Route user part {user}" if user else "no Route header"))
    return out
