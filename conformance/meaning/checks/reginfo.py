"""Reg-event checks (RFC 6665, RFC 3680): the NOTIFYs of a subscription and the registration
view they build, on ``ctx.reg_event`` (steps/subscribe.py fills it live and offline).

``ctx.reg_event``: ``subscription`` (its name), ``event`` (the package subscribed to), ``aor``,
``notifies`` (this step's NOTIFYs, ue/subscription.NotifyView: request, doc, error, view,
version_note), ``all`` (every NOTIFY of the subscription so far), ``view`` (the registration
state after them, RFC 3680 §5.2), ``waited`` (seconds the step listened), ``subscribe`` (the
step's SUBSCRIBE) and ``response`` (its final response).

Three kinds, each at the strength of its sentences:
- ``notify`` (MUST): a NOTIFY came (RFC 6665 §4.2.1.2: immediately after a 2xx; after a change
  the case cites §4.2.2, a SHOULD), its Event, Subscription-State and Content-Type headers, the
  body a reginfo document (RFC 3680 §5.1), contact and registration ids kept within the
  subscription, the SUBSCRIBE 2xx's Expires.
- ``reginfo`` (MUST, RFC 6665 §4.2.1.2 "to communicate the current resource state"): the view
  has one active ``<contact>`` per bound flow, none for an unbound one, N active in all.
- ``reginfo_record`` (MAY: RFC 3680's descriptions without a keyword, and [M] readings): the
  instance/reg-id ``<unknown-param>`` elements, the ``event`` attribute of a flow's contact,
  the ``<registration state>``, ``state="full"`` of the first document, the version numbering,
  how a Reg1b replacement is shown, the Subscription-State value.
"""

from __future__ import annotations

from ...sip.errors import ParseError
from ...sip.headers import parse_uri, uri_equal
from .context import CheckContext, Observation
from .kind import CheckKind


# -- what the checks look at -----------------------------------------------------------------
def _re(ctx: CheckContext) -> dict:
    return getattr(ctx, "reg_event", None) or {}


def _registration(view, aor: str):
    """The AOR's <registration> in the view (the only one when the notifier writes the AOR
    otherwise, e.g. with parameters)."""
    if view is None:
        return None
    found = view.registration(aor=aor)
    if found is None and len(view.registrations) == 1:
        found = view.registrations[0]
    return found


def _same_uri(a: str, b: str) -> bool:
    try:
        return uri_equal(parse_uri(a), parse_uri(b))
    except ParseError:
        return a == b


def _show(c) -> str:
    extra = "".join(f' {k}="{v}"' for k, v in (("expires", c.expires), ("callid", c.callid)) if v is not None)
    return f'<contact id="{c.id}" state="{c.state}" event="{c.event}"{extra}> <uri>{c.uri}</uri>'


def _listing(reg) -> str:
    if reg is None:
        return "no <registration> for the AOR"
    head = f'<registration aor="{reg.aor}" id="{reg.id}" state="{reg.state}">'
    return head + (": " + "; ".join(_show(c) for c in reg.contacts) if reg.contacts else " with no <contact>")


def _flow_contacts(reg, uri: str) -> list:
    return [c for c in (reg.contacts if reg is not None else ()) if _same_uri(c.uri, uri)]


def _no_view(re: dict, label: str, expected: str) -> Observation:
    why = f"no NOTIFY of subscription {re.get('subscription', '?')}"
    bodies = [n.error for n in re.get("all", []) if n.error and n.error != "no body"]
    return Observation(label, None, expected, why + (f" with a usable body ({bodies[0]})" if bodies else ""))


def _flows(args: dict, key: str) -> list[str]:
    value = args.get(key) or []
    return [value] if isinstance(value, str) else list(value)


