"""Re-judging a suite case from its pcap (``conformance analyze --case``).

The suite writes one pcap per case and transport (``pcaps/<ID>-<transport>.pcap``) holding only
what the tester sent and received.  The case's steps are matched, in order, to the stimuli in the
capture: a request from the tester (a REGISTER from a UE flow, the PEER's request), a CRLF ping,
a STUN Binding request.  A flow is known by its local address and port (the source of its
REGISTER; a new connection gives it a new port); the PEER by its address; a request the SUT sends
to a flow's address is a delivery to that flow.  Each exchange then gets the same
:class:`CheckContext` the live runner builds (``engine/runner.py`` ``_context``), and the step's
expectations are judged by the same :class:`~conformance.meaning.judging.StepJudge`, so the
verdict is the live run's.
"""

from __future__ import annotations

import dataclasses

import re
from dataclasses import dataclass, field
from pathlib import Path

from ..cases.model import CaseSpec, StepSpec
from ..meaning.checks import CheckContext
from ..meaning.checks.unchanged import remember
from ..meaning.checks.atomic import note_answer
from ..meaning.judging import StepJudge
from ..meaning.results import StepResult
from ..sip.errors import ParseError
from ..sip.headers import parse_contacts, parse_name_addr
from ..sip.message import Request, Response
from ..meaning.verdict import FAIL, INCONCLUSIVE, Finding, combine
from .analyzer import analyze
from .result import Analysis
from .reassembly import WireEvent

REGISTER_ACTIONS = ("register", "refresh", "deregister", "deregister_all", "fetch")


class CaseSelectionError(Exception):
    """The case file, case id or transport cannot be determined or loaded."""


@dataclass
class _Flow:
    name: str
    ue: str
    transport: str
    reg_id: int | None
    edge: bool
    addr: tuple[str, int] | None = None
    token: str | None = None
    # the Contact's (host, port) when it is not the flow's own address (engine/nat_contact.py)
    contact_addr: tuple[str, int] | None = None


@dataclass
class _State:
    flows: dict[str, _Flow] = field(default_factory=dict)
    users: dict[str, str] = field(default_factory=dict)  # UE -> user part of its Contact
    instances: dict[str, str | None] = field(default_factory=dict)
    closed: set[str] = field(default_factory=set)
    path_history: list[tuple[str, str]] = field(default_factory=list)
    register_history: dict[str, list] = field(default_factory=dict)  # UE -> REGISTER outcomes
    deliveries: list[str] = field(default_factory=list)  # flow names, in order
    consumed: set[tuple] = field(default_factory=set)
    sut: set[tuple] = field(default_factory=set)  # where the stimuli went: a request from there is the SUT's
    cursor: int = 0


def _key(msg) -> tuple:
    return (msg.call_id, msg.cseq, msg.top_branch)


def _host(ip: str) -> str:
    return f"[{ip}]" if ":" in ip else ip


#: Steps judged live only (their stimuli are raw bytes the capture does not mark: CRLF edge cases,
#: malformed STUN); offline they make the case inconclusive, with this reason.
LIVE_ONLY_ACTIONS = ("crlf", "stun_raw")


def live_only(case: CaseSpec) -> str | None:
    """Why ``case`` cannot be re-judged from its capture (None: it can): a live-only step, or a
    keep-alive loop (one keep-alive per step is re-judged)."""
    for step in case.steps:
        if step.action in LIVE_ONLY_ACTIONS:
            return f"{step.name}: action {step.action!r} is judged live only"
        if step.action in ("ping", "stun", "keepalive") and "every" in step.options:
            return f"{step.name}: a keep-alive loop is judged live only"
    return None


#: Step actions whose exchanges are made at run time in numbers (engine/limit_steps.py,
#: robust_steps.py: copies of flows and UEs): not re-judged offline (a race is, _race_step).
OFFLINE_UNSUPPORTED = ("flow_limit", "storm")


