"""GRUU checks on the 2xx to REGISTER (RFC 5627 §5): the ``pub-gruu`` and ``temp-gruu`` Contact
header field parameters of the binding a flow registered.

The flow's binding is the Contact of the 2xx whose URI is the flow's Contact URI (and, when
several flows share one URI, whose reg-id is the flow's).  What the run saw earlier (each 2xx's
GRUUs of the flow that sent the REGISTER, :class:`GruuSeen`) is in ``ctx.gruu_history``; the
engine remembers it (engine/registration.py) and so does the offline re-judging
(steps/register.py), with :func:`flow_gruus`.

What RFC 5627 leaves to the registrar is not judged: the value of ``gr`` in a public GRUU ("a
value chosen by the registrar", §3.1.1; the instance URN in the examples) and the form of a
temporary GRUU (§3.1.2: "can have any content") are only shown.
"""

from __future__ import annotations

from dataclasses import dataclass, replace

from ...sip.errors import ParseError
from ...sip.headers import NameAddr, parse_contacts, parse_name_addr, parse_uri, unquote_string, uri_equal
from .context import CheckContext, Observation
from .kind import CheckKind


@dataclass(frozen=True)
class GruuSeen:
    """The GRUUs one 2xx to REGISTER gave the flow that sent it."""

    flow: str
    instance: str | None   # the binding's +sip.instance, unquoted ("<urn:uuid:...>")
    call_id: str
    pub: str | None        # the pub-gruu parameter, unquoted
    temp: str | None       # the temp-gruu parameter, unquoted


def _same(a: str | None, b: str | None) -> bool:
    if a is None or b is None:
        return False
    try:
        return uri_equal(parse_uri(a), parse_uri(b))
    except ParseError:
        return a == b


def binding_of(contacts: list[NameAddr], contact_uri: str | None, reg_id) -> NameAddr | None:
    """The Contact that is the flow's binding: same URI; among several, the one with its reg-id."""
    if not contact_uri:
        return None
    try:
        mine = [c for c in contacts if c.uri is not None and uri_equal(c.uri, parse_uri(contact_uri))]
    except ParseError:
        return None
    if len(mine) > 1 and reg_id is not None:
        mine = [c for c in mine if c.reg_id == str(reg_id)] or mine
    return mine[0] if mine else None


def _param(contact: NameAddr, name: str) -> str | None:
    value = contact.param(name)
    return None if value is None else unquote_string(value)


def flow_gruus(response, flow: str, contact_uri: str | None, reg_id, call_id: str) -> GruuSeen | None:
    """What a 2xx to REGISTER gave a flow: None when its binding is not listed (or unparseable)."""
    try:
        contact = binding_of(parse_contacts(response.values("Contact")), contact_uri, reg_id)
    except ParseError:
        return None
    if contact is None:
        return None
    return GruuSeen(flow, contact.instance, call_id, _param(contact, "pub-gruu"), _param(contact, "temp-gruu"))


# -- the checks -------------------------------------------------------------------------------
def _binding(ctx: CheckContext, flow: str):
    """(the flow's Contact in the response or None, why not)."""
    if ctx.response is None:
        return None, ctx.no_response_reason
    try:
        contacts = parse_contacts(ctx.response.values("Contact"))
    except ParseError as exc:
        return None, f"unparseable Contact: {exc}"
    contact = binding_of(contacts, ctx.flow_contacts.get(flow), ctx.flow_reg_ids.get(flow))
    if contact is None:
        return None, f"no Contact for flow {flow} (<{ctx.flow_contacts.get(flow)}>) in the response"
    return contact, ""


def _seen(ctx: CheckContext, flow: str, which: str) -> list[str]:
    """Every pub-gruu / temp-gruu ``flow`` got: in earlier 2xx, and on its Contact in this one."""
    out = [getattr(h, which) for h in ctx.gruu_history if h.flow == flow and getattr(h, which)]
    contact, _ = _binding(ctx, flow)
    if contact is not None:
        value = _param(contact, f"{which}-gruu")
        if value:
            out.append(value)
    return list(dict.fromkeys(out))


def _aor(ctx: CheckContext) -> str | None:
    try:
        to = parse_name_addr(ctx.request.get("To") or "") if ctx.request is not None else None
    except ParseError:
        return None
    return str(to.uri) if to is not None and to.uri is not None else None


