"""The offline checks: generic rules judged on every exchange of a capture.

Each rule has its clause and level as in the test-purpose catalogue, and is judged with the same
check functions as a live run (``conformance.meaning.checks``: ``require``, ``contacts``, ``path``,
``flow_timer``, ``status``, ``delivered``, ``pong``, ``stun_mapped``) on a :class:`CheckContext`
built from the captured request and response, with the bindings the timeline knows standing in
for the UE's flows.  What cannot be seen in a capture is not guessed: "first hop" is taken from
the Via count and Path of the request (or the Path the 2xx echoes), and a rule whose evidence is
missing is inconclusive or not applied.
"""

from __future__ import annotations

from dataclasses import dataclass, field

from ..meaning.checks import CheckContext, Observation, run_check
from ..sip.errors import ParseError
from ..sip.headers import parse_name_addr, parse_option_tags
from ..meaning.verdict import FAIL, INCONCLUSIVE, INFO, PASS, Finding, Verdict, combine, grade
from .regevent import KIND_RULE, NotifyOutcome
from .reading import contact_facts, facts, values_in, via_seen
from .timeline import Binding, Delivery, Exchange, KeepAlive, RegisterOutcome


@dataclass(frozen=True)
class Rule:
    id: str
    requirement: str
    title: str
    level: str
    ref: str


RULES: dict[str, Rule] = {r.id: r for r in (
    Rule("R1-require", "R1", "2xx to an outbound REGISTER carries Require: outbound", "MUST", "RFC 5626 §6 ¶8"),
    Rule("R1-no-reg-id", "R1", "no Require: outbound when reg-id is absent or ignored", "MUST", "RFC 5626 §6 ¶6"),
    Rule("R1-no-supported", "R1", "no Require: outbound without Supported: outbound", "MUST",
         "RFC 3261 §8.2.4; RFC 5626 §6 ¶8"),
    Rule("R2-bindings", "R2", "2xx lists every current binding", "MUST", "RFC 3261 §10.3 step 8"),
    Rule("R2-expires", "R2", "every Contact of the 2xx has expires", "MUST", "RFC 3261 §10.3 step 8"),
    Rule("R2-removed", "R2", "a binding removed by expires=0 or Contact: * is listed by no later 2xx", "MUST",
         "RFC 3261 §10.3 step 6; RFC 3261 §10.3 step 7"),
    Rule("EDGE-relay", "R2", "a proxy relays the registrar's 2xx with every Contact it listed", "MUST",
         "RFC 3261 §16.7 step 9"),
    Rule("R3-replace", "R3", "same instance and reg-id replaces the binding", "MUST", "RFC 5626 §6 ¶8, ¶10"),
    Rule("R3-add", "R3", "a new reg-id of the instance adds a binding", "MUST", "RFC 5626 §6 ¶8"),
    Rule("439-only", "439", "439 only for reg-id + Supported: outbound past a non-outbound first hop", "MUST",
         "RFC 5626 §11.6, §6 ¶3"),
    Rule("439-due", "439", "439 when the first hop lacks outbound (reg-id + Supported: outbound)", "MUST",
         "RFC 5626 §6 ¶3"),
    Rule("PATH-ob", "PATH", "first hop's Path URI has ;ob", "MUST", "RFC 5626 §5.1"),
    Rule("PATH-echo", "PATH", "2xx to REGISTER echoes the request's Path", "SHOULD", "RFC 3327 §5.3"),
    Rule("FLOW-TIMER", "KA", "Flow-Timer, if present, is 1*DIGIT", "MUST", "RFC 5626 §10"),
    Rule("KA-pong", "KA", "CRLF ping answered by a CRLF pong", "MUST", "RFC 5626 §5.4"),
    Rule("KA-stun", "KA", "STUN Binding answered with XOR-MAPPED-ADDRESS of the sender", "MUST", "RFC 5626 §8"),
    Rule("TERM-binding", "TERM", "terminating requests only to current bindings", "MUST", "RFC 5626 §7"),
    # Reg event (RFC 3680): each NOTIFY's view (RFC 3680 §5.2) against the bindings then (regevent.py);
    # the refs and their levels are the live reg-event checks' (clauses/reg-event.yaml).
    Rule("REGEV-current", "REGEV", "the NOTIFY after a 2xx to SUBSCRIBE shows every binding active with its "
         "instance and reg-id, ended ones terminated", "MUST", "RFC 6665 §4.2.1.2"),
    Rule("REGEV-change", "REGEV", "a later NOTIFY leaves the view matching the bindings (added, refreshed, "
         "ended)", "SHOULD", "RFC 6665 §4.2.2; RFC 3680 §4.7.2"),
    Rule("REGEV-body", "REGEV", "a NOTIFY's body is a reginfo document", "MUST", "RFC 3680 §5.1 (well-formed)"),
    Rule("REGEV-params", "REGEV", "each active <contact> carries its binding's +sip.instance and reg-id as "
         "<unknown-param>", "MAY", "RFC 3680 §5.1 (unknown-param)"),
    Rule("REGEV-aor", "REGEV", "<registration> state active while a contact is bound, terminated when none is",
         "MAY", "RFC 3680 §4.7.1 (active); RFC 3680 §4.7.1 (terminated)"),
    Rule("REGEV-event", "REGEV", "a contact whose binding ended is terminated with the event of its ending "
         "(unregistered, expired)", "MAY", "RFC 3680 §4.7.1 (unregistered); RFC 3680 §4.7.1 (expired)"),
    Rule("REGEV-version", "REGEV", "reginfo versions start at 0 and go up by one per NOTIFY", "MAY",
         "RFC 3680 §5.1 (version)"),
)}

