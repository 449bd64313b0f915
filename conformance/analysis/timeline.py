"""Registrations, flows and keep-alives over time, rebuilt from wire events (sans-IO).

Feed :class:`~conformance.analysis.reassembly.WireEvent` s in capture order to
:meth:`Timeline.feed`; it returns what each event completed:

* :class:`Exchange` — a request and its final response (matched on Call-ID, CSeq and the top Via
  branch, as a client transaction matches them, RFC 3261 §17.1.3); for a REGISTER with a 2xx,
  a :class:`RegisterOutcome` with the binding changes it made.
* :class:`Delivery` — a non-REGISTER request towards a registered Contact or a registered flow,
  with the flow it used and the state of the binding it reached.
* :class:`KeepAlive` — a CRLF ping and its pong (or none), a STUN Binding request and its answer.
* :class:`~conformance.analysis.regevent.NotifyOutcome` — a NOTIFY of a reg-event subscription
  with the view it leaves and the bindings when it was sent (regevent.py; SUBSCRIBE / NOTIFY with
  ``Event: reg`` go there, not to the terminating requests).

The registrar's statement is the Contact list of its 2xx (RFC 3261 §10.3 step 8): the model of
the bindings of an AOR is that list, dated, with each binding's expiry; the REGISTER that led to
it says which bindings were created, refreshed, replaced or removed.  Bindings are keyed on AOR,
instance and reg-id when the Contact has both (RFC 5626 §6 ¶8), else on the Contact URI
(RFC 3261 §10.3).

A 2xx is only held to what the registrar could know when it processed the REGISTER: a binding
established by a 2xx sent while the REGISTER was in flight is required in its 2xx only if that
other 2xx did not list what the REGISTER asks for (then the registrar had processed the other one
first); such a binding is not "dropped" by the older 2xx, and a binding ended in the meantime is
not brought back by it.  A proxied REGISTER (both legs in the capture: matched on the Via branch,
else on AOR and Contact URIs among the last open transactions) changes the bindings once, on the
leg the registrar received, with the UE-side leg's flow; the UE-side 2xx relays that statement.
A binding removed (Contact: *, expiry 0) and listed again by a later 2xx without being
registered again is recorded in ``RegisterOutcome.relisted``.  Memory is bounded: open transactions, keep-alives and binding histories are
capped, and a binding's history is kept only when the report can list it (SHOWN_BINDINGS).
"""

from __future__ import annotations

from collections import OrderedDict
from dataclasses import dataclass, field

from ..sip.errors import ParseError
from ..sip.headers import NameAddr, parse_uri, uri_equal
from ..sip.message import Request, Response
from .reading import (BRANCH_PARAM, EXPIRY_SLACK, aor_of, aor_of_to, asks_of, contact_facts, contacts_of, cseq_in,
                      hvalues, top_branch, uri_key, values_in)
from .reassembly import WireEvent
from .regevent import RegEventTracker, is_reg_event
from .timeline_history import UNKEPT, History

MAX_OPEN = 20000  # open transactions remembered
MAX_HISTORY = 50  # events kept per binding
MAX_GONE = 200  # replaced / removed bindings kept per AOR
SHOWN_BINDINGS = 2000  # bindings listed in the report (with their histories), AORs in first-seen order
OUTER_LOOKBACK = 64  # open transactions looked through for the UE-side leg of a proxied REGISTER
_REG_EVENT_METHODS = ("SUBSCRIBE", "NOTIFY")
NO_PATH = ()  # the Path of a binding registered without one (shared by every such binding)


def _asked(out: "RegisterOutcome") -> set[str]:
    """The URI keys of the Contacts a REGISTER adds or refreshes (expiry other than 0)."""
    return {f[4] for c, f, e in zip(out.contacts, out.cfacts, out.asks) if c.uri is not None and e != 0}