# -- notify (MUST) ---------------------------------------------------------------------------
def notify_check(args: dict, ctx: CheckContext) -> list[Observation]:
    re = _re(ctx)
    notifies = re.get("notifies", [])
    name = re.get("subscription", "?")
    out: list[Observation] = []
    if args.get("sent", not any(k in args for k in ("event", "subscription_state", "content_type", "body",
                                                   "ids", "expires_header"))):
        got = ", ".join(_summary(n) for n in notifies)
        refused = re.get("response")
        if not notifies and refused is not None and not 200 <= refused.status < 300:
            out.append(Observation(f"NOTIFY of subscription {name}", None, "a NOTIFY in the subscription's dialog",
                                   f"{refused.status} {refused.reason} to the SUBSCRIBE: no subscription"))
            return out
        out.append(Observation(
            f"NOTIFY of subscription {name}", bool(notifies), "a NOTIFY in the subscription's dialog",
            f"{len(notifies)} NOTIFY: {got}" if notifies else
            f"no NOTIFY of subscription {name} within {round(re.get('waited', 0), 1):g} s"))
    if args.get("event"):
        want = re.get("event", "reg")
        for n in notifies:
            value = n.request.get("Event")
            got = (value or "").split(";", 1)[0].strip()
            out.append(Observation(f"Event of {_summary(n)}", got == want, f"Event: {want}",
                                   f"Event: {value}" if value is not None else "no Event header"))
    if args.get("subscription_state"):
        for n in notifies:
            out.append(_subscription_state(n))
    if args.get("content_type"):
        for n in notifies:
            if not n.request.body:
                continue
            value = n.request.get("Content-Type") or ""
            media = value.split(";", 1)[0].strip().lower()
            out.append(Observation(f"Content-Type of {_summary(n)}", media == "application/reginfo+xml",
                                   "Content-Type: application/reginfo+xml (the SUBSCRIBE's Accept)",
                                   f"Content-Type: {value}" if value else "no Content-Type header"))
    if args.get("body"):
        for n in notifies:
            if not n.request.body:
                continue
            out.append(Observation(f"reginfo document of {_summary(n)}", not n.error,
                                   "a well-formed application/reginfo+xml document (RFC 3680 §5.1, §5.4)",
                                   n.error or f'<reginfo version="{n.doc.version}" state="{n.doc.state}">'))
    if args.get("ids"):
        out.extend(_ids(re))
    if args.get("expires_header"):
        out.append(_expires_header(re, ctx))
    return out


def _summary(n) -> str:
    cseq = n.request.cseq
    doc = f" (version {n.doc.version}, {n.doc.state})" if n.doc is not None else ""
    return f"NOTIFY CSeq {cseq[0] if cseq else '?'}{doc}"


def _subscription_state(n) -> Observation:
    value = n.request.get("Subscription-State")
    label = f"Subscription-State of {_summary(n)}"
    expected = "active, pending or terminated; with expires=N when active or pending"
    if value is None:
        return Observation(label, False, expected, "no Subscription-State header")
    parts = [p.strip() for p in value.split(";")]
    state = parts[0].lower()
    params = {p.split("=", 1)[0].strip().lower(): p.split("=", 1)[1].strip() if "=" in p else ""
              for p in parts[1:] if p}
    ok = state in ("active", "pending", "terminated")
    if state in ("active", "pending"):
        ok = ok and params.get("expires", "").isdigit()
    return Observation(label, ok, expected, f"Subscription-State: {value}")


def _ids(re: dict) -> list[Observation]:
    """RFC 3680 §5.1: contact ids differ for differing URIs within the subscription; an AOR's
    registration id is the same in every notification."""
    contact_uri: dict[str, tuple[str, str]] = {}
    reg_ids: dict[str, str] = {}
    bad: list[str] = []
    for n in re.get("all", []):
        if n.doc is None:
            continue
        for reg in n.doc.registrations:
            first = reg_ids.setdefault(reg.aor, reg.id)
            if first != reg.id:
                bad.append(f'<registration aor="{reg.aor}"> has id="{reg.id}" in {_summary(n)}, id="{first}" before')
            for c in reg.contacts:
                seen = contact_uri.setdefault(c.id, (c.uri, _summary(n)))
                if not _same_uri(seen[0], c.uri):
                    bad.append(f'<contact id="{c.id}"> names <uri>{c.uri}</uri> in {_summary(n)} and '
                               f"<uri>{seen[0]}</uri> in {seen[1]}")
    if not contact_uri and not reg_ids:
        return [_no_view(re, "contact and registration ids", "ids kept within the subscription")]
    return [Observation("contact and registration ids within the subscription", not bad,
                        "one <uri> per <contact id>, one id per <registration aor>",
                        "; ".join(bad) or f"{len(contact_uri)} contact id(s), each for one URI; "
                                          f"{len(reg_ids)} registration id(s), unchanged")]