# RFC 5626's registrar duties: they bind a registrar that implements RFC 5626 (its traffic shows
# it, or its target profile declares `outbound`); for one that shows none, they are recorded only.
OUTBOUND_RULES = ("R1-require", "439-due", "R3-replace", "R3-add")
OUTBOUND, LEGACY = "outbound", "legacy"
CLASSES = {
    OUTBOUND: "the registrar implements RFC 5626: a 2xx carried Require: outbound or it answered 439",
    LEGACY: "the registrar does not implement RFC 5626 (Rel-7-like): REGISTERs offering outbound (reg-id, "
            "+sip.instance, Supported: outbound) got 2xx without Require: outbound, and no 439",
}

KEEP_PASSES = 20  # passing findings kept per rule (all others are counted)
KEEP_OTHERS = 1000  # failing / inconclusive / warning findings kept per rule


@dataclass
class OfflineFinding:
    rule: str
    finding: Finding
    packets: list[int]

    def to_dict(self) -> dict:
        d = self.finding.to_dict()
        d.pop("location", None)
        d.pop("message_index", None)
        return {"rule": self.rule, "packets": self.packets, **d}


@dataclass
class RuleResult:
    rule: Rule
    counts: dict[str, int] = field(default_factory=dict)
    findings: list[OfflineFinding] = field(default_factory=list)
    passes_kept: int = 0
    others_kept: int = 0
    exempt: str = ""  # why the rule binds no SUT here (its findings are recorded only)

    @property
    def evaluated(self) -> int:
        return sum(self.counts.values())

    def verdict(self) -> Verdict:
        if not self.evaluated or self.exempt:
            return Verdict.NOT_APPLICABLE
        if self.counts.get(FAIL):
            return Verdict.FAIL
        if self.counts.get(INCONCLUSIVE) and not self.counts.get(PASS):
            return Verdict.INCONCLUSIVE
        return combine([f.finding for f in self.findings]).verdict if self.findings else Verdict.PASS

    def to_dict(self) -> dict:
        r = self.rule
        return {"rule": r.id, "requirement": r.requirement, "title": r.title, "level": r.level, "ref": r.ref,
                "verdict": str(self.verdict()), "counts": dict(self.counts),
                **({"not_applied": self.exempt} if self.exempt else {}),
                "findings": [f.to_dict() for f in self.findings]}


def _ob(value: str) -> bool | None:
    try:
        uri = parse_name_addr(value).uri
    except ParseError:
        return None
    return uri is not None and uri.has_param("ob")


_TAGS: dict[tuple, list[str] | None] = {}  # option tags by header values (read-only, bounded)


