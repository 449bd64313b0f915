"""A UE's subscription to the reg event package (RFC 6665, RFC 3680), sans-IO.

:class:`Subscription` is the subscriber's side of one SUBSCRIBE dialog: its Call-ID and tags,
CSeq, the notifier's remote target and route set, and every NOTIFY matched to it with the
registration view each one leaves (:class:`NotifyView`).  :func:`build_subscribe` writes the
SUBSCRIBE (initial, refresh, or with ``Expires: 0`` the unsubscribe) as the wire contract of
issue 18 says; :func:`matches` is RFC 6665 §4.4.1's matching of a NOTIFY to its SUBSCRIBE
(Call-ID, To tag = the SUBSCRIBE's From tag, the same Event); :func:`absorb` takes a NOTIFY in:
its body parsed with :func:`conformance.sip.reginfo.parse_reginfo` and merged into the view as
RFC 3680 §5.2 says (a version more than one higher is processed and noted: the subscriber
would refresh; a lower one is discarded).

Live runs (engine/subscriptions.py) and the offline re-judge (steps/subscribe.py) use the same
functions, so a capture is judged as the run was.
"""

from __future__ import annotations

from dataclasses import dataclass, field, replace

from ..sip.errors import ParseError
from ..sip.headers import parse_name_addr
from ..sip.message import Request, Response
from ..sip.reginfo import RegInfo, apply_partial, parse_reginfo
from .model import USER_AGENT, UE, FlowState, edge_uri, new_branch

REGINFO_TYPE = "application/reginfo+xml"


@dataclass
class NotifyView:
    """One NOTIFY of a subscription and what it did to the subscriber's view."""

    request: Request
    index: int | None           # the message index (live) or packet number (offline)
    flow: str
    doc: RegInfo | None = None  # the body, parsed (None: no body or unusable)
    error: str = ""             # why the body could not be used
    view: RegInfo | None = None  # the registration state after this NOTIFY (RFC 3680 §5.2)
    version_note: str = ""      # a gap or an old version (RFC 3680 §5.2), "" when in order
    expected_version: int | None = None  # the version RFC 3680 §5.1 wanted (None: the first)


@dataclass
class Subscription:
    name: str
    flow: str
    ue: str
    aor: str
    call_id: str
    local_tag: str
    event: str = "reg"
    cseq: int = 0
    remote_tag: str = ""
    remote_target: str = ""
    route_set: list[str] = field(default_factory=list)
    expires: int = 600
    subscribes: list[Request] = field(default_factory=list)
    notifies: list[NotifyView] = field(default_factory=list)
    consumed: int = 0           # notifies already judged by a step
    ended: str = ""             # why the subscription ended ("" while it lasts)

    @property
    def view(self) -> RegInfo | None:
        for n in reversed(self.notifies):
            if n.view is not None:
                return n.view
        return None

    def take_new(self) -> list[NotifyView]:
        """The NOTIFYs no step has judged yet (and mark them judged)."""
        new = self.notifies[self.consumed:]
        self.consumed = len(self.notifies)
        return new


def contact_value(ue: UE, flow: FlowState) -> str:
    """The subscriber's Contact: the flow's Contact URI with ``ob`` (RFC 5626 §4.3)."""
    uri = ue.contact_uri(flow)
    return f"<{uri}>" if uri.endswith(";ob") else f"<{uri};ob>"


def build_subscribe(sub: Subscription, ue: UE, flow: FlowState, *, expires: int, event: str | None = None,
                    branch: str | None = None, edge_branch: str | None = None) -> Request:
    """The next SUBSCRIBE of ``sub`` (CSeq advanced): initial when no 2xx gave it a To tag yet,
    else in the dialog (Request-URI the remote target, Route the route set, RFC 3261 §12.2.1.1)."""
    sub.cseq += 1
    proto = flow.via_protocol
    headers: list[tuple[str, str]] = []
    if flow.edge is not None:   # the emulated edge proxy's Via on top, and its Record-Route (RFC 5626 §5.1)
        headers.append(("Via", f"SIP/2.0/{proto} {flow.sent_by()};branch={edge_branch or new_branch()};rport"))
    headers.append(("Via", f"SIP/2.0/{proto} {flow.sent_by()};branch={branch or new_branch()};rport"))
    in_dialog = bool(sub.remote_tag)
    headers += [("Max-Forwards", "70"),
                ("From", f"<{sub.aor}>;tag={sub.local_tag}"),
                ("To", f"<{sub.aor}>" + (f";tag={sub.remote_tag}" if in_dialog else "")),
                ("Call-ID", sub.call_id),
                ("CSeq", f"{sub.cseq} SUBSCRIBE")]
    if in_dialog:
        # the route set as the emulated edge forwards the request: its own entry taken off
        # (RFC 3261 §16.4), since the tester is that edge
        own = edge_uri(flow) if flow.edge is not None else None
        headers += [("Route", r if r.startswith("<") else f"<{r}>") for r in sub.route_set
                    if own is None or own not in r]
    if flow.edge is not None:
        headers.append(("Record-Route", f"<{edge_uri(flow)};lr;ob>"))
    headers += [("Contact", contact_value(ue, flow)),
                ("Event", event or sub.event),
                ("Accept", REGINFO_TYPE),
                ("Expires", str(expires)),
                ("Supported", "outbound"),
                ("User-Agent", USER_AGENT)]
    uri = sub.remote_target if in_dialog and sub.remote_target else sub.aor
    request = Request(method="SUBSCRIBE", uri=uri, headers=headers)
    sub.subscribes.append(request)
    return request