def _expires_header(re: dict, ctx: CheckContext) -> Observation:
    response, request = ctx.response, ctx.request
    label = "Expires of the SUBSCRIBE's 2xx"
    asked = (request.get("Expires") if request is not None else None) or "?"
    expected = f"an Expires header, at most {asked}"
    if response is None:
        return Observation(label, None, expected, ctx.no_response_reason)
    if not 200 <= response.status < 300:
        return Observation(label, None, expected, f"{response.status} {response.reason}: no subscription")
    value = (response.get("Expires") or "").strip()
    if not value.isdigit():
        return Observation(label, False, expected, f"Expires: {value}" if value else "no Expires header")
    ok = not asked.isdigit() or int(value) <= int(asked)
    return Observation(label, ok, expected, f"Expires: {value}")


def notify_ref(args: dict) -> str:
    for key, ref in (("event", "RFC 6665 §3.2.1"), ("subscription_state", "RFC 6665 §4.2.2 (Subscription-State); RFC 6665 §4.2.2 (expires)"),
                     ("content_type", "RFC 3680 §4.5"), ("body", "RFC 3680 §5.1 (well-formed)"),
                     ("ids", "RFC 3680 §5.1 (contact ids); RFC 3680 §5.1 (registration id)"), ("expires_header", "RFC 6665 §3.1.1")):
        if args.get(key):
            return ref
    return "RFC 6665 §4.2.1.2"


# -- reginfo (MUST) --------------------------------------------------------------------------
def reginfo_check(args: dict, ctx: CheckContext) -> list[Observation]:
    re = _re(ctx)
    view = re.get("view")
    reg = _registration(view, re.get("aor", ""))
    out: list[Observation] = []
    for flow in _flows(args, "flows"):
        uri = ctx.flow_contacts.get(flow, "")
        label = f"<contact> of flow {flow}"
        expected = f'one <contact state="active"> with <uri>{uri}</uri>'
        if view is None:
            out.append(_no_view(re, label, expected))
            continue
        active = [c for c in _flow_contacts(reg, uri) if c.state == "active"]
        out.append(Observation(label, len(active) == 1, expected,
                               (_show(active[0]) if len(active) == 1 else
                                f"{len(active)} active <contact> with that <uri>; {_listing(reg)}")))
    for flow in _flows(args, "unbound"):
        uri = ctx.flow_contacts.get(flow, "")
        label = f"<contact> of unbound flow {flow}"
        expected = f'no <contact state="active"> with <uri>{uri}</uri> (terminated, or gone after a full document)'
        if view is None:
            out.append(_no_view(re, label, expected))
            continue
        mine = _flow_contacts(reg, uri)
        active = [c for c in mine if c.state == "active"]
        out.append(Observation(label, not active, expected,
                               "; ".join(_show(c) for c in mine) if mine else "no <contact> with that <uri>"))
    if "count" in args:
        n = int(args["count"])
        label = "active <contact> elements of the AOR"
        expected = f'{n} <contact state="active">'
        if view is None:
            out.append(_no_view(re, label, expected))
        else:
            active = [c for c in (reg.contacts if reg is not None else ()) if c.state == "active"]
            out.append(Observation(label, len(active) == n, expected, f"{len(active)}: {_listing(reg)}"))
    return out


