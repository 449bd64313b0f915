"""Where a request sent through the SUT's edge proxy went (RFC 5626 §5.3, RFC 3261 §16.4, §12).

Reads ``ctx.dialog`` (engine/dialogs.py) and ``ctx.deliveries`` (the step's method and
Call-ID only):

- ``reached: FLOW``: the request arrived over FLOW, once, and nothing arrived at the address the
  UE gave as its dialog Contact (a socket of the UE's address that is not the flow: an edge that
  routes by Contact instead of over the flow sends it there).
- ``route_removed: true``: no delivered or forwarded copy still carries the top Route value the
  sender addressed to the SUT (RFC 3261 §16.4: "If the first value in the Route header field
  indicates this proxy, the proxy MUST remove that value from the request").
- ``record_route: true``: the request the callee received carries a Record-Route value naming
  the SUT's address (how the SUT stays on the dialog's path; recorded).
- ``upstream: true|false``: the request went (or not) on towards the core: it reached the
  emulated registrar (REG-T) or, through the core, a flow other than the sender's and other than
  the one whose token the top Route carried (a copy there is the "incoming" treatment).
"""

from __future__ import annotations

from ...sip.errors import ParseError
from ...sip.headers import parse_name_addr, uri_equal
from .context import CheckContext, Observation
from .kind import CheckKind

DEFAULT_REFS = {
    "reached": "RFC 5626 §5.3.1 ¶1 (route set adjusted for mid-dialog requests)",
    "route_removed": "RFC 3261 §16.4 (own Route value removed)",
    "record_route": "RFC 5626 §5.3.1 ¶1 note (Record-Route with the flow token)",
    "upstream": "RFC 5626 §5.3 ¶3 (outgoing request)",
}


def default_ref(args: dict) -> str:
    for key, ref in DEFAULT_REFS.items():
        if key in args:
            return ref
    return DEFAULT_REFS["reached"]


def _shown(got: dict) -> str:
    return ", ".join(f"{flow} ({len(r)}x)" for flow, r in sorted(got.items()) if r) or "no flow"


def _uri(value: str):
    try:
        return parse_name_addr(value).uri
    except ParseError:
        return None


def _same(a, b) -> bool:
    if a is None or b is None:
        return False
    try:
        return uri_equal(a, b) or (a.user == b.user and a.host == b.host and a.port == b.port)
    except ParseError:
        return False


def routed_check(args: dict, ctx: CheckContext) -> list[Observation]:
    d = ctx.dialog or {}
    got = {flow: reqs for flow, reqs in ctx.deliveries.items() if reqs}
    out: list[Observation] = []
    if "reached" in args:
        flow = args["reached"]
        n = len(got.get(flow, []))
        out.append(Observation(f"request reached flow {flow}", n == 1, f"the request once over flow {flow}",
                               f"received on {_shown(got)}"))
        trap = got.get(f"contact-{flow}", [])
        out.append(Observation(f"nothing sent to flow {flow}'s Contact address", not trap,
                               "no copy at the dialog Contact (it is not the flow)", f"received on {_shown(got)}"))
    if args.get("route_removed"):
        sent = d.get("sent") or ctx.request
        top = sent.values("Route")[0] if sent is not None and sent.values("Route") else None
        copies = [r for reqs in got.values() for r in reqs] + list(d.get("upstream") or [])
        # Nothing to judge without a Route to the SUT (e.g. an empty route set) or without a
        # copy beyond the SUT (whether it should have gone on is another check's question).
        if top is not None and copies:
            own = _uri(top)
            left = [v for r in copies for v in r.values("Route") if _same(_uri(v), own)]
            out.append(Observation("SUT's Route value removed", not left, f"no Route {top} in what the SUT forwarded",
                                   f"Route {left[0]} still present" if left else "removed"))
    if args.get("record_route"):
        req = d.get("callee_request")
        sut = d.get("sut")
        if req is None:
            out.append(Observation("Record-Route of the SUT", None, "the request at the callee",
                                   "the request reached no callee"))
        else:
            rr = req.values("Record-Route")
            mine = [v for v in rr if (u := _uri(v)) is not None and sut is not None
                    and u.host.strip("[]") == sut[0] and (u.port or 5060) == sut[1]]
            out.append(Observation("Record-Route of the SUT", bool(mine), "a Record-Route value naming the SUT",
                                   f"Record-Route: {', '.join(rr)}" if rr else "no Record-Route"))
    if "upstream" in args:
        want = bool(args["upstream"])
        sender = d.get("sender")
        # a copy over the flow whose token the Route carried is the "incoming" treatment, not upstream
        others = [f for f in got if f not in (sender, d.get("token_flow"))
                  and not f.startswith("contact-") and f != "peer"]
        went = bool(d.get("upstream")) or bool(others)
        where = ("the emulated registrar" if d.get("upstream") else "") or (f"flow {others[0]} through the core" if others else "")
        out.append(Observation("request went on towards the core" if want else "request not sent on towards the core",
                               went == want,
                               "forwarded upstream (REG-T, or through the core to its target)" if want
                               else "nothing forwarded upstream (the request is not the token flow's own)",
                               f"reached {where}" if went else f"received on {_shown(got)}; nothing reached the core side"))
    return out


KIND = CheckKind(
    name="routed",
    summary=(
        "Where a request through the edge went (checks/routed.py): reached: FLOW (over the flow, nothing at "
        "its dialog Contact address), route_removed, record_route, upstream."
    ),
    handler=routed_check,
    level="MAY",
    ref=default_ref,
    order=250,
    args_doc=(
        "`{reached: FLOW}`: the step's request came over FLOW once and nothing reached the flow's dialog "
        "Contact; `{route_removed: true}`: no copy beyond the SUT still has the Route value sent to the SUT "
        "(judged only when there is one); `{record_route: true}`: the callee's request has a Record-Route "
        "naming the SUT; `{upstream: true\\|false}`: the request went (or not) towards the core (REG-T, or "
        "through the core to another flow)"
    ),
    clause_doc=(
        "reached: RFC 5626 §5.3.1 ¶1, route_removed: RFC 3261 §16.4 (write `level: MUST`), record_route: "
        "§5.3.1 ¶1 note, upstream: §5.3 ¶3"
    ),
    schema={
        "type": "object",
        "additionalProperties": False,
        "minProperties": 1,
        "properties": {
            "reached": {
                "description": (
                    "The flow that must receive the request, over the "
                    "flow and not at its dialog Contact."
                ),
                "$ref": "#/$defs/flow_name",
            },
            "route_removed": {
                "description": (
                    "true: no copy beyond the SUT still carries the Route value addressed to the SUT (RFC "
                    "3261 section 16.4)."
                ),
                "type": "boolean",
            },
            "record_route": {
                "description": (
                    "true: the request the callee received carries a "
                    "Record-Route value naming the SUT."
                ),
                "type": "boolean",
            },
            "upstream": {
                "description": (
                    "true: the request went on towards the core (REG-T, or a flow other than the sender's "
                    "through the core)."
                ),
                "type": "boolean",
            },
        },
    },
)
