"""Terminating-request checks: which UE flow a request for the AOR reached.

RFC 5626 §7: the authoritative proxy sends a request for an instance over one flow at a time
(the flow saved with the binding), and never to a binding that was replaced; RFC 3327 §5.4: it
uses the stored Path as a preloaded Route, so an emulated edge sees its own flow token in the
top Route of what it receives.
"""

from __future__ import annotations

from ...sip.errors import ParseError
from ...sip.headers import parse_name_addr, uri_equal
from .context import CheckContext, Observation
from .kind import NO_ARGS, CheckKind


def _top_route_user(request) -> str | None:
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
    if "flow" in args:
        flow = args["flow"]
        n = len(got.get(flow, []))
        out.append(Observation(f"delivered on flow {flow}", n == 1,
                               f"the request once on flow {flow}", f"received on {shown}"))
    for flow in args.get("not_on", []) or []:
        n = len(got.get(flow, []))
        out.append(Observation(f"not delivered on flow {flow}", n == 0,
                               f"nothing on flow {flow}", f"received on {shown}"))
    group = args.get("at_most_one_of") or []
    if group:  # RFC 5626 §7: one contact of an AOR and instance at a time (the UE answered 2xx)
        hit = sorted(f for f in group if f in got)
        out.append(Observation(f"at most one of {', '.join(group)}", len(hit) <= 1,
                               f"the request on at most one of {', '.join(group)} (one instance)",
                               f"received on {shown}"))
    if args.get("none"):
        out.append(Observation("delivered on no flow", not got, "no flow receives the request",
                               f"received on {shown}"))
    if "count" in args:
        n = sum(len(r) for r in got.values())
        out.append(Observation("number of deliveries", n == int(args["count"]),
                               f"{args['count']} delivery(ies) in all", f"received on {shown}"))
    if args.get("avoid_closed"):
        hit = sorted(f for f in got if f in ctx.closed_flows)
        out.append(Observation("nothing sent over a closed flow", not hit,
                               f"no delivery on {', '.join(sorted(ctx.closed_flows)) or 'a closed flow'}",
                               f"received on {shown}"))
    if args.get("route_token") and not ctx.path_transform:
        # a target declaring path-transform may rewrite the stored Path (RFC 3327 §5.3, §5.4: MAY)
        out.extend(_route_tokens(got, ctx))
    if args.get("request_uri"):
        out.extend(_request_uris(got, ctx))
    return out


def _route_tokens(got: dict, ctx: CheckContext) -> list[Observation]:
    """RFC 3327 §5.4: the stored Path is the preloaded Route, so the emulated edge finds its own
    token for the flow in the top Route of what it receives."""
    if not got:
        return [Observation("Route carries the flow's token", None, "a delivered request", "nothing delivered")]
    out = []
    for flow, reqs in sorted(got.items()):
        token = ctx.flow_tokens.get(flow.split("@contact", 1)[0])
        if token is None:
            out.append(Observation(f"Route on flow {flow} carries its token", None,
                                   "a flow behind the tester's emulated edge", "the flow has no emulated edge"))
            continue
        user = _top_route_user(reqs[0])
        out.append(Observation(f"Route on flow {flow} carries its token", user == token,
                               f"top Route user part {token} (the stored Path)",
                               f"top Route user part {user}" if user else "no Route header"))
    return out


def _request_uris(got: dict, ctx: CheckContext) -> list[Observation]:
    """RFC 3261 §16.6 step 2: the Request-URI of the copy is the registered Contact URI."""
    if not got:
        return [Observation("Request-URI is the registered Contact", None, "a delivered request", "nothing delivered")]
    out = []
    for flow, reqs in sorted(got.items()):
        contact = ctx.flow_contacts.get(flow.split("@contact", 1)[0])
        try:
            ok = contact is not None and uri_equal(reqs[0].uri, contact)
        except ParseError:
            ok = False
        out.append(Observation(f"Request-URI on flow {flow}", ok, f"Request-URI {contact}",
                               f"Request-URI {reqs[0].uri}"))
    return out