def _tags_or_none(idx: dict[str, list[str]], key: str) -> list[str] | None:
    """The option tags of a header (``key``: its lower-case name) from a message's
    ``header_index()``; None when unparseable (the check reads that as a violation)."""
    lines = idx.get(key)
    values = tuple(lines) if lines else ()  # the header's lines as written: the tags follow from them
    try:
        return _TAGS[values]
    except KeyError:
        pass
    try:
        tags = parse_option_tags(values_in(idx, key))
    except ParseError:
        tags = None
    if len(_TAGS) >= 4096:
        _TAGS.clear()
    _TAGS[values] = tags
    return tags


def _tags(idx: dict[str, list[str]], key: str) -> list[str]:
    tags = _tags_or_none(idx, key)
    return [] if tags is None else tags


class Judge:
    """Turns timeline outputs into graded findings, rule by rule."""

    count_passes = True  # passes seen by the caller only counted once none are kept (False: run every check)

    def __init__(self, *, strict: bool = False, keepalive_bound: float = 10.0):
        self.strict = strict
        self.keepalive_bound = keepalive_bound
        self.results: dict[str, RuleResult] = {rid: RuleResult(rule) for rid, rule in RULES.items()}
        # The registrar's class (see CLASSES): 2xx to REGISTERs offering outbound, and answers
        # that show RFC 5626 (Require: outbound in a 2xx, a 439).
        self.offered = 0
        self.shown = 0
        self.classification: dict | None = None
        # UE address in the capture -> the address the SUT said it saw (Via received/rport of the
        # latest 2xx to REGISTER from there): behind a NAT, what a STUN answer must map it to
        self.seen_by_sut: dict[tuple, tuple[str, int]] = {}

    # -- recording ------------------------------------------------------------------------------
    def _add(self, rule_id: str, findings: list[Finding], packets: list[int]) -> None:
        res = self.results[rule_id]
        for f in findings:
            if f.outcome not in res.counts:
                self._first(rule_id, f.outcome)
            res.counts[f.outcome] = res.counts.get(f.outcome, 0) + 1
            if f.outcome == PASS:
                if res.passes_kept >= KEEP_PASSES:
                    continue
                res.passes_kept += 1
            else:
                if res.others_kept >= KEEP_OTHERS:
                    continue
                res.others_kept += 1
            res.findings.append(OfflineFinding(rule_id, f, list(packets)))
            self._kept(rule_id)

    def _first(self, rule_id: str, outcome: str) -> None:
        """Hook: the rule's first finding with this outcome (parallel.py orders the counts by it)."""

    def _kept(self, rule_id: str) -> None:
        """Hook: a finding was kept (parallel.py merges kept findings in event order)."""

    def _check(self, rule_id: str, kind: str, args: dict, ctx: CheckContext, packets: list[int], where: str,
               passes: int = 0) -> None:
        """Run one check.  ``passes``: the number of observations the caller has already seen to
        pass (0: not known); once the rule keeps no more passing findings, those are only counted,
        without running the check (the same counts and kept findings as running it)."""
        if passes and self.count_passes:
            res = self.results[rule_id]
            if res.passes_kept >= KEEP_PASSES:
                res.counts[PASS] = res.counts.get(PASS, 0) + passes
                return
        rule = RULES[rule_id]
        if callable(args):  # built only when the check runs
            args = args()
        if not isinstance(where, str):
            where = where()
        if isinstance(ctx, _Ctx):
            ctx = ctx.get()
        found = run_check(kind, args, ctx, level=rule.level, ref=rule.ref, strict=self.strict, step=where,
                          message_index=packets[-1] if packets else None)
        self._add(rule_id, found, packets)

    def _observe(self, rule_id: str, obs: Observation, packets: list[int], where) -> None:
        rule = RULES[rule_id]
        if not isinstance(where, str):
            where = where()
        self._add(rule_id, [Finding(check=obs.label, level=rule.level, ref=rule.ref,
                                    outcome=grade(obs.ok, rule.level, self.strict), expected=obs.expected,
                                    observed=obs.observed, step=where,
                                    message_index=packets[-1] if packets else None)], packets)

    # -- dispatch -------------------------------------------------------------------------------
    def feed(self, item) -> None:
        if isinstance(item, RegisterOutcome):
            self._register(item)
        elif isinstance(item, Delivery):
            self._delivery(item)
        elif isinstance(item, KeepAlive):
            self._keepalive(item)
        elif isinstance(item, NotifyOutcome):
            self._notify(item)
        elif isinstance(item, Exchange):
            pass  # REGISTERs are judged through their RegisterOutcome

    # -- REGISTER -------------------------------------------------------------------------------
    def _register(self, out: RegisterOutcome) -> None:
        ex = out.exchange
        req, resp = ex.request, ex.response
        if resp is None:
            return
        sidx = resp.header_index()  # the headers of each message read from its index, fetched once
        if 200 <= resp.status < 300:
            seen = via_seen(resp, sidx)
            if seen is not None:
                src = tuple(ex.req_event.src)
                self.seen_by_sut[src] = src if seen == src else seen  # no NAT: one tuple, not two
        if resp.status in (401, 407):
            return  # a challenge is a valid first answer (RFC 3261 §22.2): the retry is judged
        packets = [ex.req_event.number, ex.final_event.number]  # ex.packets (answered)
        where = _Where(out.aor, packets)  # the text only if a finding is made
        ctx = _Ctx(req, resp)  # a CheckContext only if a check has to run
        ridx = req.header_index()
        supported = "outbound" in _tags(ridx, "supported")
        fs = out.cfacts
        reg_ids = outbound_contacts = False  # a Contact with reg-id; one with reg-id and +sip.instance
        for f in fs:
            if f[2] is not None:
                reg_ids = True
                if f[1]:
                    outbound_contacts = True
                    break
        vias = len(values_in(ridx, "via"))
        req_paths = values_in(ridx, "path")
        resp_paths = values_in(sidx, "path") if 200 <= resp.status < 300 else []
        # First hop, as far as the capture shows it (RFC 5626 §6 ¶3).
        if req_paths:
            first_hop, path_ob, seen = False, bool(_ob(req_paths[0])), True
        elif vias > 1:
            first_hop, path_ob, seen = False, False, True
        elif resp_paths:
            first_hop, path_ob, seen = False, bool(_ob(resp_paths[0])), True
        else:
            first_hop, path_ob, seen = True, False, False
        outbound_ok = first_hop or path_ob
        due439 = bool(reg_ids) and supported and not outbound_ok and seen

        if ex.relayed:
            # A proxy in the capture forwarded this REGISTER: the registrar's 439 decision is
            # judged on the request it received (the inner exchange), not on this one.
            due439 = False
        elif resp.status == 439:
            # Fails only on what the capture shows: a REGISTER that visibly reached the registrar
            # with ;ob on its first Path URI is no case for 439; seen from the UE side, any 439 to
            # reg-id + Supported: outbound may be right (the first hop behind the UE is not visible).
            ok = bool(reg_ids) and supported and not (req_paths and path_ob)
            self._observe("439-only", Observation(
                "439 justified", ok, "reg-id and Supported: outbound, and a first hop without outbound",
                f"reg-id {'present' if reg_ids else 'absent'}; Supported: outbound "
                f"{'present' if supported else 'absent'}; first hop "
                f"{'direct' if first_hop else 'with ;ob on the Path' if path_ob else 'without outbound'}"),
                packets, where)
        if due439:
            self._check("439-due", "status", {"in": [439]}, ctx, packets, where)
        inside = ex.applied_inside
        if resp.status == 439 and not inside:
            self.shown += 1
        if not 200 <= resp.status < 300:
            return
        # R1: Require: outbound.
        require = _tags_or_none(sidx, "require")
        if not inside:  # each transaction counted once, on the registrar's leg
            if require and "outbound" in require:
                self.shown += 1
            if outbound_contacts and supported:
                self.offered += 1
        if outbound_contacts and supported and outbound_ok:
            self._check("R1-require", "require", {"has": "outbound"}, ctx, packets, where,
                        require is not None and "outbound" in require)
        elif not supported:
            self._check("R1-no-supported", "require", {"lacks": "outbound"}, ctx, packets, where,
                        require is not None and "outbound" not in require)
        else:
            self._check("R1-no-reg-id", "require", {"lacks": "outbound"}, ctx, packets, where,
                        require is not None and "outbound" not in require)
        if not inside:  # the bindings are judged once, on the leg the registrar received
            self._bindings(out, ctx, packets, where, supported and outbound_ok and bool(outbound_contacts), require)
            if out.removal or out.relisted:
                self._removed(out, packets, where)
        elif ex.proxied and out.listed is not None:
            self._relay(out, packets, where)
        # Path.
        if req_paths:
            self._check("PATH-echo", "path", {"echo": True}, ctx, packets, where)
        elif vias == 1 and resp_paths and outbound_contacts and supported:
            self._check("PATH-ob", "path", {"ob": True}, ctx, packets, where)
        if sidx.get("flow-timer"):  # hget(resp, "flow-timer") is not None
            self._check("FLOW-TIMER", "flow_timer", {"valid": True}, ctx, packets, where)

    def _bindings(self, out: RegisterOutcome, ctx: CheckContext, packets, where, outbound: bool,
                  require: list[str] | None) -> None:
        """R2 and R3: which of the bindings known before must the 2xx list, or not."""
        req, resp = out.exchange.request, out.exchange.response
        if out.listed is None:
            return
        # The names of the bindings (check arguments and the context's flow contacts) are made
        # only if a check runs: most are counted as passes (see _check).
        nm = _Names()
        entries = nm.entries  # (label, URI, reg-id), in naming order
        requires = require is not None and "outbound" in require
        expected: list[int] = []
        replaced: list[int] = []
        added: list[int] = []
        contacts = out.contacts
        # per Contact of the request, once: the expiry it asks, its instance, its URI's key
        asks = out.asks
        fs = out.cfacts
        insts = [f[1] for f in fs]
        # (instance, reg-id, URI key, URI text) of those that ask for an outbound binding
        new_outbound = [(f[1], f[2], f[4], f[5]) for f, e in zip(fs, asks) if f[1] and f[2] is not None and e != 0]
        by_ukey: dict[str, int] = {}
        for i, c in enumerate(contacts):
            if c.uri is not None:
                by_ukey.setdefault(fs[i][4], i)  # the first Contact with that URI
        star = out.star
        for b in out.before:
            i = by_ukey.get(b.ukey)
            if star or (i is not None and asks[i] == 0):
                continue  # removed by this request
            b_instance, b_reg_id = b.instance, b.reg_id
            twin = None
            for n in new_outbound:
                if n[0] == b_instance and n[1] == b_reg_id:
                    twin = n
                    break
            if twin is not None and outbound and not (twin[3] is not None and twin[2] == b.ukey):  # another URI
                entries.append(("replaced", b.uri, b_reg_id))
                replaced.append(len(entries) - 1)
                continue
            if not requires and b_instance and b_instance in insts:
                continue  # legacy (Rel-7) rules: the instance's binding may be overwritten
            entries.append(("", b.uri, b_reg_id))
            n = len(entries) - 1
            expected.append(n)
            if outbound and b_reg_id is not None:
                for ni, nr, _, _ in new_outbound:
                    if ni == b_instance and nr != b_reg_id:
                        added.append(n)
                        break
        if not star:
            for f, e in zip(fs, asks):
                if e != 0 and f[5] is not None:  # a Contact with a URI (facts: its text, else None)
                    entries.append(("requested", f[5], f[2]))
                    expected.append(len(entries) - 1)
        ctx.flow_contacts = nm.names

        # A binding is seen listed when its URI is, as text, the URI of a listed Contact (the
        # check compares with RFC 3261 URI equality); anything else is left to the check.
        listed = {f[5] for f in out.lfacts} if expected or added else ()
        if expected:
            passes = len(expected)
            for i in expected:
                if entries[i][1] not in listed:
                    passes = 0
                    break
            self._check("R2-bindings", "contacts", nm.include(expected), ctx, packets, where, passes)
        if out.listed:
            every = True
            for f in out.lfacts:
                if f[3] is None:
                    every = False
                    break
            self._check("R2-expires", "contacts", {"expires": "all"}, ctx, packets, where, every)
        if replaced:
            self._check("R3-replace", "contacts", {"exclude": nm.of(replaced)}, ctx, packets, where)
        if added:
            passes = len(added)
            for i in added:
                if entries[i][1] not in listed:
                    passes = 0
                    break
            self._check("R3-add", "contacts", nm.include(added), ctx, packets, where, passes)

    def _relay(self, out: RegisterOutcome, packets, where) -> None:
        """EDGE-relay: the 2xx a proxy relays to the UE keeps every Contact of the registrar's 2xx
        (the registrar's statement is judged on its own leg; a proxy removes no header field
        value but its Via, RFC 3261 §16.7 step 9)."""
        inner = out.exchange.inner.response
        try:
            theirs = [f[5] for f in contact_facts(inner) if not f[0].star and f[5] is not None]
        except ParseError:
            return
        mine = {f[5] for f in out.lfacts}
        lost = [u for u in theirs if u not in mine]
        self._observe("EDGE-relay", Observation(
            "registrar's Contacts relayed", not lost,
            f"the {len(theirs)} Contact(s) of the registrar's 2xx (packet {out.exchange.inner.final_event.number})",
            "missing: " + ", ".join(f"<{u}>" for u in lost) if lost else "all relayed"), packets, where)

    def _removed(self, out: RegisterOutcome, packets, where) -> None:
        """R2-removed: what a REGISTER removed (Contact: *, expiry 0) is gone from its 2xx, and
        a binding removed earlier is not listed again unless registered again."""
        now = [u for u, p in out.relisted if p is None]
        if out.removal:
            self._observe("R2-removed", Observation(
                "removed bindings not listed", not now, "no Contact this request removed in its 2xx",
                "listed: " + ", ".join(f"<{u}>" for u in now) if now else "none listed"), packets, where)
        for u, p in out.relisted:
            if p is not None:
                self._observe("R2-removed", Observation(
                    "removed binding not listed again", False,
                    f"no Contact <{u}> (removed by the 2xx in packet {p}, not registered since)",
                    f"<{u}> listed"), packets, where)

    # -- terminating requests and keep-alives ---------------------------------------------------
    def _delivery(self, d: Delivery) -> None:
        b = d.binding
        n = b.label()
        ctx = CheckContext(request=d.request, response=None, deliveries={n: [d.request]}, flow_contacts={n: b.uri})
        where = f"{d.request.method} to {b.aor} (packet {d.event.number})"
        if b.state == "dropped":
            return  # the registrar stopped listing it without a reason: R2 judges that, not this
        args = {"flow": n} if b.state == "active" else {"not_on": [n]}
        if b.state != "active":
            where += f"; binding {b.state} in packet {b.ended}"
        self._check("TERM-binding", "delivered", args, ctx, [d.event.number], where)

    def _keepalive(self, ka: KeepAlive) -> None:
        req = ka.request
        packets = [req.number] + ([ka.answer.number] if ka.answer is not None else [])
        early = ka.answer is None and "capture ends" in ka.note and \
            float(ka.note.split("ends ")[1].split(" s")[0]) < self.keepalive_bound
        if ka.kind == "pong":
            where = f"CRLF ping {req.src[0]}:{req.src[1]} -> {req.dst[0]}:{req.dst[1]} (packet {req.number})"
            if early:
                self._observe("KA-pong", Observation("CRLF pong", None, "a CRLF pong", ka.note), packets, where)
                return
            if ka.answer is None:
                self._observe("KA-pong", Observation("CRLF pong", False, "a CRLF pong on the same connection",
                                                     ka.note), packets, where)
                return
            ctx = CheckContext(request=None, response=None, pong_delay=ka.delay, keepalive_bound=self.keepalive_bound)
            self._check("KA-pong", "pong", {}, ctx, packets, where)
            return
        where = f"STUN Binding {req.src[0]}:{req.src[1]} -> {req.dst[0]}:{req.dst[1]} (packet {req.number})"
        if early:
            self._observe("KA-stun", Observation("STUN XOR-MAPPED-ADDRESS", None, "a Binding response", ka.note),
                          packets, where)
            return
        seen = self.seen_by_sut.get(tuple(req.src))
        ctx = CheckContext(request=None, response=None, flow_addresses={"flow": seen or tuple(req.src)},
                           stun_mapped=ka.mapped, stun_note=ka.note,
                           flow_address_source="the Via received/rport of the flow's latest 2xx" if seen
                           else "the request's source in the capture")
        self._check("KA-stun", "stun_mapped", {}, ctx, packets, where)

    # -- reg event -------------------------------------------------------------------------------
    def _notify(self, out: NotifyOutcome) -> None:
        """A NOTIFY of a reg subscription: its version, then the view it leaves against the
        bindings of the subscribed AOR when it was sent (regevent.compare)."""
        sub, ev = out.sub, out.event
        packets = [ev.number]
        where = f"NOTIFY {sub.aor} (packet {ev.number}; {sub.label()})"
        if out.doc is not None:
            self._observe("REGEV-body", Observation(
                "NOTIFY body", True, "a well-formed application/reginfo+xml document (RFC 3680 §5.1)",
                f"reginfo version {out.doc.version}, state {out.doc.state}"), packets, where)
            self._observe("REGEV-version", Observation(
                "reginfo version in sequence", not out.version_note,
                "version 0 first, then one more per NOTIFY of the subscription (RFC 3680 §5.1)",
                out.version_note or f"version {out.doc.version}"), packets, where)
        rule = "REGEV-current" if out.first else "REGEV-change"
        if out.problem:  # its own body refused, a partial with no full state before, a version not applicable
            self._observe("REGEV-body" if out.doc is None else rule, Observation("reginfo view", False,
                                            "a reginfo document giving the subscriber the current state",
                                            out.problem), packets, where)
            return
        cmp = out.comparison
        if cmp is None:
            if not out.bindings.known:
                self._observe(rule, Observation("reginfo view against the bindings", None,
                                                "the bindings of the AOR as the capture shows them",
                                                "the capture shows no registration of the AOR before this NOTIFY"),
                              packets, where)
            return
        by_rule: dict[str, list] = {}
        for d in cmp.discrepancies:
            by_rule.setdefault(KIND_RULE.get(d.kind, rule), []).append(d)
        state = by_rule.get(rule, [])
        at = out.bindings
        expected = (f"{len(at.active)} binding(s) of {sub.aor}, each one active <contact> with its <uri>, "
                    "ended ones not active"
                    + (f"; REGISTER in flight: packet(s) {', '.join(map(str, at.in_flight))}" if at.in_flight else "")
                    + (f" (judged against the bindings before it and after its answer, packet(s) "
                       f"{', '.join(map(str, out.settled_by))}: either will do)" if out.settled_by else ""))
        self._observe(rule, Observation("reginfo view matches the bindings", _ok(state), expected,
                                        _texts(state) or f"{cmp.judged} binding(s) as bound"), packets, where)
        params = by_rule.get("REGEV-params", [])
        if cmp.params_judged:
            self._observe("REGEV-params", Observation(
                "instance and reg-id of the contacts", _ok(params),
                "<unknown-param name=\"+sip.instance\"> and <unknown-param name=\"reg-id\"> as the binding's",
                _texts(params) or f"{cmp.params_judged} contact(s) with their instance / reg-id"), packets, where)
        aor = by_rule.get("REGEV-aor", [])
        if cmp.aor_judged:
            self._observe("REGEV-aor", Observation(
                "<registration> state", _ok(aor), "active while a contact is bound, terminated (or init) when none is",
                _texts(aor) or ("active" if at.active else "not active")), packets, where)
        events = by_rule.get("REGEV-event", [])
        if events or cmp.ended_shown > cmp.replaced_shown:
            self._observe("REGEV-event", Observation(
                "ended contacts told by their event", _ok(events),
                "a contact whose binding ended: state=\"terminated\", event unregistered (expiry 0) or "
                "expired", _texts(events) or f"{cmp.ended_shown - cmp.replaced_shown} ended contact(s) terminated"),
                packets, where)

    # -- summary --------------------------------------------------------------------------------
    def classify(self, outbound_declared: bool | None = None) -> dict | None:
        """The registrar's class from the whole capture, and what it changes: a registrar that
        shows no RFC 5626 is not held to RFC 5626's duties (OUTBOUND_RULES: recorded, not applied)
        unless its target profile declares ``outbound`` (then they apply, as for any other).
        Called once, after the last event."""
        if self.shown:
            cls = OUTBOUND
        elif self.offered:
            cls = LEGACY
        else:
            self.classification = None
            return None
        doc = {"registrar": cls, "description": CLASSES[cls], "outbound_offered": self.offered,
               "outbound_shown": self.shown, "outbound_declared": outbound_declared}
        if cls == LEGACY:
            if outbound_declared:
                doc["effect"] = "the target declares outbound: RFC 5626's registrar duties apply"
            else:
                why = ("the registrar shows no RFC 5626 and no target declares outbound "
                       "(--target with capability outbound applies them)")
                doc["effect"] = f"{', '.join(OUTBOUND_RULES)} recorded, not applied: {why}"
                for rid in OUTBOUND_RULES:
                    res = self.results[rid]
                    if not res.evaluated:
                        continue
                    res.exempt = why
                    fails = res.counts.pop(FAIL, 0)
                    if fails:
                        res.counts[INFO] = res.counts.get(INFO, 0) + fails
                    for f in res.findings:
                        if f.finding.outcome == FAIL:
                            f.finding.outcome = INFO
        self.classification = doc
        return doc

    def verdict(self) -> Verdict:
        vs = [r.verdict() for r in self.results.values()]
        for v in (Verdict.FAIL, Verdict.INCONCLUSIVE, Verdict.PASS):
            if v in vs:
                return v
        return Verdict.NOT_APPLICABLE


