"""Reg event subscriptions (RFC 3680, RFC 6665) followed in a capture (sans-IO).

The timeline hands every SUBSCRIBE and NOTIFY with ``Event: reg`` (and their final responses)
to a :class:`RegEventTracker`, made on the first one, so a capture without them pays for a method
check only.  A subscription is its dialog: the Call-ID and the subscriber's tag (the From tag of
the SUBSCRIBE, the To tag of each NOTIFY); the notifier's tag comes from the 2xx to the SUBSCRIBE
or from the first NOTIFY (which may overtake that 2xx, RFC 6665 §4.1.2.4).  Retransmissions count
once: a request of the dialog with a CSeq already seen is not looked at again, whatever its
transaction state.

Per subscription the subscriber's view is kept as RFC 3680 §5.2 computes it, with
:func:`conformance.sip.reginfo.parse_reginfo` and :func:`~conformance.sip.reginfo.apply_partial`
(the one parser): the first full document, then each partial applied in version order.  A
version gap, a partial before any full document, or a body that does not parse leaves the view
unknown until the next full document (the subscriber would refresh, §5.2).

Each NOTIFY becomes a :class:`NotifyOutcome`: the view after it, and the bindings of the
subscribed AOR *as they stood when it was sent* (:class:`BindingsAt`): the active bindings with
the expiry applied, the ended ones, and what is unsettled: a REGISTER of that AOR in flight (its
request seen, its final response not yet) may or may not have been processed by the notifier,
so the bindings it touches are not judged from that NOTIFY (rules.py makes them inconclusive),
nor is a binding within ``EXPIRY_SLACK`` of its expiry.
"""

from __future__ import annotations

from dataclasses import dataclass, field, replace

from ..sip.errors import ParseError
from ..sip.headers import parse_name_addr, parse_uri
from ..sip.message import Request
from ..sip.reginfo import RegInfo, Registration, parse_reginfo, apply_partial
from .reading import EXPIRY_SLACK, aor_of, aor_of_to, binding_key, contacts_of, request_expires, uri_key
from .reassembly import WireEvent

MAX_SUBSCRIPTIONS = 10000  # subscriptions remembered (oldest forgotten beyond)
IN_FLIGHT_LOOKBACK = 4000  # open transactions looked through for REGISTERs in flight
MAX_DEFERRED = 1000  # NOTIFYs waiting for a REGISTER's answer (the oldest judged as they stand beyond)


def is_reg_event(msg) -> bool:
    """Whether a SUBSCRIBE / NOTIFY is for the reg event package (``Event: reg``, any params)."""
    lines = msg.header_index().get("event")
    if not lines:
        return False
    return lines[0].split(";", 1)[0].strip().lower() == "reg"


def _tag(value: str | None) -> str | None:
    if not value:
        return None
    try:
        return parse_name_addr(value).tag
    except ParseError:
        return None


def _aor(uri_text: str) -> str:
    """An AOR as the timeline writes it (scheme, user, host)."""
    return aor_of_to(f"<{uri_text.strip().strip('<>')}>")