def gruu_check(args: dict, ctx: CheckContext) -> list[Observation]:
    flow = args["flow"]
    contact, why = _binding(ctx, flow)
    out: list[Observation] = []
    pub = _param(contact, "pub-gruu") if contact is not None else None
    temp = _param(contact, "temp-gruu") if contact is not None else None
    shown = f"{contact}" if contact is not None else why
    if args.get("present") or set(args) == {"flow"}:      # {flow: F} alone asks for both GRUUs
        for name, value in (("pub-gruu", pub), ("temp-gruu", temp)):
            out.append(Observation(f"{name} on flow {flow}'s Contact", None if contact is None else value is not None,
                                   f"a {name} Contact header field parameter (Supported: gruu, +sip.instance)",
                                   shown))
    if args.get("absent"):
        extra = [n for n in ("pub-gruu", "temp-gruu") if contact is not None and contact.has_param(n)]
        out.append(Observation(f"no pub-gruu/temp-gruu on flow {flow}'s Contact", None if contact is None else not extra,
                               "no GRUU parameters: the REGISTER had no Supported: gruu",
                               f"{', '.join(extra)} present: {shown}" if extra else shown))
    if args.get("pub_form"):
        out.append(_pub_form(ctx, flow, contact, pub, shown))
    for other in args.get("same_pub_as") or []:
        mine, theirs = _seen(ctx, flow, "pub"), _seen(ctx, other, "pub")
        label = f"pub-gruu of flow {flow} is flow {other}'s (one per AOR and instance)"
        if not mine or not theirs:
            out.append(Observation(label, None, "a pub-gruu on both flows' Contacts",
                                   f"flow {flow}: {', '.join(mine) or 'none'}; flow {other}: {', '.join(theirs) or 'none'}"))
            continue
        values = mine + theirs
        ok = all(_same(values[0], v) for v in values[1:])
        out.append(Observation(label, ok, "one pub-gruu for every flow of the instance, in every 2xx",
                               f"flow {flow}: {', '.join(mine)}; flow {other}: {', '.join(theirs)}"))
    for other in args.get("distinct_from") or []:
        mine = _seen(ctx, flow, "pub") + _seen(ctx, flow, "temp")
        theirs = _seen(ctx, other, "pub") + _seen(ctx, other, "temp")
        label = f"GRUUs of flow {flow} differ from flow {other}'s (another AOR or instance)"
        if not mine or not theirs:
            out.append(Observation(label, None, "GRUUs on both flows' Contacts",
                                   f"flow {flow}: {', '.join(mine) or 'none'}; flow {other}: {', '.join(theirs) or 'none'}"))
            continue
        same = [a for a in mine if any(_same(a, b) for b in theirs)]
        out.append(Observation(label, not same, "no pub-gruu or temp-gruu equal to one of the other instance's",
                               f"equal: {', '.join(same)}" if same else
                               f"flow {flow}: {', '.join(mine)}; flow {other}: {', '.join(theirs)}"))
    if args.get("not_echoed"):
        out.extend(_not_echoed(ctx, flow, contact, shown))
    return out


def _not_echoed(ctx: CheckContext, flow: str, contact, shown: str) -> list[Observation]:
    """RFC 5627 §5.1: a pub-gruu / temp-gruu the UA put on its Contact MUST be ignored (a UA cannot
    suggest a GRUU): the 2xx's values are not the ones the REGISTER carried."""
    try:
        sent = binding_of(parse_contacts(ctx.request.values("Contact")), ctx.flow_contacts.get(flow),
                          ctx.flow_reg_ids.get(flow)) if ctx.request is not None else None
    except ParseError:
        sent = None
    out = []
    for name in ("pub-gruu", "temp-gruu"):
        label = f"{name} the UA sent on flow {flow}'s Contact ignored"
        mine = _param(sent, name) if sent is not None else None
        if mine is None:
            continue                    # the REGISTER suggested none: nothing to ignore
        got = _param(contact, name) if contact is not None else None
        out.append(Observation(label, None if contact is None else not _same(mine, got),
                               f"the registrar's own {name}, not {mine}",
                               shown if contact is None else f"{name} {got}" if got else f"no {name}"))
    return out


def _pub_form(ctx: CheckContext, flow: str, contact, pub: str | None, shown: str) -> Observation:
    """RFC 5627 §5.1: the AOR with a "gr" URI parameter that has a value."""
    label = f"pub-gruu of flow {flow} is the AOR with gr=value"
    aor = _aor(ctx)
    expected = f"{aor or 'the AOR'};gr=<a value> (RFC 5627 §5.1)"
    if pub is None:
        return Observation(label, None, expected, f"no pub-gruu: {shown}" if contact is not None else shown)
    try:
        uri = parse_uri(pub)
    except ParseError as exc:
        return Observation(label, False, expected, f"pub-gruu {pub!r} is no URI: {exc}")
    gr = uri.param("gr")
    if not gr:
        return Observation(label, False, expected, f"pub-gruu {pub}: "
                           + ("gr without a value" if uri.has_param("gr") else "no gr URI parameter"))
    if aor is None:
        return Observation(label, None, expected, f"pub-gruu {pub}; the REGISTER's To is unknown")
    bare = replace(uri, params={k: v for k, v in uri.params.items() if k != "gr"})
    try:
        ok = uri_equal(bare, parse_uri(aor))
    except ParseError:
        ok = False
    note = " (gr is the instance URN)" if ctx.instance and gr.strip('"<>') == ctx.instance.strip("<>") else ""
    return Observation(label, ok, expected, f"pub-gruu {pub}{note}")