# -- reginfo_record (MAY) --------------------------------------------------------------------
def record_check(args: dict, ctx: CheckContext) -> list[Observation]:
    re = _re(ctx)
    view = re.get("view")
    reg = _registration(view, re.get("aor", ""))
    out: list[Observation] = []
    for flow in _flows(args, "params"):
        out.append(_params(re, ctx, reg, flow))
    for flow, event in (args.get("event") or {}).items():
        uri = ctx.flow_contacts.get(flow, "")
        label = f"event of flow {flow}'s <contact>"
        state = "active" if event in ("registered", "created", "refreshed", "shortened") else "terminated"
        expected = f'<contact state="{state}" event="{event}"> with <uri>{uri}</uri>'
        if view is None:
            out.append(_no_view(re, label, expected))
            continue
        mine = _flow_contacts(reg, uri)
        ok = any(c.state == state and c.event == event for c in mine)
        out.append(Observation(label, ok, expected,
                               "; ".join(_show(c) for c in mine) if mine else
                               f"no <contact> with that <uri>; {_listing(reg)}"))
    if "registration" in args:
        want = args["registration"]
        expected = f'<registration state="{want}">'
        label = "<registration state> of the AOR"
        if view is None:
            out.append(_no_view(re, label, expected))
        else:
            out.append(Observation(label, reg is not None and reg.state == want, expected, _listing(reg)))
    if args.get("full"):
        first = next((n for n in re.get("notifies", []) if n.doc is not None), None)
        label = "first document of the step"
        if first is None:
            out.append(_no_view(re, label, '<reginfo state="full">'))
        else:
            out.append(Observation(label, first.doc.state == "full", '<reginfo state="full">',
                                   f'<reginfo version="{first.doc.version}" state="{first.doc.state}">'))
    if args.get("version"):
        out.append(_versions(re))
    if "replaced" in args:
        out.append(_replaced(re, ctx, reg, args["replaced"]))
    if "subscription_state" in args:
        out.append(_state_value(re, args["subscription_state"]))
    return out


def _params(re, ctx, reg, flow) -> Observation:
    uri = ctx.flow_contacts.get(flow, "")
    rid = ctx.flow_reg_ids.get(flow)
    want = f'<unknown-param name="+sip.instance">{ctx.instance}</unknown-param>'
    if rid is not None:
        want += f' and <unknown-param name="reg-id">{rid}</unknown-param>'
    label = f"instance and reg-id of flow {flow}'s <contact>"
    if reg is None:
        return _no_view(re, label, want)
    active = [c for c in _flow_contacts(reg, uri) if c.state == "active"] or _flow_contacts(reg, uri)
    if not active:
        return Observation(label, False, want, f"no <contact> with <uri>{uri}</uri>")
    c = active[0]
    ok = c.instance == ctx.instance and (rid is None or c.reg_id == rid)
    shown = ", ".join(f'<unknown-param name="{k}">{v}</unknown-param>' for k, v in c.unknown_params.items())
    return Observation(label, ok, want, f'<contact id="{c.id}">: {shown or "no <unknown-param>"}')


def _versions(re: dict) -> Observation:
    docs = [n for n in re.get("all", []) if n.doc is not None]
    label = "reginfo versions of the subscription"
    expected = "0 in the first document, then one more in each"
    if not docs:
        return _no_view(re, label, expected)
    seq = [n.doc.version for n in docs]
    notes = list(dict.fromkeys(n.version_note for n in docs if n.version_note))
    ok = seq[0] == 0 and not notes
    return Observation(label, ok, expected, "versions " + ", ".join(map(str, seq)) + (
        ("; " + "; ".join(notes)) if notes else "") + ("" if seq[0] == 0 else f"; the first is {seq[0]}, not 0"))