@dataclass
class Subscription:
    call_id: str
    subscriber_tag: str
    aor: str  # the subscribed resource: the AOR of the SUBSCRIBE's Request-URI
    subscribe_packet: int
    notifier_tag: str | None = None
    subscribed: list[int] = field(default_factory=list)  # packets of the SUBSCRIBEs (initial, refreshes)
    accepted: list[int] = field(default_factory=list)  # packets of their 2xx
    awaiting_first: bool = True  # the next NOTIFY follows a 2xx to SUBSCRIBE (RFC 6665 §4.2.1.2)
    cseqs: set = field(default_factory=set)  # (method, CSeq number) seen in this dialog
    view: RegInfo | None = None  # the subscriber's view (full state) after the latest NOTIFY
    version: int | None = None  # the latest version received
    lost: str = ""  # why the view is unknown (until the next full document)
    notifies: list[int] = field(default_factory=list)  # packets of its NOTIFYs
    state: str = "pending"  # the Subscription-State of the latest NOTIFY (active, pending, terminated)

    def label(self) -> str:
        return f"reg subscription to {self.aor} (Call-ID {self.call_id})"

    def to_dict(self) -> dict:
        reg = self.registration()
        return {"aor": self.aor, "call_id": self.call_id, "subscribe_packets": self.subscribed,
                "accepted_packets": self.accepted, "notify_packets": self.notifies, "state": self.state,
                "version": self.version, "view_lost": self.lost or None,
                "registration_state": reg.state if reg is not None else None,
                "contacts": [{"id": c.id, "uri": c.uri, "state": c.state, "event": c.event,
                              "instance": c.instance, "reg_id": c.reg_id, "pub_gruu": c.pub_gruu,
                              "temp_gruus": [t.uri for t in c.temp_gruus]}
                             for c in (reg.contacts if reg is not None else ())]}

    def registration(self) -> Registration | None:
        """The view's <registration> of the subscribed AOR."""
        return registration_of(self.view, self.aor)


def registration_of(view: RegInfo | None, aor: str) -> Registration | None:
    if view is None:
        return None
    for r in view.registrations:
        if _aor(r.aor) == aor:
            return r
    return None


@dataclass
class BindingsAt:
    """The subscribed AOR's bindings when a NOTIFY was sent."""
    known: bool  # the capture showed a REGISTER answered for the AOR by then
    active: list  # Binding, bound then (expiry applied)
    ended: list  # Binding, the latest ended one per Contact URI not bound again
    unsettled: set  # URI keys and ("outbound", instance, reg-id) keys a REGISTER in flight touches
    unsettled_all: bool  # a REGISTER in flight removes every binding (Contact: *)
    in_flight: list[int]  # packets of those REGISTERs


@dataclass
class NotifyOutcome:
    event: WireEvent
    request: Request
    sub: Subscription
    first: bool  # the NOTIFY that follows a 2xx to SUBSCRIBE: "the current resource state"
    doc: RegInfo | None  # the document it carried
    problem: str  # why no view follows from it (body, version, order)
    version_note: str  # a version out of sequence (RFC 3680 §5.1)
    bindings: BindingsAt
    subscription_state: str
    view: RegInfo | None = None  # the subscriber's view after this NOTIFY
    comparison: "Comparison | None" = None  # the view against the bindings (compare())
    # REGISTERs in flight when it was sent, not yet answered: its judgement waits for them
    pending: set = field(default_factory=set)
    settled_by: list = field(default_factory=list)  # packets of their final responses


