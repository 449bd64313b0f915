"""The reg event notifier of the reference S-CSCF (RFC 3680 on RFC 6665), sans-IO.

SUBSCRIBE (``Event: reg``) for an AOR of our domain:

* ``Event`` other than ``reg`` -> 489 with ``Allow-Events: reg`` (RFC 6665 section 4.2.1.1);
  an in-dialog SUBSCRIBE for no known subscription -> 481; a Request-URI outside our domain
  -> 404; a subscriber other than the AOR itself (From AOR == Request-URI AOR) or a trusted
  watcher (:attr:`RegEventNotifier.watchers`, the reference P-CSCF) -> 403 (RFC 3680 section 6:
  "a user can subscribe to their own registration"); no Contact -> 400; an Accept without
  ``application/reginfo+xml`` -> 406.
* Accepted: 200 (RFC 6665 section 4.2.1.1: 202 is deprecated) with a To tag, ``Expires`` (the
  requested value, 3761 when absent: RFC 3680 section 4.4, at most one day), our Contact and the
  Record-Route copied (RFC 3261 section 12.1.1).  At once a NOTIFY with full state (RFC 3680
  section 4.3, RFC 6665 section 4.2.1.2); ``Expires: 0`` (unsubscribe, or a fetch) makes that
  NOTIFY the last one: ``Subscription-State: terminated;reason=timeout``, full state (RFC 3680
  section 4.7.2 SHOULD).  A refresh (same dialog, higher CSeq) gets 200 and a full NOTIFY.
* Every change of the AOR's bindings (reported by the binding table's observer: a REGISTER, a
  binding expired, a flow failed) makes a NOTIFY with ``state="partial"`` listing only the
  contacts that changed (RFC 3680 section 4.3 default policy, section 4.7.2 RECOMMENDED):
  ``active``/``registered`` for a new contact, ``active``/``refreshed`` for a re-registered one,
  ``terminated`` with ``expired`` (not refreshed in time), ``deactivated`` (its flow failed,
  RFC 5626 section 7: the UA should register again) or ``unregistered`` (a REGISTER removed it:
  expires 0 or ``Contact: *``).  The ``<registration>`` is ``active`` while a contact is bound,
  else ``terminated`` (``init`` in a full state of an AOR with no contact).
* A Reg1b replacement (the same instance and reg-id registered with a new Contact URI, RFC 5626
  section 6 paragraph 10) is shown as two contacts: the old Contact URI ``terminated`` with
  ``event="unregistered"`` (it was removed by a REGISTER; RFC 3680 has no "replaced" event) and
  the new one ``active`` with ``event="registered"``.  The same Contact URI again (a refresh,
  even with a new Call-ID) is the same contact, ``refreshed``.
* Each ``<contact>`` has an ``id`` stable for the binding (a hash of AOR, instance, reg-id and
  Contact URI), ``expires`` (remaining seconds, 0 when terminated), ``callid``, ``cseq``,
  ``<uri>``, the Contact's parameters RFC 3261 does not define as ``<unknown-param>`` (so
  ``+sip.instance`` and ``reg-id``), and with GRUU (RFC 5627 section 5.5 / RFC 5628)
  ``gr:pub-gruu`` and the newest ``gr:temp-gruu`` with the CSeq of the oldest valid one.
* Versions count from 0 per subscription, one more per NOTIFY (RFC 3680 section 5.1).
* NOTIFY: Request-URI = the SUBSCRIBE's Contact, Route = its Record-Route values (loose routing;
  a strict first route becomes the Request-URI, RFC 3261 section 12.2.1.1), sent to the first
  route, or without a route set back over the flow the SUBSCRIBE came on.  A client
  transaction (RFC 3261 section 17.1.2): Timer E retransmissions on UDP up to T2, Timer F
  (64*T1) bounds it.  A 481 or 408 answer, a timeout or a transport error ends the
  subscription (RFC 6665 section 4.2.2); other answers leave it.
* When a subscription expires it gets a final full NOTIFY ``terminated;reason=timeout``.

Faults (``FAULT:``): ``notify-only-newest`` (every NOTIFY shows only the most recently touched
binding), ``notify-one-contact-per-instance`` (the flows of an instance folded into one
``<contact>``), ``notify-drops-unregistered`` (a contact removed by a REGISTER is left out).
"""

from __future__ import annotations

import hashlib
import itertools
import secrets
from dataclasses import dataclass
from typing import Callable

