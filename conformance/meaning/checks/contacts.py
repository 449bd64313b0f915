"""Binding-list checks on the Contact header of a 2xx to REGISTER.

RFC 3261 §10.3 step 8: the 2xx enumerates all current bindings, each with an ``expires``
parameter.  RFC 3840 §6 / RFC 5627 §5.2: each Contact keeps its feature parameters, so the UE's
``+sip.instance`` comes back on its bindings.  RFC 5626 §9.2 shows ``reg-id`` on returned
Contacts, but no RFC text requires it: that check defaults to SHOULD.
"""

from __future__ import annotations

from ...sip.errors import ParseError
from ...sip.headers import parse_contacts, parse_uri, uri_equal  # module level: the checks run per message offline
from .context import CheckContext, Observation
from .kind import CheckKind


def contact_list(ctx: CheckContext):
    return parse_contacts(ctx.response.values("Contact"))


def same_uri(a: str, b) -> bool:
    try:
        return uri_equal(parse_uri(a), b if not isinstance(b, str) else parse_uri(b))
    except ParseError:
        return False


def show_contacts(contacts, instance: str | None = None) -> str:
    """The Contact list, compactly: the UE's own (long) instance URN is abbreviated."""
    if not contacts:
        return "no Contact"
    out = []
    for c in contacts:
        text = str(c)
        if instance and c.instance == instance:
            text = text.replace(f'+sip.instance="{instance}"', "+sip.instance=<UE's>")
        out.append(text)
    return f"{len(out)} Contact(s): " + " , ".join(out)


def contacts_check(args: dict, ctx: CheckContext) -> list[Observation]:
    if ctx.response is None:
        return [Observation("Contact list", None, "a final response listing the bindings",
                            ctx.no_response_reason)]
    try:
        contacts = [c for c in contact_list(ctx)]
    except ParseError as exc:
        values = ctx.response.values("Contact")
        return [Observation("Contact list", False, "Contact values following RFC 3261 §25",
                            f"unparseable Contact {values!r}: {exc}")]
    real = [c for c in contacts if not c.star]
    mine = [c for c in real if ctx.instance is not None and c.instance == ctx.instance]
    shown = show_contacts(contacts, ctx.instance)
    out: list[Observation] = []
    if args.get("empty"):
        out.append(Observation("no Contact listed", not contacts, "no Contact header", shown))
    if "count" in args:
        n = int(args["count"])
        out.append(Observation("number of bindings", len(real) == n, f"{n} Contact value(s)",
                               shown))
    if "instance_count" in args:
        n = int(args["instance_count"])
        out.append(Observation(
            "bindings of the UE's instance", len(mine) == n,
            f"{n} Contact value(s) with +sip.instance=\"{ctx.instance}\"",
            f"{len(mine)} of the UE's; {shown}"))
    for flow in args.get("include", []) or []:
        uri = ctx.flow_contacts.get(flow)
        found = uri is not None and any(c.uri is not None and same_uri(uri, c.uri) for c in real)
        out.append(Observation(f"binding of flow {flow} listed", found,
                               f"a Contact for <{uri}>", shown))
    for flow in args.get("exclude", []) or []:
        uri = ctx.flow_contacts.get(flow)
        found = uri is not None and any(c.uri is not None and same_uri(uri, c.uri) for c in real)
        out.append(Observation(f"binding of flow {flow} not listed", not found,
                               f"no Contact for <{uri}>", shown))
    if args.get("expires") == "all":
        missing = [str(c) for c in real if c.expires is None]
        out.append(Observation("expires on every Contact", not missing,
                               "an expires parameter on each Contact value",
                               f"without expires: {'; '.join(missing)}" if missing else shown))
    if args.get("instance") == "all":
        lacking = [str(c) for c in real if c.instance is None]
        out.append(Observation("+sip.instance on every Contact", not lacking,
                               "each Contact keeps its +sip.instance",
                               f"without +sip.instance: {'; '.join(lacking)}" if lacking else shown))
    if not out:
        out.append(Observation("Contact list present", bool(real) or not args, "Contact values", shown))
    return out


def reg_ids_check(args: dict, ctx: CheckContext) -> list[Observation]:
    wanted = sorted(int(x) for x in args.get("equal", []))
    label = "reg-ids on the UE's Contacts"
    expected = f"reg-id {', '.join(map(str, wanted)) or '(none)'}"
    if ctx.response is None:
        return [Observation(label, None, expected, ctx.no_response_reason)]
    try:
        contacts = contact_list(ctx)
    except ParseError as exc:
        return [Observation(label, False, expected, f"unparseable Contact: {exc}")]
    mine = [c for c in contacts if not c.star and c.instance == ctx.instance]
    seen: list[int | str | None] = []
    for c in mine:
        rid = c.reg_id
        # reg-id = 1*DIGIT (RFC 5626 §10); anything else is kept as text and never matches.
        seen.append(None if rid is None else int(rid) if rid.isascii() and rid.isdigit() else rid)
    shown = ", ".join("missing" if s is None else str(s) for s in seen) or "no Contact of the instance"
    ok = all(isinstance(s, int) for s in seen) and sorted(seen) == wanted
    return [Observation(label, ok, expected, f"reg-id {shown}")]