class RegEventTracker:
    """Subscriptions of a capture, keyed on (Call-ID, subscriber tag)."""

    def __init__(self, timeline):
        self.tl = timeline
        self.subs: dict[tuple[str, str], Subscription] = {}
        self.deferred: list[NotifyOutcome] = []  # NOTIFYs waiting for REGISTERs in flight (settle)

    # -- requests -------------------------------------------------------------------------------
    def request(self, ev: WireEvent, msg: Request, cseq) -> list:
        call_id = (msg.header_index().get("call-id") or [""])[0]
        num = cseq[0] if cseq else None
        if msg.method == "SUBSCRIBE":
            tag = _tag((msg.header_index().get("from") or [None])[0])
            if tag is None:
                return []
            key = (call_id, tag)
            sub = self.subs.get(key)
            if sub is None:
                try:
                    aor = _aor(str(parse_uri(msg.uri)))
                except ParseError:
                    aor = _aor(msg.uri)
                sub = self.subs[key] = Subscription(call_id, tag, aor, ev.number)
                if len(self.subs) > MAX_SUBSCRIPTIONS:
                    self.subs.pop(next(iter(self.subs)))
            if ("SUBSCRIBE", num) in sub.cseqs:
                return []  # a retransmission
            sub.cseqs.add(("SUBSCRIBE", num))
            sub.subscribed.append(ev.number)
            return []
        # NOTIFY: from the notifier, To = the subscriber (with its tag)
        tag = _tag((msg.header_index().get("to") or [None])[0])
        sub = self.subs.get((call_id, tag)) if tag else None
        if sub is None:
            return []  # no SUBSCRIBE of it in the capture: nothing to judge against
        if ("NOTIFY", num) in sub.cseqs:
            return []
        sub.cseqs.add(("NOTIFY", num))
        if sub.notifier_tag is None:
            sub.notifier_tag = _tag((msg.header_index().get("from") or [None])[0])
        sub.notifies.append(ev.number)
        first = sub.awaiting_first
        sub.awaiting_first = False
        state_line = (msg.header_index().get("subscription-state") or [""])[0]
        sub.state = state_line.split(";", 1)[0].strip().lower() or sub.state
        doc, problem, note = self._apply(sub, msg)
        out = NotifyOutcome(ev, msg, sub, first, doc, problem, note, self._bindings_at(sub.aor, ev), state_line,
                            view=sub.view)
        out.comparison = compare(out)
        if out.comparison is not None and out.bindings.in_flight and (
                out.comparison.ahead or any(d.unsettled for d in out.comparison.discrepancies)):
            # judged once those REGISTERs are answered: the view may show their outcome already
            out.pending = set(out.bindings.in_flight)
            self.deferred.append(out)
        emit = [] if out.pending else [out]
        if len(self.deferred) > MAX_DEFERRED:  # the oldest one's REGISTER long forgotten: judged as it stands
            overdue = self.deferred.pop(0)
            overdue.pending.clear()
            emit.insert(0, overdue)
        if out.comparison is not None:
            where = f"NOTIFY packet {ev.number}, version {sub.version}"
            for b, c in out.comparison.covered:
                shown = f"{c.state} event={c.event}"
                if b.reg_event is None or not b.reg_event.startswith(shown + " ("):  # as first shown so
                    b.reg_event = f"{shown} ({where})"
                    b.note(ev.number, ev.time, f"reg-event: contact {c.state}, event {c.event} (version {sub.version})")
        return emit

    def settle(self, ex) -> list:
        """A REGISTER was answered: the NOTIFYs that waited for it (and no other), judged now.

        A discrepancy a REGISTER in flight could explain stays only if the view is at odds with
        the bindings after that REGISTER too (then the view matches neither what the notifier
        knew before nor after it).  A view that shows a contact only that REGISTER asked for is
        judged against the bindings after it alone (the notifier had processed it)."""
        n = ex.req_event.number
        done = []
        for out in self.deferred:
            if n in out.pending:
                out.pending.discard(n)
                out.settled_by.append(ex.final_event.number)
                if not out.pending:
                    done.append(out)
        if not done:
            return []
        self.deferred = [o for o in self.deferred if o.pending]
        for out in done:
            after = replace(out, bindings=self._bindings_at(out.sub.aor, ex.final_event))
            later = compare(after)
            if out.comparison.ahead and later is not None:
                # the view shows what a REGISTER in flight asked for: the notifier had processed it
                later.covered = out.comparison.covered
                out.comparison = later
                continue
            still = {(d.kind, d.subject): d for d in (later.discrepancies if later is not None else ())}
            kept = []
            for d in out.comparison.discrepancies:
                if not d.unsettled:
                    kept.append(d)
                elif (d.kind, d.subject) in still:
                    kept.append(still[(d.kind, d.subject)])
            out.comparison.discrepancies = kept
        return done

    def finish(self) -> list:
        """End of capture: NOTIFYs still waiting for a REGISTER's answer, judged as they stand."""
        out, self.deferred = self.deferred, []
        return out

    def _apply(self, sub: Subscription, msg: Request) -> tuple[RegInfo | None, str, str]:
        """The NOTIFY's document applied to the view (RFC 3680 §5.2): (document, problem, note on
        its version)."""
        if not msg.body:
            sub.lost = "a NOTIFY without a body"
            sub.view = None
            return None, sub.lost, ""
        try:
            doc = parse_reginfo(msg.body)
        except ParseError as exc:
            sub.view = None
            sub.lost = f"its body is refused: {exc}"
            return None, sub.lost, ""
        note = ""
        if sub.version is not None and doc.version != sub.version + 1:
            note = f"<reginfo version=\"{doc.version}\"> after version {sub.version} (one more expected)"
        elif sub.version is None and doc.version != 0:
            note = f"<reginfo version=\"{doc.version}\"> in the first NOTIFY (versions start at 0)"
        if doc.state == "full":
            sub.view, sub.lost = doc, ""
            sub.version = doc.version
            return doc, "", note
        prev = sub.version
        sub.version = doc.version
        if sub.view is None:
            if sub.lost:
                return doc, "", note  # the view was lost before (reported then): nothing to apply to
            sub.lost = f"<reginfo state=\"partial\"> (version {doc.version}) before any full document"
            return doc, sub.lost, note
        try:
            sub.view = apply_partial(sub.view, doc)
        except ParseError as exc:
            sub.view = None
            sub.lost = f"partial version {doc.version} cannot be applied after version {prev}: {exc}"
            return doc, sub.lost, note
        return doc, "", note

    # -- responses ------------------------------------------------------------------------------
    def response(self, ex) -> None:
        req, resp = ex.request, ex.response
        if req.method != "SUBSCRIBE" or resp is None or not 200 <= resp.status < 300:
            return
        call_id = (req.header_index().get("call-id") or [""])[0]
        sub = self.subs.get((call_id, _tag((req.header_index().get("from") or [None])[0]) or ""))
        if sub is None:
            return
        sub.accepted.append(ex.final_event.number)
        if sub.notifier_tag is None:
            sub.notifier_tag = _tag((resp.header_index().get("to") or [None])[0])
        # The NOTIFY that must follow (RFC 6665 §4.2.1.2): unless it already came, overtaking
        # the 2xx (a NOTIFY after this SUBSCRIBE was sent, before its 2xx).
        sent = ex.req_event.number
        if not any(n > sent for n in sub.notifies):
            sub.awaiting_first = True

    # -- the bindings a NOTIFY is judged against ------------------------------------------------
    def _bindings_at(self, aor: str, ev: WireEvent) -> BindingsAt:
        tl = self.tl
        st = tl.aors.get(aor)
        now = ev.time
        unsettled: set = set()
        star = False
        in_flight: list[int] = []
        n = 0
        for ex in reversed(tl.open.values()):
            n += 1
            if n > IN_FLIGHT_LOOKBACK:
                break
            r = ex.request
            if r.method != "REGISTER" or ex.final_event is not None or aor_of(r) != aor:
                continue
            in_flight.append(ex.req_event.number)
            try:
                cs = contacts_of(r)
            except ParseError:
                star = True
                continue
            for c in cs:
                if c.star:
                    star = True
                elif c.uri is not None:
                    unsettled.add(uri_key(c.uri))
                    if request_expires(r, c) != 0:
                        unsettled.add(binding_key(c))  # may replace the binding of that key
        if st is None:
            return BindingsAt(False, [], [], unsettled, star, in_flight)
        active, ended = [], []
        for b in st.bindings.values():
            if b.expires_at is not None and b.expires_at < now - EXPIRY_SLACK:
                ended.append(b)  # expired (the timeline ends it at the next REGISTER)
                continue
            if b.expires_at is not None and b.expires_at <= now + EXPIRY_SLACK:
                unsettled.add(b.ukey)
            active.append(b)
        bound = {b.ukey for b in active}
        latest: dict[str, object] = {}
        for g in st.gone:
            if g.ukey not in bound:
                latest[g.ukey] = g
        ended += list(latest.values())
        return BindingsAt(True, active, ended, unsettled, star, in_flight)