def _texts(found) -> str:
    return "; ".join(d.text + (" (a REGISTER in flight may explain it)" if d.unsettled else "") for d in found)


def _ok(found) -> bool | None:
    """True: nothing found; False: a finding no REGISTER in flight explains; None: only such ones."""
    if not found:
        return True
    return None if all(d.unsettled for d in found) else False


class _Ctx:
    """The CheckContext of a REGISTER's checks, made when the first check runs (most are only
    counted as passes, see Judge._check)."""

    __slots__ = ("request", "response", "flow_contacts", "_ctx")

    def __init__(self, request, response):
        self.request, self.response = request, response
        self.flow_contacts: dict[str, str] | None = None
        self._ctx: CheckContext | None = None

    def get(self) -> CheckContext:
        if self._ctx is None:
            self._ctx = CheckContext(request=self.request, response=self.response)
        if callable(self.flow_contacts):  # made on first use
            self.flow_contacts = self.flow_contacts()
        if self.flow_contacts is not None:
            self._ctx.flow_contacts = self.flow_contacts
        return self._ctx


class _Names:
    """The names of the bindings a REGISTER's checks speak of, made on first use."""

    __slots__ = ("entries", "_texts")

    def __init__(self):
        self.entries: list[tuple[str, str, str | None]] = []  # (label, URI, reg-id)
        self._texts: list[str] | None = None

    def texts(self) -> list[str]:
        if self._texts is None:
            self._texts = [f"{label or 'binding'} <{b_uri}>" + (f" reg-id {reg_id}" if reg_id is not None else "")
                           for label, b_uri, reg_id in self.entries]
        return self._texts

    def names(self) -> dict[str, str]:
        return {n: e[1] for n, e in zip(self.texts(), self.entries)}

    def of(self, which: list[int]) -> list[str]:
        t = self.texts()
        return [t[i] for i in which]

    def include(self, which: list[int]):
        return lambda: {"include": self.of(which)}


class _Where:
    """The step text of a REGISTER's findings, made when a finding needs it."""

    __slots__ = ("aor", "packets")

    def __init__(self, aor: str, packets: list[int]):
        self.aor, self.packets = aor, packets

    def __call__(self) -> str:
        return f"REGISTER {self.aor} (packets {self.packets[0]}-{self.packets[-1]})"