def _replaced(re, ctx, reg, spec: dict) -> Observation:
    old, new = spec.get("old"), spec.get("new")
    label = f"how the replacement of flow {old} by flow {new} is shown"
    expected = f"flow {old}'s <contact> terminated (no \"replaced\" event in RFC 3680 §4.7.1), flow {new}'s active"
    if reg is None:
        return _no_view(re, label, expected)
    olds = _flow_contacts(reg, ctx.flow_contacts.get(old, ""))
    news = _flow_contacts(reg, ctx.flow_contacts.get(new, ""))
    ok = not any(c.state == "active" for c in olds) and any(c.state == "active" for c in news)
    observed = (f"old: {'; '.join(_show(c) for c in olds) or 'no <contact> (gone)'} | "
                f"new: {'; '.join(_show(c) for c in news) or 'no <contact>'}")
    return Observation(label, ok, expected, observed)


def _state_value(re, spec) -> Observation:
    want = spec if isinstance(spec, str) else spec.get("is", "terminated")
    reason = None if isinstance(spec, str) else spec.get("reason")
    notifies = re.get("notifies", [])
    label = "Subscription-State of the step's last NOTIFY"
    expected = want + (f";reason={reason}" if reason else "")
    if not notifies:
        return _no_view(re, label, expected)
    value = notifies[-1].request.get("Subscription-State") or ""
    parts = [p.strip().lower() for p in value.split(";")]
    ok = parts[0] == want and (reason is None or f"reason={reason}" in parts[1:])
    return Observation(label, ok, expected, f"Subscription-State: {value}" if value else "no Subscription-State")


_EVENT_REFS = {"unregistered": "RFC 3680 §4.7.1 (unregistered)", "registered": "RFC 3680 §4.7.1 (registered)",
               "expired": "RFC 3680 §4.7.1 (expired)"}


def record_ref(args: dict) -> str:
    if args.get("params"):
        return "RFC 3680 §5.1 (unknown-param)"
    if args.get("event"):
        events = set((args.get("event") or {}).values())
        return "; ".join(_EVENT_REFS.get(e, "RFC 3680 §5.1 (event)") for e in sorted(events))
    if "registration" in args:
        return f"RFC 3680 §4.7.1 ({'active' if args['registration'] == 'active' else 'terminated'})"
    if args.get("full"):
        return "RFC 3680 §4.3"
    if "replaced" in args:
        return "TS 24.229 (reg-event Reg1b) [M]"
    if "subscription_state" in args:
        return "RFC 6665 §4.2.1.4 (unsubscribe)"
    return "RFC 3680 §5.1 (version)"


def _flows_schema(text: str) -> dict:
    return {"description": text, "type": "array", "items": {"$ref": "#/$defs/flow_name"}}