def temp_gruu_check(args: dict, ctx: CheckContext) -> list[Observation]:
    flow = args["flow"]
    contact, why = _binding(ctx, flow)
    label = f"temp-gruu of flow {flow} is new"
    expected = "a temp-gruu none of the instance's earlier 2xx gave"
    if contact is None:
        return [Observation(label, None, expected, why)]
    temp = _param(contact, "temp-gruu")
    if temp is None:
        return [Observation(label, None, expected, f"no temp-gruu: {contact}")]
    instance = contact.instance or (ctx.instance or "")
    earlier = [h.temp for h in ctx.gruu_history
               if h.temp and (h.instance or "").strip("<>") == instance.strip("<>")]
    old = [t for t in earlier if _same(t, temp)]
    return [Observation(label, not old, expected,
                        f"temp-gruu {temp} was already given" if old else
                        f"temp-gruu {temp}; earlier: {', '.join(dict.fromkeys(earlier)) or 'none'}")]


def gruu_ref(args: dict) -> str:
    refs = []
    if args.get("present") or args.get("same_pub_as"):
        refs.append("RFC 5627 §5.2")
    if args.get("pub_form"):
        refs.append("RFC 5627 §5.1 ¶4")
    if args.get("distinct_from"):
        refs.append("RFC 5627 §5.4 ¶3")
    if args.get("absent"):
        refs.append("RFC 3261 §8.2.4")
    if args.get("not_echoed"):
        refs.append("RFC 5627 §5.1 ¶4 (pub-gruu ignored); RFC 5627 §5.1 ¶7")
    return "; ".join(refs) or "RFC 5627 §5.2"


_FLOW = {"description": "The flow whose binding (Contact) to look at.", "$ref": "#/$defs/flow_name"}
_FLOWS = {"type": "array", "minItems": 1, "items": {"$ref": "#/$defs/flow_name"}}

KINDS = (
    CheckKind(
        name="gruu",
        summary="The pub-gruu / temp-gruu parameters on a flow's Contact in the 2xx to REGISTER (RFC 5627 §5).",
        handler=gruu_check,
        level="MUST",
        ref=gruu_ref,
        order=95,
        flow_args=("flow", "same_pub_as", "distinct_from"),
        args_doc=("`{flow: FLOW}` with `present: true` (pub-gruu and temp-gruu on its Contact; the default), `absent: true` (none: "
                  "no Supported: gruu), `pub_form: true` (the AOR plus `gr=value`), `same_pub_as: [FLOW]` (one "
                  "pub-gruu per AOR and instance, in this and earlier 2xx), `distinct_from: [FLOW]` (flows of "
                  "another instance or AOR: no GRUU in common), `not_echoed: true` (GRUUs the UA put on its Contact "
                  "are not the 2xx's)"),
        clause_doc=("present, same_pub_as: RFC 5627 §5.2; pub_form: §5.1 ¶4; distinct_from: §5.4 ¶3; "
                    "absent: RFC 3261 §8.2.4; not_echoed: §5.1 ¶4, ¶7"),
        schema={
            "type": "object",
            "additionalProperties": False,
            "required": ["flow"],
            "properties": {
                "flow": _FLOW,
                "present": {"description": "pub-gruu and temp-gruu on the flow's Contact.", "const": True},
                "absent": {"description": "No pub-gruu nor temp-gruu on the flow's Contact.", "const": True},
                "pub_form": {"description": "The pub-gruu is the AOR with a gr URI parameter that has a value.",
                             "const": True},
                "same_pub_as": dict(_FLOWS, description="Flows of the same instance: the same pub-gruu."),
                "distinct_from": dict(_FLOWS, description="Flows of another instance or AOR: no GRUU in common."),
                "not_echoed": {"description": ("A pub-gruu / temp-gruu the REGISTER's Contact carried is not "
                                               "the one the 2xx gives (the registrar ignores it)."), "const": True},
            },
        },
    ),
    CheckKind(
        name="temp_gruu",
        summary="A new temp-gruu on a flow's Contact in the 2xx to REGISTER (RFC 5627 §5.1).",
        handler=temp_gruu_check,
        level="SHOULD",
        ref="RFC 5627 §5.1 ¶6",
        order=96,
        flow_args=("flow",),
        args_doc="`{flow: FLOW}` (or with `new: true`): its temp-gruu is none an earlier 2xx gave the instance",
        clause_doc="RFC 5627 §5.1 ¶6",
        schema={
            "type": "object",
            "additionalProperties": False,
            "required": ["flow"],
            "properties": {
                "flow": _FLOW,
                "new": {"description": "The temp-gruu differs from every earlier one of the instance.", "const": True},
            },
        },
    ),
)