def learn_response(sub: Subscription, response: Response | None) -> None:
    """A 2xx gives the dialog its remote tag, target and route set (RFC 3261 §12.1.2: the
    Record-Route values reversed); an error to a refresh that RFC 6665 §4.1.2.2 lists ends it."""
    if response is None:
        return
    if 200 <= response.status < 300:
        try:
            tag = parse_name_addr(response.get("To") or "").params.get("tag") or ""
        except ParseError:
            tag = ""
        if tag and not sub.remote_tag:
            sub.remote_tag = tag
            sub.route_set = list(reversed(response.values("Record-Route")))
        target = _contact_uri(response)
        if target:
            sub.remote_target = target
    elif response.status in (404, 405, 410, 416, 481, 482, 483, 484, 485, 489, 501, 604) or \
            (response.status >= 300 and not sub.remote_tag):
        sub.ended = f"{response.status} {response.reason} to the SUBSCRIBE"


def _contact_uri(msg) -> str:
    try:
        c = parse_name_addr(msg.get("Contact") or "")
    except ParseError:
        return ""
    return str(c.uri) if c.uri is not None else ""


def _tags(request: Request) -> tuple[str, str]:
    try:
        to = parse_name_addr(request.get("To") or "").params.get("tag") or ""
        frm = parse_name_addr(request.get("From") or "").params.get("tag") or ""
    except ParseError:
        return "", ""
    return to, frm


def event_type(value: str | None) -> str:
    """The event-type of an Event header value (parameters off; RFC 6665 §8.2.1 compares it
    byte by byte)."""
    return (value or "").split(";", 1)[0].strip()


def matches(sub: Subscription, request: Request) -> bool:
    """RFC 6665 §4.4.1: the same Call-ID, the To tag = the SUBSCRIBE's From tag.  The Event is
    judged by the checks (a NOTIFY of this dialog with the wrong Event is still this dialog's)."""
    if request.method != "NOTIFY" or request.call_id != sub.call_id:
        return False
    to_tag, _ = _tags(request)
    return to_tag == sub.local_tag


def repeated(sub: Subscription, request: Request) -> bool:
    """A retransmission of a NOTIFY already taken in (the same CSeq in the dialog)."""
    return any(n.request.cseq == request.cseq for n in sub.notifies)


def absorb(sub: Subscription, request: Request, index: int | None, flow: str) -> NotifyView:
    """Take a NOTIFY of ``sub`` in: its document merged into the view (RFC 3680 §5.2)."""
    nv = NotifyView(request=request, index=index, flow=flow)
    _, from_tag = _tags(request)
    if from_tag and not sub.remote_tag:
        sub.remote_tag = from_tag        # the NOTIFY may come before the 2xx (RFC 6665 §4.1.2.4)
    target = _contact_uri(request)
    if target:
        sub.remote_target = target
    rr = request.values("Record-Route")
    if rr:
        sub.route_set = list(rr)         # RFC 6665 §4.4.1: the route set from the NOTIFY itself
    state = (request.get("Subscription-State") or "").split(";", 1)[0].strip().lower()
    if state == "terminated":
        sub.ended = sub.ended or "NOTIFY with Subscription-State: terminated"
    before = sub.view
    sub.notifies.append(nv)
    if not request.body:
        nv.error = "no body"
        nv.view = before
        return nv
    try:
        doc = parse_reginfo(request.body)
    except ParseError as exc:
        nv.error = str(exc)
        nv.view = before
        return nv
    nv.doc = doc
    nv.view, nv.version_note, nv.expected_version = merge(before, doc)
    return nv


def merge(before: RegInfo | None, doc: RegInfo) -> tuple[RegInfo | None, str, int | None]:
    """(view after ``doc``, note on its version, the version expected) per RFC 3680 §5.2."""
    if before is None:
        return (doc if doc.state == "full" else replace(doc, state="full")), "", None
    expected = before.version + 1
    if doc.version < expected:
        if doc.state == "full":
            # §5.2 (no keyword) would discard it; a full document states the notifier's whole
            # current state, so it stands as the view: the content is judged at its own strength,
            # the numbering by the version check (reginfo_record), not twice
            return doc, (f"version {doc.version} is below {expected}: RFC 3680 §5.2 would discard it; its "
                         "full state is taken as the notifier's current state"), expected
        return before, f"version {doc.version} is below {expected}: discarded (RFC 3680 §5.2)", expected
    note = ""
    if doc.version > expected:
        note = (f"version {doc.version} where {expected} was due: a gap, the subscriber SHOULD refresh "
                "(RFC 3680 §5.2)")
        before = replace(before, version=doc.version - 1)
    if doc.state == "full":
        return doc, note, expected
    try:
        return apply_partial(before, doc), note, expected
    except ParseError as exc:            # StateError: an AOR's id changed
        return before, f"{note + '; ' if note else ''}{exc}", expected