def _concurrent(b: "Binding", asked: set[str]) -> bool:
    """Whether a binding established while a REGISTER was in flight may be missing from that
    REGISTER's 2xx: yes, unless the 2xx that established it did not list what the REGISTER asks
    for (then the registrar had processed the binding's registration first, RFC 3261 §10.3 step 8)."""
    if not asked or b.born_with is None:
        return True
    for c in b.born_with:
        if uri_key(c.uri) in asked:
            return True
    return False


def _last_gone(st: "AorState", ukey: str) -> "Binding | None":
    """The latest ended binding of an AOR with this Contact URI."""
    for g in reversed(st.gone):
        if g.ukey == ukey:
            return g
    return None


@dataclass(slots=True)
class Exchange:
    request: Request
    req_event: WireEvent
    final_event: WireEvent | None = None
    provisional: int = 0
    retransmissions: int = 0
    relayed: bool = False  # a proxy in the capture forwarded this request (its next hop is seen too)
    outer: "Exchange | None" = None  # the UE-side leg this request is the proxied copy of
    inner: "Exchange | None" = None  # the proxied copy of this request (its next leg)
    proxied: bool = False  # that copy names this leg in its Via (a proxy, RFC 3261 §16), not a B2BUA

    @property
    def applied_inside(self) -> bool:
        """A proxied REGISTER whose registrar leg was answered in the capture: that leg's 2xx
        changed the bindings (and is judged); this leg's 2xx only relays it."""
        return self.inner is not None and self.inner.final_event is not None

    @property
    def response(self) -> Response | None:
        return self.final_event.message if self.final_event is not None else None  # type: ignore[return-value]

    @property
    def packets(self) -> list[int]:
        out = [self.req_event.number]
        if self.final_event is not None:
            out.append(self.final_event.number)
        return out


@dataclass(slots=True)
class Binding:
    aor: str
    key: tuple
    uri: str
    instance: str | None
    reg_id: str | None
    expires: int | None
    expires_at: float | None
    flow: tuple  # (transport, UE-side address, registrar-side address) of the REGISTER
    path: list[str] | tuple  # the REGISTER's Path values (NO_PATH: none, shared)
    created: int  # packet number
    updated: int
    state: str = "active"  # active | replaced | removed | expired | dropped | overwritten
    ended: int | None = None  # packet that ended it
    # (packet, time, what) events, packed (timeline_history.py: some 25 bytes an event)
    history: History = field(default_factory=History)
    ukey: str = ""  # comparable form of the Contact URI
    # The Contact list of the 2xx that created it (what that registration's 2xx said): for a
    # REGISTER in flight at the same time, it tells which of the two the registrar processed first.
    born_with: list | None = None
    # The binding's Contact in the latest 2xx that listed it (its GRUU parameters, RFC 5627 §5.1:
    # read only for the output), and the state of its <contact> in the reg-event view (regevent.py).
    listed_as: NameAddr | None = None
    reg_event: str | None = None

    def gruus(self) -> tuple[str | None, str | None]:
        """(pub-gruu, temp-gruu) of the latest 2xx Contact of this binding."""
        c = self.listed_as
        if c is None:
            return None, None
        return _unquoted(c.param("pub-gruu")), _unquoted(c.param("temp-gruu"))

    def note(self, packet: int, time: float, what: str) -> None:
        self.history.add(packet, time, what, MAX_HISTORY)

    def label(self) -> str:
        if self.key[0] == "outbound":
            return f"{self.aor} reg-id {self.reg_id} <{self.uri}>"
        return f"{self.aor} <{self.uri}>"

    def to_dict(self) -> dict:
        return {"aor": self.aor, "uri": self.uri, "instance": self.instance, "reg_id": self.reg_id,
                "expires": self.expires, "state": self.state, "created": self.created,
                "updated": self.updated, "ended": self.ended,
                "flow": [self.flow[0], list(self.flow[1]), list(self.flow[2])], "path": list(self.path),
                "history": [{"packet": p, "time": round(t, 6), "what": w} for p, t, w in self.history],
                **self._extras()}

    def _extras(self) -> dict:
        """GRUUs and reg-event state, only when the capture shows them (the document of a capture
        without them is unchanged)."""
        out = {}
        pub, temp = self.gruus()
        if pub is not None:
            out["pub_gruu"] = pub
        if temp is not None:
            out["temp_gruu"] = temp
        if self.reg_event is not None:
            out["reg_event"] = self.reg_event
        return out


