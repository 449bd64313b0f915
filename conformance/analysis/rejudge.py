"""Re-judging a suite case from its pcap (``conformance analyze --case``).

The suite writes one pcap per case and transport (``pcaps/<ID>-<transport>.pcap``) holding only
what the tester sent and received.  The case's steps are matched, in order, to the stimuli in the
capture: a request from the tester (a REGISTER from a UE flow, the PEER's request), a CRLF ping,
a STUN Binding request.  A flow is known by its local address and port (the source of its
REGISTER; a new connection gives it a new port); the PEER by its address; a request the SUT sends
to a flow's address is a delivery to that flow.  Each exchange then gets the same
:class:`CheckContext` the live runner builds (``engine/judging.py`` ``context``), and the step's
expectations are judged by the same :class:`~conformance.meaning.judging.StepJudge`, so the
verdict is the live run's.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from pathlib import Path

from ..cases.model import CaseSpec
from ..meaning.checks import CHECKS, CheckContext
from ..meaning.judging import StepJudge
from ..meaning.results import StepResult
from ..sip.errors import ParseError
from ..sip.headers import parse_contacts, parse_name_addr
from ..sip.message import Request, Response
from ..meaning.verdict import FAIL, INCONCLUSIVE, Finding, combine
from ..engine.digest import MAX_CHALLENGES
from ..engine.api import RunStates
from ..engine.registration import SEC_OPTIONS
from ..steps import KINDS
from .analyzer import analyze
from .result import Analysis
from .reassembly import WireEvent

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
    # ws / wss: the client's .invalid host of its Via and Contact (RFC 7118 §5.2), not an address
    ws_host: str | None = None


@dataclass
class _State:
    flows: dict[str, _Flow] = field(default_factory=dict)
    users: dict[str, str] = field(default_factory=dict)  # UE -> user part of its Contact
    instances: dict[str, str | None] = field(default_factory=dict)
    closed: set[str] = field(default_factory=set)
    path_history: list[tuple[str, str]] = field(default_factory=list)
    gruu_history: list = field(default_factory=list)  # checks/gruu.py GruuSeen, in order
    register_history: dict[str, list] = field(default_factory=dict)  # UE -> REGISTER outcomes
    deliveries: list[str] = field(default_factory=list)  # flow names, in order
    consumed: set[tuple] = field(default_factory=set)
    sut: set[tuple] = field(default_factory=set)  # where the stimuli went: a request from there is the SUT's
    cursor: int = 0


def _key(msg) -> tuple:
    return (msg.call_id, msg.cseq, msg.top_branch)


def _host(ip: str) -> str:
    return f"[{ip}]" if ":" in ip else ip


def live_only(case: CaseSpec) -> str | None:
    """Why ``case`` cannot be re-judged from its capture (None: it can): a step of a kind judged
    live only (no offline handler, and a reason: its stimuli are raw bytes the capture does not
    mark), or a keep-alive loop (one keep-alive per step is re-judged)."""
    for step in case.steps:
        kind = KINDS[step.action]
        if kind.offline is None and kind.offline_reason:
            return f"{step.name}: action {step.action!r} is judged live only ({kind.offline_reason})"
        if kind.extra.get("keepalive_loop") and "every" in step.options:
            return f"{step.name}: a keep-alive loop is judged live only"
        for check in (step.expect.checks if step.expect else []):
            why = getattr(CHECKS.get(check.kind), "live_only", "")
            if why:
                return f"{step.name}: check {check.kind!r} is judged live only ({why})"
    return None


#: Step kinds with no offline handler and no live-only reason (their exchanges are made at run
#: time, e.g. copies of flows and UEs): not re-judged offline.
OFFLINE_UNSUPPORTED = tuple(name for name, kind in KINDS.items() if kind.offline is None and not kind.offline_reason)


class CaseReplay(RunStates):
    """``state(Cls)``: per-feature state of the offline handlers, as ``run.state`` live."""

    def __init__(self, case: CaseSpec, transport: str, events: list[WireEvent], *, strict: bool,
                 bound: float, edge_emulated: bool, capabilities: frozenset[str] = frozenset()):
        RunStates.__init__(self)
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
    def flow_at(self, addr, transport) -> str | None:
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
            return (self.flow_at(ev.dst, ev.transport) is None and ev.src not in self.st.sut
                    and _key(ev.message) not in self.st.consumed)
        return False

    def next_stimulus(self, want) -> tuple[int, WireEvent] | None:
        for i in range(self.st.cursor, len(self.events)):
            ev = self.events[i]
            if self._is_stimulus(ev) and want(ev):
                return i, ev
        return None

    def final_response(self, i: int, req_ev: WireEvent) -> WireEvent | None:
        key = _key(req_ev.message)
        for ev in self.events[i + 1:]:
            m = ev.message
            if (ev.kind == "sip" and isinstance(m, Response) and m.status >= 200 and _key(m) == key
                    and ev.dst == req_ev.src):
                return ev
        return None

    def window_end(self, i: int) -> int:
        """Index of the next stimulus after ``i`` (the end of this step's window)."""
        for j in range(i + 1, len(self.events)):
            ev = self.events[j]
            if self._is_stimulus(ev) and not (ev.kind == "sip" and _key(ev.message) == _key(self.events[i].message)):
                return j
        return len(self.events)

    # -- learning from what the tester sent ------------------------------------------------------
    def learn(self, flow: _Flow, req: Request) -> None:
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
        ws = flow.transport in ("ws", "wss")
        for c in contacts:
            if c.uri is None:
                continue
            at = (c.uri.host.strip("[]"), c.uri.port)
            if ws:  # the flow's Contact names its .invalid host, whatever the socket's address
                host = (c.uri.host or "").lower()
                if not host.endswith(".invalid") or (flow.ws_host is not None and host != flow.ws_host):
                    continue
                flow.ws_host = host
            elif at != tuple(flow.addr) and at != flow.contact_addr:
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
        choice = self.case.ues[flow.ue].flows[flow.name].contact
        if choice == "own" or any(step.flow == flow.name and any(k in step.options for k in SEC_OPTIONS)
                                  for step in self.case.steps):
            return False
        return choice == "elsewhere" or any(step.action == "peer_request" for step in self.case.steps)

    def contact(self, f: _Flow) -> str | None:
        user = self.st.users.get(f.ue)
        if f.addr is None or user is None:
            return None
        if f.ws_host is not None:
            return f"sip:{user}@{f.ws_host};transport=ws"
        host, port = f.contact_addr or f.addr
        uri = f"sip:{user}@{_host(host)}:{port}"
        if f.transport in ("tcp", "tls"):
            return f"{uri};transport={f.transport}"
        return uri + ";transport=ws" if f.transport in ("ws", "wss") else uri

    def context(self, ue: str | None, request, response, why: str) -> CheckContext:
        flows = {n: c for n, f in self.st.flows.items() if (c := self.contact(f)) is not None}
        return CheckContext(
            request=request, response=response, instance=self.st.instances.get(ue) if ue else None,
            flow_contacts=flows, flow_reg_ids={n: f.reg_id for n, f in self.st.flows.items()},
            flow_tokens={n: f.token or "" for n, f in self.st.flows.items() if f.edge},
            closed_flows=set(self.st.closed),
            flow_addresses={n: f.addr for n, f in self.st.flows.items() if f.addr is not None},
            no_response_reason=why or "no final response",
            contact_elsewhere={n: f.contact_addr for n, f in self.st.flows.items() if f.contact_addr},
            register_answers={k: list(v) for k, v in self.register_answers.items()})

    # -- for the offline handlers of the step kinds (conformance/steps/) -------------------------
    def consume(self, i: int, ev: WireEvent, *, sut: bool = True) -> None:
        """The stimulus at ``i`` is the step's: not a later step's, and the SUT is where it went."""
        if ev.kind == "sip":
            self.st.consumed.add(_key(ev.message))
        if sut:
            self.st.sut.add(ev.dst)
        self.st.cursor = i + 1

    def digest_retries(self, i: int, ev: WireEvent, resp_ev: WireEvent | None):
        """A 401/407 the live run answered within the step (engine/digest.py): the retry is
        the next request from the same address with the same Call-ID and method carrying
        credentials; the step is judged on the retry's answer, as live."""
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
            resp_ev = self.final_response(i, ev)
        return i, ev, ev.message, resp_ev

    def run(self) -> tuple[list[StepResult], str, str, str | None]:
        stopped = None
        preamble_failed = False
        for step in self.case.steps:
            result = StepResult(name=step.name, action=step.action, flow=step.flow, location=str(step.location or ""))
            self.steps.append(result)
            try:
                kind = KINDS[step.action]
                if kind.offline is None:
                    raise LookupError(f"{step.name}: action {step.action!r} " + (
                        f"is judged live only ({kind.offline_reason})" if kind.offline_reason
                        else "cannot be re-judged offline"))   # e.g. many exchanges built at run time
                kind.offline(self, step, result)
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

    m = re.match(r"^(?P<id>.+)-(?P<t>udp|tcp|tls|wss|ws)$", capture.stem)
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
        raise CaseSelectionError("--transport is needed: the capture's name does not end in "
                                 "-udp / -tcp / -tls / -ws / -wss")
    found = [c for c in cases if c.id == cid] if cid else (cases if len(cases) == 1 else [])
    if not found:
        ids = ", ".join(c.id for c in cases)
        raise CaseSelectionError(f"{case_path}: no case {cid!r} (holds {ids}); name it with --id")
    return found[0], transport


def rejudge_file(capture: Path, case_path: Path, *, case_id: str | None = None, transport: str | None = None,
                 target: str | None = None, strict: bool | None = None,
                 tls_keylog: str | None = None) -> tuple[Analysis, dict]:
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
    analysis = analyze(str(capture), strict=strict, keep_events=True, outbound=outbound, tls_keylog=tls_keylog)
    replay = CaseReplay(case, transport, analysis.events or [], strict=strict, bound=bound,
                        edge_emulated=role == "registrar", capabilities=caps)
    steps, verdict, reason, classification = replay.run()
    analysis.events = None
    doc = {"id": f"{case.id}[{transport}]", "case_id": case.id, "transport": transport, "verdict": verdict,
           "reason": reason, "classification": classification,
           "steps": [dict(s.to_dict(), packets=[p for p in (s.request_index, s.response_index) if p is not None])
                     for s in steps]}
    return analysis, doc