def expires_check(args: dict, ctx: CheckContext) -> list[Observation]:
    flow = args["flow"]
    uri = ctx.flow_contacts.get(flow)
    bounds = []
    if "min" in args:
        bounds.append(f">= {args['min']}")
    if "max" in args:
        bounds.append(f"<= {args['max']}")
    label = f"expires of flow {flow}"
    expected = f"expires {' and '.join(bounds) or 'present'} on <{uri}>"
    if ctx.response is None:
        return [Observation(label, None, expected, ctx.no_response_reason)]
    try:
        contacts = contact_list(ctx)
    except ParseError as exc:
        return [Observation(label, False, expected, f"unparseable Contact: {exc}")]
    match = [c for c in contacts if c.uri is not None and uri and same_uri(uri, c.uri)]
    if not match:
        return [Observation(label, None, expected, f"flow {flow} not listed: {show_contacts(contacts, ctx.instance)}")]
    value = match[0].expires
    if value is None:
        return [Observation(label, False, expected, f"no expires on {match[0]}")]
    ok = ("min" not in args or value >= int(args["min"])) and ("max" not in args or value <= int(args["max"]))
    return [Observation(label, ok, expected, f"expires={value}")]

def contacts_ref(args: dict) -> str:
    """``instance: all`` is RFC 3840 §6 ("each Contact header field value MUST include all of the
    feature parameters"); the rest of the list is RFC 3261 §10.3 step 8."""
    refs = []
    if set(args) - {"instance"}:
        refs.append("RFC 3261 §10.3 step 8")
    if "instance" in args:
        refs.append("RFC 3840 §6")
    return "; ".join(refs) or "RFC 3261 §10.3 step 8"


KINDS = (
    CheckKind(
        name="contacts",
        summary="The Contact list of the response.",
        handler=contacts_check,
        level="MUST",
        ref=contacts_ref,
        order=30,
        flow_args=("include", "exclude"),
        args_doc=(
            "`count`, `instance_count`, `include: [FLOW]`, `exclude: [FLOW]`, `expires: all`, `instance: "
            "all`, `empty: true`"
        ),
        clause_doc="RFC 3261 §10.3 step 8 (`instance: all`: RFC 3840 §6)",
        schema={
            "type": "object",
            "additionalProperties": False,
            "minProperties": 1,
            "properties": {
                "count": {"description": "Exactly this many Contacts.", "type": "integer", "minimum": 0},
                "instance_count": {
                    "description": "Exactly this many Contacts with the UE's +sip.instance.",
                    "type": "integer",
                    "minimum": 0,
                },
                "include": {
                    "description": "Flows whose Contact must be listed.",
                    "type": "array",
                    "items": {"$ref": "#/$defs/flow_name"},
                },
                "exclude": {
                    "description": "Flows whose Contact must not be listed.",
                    "type": "array",
                    "items": {"$ref": "#/$defs/flow_name"},
                },
                "expires": {
                    "description": "'all': every Contact carries an expires parameter.",
                    "const": "all",
                    "x-expected": "'all'",
                },
                "instance": {
                    "description": "'all': every Contact of the UE carries +sip.instance.",
                    "const": "all",
                    "x-expected": "'all'",
                },
                "empty": {"description": "true: no Contact at all.", "type": "boolean"},
            },
        },
    ),
    CheckKind(
        name="reg_ids",
        summary="The reg-ids on the UE's Contacts.",
        handler=reg_ids_check,
        level="MAY",
        ref="RFC 5626 §9.2",
        order=40,
        args_doc="`{equal: [N, ...]}` the reg-ids on the UE's Contacts",
        clause_doc="RFC 5626 §9.2 (an example, no keyword)",
        schema={
            "type": "object",
            "additionalProperties": False,
            "required": ["equal"],
            "properties": {
                "equal": {
                    "description": "The reg-ids expected, in any order.",
                    "type": "array",
                    "items": {"description": "A reg-id.", "type": "integer", "minimum": 1},
                },
            },
        },
    ),
    CheckKind(
        name="expires",
        summary="Bounds on one flow's Contact expires.",
        handler=expires_check,
        level="MUST",
        ref="RFC 3261 §10.3 step 8",
        order=90,
        flow_args=("flow",),
        args_doc="`{flow: FLOW, min: N, max: N}` on that flow's Contact `expires`",
        clause_doc="RFC 3261 §10.3 step 8",
        schema={
            "type": "object",
            "additionalProperties": False,
            "required": ["flow"],
            "properties": {
                "flow": {"description": "The flow whose Contact to look at.", "$ref": "#/$defs/flow_name"},
                "min": {"description": "Lowest accepted value.", "type": "integer", "minimum": 0},
                "max": {"description": "Highest accepted value.", "type": "integer", "minimum": 0},
            },
        },
    ),
)
