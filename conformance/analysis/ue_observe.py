"""The UEs of a capture, each as an :class:`~conformance.uecert.observation.Observation` (sans-IO).

``conformance analyze`` judges the network's messages with the rules (rules.py); the UE side of
the same messages is judged by the UE checks (``conformance.uecert.checks``), which read an
Observation.  :class:`UeObserver` is fed what the timeline already made while the capture is
read (a :class:`RegisterOutcome` per answered REGISTER, a :class:`KeepAlive` per ping), keeps a
bounded number of them (a message as its bytes, some 0.5 kB, not parsed, some 4 kB) and builds
the observations once the capture is read, one UE at a time, parsing that UE's messages again
(at most 2 * MAX_EXCHANGES messages, once); nothing is done per message but a type test.

Which side is the UE: the sender of a REGISTER, except the registrar-side leg of a proxied
REGISTER the timeline matched to its UE-side leg.  A REGISTER that reached the capture through a
proxy whose UE-side leg is not in it (Vias, a Path) still stands for its UE (as the suite's cases
do, playing UE and edge at once): its Contact is the UE's, its flow the proxy's.  A UE is its AOR
and ``+sip.instance``; a UE whose Contact has no instance is its AOR and Contact URI.  A
REGISTER without a Contact of its own (``Contact: *``, a fetch) belongs to the UE last seen at
its source address.  Events: each REGISTER (direction IN) and its final response (OUT) on the
flow (transport, UE address, registrar-side address) of the REGISTER; the CRLF pings and STUN
Binding requests on those address pairs with their answers; a TCP flow's opening SYN and its
FIN / RST (reassembly.py's ``conn_log``).  Packet numbers are the capture's, times are seconds
since the first event of any UE.

Bounds: the first MAX_UES UEs, the first MAX_EXCHANGES REGISTER transactions (answered ones in
the order of their answer, then unanswered ones), the first KA_PAIRS address pairs with
keep-alives and KA_PER_PAIR keep-alives each.  A UE whose history hit a bound is observed up to
that packet only (``truncated``), so a check never sees a gap as a long interval.

The split analysis (parallel.py) feeds one observer per process and merges their :meth:`export`
s with :func:`merge`: the selection is by packet number, so the result is the serial one.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Iterator

from ..sip.errors import ParseError
from ..sip.message import Response, parse_message
from ..uecert.model import UeTimers
from ..uecert.observation import CLOSE, IN, OPEN, OUT, PING, PONG, SIP, Event, FlowKey, Observation
from .reading import aor_of, instance_of, uri_text
from .reassembly import WireEvent
from .timeline import Exchange, KeepAlive, RegisterOutcome

MAX_UES = 64
MAX_EXCHANGES = 2048
KA_PAIRS = 256
KA_PER_PAIR = 256
UE_BY = ("instance", "aor")  # a UE is its AOR and instance, or (one device per AOR) its AOR
_BY_CONTACT = "contact "  # the ident of a UE without an instance: this, then its Contact URI
_LAST = float("inf")  # the order key of REGISTERs never answered (after every answered one)


class _CaptureObservation(Observation):
    """An Observation made once from a capture: the checks only read it, each asking for the
    answer to every REGISTER.  ``response_to`` finds it in an index of the final responses (by
    Call-ID, CSeq and top Via branch, in event order, remade if events were added): the same
    event as the scan of every event it stands in for."""

    def response_to(self, request: Event) -> Event | None:
        index = self.__dict__.get("_answers")
        if index is None or index[0] != len(self.events):
            table: dict[tuple, list[Event]] = {}
            for e in self.sip(OUT):
                r = e.msg
                if isinstance(r, Response) and r.status >= 200:
                    table.setdefault((r.call_id, r.cseq, r.top_branch), []).append(e)
            index = self.__dict__["_answers"] = (len(self.events), table)
        req = request.msg
        for e in index[1].get((req.call_id, req.cseq, req.top_branch), ()):
            if e.index > request.index:
                return e
        return None


@dataclass
class UeRecord:
    aor: str
    ident: str  # the instance, or "contact <URI>" for a UE without one ("" unknown: only Contact: *)
    instance: str | None
    # (order, request, final response) as bare_event()s: the messages' bytes, parsed again one UE
    # at a time when the UEs are judged (2,048 exchanges' parsed messages held some 16 MB)
    exchanges: list[tuple[float, tuple, tuple | None]] = field(default_factory=list)
    addresses: set = field(default_factory=set)  # its source addresses (for Contact: * / fetches)

    @property
    def key(self) -> tuple[str, str]:
        return (self.aor, self.ident)

    @property
    def first(self) -> float:
        return self.exchanges[0][0] if self.exchanges else _LAST


class UeObserver:
    def __init__(self, by: str = "instance") -> None:
        if by not in UE_BY:
            raise ValueError(f"ue_by {by!r}: one of {', '.join(UE_BY)}")
        self.by = by
        self.ues: dict[tuple[str, str], UeRecord] = {}
        self.by_addr: dict[tuple, tuple[str, str]] = {}  # UE address -> its UE (latest)
        self.stored = 0
        self.full_at: float | None = None  # order key where MAX_EXCHANGES was reached
        self.more_ues = False  # a UE beyond MAX_UES was seen
        self._aors: set[str] = set()  # the AORs of the UEs followed
        # (pinger, peer) -> [(kind "crlf" | "stun", transport, ping packet, ping time, answer packet,
        # answer time, STUN mapped address)]
        self.kas: dict[tuple, list[tuple]] = {}

    # -- while reading ------------------------------------------------------------------------
    def feed(self, item) -> None:
        if type(item) is RegisterOutcome:
            if self.full_at is not None:
                return  # the budget is spent (as _exchange finds)
            ex = item.exchange
            self._exchange(ex, item.contacts, ex.final_event.number if ex.final_event else _LAST)
        elif type(item) is KeepAlive:
            self._keepalive(item)

    def finish(self, open_exchanges) -> None:
        """End of capture: the REGISTERs still unanswered (the timeline's open transactions)."""
        from .reading import contacts_of

        for ex in sorted((e for e in open_exchanges if type(e) is Exchange and e.final_event is None
                          and e.request.method == "REGISTER"), key=lambda e: e.req_event.number):
            try:
                contacts = contacts_of(ex.request)
            except ParseError:
                contacts = []
            self._exchange(ex, contacts, _LAST)

    def _exchange(self, ex: Exchange, contacts, order: float) -> None:
        if ex.outer is not None:
            return  # the registrar-side leg of a proxied REGISTER
        if self.full_at is not None:
            return  # the budget is spent: nothing more is kept
        req, ev = ex.request, ex.req_event
        if self.more_ues and aor_of(req) not in self._aors:
            return  # a UE of an AOR not followed, once MAX_UES are (the cheap test first)
        key = self._key(req, contacts, ev.src)
        rec = self.ues.get(key)
        if rec is None:
            if len(self.ues) >= MAX_UES:
                self.more_ues = True
                return
            rec = self.ues[key] = UeRecord(key[0], key[1], key[1] if key[1] and not key[1].startswith(_BY_CONTACT) else None)
            if self.by == "aor":
                rec.instance = next((i for i in map(instance_of, contacts) if i), None)
            self._aors.add(key[0])
        if self.stored >= MAX_EXCHANGES:
            if self.full_at is None:
                self.full_at = order
            return
        self.stored += 1
        rec.exchanges.append((order, bare_event(ev), bare_event(ex.final_event)))
        rec.addresses.add(ev.src)
        self.by_addr[ev.src] = key

    def _key(self, req, contacts, src) -> tuple[str, str]:
        aor = aor_of(req)
        if self.by == "aor":
            return (aor, "")
        first = None
        for c in contacts:
            if c.star or c.uri is None:
                continue
            inst = instance_of(c)
            if inst:
                return (aor, inst)
            if first is None:
                first = c
        if first is not None:
            return (aor, f"{_BY_CONTACT}<{uri_text(first.uri)}>")
        known = self.by_addr.get(src)
        return known if known is not None and known[0] == aor else (aor, "")

    def _keepalive(self, ka: KeepAlive) -> None:
        r = ka.request
        if r is None:
            return
        pair = (r.src, r.dst)
        kept = self.kas.get(pair)
        if kept is None:
            if len(self.kas) >= KA_PAIRS:
                return
            kept = self.kas[pair] = []
        if len(kept) > KA_PER_PAIR:
            return
        a = ka.answer
        # one past the bound: it marks where the pair's history stops
        kept.append(("crlf" if ka.kind == "pong" else "stun", r.transport, r.number, r.time,
                     a.number if a is not None else None, a.time if a is not None else None, ka.mapped))

    # -- the split analysis -------------------------------------------------------------------
    def export(self) -> dict:
        """What a process of the split analysis sends back (no parsed message: bytes)."""
        return {"ues": [(r.aor, r.ident, r.instance, r.exchanges)
                        for r in self.ues.values()],
                "kas": self.kas, "more_ues": self.more_ues, "full_at": self.full_at}


def bare_event(ev: WireEvent | None) -> tuple | None:
    """A kept message as a process of the split analysis sends it: no parsed message, bytes."""
    return None if ev is None else (ev.number, ev.time, ev.transport, ev.src, ev.dst, ev.data)


def merge(parts: list[dict], by: str = "instance") -> UeObserver:
    """One observer from the processes' exports, with the serial analysis's selection."""
    obs = UeObserver(by)
    recs = []
    for part in parts:
        obs.more_ues |= part["more_ues"]
        for aor, ident, instance, exchanges in part["ues"]:
            recs.append(UeRecord(aor, ident, instance, exchanges))
        for pair, kept in part["kas"].items():
            obs.kas.setdefault(pair, kept)
    recs.sort(key=lambda r: r.first)
    if len(recs) > MAX_UES:
        obs.more_ues = True
    recs = recs[:MAX_UES]
    fulls = [p["full_at"] for p in parts if p["full_at"] is not None]
    everything = sorted((o, q[0], id(r), r) for r in recs for o, q, _ in r.exchanges)
    if len(everything) > MAX_EXCHANGES:
        fulls.append(everything[MAX_EXCHANGES][0])
    cut = min(fulls) if fulls else None
    for r in recs:
        r.exchanges = [x for x in r.exchanges if cut is None or x[0] < cut]
        r.addresses = {q[3] for _, q, _ in r.exchanges}
        obs.ues[r.key] = r
    obs.full_at = cut
    if len(obs.kas) > KA_PAIRS:
        obs.kas = dict(list(obs.kas.items())[:KA_PAIRS])
    return obs


def _message(bare):
    """The parsed message of a bare_event() (None: it does not parse)."""
    if bare is None:
        return None
    try:
        return parse_message(bare[5])
    except ParseError:
        return None


# -- building the observations ----------------------------------------------------------------
@dataclass
class UeObservation:
    aor: str
    instance: str | None
    contact: str | None  # the Contact URI that names a UE without an instance
    obs: Observation
    truncated: str = ""  # why the observation stops before the capture's end ("" if it does not)


def observations(observer: UeObserver, conn_log: dict | None = None) -> tuple[Iterator[UeObservation], str]:
    """(one observation per UE, made as it is asked for: its messages parsed then, a note on what
    the bounds left out: "" when nothing)."""
    t0 = min((q[1] for r in observer.ues.values() for _, q, _ in r.exchanges), default=0.0)
    out = (_observation(rec, observer, conn_log or {}, t0) for rec in observer.ues.values() if rec.exchanges)
    notes = []
    if observer.more_ues:
        notes.append(f"only the first {MAX_UES} UEs are observed")
    if observer.full_at is not None:
        notes.append(f"only the first {MAX_EXCHANGES} REGISTER transactions of UEs are kept")
    return out, "; ".join(notes)


def _observation(rec: UeRecord, observer: UeObserver, conn_log: dict, t0: float) -> UeObservation:
    obs = _CaptureObservation(timers=UeTimers(), aor=rec.aor)
    flows: dict[tuple, FlowKey] = {}
    cut = None if observer.full_at is None else observer.full_at
    why = ""
    if cut is not None and cut != _LAST:
        why = f"history bound reached at packet {int(cut)}"
    for _, req, resp in sorted(rec.exchanges, key=lambda x: x[1][0]):
        number, when, transport, src, dst, _ = req
        fk = flows.get((transport, src, dst))
        if fk is None:
            fk = flows[(transport, src, dst)] = FlowKey(transport, src, dst)
        obs.add(Event(number, when - t0, SIP, IN, fk, _message(req)))
        if resp is not None:
            obs.add(Event(resp[0], resp[1] - t0, SIP, OUT, fk, _message(resp)))
    for (transport, ue, net), fk in flows.items():
        for pair, direction in (((ue, net), IN), ((net, ue), OUT)):
            kept = observer.kas.get(pair, ())
            back = OUT if direction == IN else IN
            for i, (kind, tp, n, t, an, at, mapped) in enumerate(kept):
                if i == KA_PER_PAIR:  # the marker one past the bound
                    cut = n if cut is None else min(cut, n)
                    why = why or f"keep-alive history bound reached at packet {n}"
                    break
                obs.add(Event(n, t - t0, PING, direction, fk, keepalive=kind))
                if an is not None:
                    obs.add(Event(an, at - t0, PONG, back, fk, keepalive=kind, stun_mapped=mapped))
        if transport != "udp":
            for kind, n, t, sender in conn_log.get(tuple(sorted((ue, net))), ()):
                obs.add(Event(n, t - t0, OPEN if kind == "open" else CLOSE, IN if sender == ue else OUT, fk,
                              text=kind))
    obs.events.sort(key=lambda e: e.index)
    if cut is not None and cut != _LAST:
        obs.events = [e for e in obs.events if e.index < cut]
    else:
        why = ""
    contact = rec.ident[len(_BY_CONTACT):] if rec.ident.startswith(_BY_CONTACT) else None
    return UeObservation(rec.aor, rec.instance, contact, obs, why)