KINDS = (
    CheckKind(
        name="notify",
        summary=("The subscription's NOTIFYs of the step: {sent: true} one came; {event: true}, "
                 "{subscription_state: true}, {content_type: true} their headers; {body: true} a reginfo "
                 "document; {ids: true} contact and registration ids kept; {expires_header: true} the 2xx's Expires."),
        handler=notify_check, level="MUST", ref=notify_ref, order=300,
        args_doc=("`{sent: true}` (default), `{event: true}`, `{subscription_state: true}`, `{content_type: true}`, "
                  "`{body: true}`, `{ids: true}`, `{expires_header: true}` on the step's NOTIFYs of the subscription "
                  "(and the SUBSCRIBE's 2xx)"),
        clause_doc=("sent: RFC 6665 §4.2.1.2 (after a change cite RFC 6665 §4.2.2, `level: SHOULD`), event: §3.2.1, "
                    "subscription_state: §4.2.2, content_type: RFC 3680 §4.5, body/ids: RFC 3680 §5.1, "
                    "expires_header: RFC 6665 §3.1.1"),
        schema={"type": "object", "additionalProperties": False,
                "properties": {
                    "sent": {"description": "A NOTIFY of the subscription came in the step.", "const": True},
                    "event": {"description": "Each NOTIFY's Event names the package subscribed to.", "const": True},
                    "subscription_state": {"description": "Each NOTIFY has a valid Subscription-State (expires when "
                                                          "active or pending).", "const": True},
                    "content_type": {"description": "Each NOTIFY body is application/reginfo+xml.", "const": True},
                    "body": {"description": "Each NOTIFY body is a reginfo document (RFC 3680 section 5).",
                             "const": True},
                    "ids": {"description": "Contact ids keep their URI, the AOR its registration id, within the "
                                           "subscription.", "const": True},
                    "expires_header": {"description": "The SUBSCRIBE's 2xx has an Expires no longer than asked.",
                                       "const": True}}},
    ),
    CheckKind(
        name="reginfo",
        summary=("The subscription's registration view (RFC 3680 §5.2) after the step's NOTIFYs: {flows: [F]} one "
                 "active <contact> per flow, {unbound: [F]} none active, {count: N} active in all."),
        handler=reginfo_check, level="MUST", ref="RFC 6665 §4.2.1.2", order=310,
        args_doc=("`{flows: [FLOW]}` one active `<contact>` with each flow's URI; `{unbound: [FLOW]}` none active; "
                  "`{count: N}` active contacts of the AOR"),
        clause_doc="RFC 6665 §4.2.1.2 (after a change cite RFC 6665 §4.2.2, `level: SHOULD`)",
        schema={"type": "object", "additionalProperties": False,
                "properties": {"flows": _flows_schema("Flows with one active <contact> each."),
                               "unbound": _flows_schema("Flows with no active <contact>."),
                               "count": {"description": "Active <contact> elements of the AOR.", "type": "integer",
                                         "minimum": 0}}},
        flow_args=("flows", "unbound"),
    ),
    CheckKind(
        name="reginfo_record",
        summary=("Recorded (MAY) reg-event details: {params: [F]} instance/reg-id unknown-params, {event: {F: E}}, "
                 "{registration: active|terminated}, {full: true}, {version: true}, {replaced: {old: F, new: F}}, "
                 "{subscription_state: STATE or {is, reason}}."),
        handler=record_check, level="MAY", ref=record_ref, order=320,
        args_doc=("`{params: [FLOW]}`, `{event: {FLOW: EVENT}}`, `{registration: active\\|terminated}`, "
                  "`{full: true}`, `{version: true}`, `{replaced: {old: FLOW, new: FLOW}}`, "
                  "`{subscription_state: terminated}`"),
        clause_doc="RFC 3680 §5.1, §4.7.1, §4.3 (no keyword); Reg1b: [M]; RFC 6665 §4.2.1.4",
        schema={"type": "object", "additionalProperties": False,
                "properties": {
                    "params": _flows_schema("Flows whose <contact> carries the instance and reg-id unknown-params."),
                    "event": {"description": "Flow -> the event attribute of its <contact>.", "type": "object",
                              "additionalProperties": {
                        "enum": ["registered", "created", "refreshed", "shortened", "expired", "deactivated",
                                 "probation", "unregistered", "rejected"]}},
                    "registration": {"description": "The AOR's <registration state>.",
                                     "enum": ["init", "active", "terminated"]},
                    "full": {"description": "The step's first document has state=full.", "const": True},
                    "version": {"description": "Versions 0, then one more per document.", "const": True},
                    "replaced": {"description": "How a Reg1b replacement is shown (recorded).", "type": "object",
                                 "additionalProperties": False, "required": ["old", "new"],
                                 "properties": {"old": {"description": "The replaced flow.",
                                                        "$ref": "#/$defs/flow_name"},
                                                "new": {"description": "The new flow.",
                                                        "$ref": "#/$defs/flow_name"}}},
                    "subscription_state": {"description": "The step's last NOTIFY's Subscription-State value.",
                                           "anyOf": [
                        {"enum": ["active", "pending", "terminated"]},
                        {"type": "object", "additionalProperties": False,
                         "properties": {"is": {"description": "The value.", "enum": ["active", "pending", "terminated"]},
                                        "reason": {"description": "The reason parameter.", "type": "string"}}}]}}},
        flow_args=("params",),
    ),
)