class CaseReplay:
    def __init__(self, case: CaseSpec, transport: str, events: list[WireEvent], *, strict: bool,
                 bound: float, edge_emulated: bool, capabilities: frozenset[str] = frozenset()):
        self.case = case
        self.transport = transport
        self.events = events
        self.bound = bound
        self.st = _State()
        for ue_name, ue in case.ues.items():
            self.st.instances[ue_name] = None
            for fname, f in ue.flows.items():
                self.st.flows[fname] = _Flow(fname, ue_name, f.transport or transport, f.reg_id,
                                             f.edge is not None and edge_emulated)
        self.judge = StepJudge(case, strict, lambda name: self.st.instances.get(name), capabilities)
        self.steps: list[StepResult] = []
        self.classification: str | None = None
        self.register_answers: dict[str, list] = {}  # flow -> its REGISTERs' answers (checks/atomic.py)

    # -- locating things in the capture ---------------------------------------------------------
    def _flow_at(self, addr, transport) -> str | None:
        """The flow at an address: its socket, or "<flow>@contact" for the Contact address it
        advertises apart from its socket (a request there was routed by Contact)."""
        for f in self.st.flows.values():
            if f.addr == addr and f.transport == transport:
                return f.name
        for f in self.st.flows.values():
            if f.contact_addr == addr and f.transport == transport:
                return f.name + "@contact"
        return None

    def _is_stimulus(self, ev: WireEvent) -> bool:
        if ev.kind == "ping":
            return True
        if ev.kind == "stun":
            return len(ev.data) >= 2 and ev.data[0] & 0x01 == 0 and ev.data[1] & 0x10 == 0  # class request
        if ev.kind == "sip" and isinstance(ev.message, Request):
            if ev.message.method == "ACK":
                return False
            return (self._flow_at(ev.dst, ev.transport) is None and ev.src not in self.st.sut
                    and _key(ev.message) not in self.st.consumed)
        return False

    def _next_stimulus(self, want) -> tuple[int, WireEvent] | None:
        for i in range(self.st.cursor, len(self.events)):
            ev = self.events[i]
            if self._is_stimulus(ev) and want(ev):
                return i, ev
        return None

    def _final_response(self, i: int, req_ev: WireEvent) -> WireEvent | None:
        key = _key(req_ev.message)
        for ev in self.events[i + 1:]:
            m = ev.message
            if (ev.kind == "sip" and isinstance(m, Response) and m.status >= 200 and _key(m) == key
                    and ev.dst == req_ev.src):
                return ev
        return None

    def _window_end(self, i: int) -> int:
        """Index of the next stimulus after ``i`` (the end of this step's window)."""
        for j in range(i + 1, len(self.events)):
            ev = self.events[j]
            if self._is_stimulus(ev) and not (ev.kind == "sip" and _key(ev.message) == _key(self.events[i].message)):
                return j
        return len(self.events)

    # -- learning from what the tester sent ------------------------------------------------------
    def _learn(self, flow: _Flow, req: Request) -> None:
        try:
            contacts = parse_contacts(req)
        except ParseError:
            contacts = []
        if contacts and contacts[0].uri is not None and contacts[0].uri.port and flow.contact_addr is None \
                and self._may_advertise_elsewhere(flow):
            # the flow's own Contact comes first; elsewhere than its socket on loopback: advertised
            # apart from the socket, as behind a NAT (engine/nat_contact.py)
            from ..engine.nat_contact import alt_ip

            host, port = contacts[0].uri.host.strip("[]"), contacts[0].uri.port
            if (host, port) != tuple(flow.addr) and alt_ip(flow.addr[0]) == host:
                flow.contact_addr = (host, port)
        for c in contacts:
            if c.uri is None:
                continue
            at = (c.uri.host.strip("[]"), c.uri.port)
            if at != tuple(flow.addr) and at != flow.contact_addr:
                continue
            if c.uri.user:
                self.st.users.setdefault(flow.ue, c.uri.user)
            if c.instance and self.case.ues[flow.ue].instance:
                self.st.instances[flow.ue] = f"<{c.instance.strip('<>')}>"
        if flow.edge:
            paths = req.values("Path")
            if paths:
                try:
                    uri = parse_name_addr(paths[-1]).uri
                    flow.token = uri.user if uri is not None else None
                except ParseError:
                    pass

    def _may_advertise_elsewhere(self, flow: _Flow) -> bool:
        """As engine/nat_contact.py decides live: not with contact: own, nor with sec-agree (the
        Contact then carries port_us); by default only in a case with a peer_request."""
        from ..engine.runner import SEC_OPTIONS

        choice = self.case.ues[flow.ue].flows[flow.name].contact
        if choice == "own" or any(step.flow == flow.name and any(k in step.options for k in SEC_OPTIONS)
                                  for step in self.case.steps):
            return False
        return choice == "elsewhere" or any(step.action == "peer_request" for step in self.case.steps)

    def _contact(self, f: _Flow) -> str | None:
        user = self.st.users.get(f.ue)
        if f.addr is None or user is None:
            return None
        host, port = f.contact_addr or f.addr
        uri = f"sip:{user}@{_host(host)}:{port}"
        return uri + ";transport=tcp" if f.transport == "tcp" else uri

    def _context(self, ue: str | None, request, response, why: str) -> CheckContext:
        flows = {n: c for n, f in self.st.flows.items() if (c := self._contact(f)) is not None}
        return CheckContext(
            request=request, response=response, instance=self.st.instances.get(ue) if ue else None,
            flow_contacts=flows, flow_reg_ids={n: f.reg_id for n, f in self.st.flows.items()},
            flow_tokens={n: f.token or "" for n, f in self.st.flows.items() if f.edge},
            closed_flows=set(self.st.closed),
            flow_addresses={n: f.addr for n, f in self.st.flows.items() if f.addr is not None},
            no_response_reason=why or "no final response",
            contact_elsewhere={n: f.contact_addr for n, f in self.st.flows.items() if f.contact_addr},
            register_answers={k: list(v) for k, v in self.register_answers.items()})

    # -- steps --------------------------------------------------------------------------------
    def _exchange_step(self, step: StepSpec, result: StepResult, *, peer: bool) -> None:
        flow = None if peer else self.st.flows[step.flow]
        if peer:
            hit = self._next_stimulus(lambda ev: ev.kind == "sip" and ev.message.method != "REGISTER")
        elif step.action == "send":
            hit = self._next_stimulus(lambda ev: ev.kind == "sip")
        else:
            hit = self._next_stimulus(lambda ev: ev.kind == "sip" and ev.message.method == "REGISTER"
                                      and ev.transport == flow.transport)
        if hit is None:
            raise LookupError(f"{step.name}: no matching request in the capture")
        i, ev = hit
        req = ev.message
        self.st.consumed.add(_key(req))
        self.st.sut.add(ev.dst)
        self.st.cursor = i + 1
        if flow is not None:
            flow.addr = ev.src
            self._learn(flow, req)
        resp_ev = self._final_response(i, ev)
        if not peer and step.options.get("digest") != "none":
            i, ev, req, resp_ev = self._digest_retries(i, ev, resp_ev)
        resp = resp_ev.message if resp_ev is not None else None
        result.request_index = ev.number
        result.response_index = resp_ev.number if resp_ev is not None else None
        why = "" if resp is not None else "no final response in the capture"
        ue = self.st.flows[step.flow].ue if flow is not None else step.ue
        if flow is not None:
            note_answer(self.register_answers, step, flow.name, self.case.ues[ue].flows, resp, req)
        ctx = self._context(ue, req, resp, why)
        if flow is not None:
            ctx.earlier_paths = [uri for f, uri in self.st.path_history if f != flow.name]
        if ue is not None and req.method == "REGISTER":  # checks/unchanged.py
            ctx.register_history = list(self.st.register_history.setdefault(ue, []))
            remember(self.st.register_history[ue], resp)
        end = self._window_end(i)
        # What the SUT forwarded to the tester's emulated registrar (an edge-only SUT), with the
        # emulated registrar's answer (engine/runner.py ``forwarded``).
        for j in range(i + 1, end):
            f = self.events[j]
            if (f.kind == "sip" and isinstance(f.message, Request) and f.src in self.st.sut
                    and self._flow_at(f.dst, f.transport) is None):
                answer = self._final_response(j, f)
                ctx.forwarded.append((f.message, answer.message if answer is not None else None))
        if peer:
            ctx.deliveries = {}
            for d in self.events[i + 1:end]:
                if d.kind == "sip" and isinstance(d.message, Request) and d.message.call_id == req.call_id:
                    name = self._flow_at(d.dst, d.transport)
                    if name is not None:
                        ctx.deliveries.setdefault(name, []).append(d.message)
                        self.st.deliveries.append(name)
        if resp is None:
            result.note = why
        elif flow is not None and 200 <= resp.status < 300 and req.method == "REGISTER":
            paths = resp.values("Path")
            if paths:
                try:
                    uri = parse_name_addr(paths[0]).uri
                    if uri is not None:
                        self.st.path_history.append((flow.name, str(uri)))
                except ParseError:
                    pass
        self.judge.judge(step, result, ctx, result.response_index)

    def _race_step(self, step: StepSpec, result: StepResult) -> None:
        """engine/robust_steps.race_step offline: the two REGISTERs sent at once (over the step's
        flow, then over ``with``), each with its final answer (after a Digest retry); the answer
        that came last is judged, as live."""
        from ..engine.limit_steps import contact_listed
        from ..engine.robust_steps import ORDER, ROBUST
        from ..meaning.verdict import INFO, PASS

        answered = []
        for name in (step.flow, step.options["with"]):
            flow = self.st.flows[name]
            hit = self._next_stimulus(lambda ev, f=flow: ev.kind == "sip" and ev.message.method == "REGISTER"
                                      and ev.transport == f.transport)
            if hit is None:
                raise LookupError(f"{step.name}: no REGISTER of flow {name} in the capture")
            i, ev = hit
            self.st.consumed.add(_key(ev.message))
            self.st.sut.add(ev.dst)
            self.st.cursor = i + 1
            flow.addr = ev.src
            self._learn(flow, ev.message)
            answered.append((name, i, ev))
        done = []
        for name, i, ev in answered:
            resp_ev = self._final_response(i, ev)
            i, ev, req, resp_ev = self._digest_retries(i, ev, resp_ev)
            resp = resp_ev.message if resp_ev is not None else None
            note_answer(self.register_answers, dataclasses.replace(step, action="register", options={}), name,
                        self.case.ues[self.st.flows[name].ue].flows, resp, req)
            done.append((name, req, resp_ev))
        self.st.cursor = max(self.st.cursor, *(self.events.index(r) + 1 for _, _, r in done if r is not None))
        silent = [n for n, _, r in done if r is None]
        result.findings.append(Finding(
            check="both racing REGISTERs answered", level="MUST", ref=ROBUST, outcome=FAIL if silent else PASS,
            expected="a final response to each", observed=f"no answer over {', '.join(silent)}" if silent else
            "; ".join(f"{n}: {r.message.status}" for n, _, r in done), step=step.name, location=result.location))
        live = [d for d in done if d[2] is not None]
        if not live:
            return
        name, req, resp_ev = max(live, key=lambda d: self.events.index(d[2]))
        resp = resp_ev.message
        result.request_index, result.response_index = None, resp_ev.number
        if 200 <= resp.status < 300:
            uri = self._contact(self.st.flows[name])
            last = uri is not None and contact_listed(resp, uri)
            result.findings.append(Finding(
                check="the binding kept is that of the REGISTER answered last", level="MAY", ref=ORDER + " [I]",
                outcome=PASS if last else INFO, expected=f"the last 2xx lists <{uri}> ({name})",
                observed="listed" if last else "not listed", step=step.name, location=result.location,
                message_index=resp_ev.number))
        ctx = self._context(self.st.flows[name].ue, req, resp, "")
        self.judge.judge(step, result, ctx, result.response_index)

    def _digest_retries(self, i: int, ev: WireEvent, resp_ev: WireEvent | None):
        """A 401/407 the live run answered within the step (engine/digest_steps.py): the retry is
        the next request from the same address with the same Call-ID and method carrying
        credentials; the step is judged on the retry's answer, as live."""
        from ..engine.digest_steps import MAX_CHALLENGES

        for _ in range(MAX_CHALLENGES):
            if resp_ev is None or resp_ev.message.status not in (401, 407):
                break
            header = "Authorization" if resp_ev.message.status == 401 else "Proxy-Authorization"
            req = ev.message
            hit = next(((j, r) for j, r in enumerate(self.events[i + 1:], i + 1)
                        if r.kind == "sip" and isinstance(r.message, Request) and r.src == ev.src
                        and r.message.method == req.method and r.message.call_id == req.call_id
                        and 'response="' in (r.message.get(header) or "")
                        and 'response=""' not in (r.message.get(header) or "")), None)
            if hit is None:
                break
            i, ev = hit
            self.st.consumed.add(_key(ev.message))
            self.st.cursor = i + 1
            resp_ev = self._final_response(i, ev)
        return i, ev, ev.message, resp_ev

    def _ping_step(self, step: StepSpec, result: StepResult) -> None:
        flow = self.st.flows[step.flow]
        hit = self._next_stimulus(lambda ev: ev.kind == "ping" and ev.src == flow.addr)
        if hit is None:
            raise LookupError(f"{step.name}: no CRLF ping from flow {flow.name} in the capture")
        i, ev = hit
        self.st.cursor = i + 1
        result.request_index = ev.number
        bound = float(step.options.get("timeout", self.bound))
        ctx = self._context(flow.ue, None, None, f"no pong within {bound:g} s")
        ctx.keepalive_bound = bound
        for p in self.events[i + 1:]:
            if p.kind == "pong" and p.src == ev.dst and p.dst == ev.src and p.time - ev.time <= bound:
                ctx.pong_delay = p.time - ev.time
                result.response_index = p.number
                break
        if ctx.pong_delay is None:
            result.note = f"no CRLF pong within {bound:g} s"
        self.judge.judge(step, result, ctx, result.response_index)

    def _stun_step(self, step: StepSpec, result: StepResult) -> None:
        from ..sip.stun import ATTR_XOR_MAPPED_ADDRESS, CLASS_SUCCESS, decode_xor_address, parse

        flow = self.st.flows[step.flow]
        hit = self._next_stimulus(lambda ev: ev.kind == "stun" and ev.src == flow.addr)
        if hit is None:
            raise LookupError(f"{step.name}: no STUN Binding request from flow {flow.name} in the capture")
        i, ev = hit
        self.st.cursor = i + 1
        result.request_index = ev.number
        bound = float(step.options.get("timeout", self.bound))
        tid = ev.data[8:20]
        ctx = self._context(flow.ue, None, None, "")
        ctx.flow_addresses = {flow.name: flow.addr}
        ctx.stun_note = f"no STUN Binding response within {bound:g} s"
        for r in self.events[i + 1:]:
            if r.kind != "stun" or r.dst != ev.src or r.time - ev.time > bound:
                continue
            parsed = parse(r.data)
            if not parsed or parsed[2] != tid:
                continue
            result.response_index = r.number
            _, cls, _, attrs = parsed
            if cls != CLASS_SUCCESS:
                ctx.stun_note = f"STUN response of class {cls} (not a success response)"
                break
            xma = [v for t, v, _ in attrs if t == ATTR_XOR_MAPPED_ADDRESS]
            if not xma:
                ctx.stun_note = "Binding success response without XOR-MAPPED-ADDRESS"
                break
            try:
                ctx.stun_mapped = decode_xor_address(xma[0], tid)
            except ValueError as exc:
                ctx.stun_note = f"malformed XOR-MAPPED-ADDRESS: {exc}"
            break
        if ctx.stun_mapped is None:
            result.note = ctx.stun_note
        self.judge.judge(step, result, ctx, result.response_index)

    def _raw_step(self, step: StepSpec, result: StepResult) -> None:
        """A ``send_bytes`` step: raw bytes, not a request to match by transaction.  The stimulus
        is found by its content (the RFC 4475 message, adapted to a flow); its answer is the next
        final response or close from the SUT to that flow, as the live run records it.  When the
        bytes never formed a message in the capture (a Content-Length longer than what went over
        TCP), the step is skipped with that reason: it asserts nothing the verdict depends on."""
        from ..engine.raw_steps import DEFAULT_BOUND, judge_answer
        from ..sip.torture import same_stimulus, torture_message

        name = step.options["rfc4475"]
        _, original = torture_message(name)
        flow = self.st.flows[step.flow]
        hit = next(((i, ev) for i, ev in enumerate(self.events[self.st.cursor:], self.st.cursor)
                    if ev.kind in ("sip", "unparseable") and ev.data and same_stimulus(original, ev.data)), None)
        if hit is None:
            result.note = (f"not re-judged offline: the raw stimulus {name} is not a complete message in the "
                           f"capture (e.g. its Content-Length exceeds the bytes sent); the live run recorded "
                           f"its answer, which decides nothing")
            return
        i, ev = hit
        self.st.cursor = i + 1
        self.st.sut.add(ev.dst)
        flow.addr = ev.src
        if ev.kind == "sip":
            self.st.consumed.add(_key(ev.message))
        result.request_index = ev.number
        bound = float(step.options.get("timeout", DEFAULT_BOUND))
        answer = None
        for a in self.events[i + 1:]:
            if a.time - ev.time > bound:
                break
            if a.src == ev.dst and a.dst == ev.src and (
                    a.kind == "closed" or (a.kind == "sip" and isinstance(a.message, Response) and a.message.status >= 200)):
                answer = a
                break
        if answer is None:
            observed = f"no answer within {bound:g} s"
        elif answer.kind == "closed":
            observed = answer.note or "connection closed by the SUT"
            result.response_index = answer.number
        else:
            observed = answer.message.summary()
            result.response_index = answer.number
        judge_answer(step, result, name, observed, answer is None or answer.kind == "closed"
                     or answer.message.status >= 300)

    def _close_step(self, step: StepSpec, result: StepResult) -> None:
        name = step.flow
        if step.options.get("last_delivered"):
            if not self.st.deliveries:
                raise LookupError("close: last_delivered, but no flow has received a request yet")
            name = self.st.deliveries[-1].split("@contact", 1)[0]
        self.st.closed.add(name)
        result.flow = name
        result.note = f"flow {name} closed"

    def run(self) -> tuple[list[StepResult], str, str, str | None]:
        stopped = None
        preamble_failed = False
        for step in self.case.steps:
            result = StepResult(name=step.name, action=step.action, flow=step.flow, location=str(step.location or ""))
            self.steps.append(result)
            try:
                if step.action in REGISTER_ACTIONS or step.action == "send":
                    self._exchange_step(step, result, peer=False)
                elif step.action == "peer_request":
                    self._exchange_step(step, result, peer=True)
                elif step.action == "send_bytes":
                    self._raw_step(step, result)
                elif step.action == "ping":
                    self._ping_step(step, result)
                elif step.action == "stun":
                    self._stun_step(step, result)
                elif step.action == "close":
                    self._close_step(step, result)
                elif step.action == "race":
                    self._race_step(step, result)
                elif step.action == "wait":
                    pass
                elif step.action in LIVE_ONLY_ACTIONS:
                    raise LookupError(f"{step.name}: action {step.action!r} is judged live only "
                                      "(its raw stimulus is not re-judged from a capture)")
                else:   # e.g. OFFLINE_UNSUPPORTED: many exchanges at once, built at run time
                    raise LookupError(f"{step.name}: action {step.action!r} cannot be re-judged offline")
            except LookupError as exc:
                stopped = str(exc)
                result.note = stopped
                result.findings.append(Finding(check="exchange in the capture", level="MUST", ref="",
                                               outcome=INCONCLUSIVE, expected="the step's exchange",
                                               observed=stopped, step=step.name, location=result.location))
                break
            if result.classification:
                self.classification = result.classification
            if step.preamble and any(f.outcome in (FAIL, INCONCLUSIVE) for f in result.findings):
                preamble_failed = True
                stopped = f"{step.name} (preamble) did not succeed"
                break
        cv = combine([f for s in self.steps for f in s.findings], preamble_failed=preamble_failed,
                     stopped_reason=stopped)
        return self.steps, str(cv.verdict), cv.reason, self.classification