# -- the view against the bindings ------------------------------------------------------------------

# What the state of a contact whose binding ended says (RFC 3680 §4.7.1): "The unregistered event
# occurs when a REGISTER request sets the expiration time of that contact to zero", an expiration
# "occurs when the contact was not refreshed".  Other endings (a Reg1b replacement, a binding
# the registrar dropped) have no event of their own: any terminated event does.
ENDED_EVENT = {"removed": "unregistered", "expired": "expired"}
# Events of endings the registrar decides without a REGISTER (RFC 3680 §4.7.1): a capture cannot
# tell them wrong (an expiry by the registrar's clock, a flow failure, an administrator).
UNSEEN_ENDINGS = ("expired", "deactivated", "probation", "rejected")
# The rule each kind of discrepancy is judged by (rules.py); the others ("no-registration",
# "missing", "duplicate", "ended-active": the bindings themselves) by REGEV-current / REGEV-change.
# As the live checks grade them: the contacts bound MUST / SHOULD be shown, and a contact no longer
# bound (de-registered, expired, replaced by Reg1b) not as active; their parameters, the
# <registration> state and the events are descriptive in RFC 3680 (recorded).  Which event tells a
# Reg1b replacement is [M] (RFC 3680 has no "replaced" event): not judged, the binding's reg-event
# state in the timeline shows it.
KIND_RULE = {"instance": "REGEV-params", "reg-id": "REGEV-params", "aor-state": "REGEV-aor",
             "event": "REGEV-event"}