def _unquoted(value: str | None) -> str | None:
    if value is None:
        return None
    value = value.strip()
    return value[1:-1] if len(value) >= 2 and value[0] == value[-1] == '"' else value


@dataclass(slots=True)
class Change:
    kind: str  # created | refreshed | replaced | removed | overwritten | dropped | expired | appeared
    binding: Binding
    packet: int


@dataclass(slots=True)
class RegisterOutcome:
    exchange: Exchange
    aor: str
    contacts: list[NameAddr]  # of the request (empty for a fetch)
    star: bool
    before: list[Binding]  # active before the request, expiry applied (uncertain ones left out)
    uncertain: list[Binding]  # expiring within EXPIRY_SLACK of the request: listed or not, fine
    listed: list[NameAddr] | None  # the 2xx Contact list; None: not a 2xx or unparseable
    changes: list[Change] = field(default_factory=list)
    parse_error: str = ""
    # Bindings the 2xx lists although they had been removed: (URI, packet of the removal, or None
    # when this very request removed it).  RFC 3261 §10.3 steps 6 and 7.
    relisted: list[tuple[str, int | None]] = field(default_factory=list)
    removal: bool = False  # the request removes bindings (Contact: *, or a Contact with expiry 0)
    asks: list = field(default_factory=list)  # the expiry the request asks for each of its contacts
    # reading.facts of each of ``contacts`` and of each of ``listed``, read once for the timeline
    # and the rules
    cfacts: list = field(default_factory=list)
    lfacts: list = field(default_factory=list)


@dataclass
class Delivery:
    event: WireEvent
    request: Request
    binding: Binding
    by_uri: bool  # the Request-URI is the binding's Contact
    on_flow: bool  # sent over the binding's registered flow (UE address, and connection for TCP)


@dataclass
class KeepAlive:
    kind: str  # "pong" | "stun"
    request: WireEvent
    answer: WireEvent | None
    delay: float | None
    mapped: tuple[str, int] | None = None  # STUN XOR-MAPPED-ADDRESS
    note: str = ""


@dataclass
class AorState:
    bindings: dict[tuple, Binding] = field(default_factory=dict)
    gone: list[Binding] = field(default_factory=list)
    # First seen when the AORs before it already held SHOWN_BINDINGS bindings: none of its bindings
    # can be listed in the report (an AOR's count only grows), so their histories are not kept.
    unlisted: bool = False


@dataclass
class Counts:
    messages: int = 0
    requests: int = 0
    responses: int = 0
    unparseable: int = 0
    pings: int = 0
    pongs: int = 0
    stun: int = 0
    keepalives: int = 0
    methods: dict[str, int] = field(default_factory=dict)