from ...sip.errors import ParseError
from ...sip.headers import SipUri, parse_name_addr, parse_uri, parse_vias
from ...sip.message import Request, Response
from ...sip.reginfo import Contact, RegInfo, Registration, TempGruu, render_reginfo
from ..actions import Action, SendOnFlow, SendToHop
from ..common.responses import REASONS, build_response, to_tag
from ..common.routing import bracket, canonical_aor, hop_of_uri, is_own_uri, udp_destination, \
    via_value
from ..config import SutConfig
from ..flow import FlowInfo
from .bindings import Binding, BindingTable
from .subscriptions import Subscription, SubscriptionTable, dialog_key
from .transactions import TransactionCache, transaction_key

T1, T2 = 0.5, 4.0                     # RFC 3261 section 17.1.1.1
TIMER_F = 64 * T1
DEFAULT_EXPIRES = 3761                # RFC 3680 section 4.4
MAX_EXPIRES = 86400
CONTENT_TYPE = "application/reginfo+xml"
ENDING = (481, 408)                   # RFC 6665 section 4.2.2
# RFC 3261 section 20 defines these Contact parameters; the rest are <unknown-param> (RFC 3680 5.1)
_DEFINED = {"expires", "q", "pub-gruu", "temp-gruu"}


@dataclass
class _Txn:
    """One NOTIFY client transaction."""

    sub: Subscription
    data: bytes
    send: Callable[[bytes], Action]
    deadline: float
    retransmit_at: float | None
    interval: float = T1
    final: bool = False               # the subscription ends with this NOTIFY


def event_package(value: str | None) -> str:
    return (value or "").split(";", 1)[0].strip().lower()