@dataclass
class Discrepancy:
    kind: str  # a key of KIND_RULE, or one of the bindings' own kinds
    text: str  # names the XML element
    unsettled: bool  # a REGISTER in flight (or an expiry at that moment) may explain it
    subject: str = ""  # the binding's URI key (or the AOR) it is about


@dataclass
class Comparison:
    judged: int  # bindings judged (active and ended ones the view shows)
    ended_shown: int  # ended bindings the view shows
    replaced_shown: int  # of which replaced (Reg1b) or overwritten ones
    params_judged: int  # active bindings with an instance or reg-id the view shows active
    aor_judged: bool  # the view has the AOR's <registration>
    discrepancies: list[Discrepancy]
    covered: list  # (Binding, reginfo Contact) the NOTIFY's view shows
    ahead: bool = False  # the view shows a contact only a REGISTER in flight asks for: it was processed


def _ukey(contact_uri: str) -> str | None:
    try:
        return uri_key(parse_uri(contact_uri))
    except ParseError:
        return None


def compare(out: NotifyOutcome) -> Comparison | None:
    """The view after a NOTIFY against the subscribed AOR's bindings then; None when there is no
    view (see ``out.problem``) or the capture holds no registration of the AOR."""
    sub, at = out.sub, out.bindings
    if out.view is None or out.problem or not at.known:
        return None
    reg = registration_of(out.view, sub.aor)
    contacts = reg.contacts if reg is not None else ()
    by_key: dict[str, list] = {}
    for c in contacts:
        k = _ukey(c.uri)
        if k is not None:
            by_key.setdefault(k, []).append(c)
    found: list[Discrepancy] = []
    covered = []
    judged = ended_shown = replaced_shown = params_judged = 0

    def settled(b) -> bool:
        return not (at.unsettled_all or b.ukey in at.unsettled or b.key in at.unsettled)

    if reg is None and at.active:
        found.append(Discrepancy("no-registration", f'no <registration aor="{sub.aor}"> in the view, '
                                 f"{len(at.active)} binding(s) bound", all(not settled(b) for b in at.active), "aor"))
    for b in at.active:
        judged += 1
        cs = by_key.get(b.ukey, [])
        live = [c for c in cs if c.state == "active"]
        if cs:
            covered.append((b, (live or cs)[-1]))
        if reg is None:
            continue
        if not live:
            ended = f' (<contact id="{cs[-1].id}"> of that URI is state="{cs[-1].state}" event="{cs[-1].event}")' \
                if cs else ""
            # ended by the registrar without a REGISTER (a flow failure, an administrator): the
            # capture shows no such thing, nor can it contradict it
            unseen = bool(cs) and cs[-1].event in UNSEEN_ENDINGS
            found.append(Discrepancy("missing", f"no active <contact> with <uri>{b.uri}</uri> for the binding "
                                     f"{b.label()}{ended}" + (
                                         ": an ending without a REGISTER (flow failure, administrator), "
                                         "not seen in the capture" if unseen else ""),
                                     unseen or not settled(b), b.ukey))
            continue
        c = live[-1]
        if len(live) > 1:
            found.append(Discrepancy("duplicate", f"{len(live)} active <contact> elements with <uri>{b.uri}</uri> "
                                     f"(ids {', '.join(x.id for x in live)}) for the one binding {b.label()}",
                                     not settled(b), b.ukey))
        if b.instance or b.reg_id is not None:
            params_judged += 1
        if b.instance and c.instance != b.instance:
            found.append(Discrepancy("instance", f'<contact id="{c.id}"> <unknown-param name="+sip.instance"> is '
                                     f"{c.instance or 'absent'}, the binding's +sip.instance is {b.instance}",
                                     not settled(b), b.ukey))
        if b.reg_id is not None and str(c.reg_id) != str(b.reg_id).strip('"'):
            found.append(Discrepancy("reg-id", f'<contact id="{c.id}"> <unknown-param name="reg-id"> is '
                                     f"{c.reg_id if c.reg_id is not None else 'absent'}, the binding's reg-id is "
                                     f"{b.reg_id}", not settled(b), b.ukey))
    for g in at.ended:
        cs = by_key.get(g.ukey)
        if not cs:
            continue  # not in the view: removed from the table, or never shown
        judged += 1
        ended_shown += 1
        replaced_shown += g.state in ("replaced", "overwritten")
        c = cs[-1]
        covered.append((g, c))
        how = f"{g.state} in packet {g.ended}" if g.ended is not None else "expired by then"
        if c.state == "active":
            kind = "ended-active"  # a Reg1b replacement too: the old flow is no longer bound
            want = ENDED_EVENT.get(g.state if g.ended is not None else "expired")
            found.append(Discrepancy(kind, f'<contact id="{c.id}" state="active"> for <uri>{g.uri}</uri>, '
                                     f'{how}: expected state="terminated"' + (f' event="{want}"' if want else ""),
                                     not settled(g), g.ukey))
            continue
        want = ENDED_EVENT.get(g.state if g.ended is not None else "expired")
        if want and c.event != want:
            found.append(Discrepancy("event", f'<contact id="{c.id}" state="terminated" event="{c.event}"> for '
                                     f'<uri>{g.uri}</uri>, {how}: expected event="{want}"', not settled(g), g.ukey))
    if reg is not None:
        if at.active and reg.state != "active":
            found.append(Discrepancy("aor-state", f'<registration aor="{reg.aor}" state="{reg.state}"> with '
                                     f"{len(at.active)} binding(s) bound: expected state=\"active\"",
                                     all(not settled(b) for b in at.active), "aor"))
        elif not at.active and reg.state == "active" and not any(c.state == "active" for c in contacts):
            found.append(Discrepancy("aor-state", f'<registration aor="{reg.aor}" state="active"> with no contact '
                                     'bound: expected state="terminated"', bool(at.in_flight), "aor"))
    bound = {b.ukey for b in at.active}
    ahead = any(c.state == "active" and k in at.unsettled and k not in bound
                for k, cs in by_key.items() for c in cs)
    return Comparison(judged, ended_shown, replaced_shown, params_judged, reg is not None, found, covered, ahead)