class Timeline:
    def __init__(self, *, keepalive_bound: float = 10.0):
        self.keepalive_bound = keepalive_bound
        self.open: OrderedDict[tuple, Exchange] = OrderedDict()
        self.aors: dict[str, AorState] = {}
        self.registrar_addrs: set[tuple[str, int]] = set()
        self._registrar_ips: set[str] = set()  # hosts REGISTERs were sent to
        self._ue_addrs: dict[tuple[str, int], tuple[str, tuple]] = {}  # UE address -> (aor, key)
        # A registrar-side address -> one tuple for it, which the bindings' flows share (bounded)
        self._registrar_sides: dict[tuple[str, int], tuple[str, int]] = {}
        self._pings: dict[tuple, WireEvent] = {}  # (pinger, peer) -> ping
        self._stun: OrderedDict[bytes, WireEvent] = OrderedDict()
        self._by_uri: dict[str, Binding] = {}  # Contact URI key -> latest binding with it
        self._held = 0  # bindings and ended bindings held in self.aors (see AorState.unlisted)
        self.counts = Counts()
        self.last_time = 0.0
        self.regev = None  # RegEventTracker, made at the first reg-event SUBSCRIBE / NOTIFY

    # -- feeding ------------------------------------------------------------------------------
    def feed(self, ev: WireEvent) -> list:
        if ev.time > self.last_time:
            self.last_time = ev.time
        if ev.kind == "sip":
            return self._sip(ev)
        if ev.kind == "unparseable":
            self.counts.unparseable += 1
            return []
        if ev.kind == "ping":
            self.counts.pings += 1
            self._pings[(ev.src, ev.dst)] = ev
            return []
        if ev.kind == "pong":
            self.counts.pongs += 1
            ping = self._pings.pop((ev.dst, ev.src), None)
            return [KeepAlive("pong", ping, ev, ev.time - ping.time)] if ping is not None else []
        if ev.kind == "closed":
            # The connection is gone in that direction: a ping of the peer cannot be answered now.
            ping = self._pings.pop((ev.dst, ev.src), None)
            return [KeepAlive("pong", ping, None, None, note=f"connection closed ({ev.note}) "
                                                            f"in packet {ev.number} without a pong")] if ping else []
        if ev.kind == "stun":
            self.counts.stun += 1
            return self._stun_event(ev)
        if ev.kind == "keepalive":
            self.counts.keepalives += 1
        return []

    def finish(self) -> list:
        """End of capture: unanswered keep-alives, NOTIFYs still waiting for a REGISTER's answer."""
        out: list = []
        for ping in self._pings.values():
            waited = self.last_time - ping.time
            out.append(KeepAlive("pong", ping, None, None,
                                 note=f"no pong; the capture ends {waited:.3f} s after the ping"))
        for req in self._stun.values():
            waited = self.last_time - req.time
            out.append(KeepAlive("stun", req, None, None,
                                 note=f"no Binding response; the capture ends {waited:.3f} s after the request"))
        self._pings.clear()
        self._stun.clear()
        if self.regev is not None:
            out += self.regev.finish()
        return out

    def _stun_event(self, ev: WireEvent) -> list:
        from ..sip.stun import ATTR_XOR_MAPPED_ADDRESS, CLASS_REQUEST, CLASS_SUCCESS, decode_xor_address, parse

        parsed = parse(ev.data)
        if parsed is None:
            return []
        method, cls, tid, attrs = parsed
        if method != 1:
            return []
        if cls == CLASS_REQUEST:
            self._stun[tid] = ev
            if len(self._stun) > MAX_OPEN:
                self._stun.popitem(last=False)
            return []
        req = self._stun.get(tid)
        if req is None or (ev.src, ev.dst) != (req.dst, req.src):
            return []
        del self._stun[tid]
        ka = KeepAlive("stun", req, ev, ev.time - req.time)
        if cls != CLASS_SUCCESS:
            ka.note = f"STUN response of class {cls} (not a success response)"
            return [ka]
        xma = [v for t, v, _ in attrs if t == ATTR_XOR_MAPPED_ADDRESS]
        if not xma:
            ka.note = "Binding success response without XOR-MAPPED-ADDRESS"
            return [ka]
        try:
            ka.mapped = decode_xor_address(xma[0], tid)
        except ValueError as exc:
            ka.note = f"malformed XOR-MAPPED-ADDRESS: {exc}"
        return [ka]

    def _sip(self, ev: WireEvent) -> list:
        msg = ev.message
        c = self.counts
        c.messages += 1
        idx = msg.header_index()  # read once for the headers below
        cseq = cseq_in(idx)
        call_id = idx.get("call-id")
        if call_id is not None:
            call_id = call_id[0]
        if isinstance(msg, Request):
            c.requests += 1
            c.methods[msg.method] = c.methods.get(msg.method, 0) + 1
            vias = values_in(idx, "via")
            key = (call_id, cseq, top_branch(msg, vias))
            ex = self.open.get(key)
            if ex is not None:
                ex.retransmissions += 1
                return []
            ex = Exchange(msg, ev)
            self.open[key] = ex
            if len(self.open) > MAX_OPEN:
                self.open.popitem(last=False)
            out: list = []
            if msg.method == "REGISTER":
                self.registrar_addrs.add(ev.dst)
                self._registrar_ips.add(ev.dst[0])
                outer = None
                if len(vias) > 1:
                    m = BRANCH_PARAM.search(vias[1])
                    outer = self.open.get((call_id, cseq, m.group(1))) if m else None
                    if outer is not None:
                        outer.proxied = True
                if outer is None and ev.src[0] in self._registrar_ips and (len(vias) > 1 or "path" in idx):
                    # sent by a host that receives REGISTERs (an edge) and not matched by its Via:
                    # a proxy that changed the Call-ID or the Via
                    outer = self._outer_leg(ex, len(vias))
                if outer is not None:
                    outer.relayed = True
                    outer.inner, ex.outer = ex, outer
            else:
                if msg.method in _REG_EVENT_METHODS and is_reg_event(msg):
                    # a reg-event dialog's request: followed there, not a terminating request
                    if self.regev is None:
                        self.regev = RegEventTracker(self)
                    return self.regev.request(ev, msg, cseq)
                d = self._delivery(ev, msg)
                if d is not None:
                    out.append(d)
            return out
        c.responses += 1
        key = (call_id, cseq, top_branch(msg, idx=idx))
        ex = self.open.get(key)
        if ex is None or ex.final_event is not None:
            return []
        if msg.status < 200:
            ex.provisional += 1
            return []
        ex.final_event = ev
        del self.open[key]
        out = [ex]
        if ex.request.method == "REGISTER":
            out.append(self._register(ex))
            if self.regev is not None and self.regev.deferred:
                out += self.regev.settle(ex)  # NOTIFYs that waited for this REGISTER's answer
        elif self.regev is not None and ex.request.method in _REG_EVENT_METHODS:
            self.regev.response(ex)
        return out

    def _outer_leg(self, inner: Exchange, vias: int) -> Exchange | None:
        """The UE-side leg a proxied REGISTER was forwarded from, when its Via does not name it (a
        proxy that changed the Call-ID, or a B2BUA-like edge that replaced the Vias): among the
        last OUTER_LOOKBACK transactions still open, a REGISTER of the same AOR with the same
        Contact URIs and fewer Vias or fewer Path values, not yet relayed.  Looked for only for
        a REGISTER with more than one Via or a Path, from a host that REGISTERs are sent to."""
        req = inner.request
        aor = aor_of(req)
        paths = len(hvalues(req, "path"))
        try:
            mine = sorted(uri_key(c.uri) for c in contacts_of(req) if c.uri is not None)
        except ParseError:
            return None
        n = 0
        for ex in reversed(self.open.values()):
            n += 1
            if n > OUTER_LOOKBACK:
                break
            if ex is inner or ex.relayed or ex.final_event is not None:
                continue
            r = ex.request
            if r.method != "REGISTER" or aor_of(r) != aor:
                continue
            if len(hvalues(r, "via")) >= vias and len(hvalues(r, "path")) >= paths:
                continue
            try:
                theirs = sorted(uri_key(c.uri) for c in contacts_of(r) if c.uri is not None)
            except ParseError:
                continue
            if theirs == mine:
                return ex
        return None

    # -- registrations --------------------------------------------------------------------------
    def bindings(self, aor: str) -> list[Binding]:
        st = self.aors.get(aor)
        return list(st.bindings.values()) if st else []

    def all_bindings(self) -> list[Binding]:
        out = []
        for st in self.aors.values():
            out += list(st.bindings.values()) + st.gone
        return out

    def _end(self, st: AorState, b: Binding, state: str, packet: int, time: float) -> None:
        b.state, b.ended = state, packet
        b.note(packet, time, state)
        st.bindings.pop(b.key, None)
        st.gone.append(b)
        if len(st.gone) > MAX_GONE:
            st.gone.pop(0)
            self._held -= 1

    def _register(self, ex: Exchange) -> RegisterOutcome:
        req, resp = ex.request, ex.response
        ridx = req.header_index()
        to = ridx.get("to")
        aor = aor_of_to(to[0] if to else None)  # aor_of(req)
        st = self.aors.get(aor)
        if st is None:
            st = self.aors[aor] = AorState(unlisted=self._held >= SHOWN_BINDINGS)
        now = ex.req_event.time
        try:
            cfacts = contact_facts(req, ridx)
        except ParseError as exc:
            cfacts = []
            perr = f"unparseable Contact in the REGISTER: {exc}"
        else:
            perr = ""
        star = False
        for f in cfacts:
            if f[0].star:
                star = True
                cfacts = [f for f in cfacts if not f[0].star]
                break
        contacts = [f[0] for f in cfacts]
        before, uncertain, expired = [], [], []
        req_n = ex.req_event.number
        out = RegisterOutcome(ex, aor, contacts, star, before, uncertain, None, changes=expired, parse_error=perr,
                              asks=asks_of(req, contacts, cfacts), cfacts=cfacts)
        asked = None
        for b in list(st.bindings.values()):
            if b.expires_at is None or b.expires_at > now + EXPIRY_SLACK:
                if b.created > req_n:  # established while this request was in flight
                    if asked is None:
                        asked = _asked(out)
                    if _concurrent(b, asked):
                        uncertain.append(b)
                        continue
                before.append(b)
            elif b.expires_at < now - EXPIRY_SLACK:
                self._end(st, b, "expired", ex.req_event.number, now)
                expired.append(Change("expired", b, ex.req_event.number))
            else:
                uncertain.append(b)
        if resp is None or not 200 <= resp.status < 300:
            return out
        try:
            lfacts = [f for f in contact_facts(resp) if not f[0].star and f[5] is not None]
        except ParseError as exc:
            out.parse_error = f"unparseable Contact in the 2xx: {exc}"
            return out
        out.listed = listed = [f[0] for f in lfacts]
        out.lfacts = lfacts
        if ex.applied_inside:
            # The UE-side leg of a proxied REGISTER: its 2xx relays the registrar's statement,
            # already applied (and judged) on the leg the registrar received.
            return out
        self._apply(st, out, listed)
        return out

    def _apply(self, st: AorState, out: RegisterOutcome, listed: list[NameAddr]) -> None:
        ex = out.exchange
        pkt, now = ex.final_event.number, ex.final_event.time
        req = ex.request
        req_n = ex.req_event.number
        req_keys = {}
        asks: dict[str, int | None] = {}  # of the Contact that req_keys keeps for each URI key
        for c, f, e in zip(out.contacts, out.cfacts, out.asks):
            k = f[4]
            req_keys[k] = c
            asks[k] = e
        # What the request removes (RFC 3261 §10.3 steps 6 and 7): with a 2xx, it is gone.
        zero = {k for k, e in asks.items() if e == 0} if req_keys else ()
        out.removal = out.star or bool(zero)
        # The UE's flow: for the registrar's leg of a proxied REGISTER, the UE-side leg's.
        ev = ex.outer.req_event if ex.outer is not None else ex.req_event
        dst = self._registrar_sides.get(ev.dst)
        if dst is None:
            if len(self._registrar_sides) >= 4096:
                self._registrar_sides.clear()
            dst = self._registrar_sides[ev.dst] = ev.dst
        flow = (ev.transport, ev.src, dst)
        seen: set[tuple] = set()
        lfacts = out.lfacts
        for c, instance, reg_id, expires, ukey, utext, key in lfacts:
            if key in seen:
                continue
            seen.add(key)
            mine = req_keys.get(ukey)
            flagged = False
            if out.removal and (out.star or ukey in zero):
                if expires != 0:  # removed by this request, yet listed as a current binding
                    out.relisted.append((utext, None))
                    flagged = True
                mine = None
            old = st.bindings.get(key)
            expires_at = now + expires if expires is not None else None
            if old is not None and old.ukey != ukey:
                if old.created > req_n:
                    continue  # replaced while this request was in flight: the 2xx lists the earlier one
                self._end(st, old, "replaced", pkt, now)
                out.changes.append(Change("replaced", old, pkt))
                old = None
            if old is None:
                if st.gone:
                    g = _last_gone(st, ukey)
                    if g is not None and g.ended is not None and g.ended > req_n:
                        continue  # ended while this request was in flight: listed as it stood before
                    if g is not None and g.state == "removed" and mine is None and expires != 0 and not flagged:
                        out.relisted.append((utext, g.ended))
                b = Binding(out.aor, key, utext, instance, reg_id, expires, expires_at,
                            flow if mine is not None else ("?", ("?", 0), ("?", 0)),
                            (hvalues(req, "path") or NO_PATH) if mine is not None else NO_PATH, pkt, pkt,
                            ukey=ukey, born_with=listed, listed_as=c)
                if st.unlisted:
                    b.history = UNKEPT
                self._held += 1
                self._by_uri[ukey] = b
                kind = "created" if mine is not None else "appeared"
                b.note(pkt, now, kind)
                st.bindings[key] = b
                out.changes.append(Change(kind, b, pkt))
                if mine is not None:
                    self._ue_addrs[ev.src] = (out.aor, key)
            else:
                if mine is not None or old.updated <= req_n:  # not a listing older than a refresh
                    old.expires, old.expires_at, old.listed_as = expires, expires_at, c
                if mine is not None:
                    old.updated = pkt
                    if old.flow != flow:
                        old.note(pkt, now, f"flow changed to {flow[0]} {flow[1][0]}:{flow[1][1]}")
                        old.flow = flow
                        self._ue_addrs[ev.src] = (out.aor, key)
                    old.note(pkt, now, "refreshed")
                    out.changes.append(Change("refreshed", old, pkt))
        instances = None  # of the listed Contacts: read for a binding the 2xx leaves out
        asked = None
        for key, b in list(st.bindings.items()):
            if key in seen:
                continue
            if instances is None:
                instances = {f[1] for f in lfacts if f[1]}
            if b.created > req_n:  # established while this request was in flight
                if asked is None:
                    asked = _asked(out)
                if _concurrent(b, asked):
                    continue
            asked_c = req_keys.get(b.ukey)
            if out.star or (asked_c is not None and b.ukey in zero):
                kind = "removed"
            elif b.instance and b.instance in instances:
                kind = "overwritten"
            elif b.expires_at is not None and b.expires_at <= now + EXPIRY_SLACK:
                kind = "expired"
            else:
                kind = "dropped"
            self._end(st, b, kind, pkt, now)
            out.changes.append(Change(kind, b, pkt))

    # -- terminating requests -------------------------------------------------------------------
    def _delivery(self, ev: WireEvent, req: Request) -> Delivery | None:
        if req.method in ("ACK", "CANCEL") or ev.dst in self.registrar_addrs:
            return None
        hit = self._ue_addrs.get(ev.dst)
        binding = None
        if hit is not None:
            aor, key = hit
            st = self.aors.get(aor)
            if st is not None:
                binding = st.bindings.get(key)
                if binding is None or binding.flow[1] != ev.dst:  # a flow replaced since
                    binding = next((b for b in reversed(st.gone) if b.key == key and b.flow[1] == ev.dst), None)
        by_uri = False
        try:
            ruri = parse_uri(req.uri)
        except ParseError:
            ruri = None
        if ruri is not None:
            b = self._by_uri.get(uri_key(ruri))
            if b is not None and uri_equal(b.uri, ruri) and (binding is None or binding is b):
                binding, by_uri = b, True
        if binding is None:
            return None
        on_flow = binding.flow[1] == ev.dst and (ev.transport == binding.flow[0])
        return Delivery(ev, req, binding, by_uri, on_flow)