class RegEventNotifier:
    """Serves SUBSCRIBE for the reg event of the AORs in ``table``; see the module docstring.

    ``address_of`` gives the S-CSCF's listening address (Via, Contact).  ``gruus`` is the
    registrar's GruuRegistry (or None).  Call :meth:`on_change` from the table's observer and
    :meth:`flush` after each event to get the partial NOTIFYs."""

    def __init__(self, config: SutConfig, table: BindingTable, *, tag_secret: str, server: str,
                 address_of: Callable[[], tuple[str, int]], gruus=None):
        self.config, self.table, self.gruus = config, table, gruus
        self.tag_secret, self.server, self.address_of = tag_secret, server, address_of
        self.subs = SubscriptionTable()
        self.watchers: set[str] = set()            # AORs allowed to watch any AOR (the P-CSCF)
        self.transactions = TransactionCache()
        self.txns: dict[str, _Txn] = {}
        self._pending: list[tuple[str, list[Binding], list[Binding], str]] = []
        self._last_event: dict[tuple[str, str], str] = {}
        self._ids = itertools.count(1)

    # -- classification -----------------------------------------------------------------------
    def wants(self, request: Request) -> bool:
        """A SUBSCRIBE for one of our subscriptions, or a new one for a user of our domain."""
        if request.method != "SUBSCRIBE":
            return False
        if self._dialog(request) is not None:
            return True
        try:
            uri = parse_uri(request.uri)
            to_tag_ = parse_name_addr(request.get("To") or "").tag
        except ParseError:
            return False
        if to_tag_ is not None:
            return self._is_own(uri)               # in-dialog to us, unknown dialog: 481
        return self._is_ours(uri) and uri.user is not None

    def owns(self, response: Response) -> bool:
        try:
            return parse_vias(response)[0].branch in self.txns
        except (ParseError, IndexError):
            return False

    def _is_own(self, uri: SipUri) -> bool:
        return uri.is_sip and (uri.host.lower() == self.config.domain
                               or is_own_uri(uri, self.address_of()))

    _is_ours = _is_own

    def _dialog(self, request: Request) -> Subscription | None:
        try:
            to = parse_name_addr(request.get("To") or "")
            frm = parse_name_addr(request.get("From") or "")
        except ParseError:
            return None
        if to.tag is None:
            return None
        return self.subs.get(dialog_key(request.call_id or "", to.tag, frm.tag or ""))

    # -- SUBSCRIBE ------------------------------------------------------------------------------
    def handle_subscribe(self, request: Request, flow: FlowInfo, now: float) -> list[Action]:
        try:
            top = parse_vias(request)[0]
        except (ParseError, IndexError):
            return []
        key = transaction_key(request, top.branch, (top.host, top.port))
        cached = self.transactions.get(key, now)
        if cached is not None:
            return [self._respond(cached, flow)]             # RFC 3261 section 17.2.2
        response, after = self._subscribe(request, flow, now)
        self.transactions.put(key, response, now)
        return [self._respond(response, flow)] + after

    def _subscribe(self, request: Request, flow: FlowInfo, now: float) -> tuple[Response, list[Action]]:
        def reply(status: int, warning: str | None = None, headers=None) -> tuple[Response, list[Action]]:
            return self._response(request, flow, status, warning, headers), []

        if event_package(request.get("Event")) != "reg":
            return reply(489, "only the reg event package is served here", [("Allow-Events", "reg")])
        try:
            expires = _expires(request)
            frm = parse_name_addr(request.get("From") or "")
            to = parse_name_addr(request.get("To") or "")
            uri = parse_uri(request.uri)
        except (ParseError, ValueError) as exc:
            return reply(400, f"malformed SUBSCRIBE: {exc}")
        sub = self._dialog(request)
        if to.tag is not None and sub is None:
            return reply(481, "no such subscription")
        if sub is not None:
            return self._refresh(sub, request, flow, expires, now)
        if not (uri.is_sip and uri.host.lower() == self.config.domain and uri.user is not None):
            return reply(404, "not an AOR of this domain")
        aor = canonical_aor(uri)
        watcher = canonical_aor(frm.uri) if frm.uri is not None and frm.uri.is_sip else ""
        if watcher != aor and watcher not in self.watchers:
            return reply(403, "only the AOR itself may watch its registrations (RFC 3680 section 6)")
        contacts = request.values("Contact")
        if len(contacts) != 1:
            return reply(400, "a SUBSCRIBE needs exactly one Contact (RFC 6665 section 4.1.2.1)")
        try:
            target = str(parse_name_addr(contacts[0]).uri)
            route_set = tuple(request.values("Record-Route"))
            for r in route_set:
                parse_name_addr(r)
        except (ParseError, AttributeError) as exc:
            return reply(400, f"malformed Contact or Record-Route: {exc}")
        accept = request.values("Accept")
        if accept and not any(a.split(";")[0].strip().lower() == CONTENT_TYPE for a in accept):
            return reply(406, f"only {CONTENT_TYPE} is offered", [("Accept", CONTENT_TYPE)])
        local_tag = to_tag(request, self.tag_secret)
        granted = min(expires if expires is not None else DEFAULT_EXPIRES, MAX_EXPIRES)
        sub = Subscription(call_id=request.call_id or "", local_tag=local_tag,
                           remote_tag=frm.tag or "", aor=aor, local=request.get("To") or "",
                           remote=request.get("From") or "", target=target, route_set=route_set,
                           flow=flow, expires_at=now + granted, event=request.get("Event") or "reg",
                           remote_cseq=request.cseq[0] if request.cseq else 0,
                           cseq=secrets.randbelow(1000) + 1)
        response = self._accepted(request, flow, granted)
        if granted > 0:
            self.subs.add(sub)
        return response, self._notify_full(sub, now, final=granted == 0)

    def _refresh(self, sub: Subscription, request: Request, flow: FlowInfo, expires: int | None,
                 now: float) -> tuple[Response, list[Action]]:
        cseq = request.cseq[0] if request.cseq else 0
        if cseq <= sub.remote_cseq:
            return self._response(request, flow, 500, "CSeq not higher than the last one "
                                                      "(RFC 3261 section 12.2.2)"), []
        sub.remote_cseq = cseq
        granted = min(expires if expires is not None else DEFAULT_EXPIRES, MAX_EXPIRES)
        sub.expires_at = now + granted
        response = self._accepted(request, flow, granted)
        if granted == 0:
            self.subs.remove(sub)
        return response, self._notify_full(sub, now, final=granted == 0)

    def _accepted(self, request: Request, flow: FlowInfo, granted: int) -> Response:
        host, port = self.address_of()
        headers = [("Expires", str(granted)),
                   ("Contact", f"<sip:{bracket(host)}:{port};transport={flow.transport}>")]
        headers += [("Record-Route", r) for r in request.values("Record-Route")]
        headers.append(("Allow-Events", "reg"))
        return self._response(request, flow, 200, None, headers)

    def _response(self, request: Request, flow: FlowInfo, status: int, warning: str | None,
                  headers=None) -> Response:
        try:
            top = parse_vias(request)[0]
        except (ParseError, IndexError):
            top = None
        reason = REASONS.get(status) or {489: "Bad Event", 406: "Not Acceptable"}.get(status)
        return build_response(request, status, flow, top_via=top, tag_secret=self.tag_secret,
                              server=self.server, headers=headers, warning=warning, reason=reason,
                              warn_agent=self.config.server_name)

    @staticmethod
    def _respond(response: Response, flow: FlowInfo) -> Action:
        address = None if flow.reliable else udp_destination(response, flow)
        return SendOnFlow(flow, bytes(response), address)

    # -- binding changes --------------------------------------------------------------------------
    def on_change(self, aor: str, before: list[Binding], after: list[Binding], cause: str) -> None:
        """The binding table's observer: remember the change for the next :meth:`flush`."""
        if aor in self.subs.aors():
            self._pending.append((aor, before, after, cause))

    def flush(self, now: float) -> list[Action]:
        """A partial NOTIFY to each subscriber of an AOR whose bindings changed."""
        pending, self._pending = self._pending, []
        actions: list[Action] = []
        for aor, before, after, cause in pending:
            subs = [s for s in self.subs.of_aor(aor) if not s.ended]
            contacts = self._changes(aor, before, after, cause, now)
            if not subs or contacts is None:
                continue
            state = "active" if any(b.alive(now) for b in after) else "terminated"
            reg = Registration(aor, _reg_id(aor), state, tuple(contacts))
            for sub in subs:
                actions += self._notify(sub, "partial", reg, now)
        return actions

    def _changes(self, aor: str, before: list[Binding], after: list[Binding], cause: str,
                 now: float) -> list[Contact] | None:
        old = {self.contact_id(b): b for b in sorted(before, key=lambda b: b.touched)}
        new = {self.contact_id(b): b for b in sorted(after, key=lambda b: b.touched) if b.alive(now)}
        changed: list[tuple[Binding, Contact]] = []
        for cid, b in new.items():
            was = old.get(cid)
            if was is b:
                continue
            event = "registered" if was is None else "refreshed"
            self._last_event[(aor, cid)] = event
            changed.append((b, self._contact(b, cid, "active", event, now)))
        dropped = False
        for cid, b in old.items():
            if cid in new:
                continue
            self._last_event.pop((aor, cid), None)
            if cause == "expired" or not b.alive(now):
                event = "expired"
            elif cause == "deactivated":
                event = "deactivated"
            else:
                event = "unregistered"
            if event == "unregistered" and self.config.has_fault("notify-drops-unregistered"):
                dropped = True                     # FAULT: the removed contact just vanishes
                continue
            changed.append((b, self._contact(b, cid, "terminated", event, now)))
        if not changed and not dropped:
            return None
        if self.config.has_fault("notify-only-newest") and changed:
            changed = [max(changed, key=lambda bc: bc[0].touched)]   # FAULT: the newest only
        return [c for _, c in changed]

    def contact_id(self, b: Binding) -> str:
        if self.config.has_fault("notify-one-contact-per-instance") and b.instance is not None:
            seed = f"{b.aor}|{b.instance_key}"                       # FAULT: flows folded
        else:
            seed = f"{b.aor}|{b.instance_key or ''}|{b.reg_id or ''}|{b.contact.uri}"
        return "c" + hashlib.sha256(seed.encode("utf-8", "replace")).hexdigest()[:12]

    def _contact(self, b: Binding, cid: str, state: str, event: str, now: float) -> Contact:
        params = {k: ("" if v is None else v) for k, v in b.contact.params.items()
                  if k.lower() not in _DEFINED}
        pub, temps = None, ()
        if state == "active" and self.gruus is not None:
            pub = self.gruus.pub_gruu(b)
            valid = self.gruus.temp_gruus(b)
            if valid:
                temps = (TempGruu(valid[-1][0], valid[0][1]),)
        return Contact(id=cid, state=state, event=event, uri=str(b.contact.uri),
                       expires=b.remaining(now) if state == "active" else 0,
                       q=b.contact.param("q"), callid=b.call_id, cseq=b.cseq,
                       unknown_params=params, pub_gruu=pub, temp_gruus=temps)

    def full_registration(self, aor: str, now: float) -> Registration:
        live = [b for b in self.table.stored(aor) if b.alive(now)]
        shown = {self.contact_id(b): b for b in sorted(live, key=lambda b: b.touched)}
        if self.config.has_fault("notify-only-newest") and shown:
            cid = max(shown, key=lambda c: shown[c].touched)          # FAULT: the newest only
            shown = {cid: shown[cid]}
        contacts = [self._contact(b, cid, "active", self._last_event.get((aor, cid), "registered"), now)
                    for cid, b in sorted(shown.items(), key=lambda kv: live.index(kv[1]))]
        return Registration(aor, _reg_id(aor), "active" if live else "init", tuple(contacts))

    # -- NOTIFY -----------------------------------------------------------------------------------
    def _notify_full(self, sub: Subscription, now: float, final: bool = False) -> list[Action]:
        return self._notify(sub, "full", self.full_registration(sub.aor, now), now, final=final)

    def _notify(self, sub: Subscription, doc_state: str, reg: Registration, now: float,
                final: bool = False) -> list[Action]:
        sub.version += 1
        sub.cseq += 1
        body = render_reginfo(RegInfo(sub.version, doc_state, (reg,)))
        if final:
            sub_state = "terminated;reason=timeout"
        else:
            sub_state = f"active;expires={max(0, int(sub.expires_at - now))}"
        request_uri, routes = sub.target, list(sub.route_set)
        if routes:
            first = parse_name_addr(routes[0]).uri
            transport, hop = hop_of_uri(first, sub.flow.transport)
            if not first.has_param("lr"):                 # RFC 3261 section 12.2.1.1: strict
                request_uri, routes = str(first), routes[1:] + [f"<{sub.target}>"]
        else:
            transport, hop = sub.flow.transport, None
        branch = f"z9hG4bK-n{next(self._ids)}{secrets.token_hex(4)}"
        host, port = self.address_of()
        headers = [("Via", via_value(transport, (host, port), branch))]
        headers += [("Route", r) for r in routes]
        headers += [("Max-Forwards", "70"),
                    ("From", f"{sub.local};tag={sub.local_tag}"),
                    ("To", sub.remote),
                    ("Call-ID", sub.call_id),
                    ("CSeq", f"{sub.cseq} NOTIFY"),
                    ("Contact", f"<sip:{bracket(host)}:{port};transport={transport}>"),
                    ("Event", sub.event),
                    ("Subscription-State", sub_state),
                    ("Content-Type", CONTENT_TYPE)]
        data = bytes(Request(method="NOTIFY", uri=request_uri, headers=headers, body=body))
        ref = ("notify", branch)
        if hop is not None:
            def send(d: bytes, t=transport, h=hop) -> Action:
                return SendToHop(t, h, d, ref=ref)
        else:
            def send(d: bytes, f=sub.flow) -> Action:
                return SendOnFlow(f, d, ref=ref)
        retransmit = now + T1 if transport == "udp" else None
        self.txns[branch] = _Txn(sub, data, send, now + TIMER_F, retransmit, final=final)
        return [send(data)]

    def handle_response(self, response: Response, now: float) -> list[Action]:
        try:
            branch = parse_vias(response)[0].branch
        except (ParseError, IndexError):
            return []
        txn = self.txns.get(branch or "")
        if txn is None:
            return []
        if response.status < 200:
            if txn.retransmit_at is not None:
                txn.interval = T2                    # RFC 3261 section 17.1.2.2: proceeding
            return []
        del self.txns[branch]
        if response.status in ENDING:
            self.subs.remove(txn.sub)                # RFC 6665 section 4.2.2
        return []

    # -- timers -----------------------------------------------------------------------------------
    def next_deadline(self) -> float | None:
        if self._pending:
            return 0.0
        times = [t.deadline for t in self.txns.values()]
        times += [t.retransmit_at for t in self.txns.values() if t.retransmit_at is not None]
        for sub in self.subs.all():
            times.append(sub.expires_at)
        for aor in self.subs.aors():
            times += [b.expires_at for b in self.table.stored(aor)]
        return min(times) if times else None

    def on_timer(self, now: float) -> list[Action]:
        actions: list[Action] = []
        for branch, txn in list(self.txns.items()):
            if txn.deadline <= now:
                del self.txns[branch]                # Timer F: no answer counts as 408
                self.subs.remove(txn.sub)
            elif txn.retransmit_at is not None and txn.retransmit_at <= now:
                actions.append(txn.send(txn.data))
                txn.interval = min(txn.interval * 2, T2)
                txn.retransmit_at = now + txn.interval
        for aor in self.subs.aors():
            if any(not b.alive(now) for b in self.table.stored(aor)):
                self.table.bindings(aor, now)        # drops them; the observer reports "expired"
        actions += self.flush(now)
        for sub in self.subs.all():
            if sub.expires_at <= now:
                self.subs.remove(sub)
                actions += self._notify_full(sub, now, final=True)
        return actions

    def send_failed(self, ref: object, now: float) -> list[Action]:
        if isinstance(ref, tuple) and len(ref) == 2 and ref[0] == "notify":
            txn = self.txns.pop(ref[1], None)
            if txn is not None:
                self.subs.remove(txn.sub)
        return []


def _expires(request: Request) -> int | None:
    value = request.get("Expires")
    if value is None:
        return None
    value = value.strip()
    if not value.isdigit():
        raise ValueError(f"invalid Expires {value!r}")
    return int(value)


def _reg_id(aor: str) -> str:
    return "r" + hashlib.sha256(aor.encode("utf-8", "replace")).hexdigest()[:12]


__all__ = ["CONTENT_TYPE", "DEFAULT_EXPIRES", "RegEventNotifier", "event_package"]