def _select(case_path: Path, capture: Path, case_id: str | None, transport: str | None) -> tuple[CaseSpec, str]:
    from ..yamlio.errors import CaseError
    from ..cases.loader import load_case_file

    m = re.match(r"^(?P<id>.+)-(?P<t>udp|tcp)$", capture.stem)
    cid = case_id or (m.group("id") if m else None)
    files = sorted(case_path.rglob("*.y*ml")) if case_path.is_dir() else [case_path]
    cases = []
    for f in files:
        try:
            cases += load_case_file(f)
        except (CaseError, OSError) as exc:
            if not case_path.is_dir():
                raise CaseSelectionError(f"cannot load {case_path}: {exc}") from None
    transport = transport or (m.group("t") if m else None)
    if transport is None:
        raise CaseSelectionError("--transport is needed: the capture's name does not end in -udp / -tcp")
    found = [c for c in cases if c.id == cid] if cid else (cases if len(cases) == 1 else [])
    if not found:
        ids = ", ".join(c.id for c in cases)
        raise CaseSelectionError(f"{case_path}: no case {cid!r} (holds {ids}); name it with --id")
    return found[0], transport


def rejudge_file(capture: Path, case_path: Path, *, case_id: str | None = None, transport: str | None = None,
                 target: str | None = None, strict: bool | None = None) -> tuple[Analysis, dict]:
    case, transport = _select(case_path, capture, case_id, transport)
    bound, role, tstrict, outbound, caps = 4.0, "registrar", False, None, frozenset()
    if target:
        from ..yamlio.errors import CaseError as TargetError
        from ..targets.loader import load_target

        try:
            t = load_target(Path(target))
        except (TargetError, OSError) as exc:
            raise CaseSelectionError(f"cannot load target {target}: {exc}") from None
        bound, role, tstrict, outbound, caps = (t.timers.response, t.role, t.strict, t.declares("outbound"),
                                                frozenset(t.capabilities))
    strict = tstrict if strict is None else strict
    analysis = analyze(str(capture), strict=strict, keep_events=True, outbound=outbound)
    replay = CaseReplay(case, transport, analysis.events or [], strict=strict, bound=bound,
                        edge_emulated=role == "registrar", capabilities=caps)
    steps, verdict, reason, classification = replay.run()
    analysis.events = None
    doc = {"id": f"{case.id}[{transport}]", "case_id": case.id, "transport": transport, "verdict": verdict,
           "reason": reason, "classification": classification,
           "steps": [dict(s.to_dict(), packets=[p for p in (s.request_index, s.response_index) if p is not None])
                     for s in steps]}
    return analysis, doc