def by_flow_check(args: dict, ctx: CheckContext) -> list[Observation]:
    """A request that reached a flow's advertised Contact address (engine/nat_contact.py: a
    loopback address other than the flow's socket, as a NAT hides the UE) was routed by Contact,
    not over the flow saved with the binding (RFC 5626 §7) nor the stored Path (RFC 3327 §5.4).
    No observation where no flow advertises elsewhere (behind a NAT the flow checks show it)."""
    if not ctx.contact_elsewhere:
        return []
    hits: dict[str, int] = {}
    for name, reqs in ctx.deliveries.items():
        if "@contact" in name and reqs:
            flow = name.split("@contact", 1)[0]
            hits[flow] = hits.get(flow, 0) + len(reqs)
    where = ", ".join(f"{f} at {h}:{p}" for f, (h, p) in sorted(ctx.contact_elsewhere.items()))
    observed = ("; ".join(f"{n} request(s) at the Contact address of flow {f} (routed by Contact)"
                          for f, n in sorted(hits.items())) or "nothing at the Contact addresses")
    return [Observation("routed over the flow, not to the Contact address", not hits,
                        f"nothing at the advertised Contact addresses ({where})", observed)]


KINDS = (
    CheckKind(
        name="delivered",
        summary="Which flows received the terminating request of this step.",
        handler=delivered_check,
        level="MUST",
        ref="RFC 5626 §7",
        order=140,
        flow_args=("flow", "not_on"),
        args_doc=(
            "`{flow: FLOW}`, `not_on: [FLOW]`, `at_most_one_of: [FLOW, ...]` (flows of one instance: at most "
            "one got the request), `count`, `none`, ... on the step's terminating request"
        ),
        clause_doc="RFC 5626 §7",
        schema={
            "type": "object",
            "additionalProperties": False,
            "minProperties": 1,
            "properties": {
                "flow": {
                    "description": "The flow that must receive it (exactly once).",
                    "$ref": "#/$defs/flow_name",
                },
                "not_on": {
                    "description": "Flows that must not receive it.",
                    "type": "array",
                    "items": {"$ref": "#/$defs/flow_name"},
                },
                "at_most_one_of": {
                    "description": (
                        "Flows of one instance: at most one of them receives it (RFC 5626 section 7, one "
                        "branch per instance; the UE answers 2xx, so no retry on another)."
                    ),
                    "type": "array",
                    "minItems": 2,
                    "items": {"$ref": "#/$defs/flow_name"},
                },
                "none": {"description": "true: no flow receives it.", "type": "boolean"},
                "count": {
                    "description": (
                        "Exactly this many deliveries, over all flows (one branch per instance, RFC 5626 "
                        "section 7)."
                    ),
                    "type": "integer",
                    "minimum": 0,
                },
                "avoid_closed": {
                    "description": "true: nothing is delivered over a flow the case closed.",
                    "type": "boolean",
                },
                "route_token": {
                    "description": (
                        "true: each delivered request's top Route names the emulated edge token of the flow "
                        "it arrived on (the stored Path as preloaded Route, RFC 3327 section 5.4)."
                    ),
                    "type": "boolean",
                },
                "request_uri": {
                    "description": (
                        "true: each delivered request's Request-URI is the Contact URI registered over that "
                        "flow (RFC 3261 section 16.6 step 2)."
                    ),
                    "type": "boolean",
                },
            },
        },
    ),
    CheckKind(
        name="by_flow",
        summary=(
            "No terminating request of the step reached a flow's advertised Contact address (flows with "
            "contact: elsewhere): it went over the flow or the stored Path, not by Contact (RFC 5626 section "
            "7): {}."
        ),
        handler=by_flow_check,
        level="MUST",
        ref="RFC 5626 §7 ¶2",
        order=150,
        args_doc=(
            "`{}`: no terminating request of the step reached a flow's advertised Contact address (`contact: "
            "elsewhere`); no finding where no flow advertises elsewhere"
        ),
        clause_doc="RFC 5626 §7 ¶2 (behind an edge: cite RFC 5626 §6 ¶2)",
        schema=NO_ARGS,
    ),
)
