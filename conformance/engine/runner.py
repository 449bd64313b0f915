"""Run one case against one SUT over one transport: the I/O driver around the sans-IO parts.

``CaseRun.run()`` never raises and never waits without a bound: every exchange ends at a final
response, a transport event or the transaction timeout; every wait step is capped.  The case's
pcap is written in a ``finally`` so it exists whatever happened.
"""

from __future__ import annotations

import dataclasses
import re
import selectors
import time
import traceback
import uuid
from pathlib import Path

from ..cases.model import CaseSpec, CheckSpec, StepSpec
from ..checks import CheckContext, run_check, status_check
from ..results import CaseResult, MessageRecord, StepResult
from ..sip.errors import LocalProtocolError, ParseError
from ..sip.message import Request, Response, parse_message
from ..targets.model import Target
from ..verdict import FAIL, INCONCLUSIVE, Finding, Verdict, combine, grade
from .judging import StepJudge
from .pcap import PcapRecorder
from .transaction import RETRANSMIT, TIMEOUT, ClientTransaction
from .regt import answer
from .transport import Addr, Incoming, TcpEndpoint, TcpListenEndpoint, TransportError, UdpEndpoint
from .uas import build_response, uas_status
from .ue import UE, FlowState, RegDialog, RegisterOptions, build_register, new_branch, new_tag

MAX_WAIT_STEP = 30.0
REGISTER_ACTIONS = ("register", "refresh", "deregister", "deregister_all", "fetch")


def not_applicable_reason(case: CaseSpec, transport: str, target: Target) -> str | None:
    """Why a case does not apply to a target (from its declared capabilities), or None."""
    missing = [c for c in case.applies_to if not target.declares(c)]
    if missing:
        return (f"target '{target.name}' does not declare capability "
                f"{', '.join(repr(m) for m in missing)} required by {case.id}")
    if transport not in target.transports:
        return f"target '{target.name}' does not offer transport {transport}"
    if target.role not in case.roles:
        return f"{case.id} is written for role {'/'.join(case.roles)}; target role is {target.role}"
    return None


def _safe_name(text: str) -> str:
    return re.sub(r"[^A-Za-z0-9_.-]+", "_", text)


class StepAbort(Exception):
    """A step could not be carried out (the reason becomes the verdict's reason)."""


class CaseRun:
    def __init__(self, case: CaseSpec, transport: str, target: Target, sut: Addr, *,
                 pcap_dir: Path | None = None, run_token: str | None = None, strict: bool | None = None,
                 peer: Addr | None = None, regt=None):
        self.case = case
        self.transport = transport
        self.target = target
        self.sut = sut
        # Where the PEER sends terminating requests: the S-CSCF (given by the SUT controller or
        # the target's peer host/port), else the SUT's own address.
        self.peer = peer or ((target.peer_host or sut[0]), target.peer_port or sut[1])
        self.pcap_dir = pcap_dir
        # The emulated registrar (REG-T) behind an edge-only SUT, and what reached it.
        self.regt = regt
        self.regt_core = None
        self.forwarded: list[tuple[Request, int, Response | None]] = []
        self._step_marks = (0, 0)  # (forwarded, deliveries) at the start of the current step
        self.run_token = run_token or uuid.uuid4().hex[:6]
        self.strict = target.strict if strict is None else strict
        self.item_id = f"{case.id}[{transport}]"
        self.messages: list[MessageRecord] = []
        self.steps: list[StepResult] = []
        self.ues: dict[str, UE] = {}
        self.endpoints: dict[str, UdpEndpoint | TcpEndpoint] = {}
        self._t0 = time.monotonic()
        self._wall0 = time.time()
        self.pcap = PcapRecorder(self._wall0)
        self._current_step = ""
        self.classification: str | None = None
        self.deliveries: list[tuple[str, Request, int]] = []  # (flow, request, message index)
        self.path_history: list[tuple[str, str]] = []  # (flow, top Path URI of a 2xx to REGISTER)
        self.last_path: dict[str, str] = {}
        self.flow_timers: dict[str, int] = {}  # flow -> Flow-Timer of its latest 2xx to REGISTER
        self.closed_flows: set[str] = set()
        self._keepalives: list[tuple[str, str, bytes, int, float]] = []  # (flow, kind, data, index, when)
        self._garbage = 0
        self._uas_tag = new_tag()

    # -- clock and recording ------------------------------------------------------------------
    def _now(self) -> float:
        return time.monotonic()

    def _wall(self) -> float:
        return self._wall0 + (time.monotonic() - self._t0)

    def _on_wire(self, direction: str, transport: str, src: Addr, dst: Addr, data: bytes, event: str) -> None:
        when = self._wall()
        if transport == "udp":
            self.pcap.udp(when, src, dst, data)
        elif event == "open":
            self.pcap.tcp_open(when, src, dst)
        elif event in ("close", "closed") or direction == "closed":
            self.pcap.tcp_close(when, src, dst)
        elif data:
            self.pcap.tcp_data(when, src, dst, data)

    def _record(self, direction: str, flow: str, transport: str, src: Addr, dst: Addr, data: bytes,
                summary: str, note: str = "") -> int:
        idx = len(self.messages)
        self.messages.append(MessageRecord(
            index=idx, time=round(time.monotonic() - self._t0, 6), direction=direction, flow=flow,
            transport=transport, src=tuple(src), dst=tuple(dst), summary=summary,
            text=data.decode("utf-8", "replace"), step=self._current_step, note=note))
        return idx

    # -- set-up -------------------------------------------------------------------------------
    def _make_ues(self) -> None:
        t = self.target
        for name, spec in self.case.ues.items():
            user = t.identities.user.format(case=_safe_name(self.case.id.lower()) + "-" + self.transport,
                                            ue=name, run=self.run_token, domain=t.domain)
            fmt = dict(user=user, domain=t.domain)
            ue = UE(name=name, user=user, impu=t.identities.impu.format(**fmt),
                    impi=t.identities.impi.format(**fmt), domain=t.domain,
                    instance=UE.new_instance() if spec.instance else None)
            for fname, fspec in spec.flows.items():
                if fspec.address > len(t.ue_addresses):
                    raise LocalProtocolError(
                        f"flow {fname} uses address {fspec.address} but target '{t.name}' lists only "
                        f"{len(t.ue_addresses)} ue_addresses")
                ue.flows[fname] = FlowState(spec=fspec, local_ip=t.ue_addresses[fspec.address - 1],
                                            transport=fspec.transport or self.transport,
                                            edge=self._emulated_edge(fspec))
            self.ues[name] = ue

    def _emulated_edge(self, fspec):
        """The tester's edge proxy (EP-T) for a flow, given the SUT's role.

        A registrar-only SUT gets the edge the case describes.  A SUT with its own edge proxy in
        front (role ``core`` or ``edge``) is the edge: a case's ordinary outbound edge is not
        emulated then (cases that need a broken first hop are written for role registrar only).
        """
        edge = fspec.edge
        if edge is None or self.target.role == "registrar" or edge.in_front:
            return edge
        return None

    def _flow(self, name: str) -> tuple[UE, FlowState]:
        for ue in self.ues.values():
            if name in ue.flows:
                return ue, ue.flows[name]
        raise LocalProtocolError(f"unknown flow {name!r}")

    def _endpoint(self, flow: FlowState, *, new_connection: bool = False):
        ep = self.endpoints.get(flow.name)
        if ep is not None and (new_connection or ep.closed):
            ep.close()
            ep = None
        if ep is None:
            if flow.transport == "udp":
                port = flow.local_port or 0
                ep = UdpEndpoint(flow.local_ip, self._on_wire, port=port)
            else:
                ep = TcpEndpoint(flow.local_ip, self.sut, self._on_wire, self.target.timers.connect)
            self.endpoints[flow.name] = ep
            self.closed_flows.discard(flow.name)
            flow.local_port = ep.local[1]
            flow.port_uc = flow.port_us = ep.local[1]
        return ep

    # -- the exchange -------------------------------------------------------------------------
    def _matches(self, request: Request, response: Response) -> bool:
        return (response.call_id == request.call_id and response.cseq == request.cseq
                and response.top_branch == request.top_branch)

    def _drain(self, flow_name: str, ep, items: list[Incoming], request: Request | None):
        """Record what arrived on one endpoint; answer requests from the SUT (the UE's UAS role).

        Returns (responses matching ``request``, closed note or None).
        """
        responses: list[tuple[Response, int]] = []
        closed = None
        for inc in items:
            if inc.kind == "closed":
                closed = inc.note
                self._record("received", flow_name, ep.transport, inc.src, ep.local, b"", inc.note, inc.note)
                continue
            if inc.kind in ("pong", "ping", "stun"):
                label = {"pong": "CRLF pong", "ping": "CRLF ping", "stun": "STUN"}[inc.kind]
                idx = self._record("received", flow_name, ep.transport, inc.src, ep.local, inc.data, label)
                self._keepalives.append((flow_name, inc.kind, inc.data, idx, self._now()))
                continue
            try:
                msg = parse_message(inc.data)
            except ParseError as exc:
                self._record("received", flow_name, ep.transport, inc.src, ep.local, inc.data,
                             "unparseable message", f"not SIP: {exc}")
                continue
            idx = self._record("received", flow_name, ep.transport, inc.src, ep.local, inc.data, msg.summary())
            if isinstance(msg, Response) and request is not None and self._matches(request, msg):
                responses.append((msg, idx))
            elif isinstance(msg, Response):
                self.messages[idx].note = "response to no pending request (ignored)"
            else:
                self._answer(flow_name, ep, msg, inc.src, idx)
        return responses, closed

    def _regt_answer(self, ep, request: Request, src: Addr, idx: int) -> None:
        """A request reached the emulated registrar: record it and answer as a registrar."""
        conn = ep.fileno() if ep.transport == "tcp" else None
        response = answer(self.regt_core, request, ep.transport, ep.local, src, conn, self._now())
        self.forwarded.append((request, idx, response))
        if response is None:
            return
        data = response.to_bytes()
        try:
            ep.send(data, src)
        except TransportError as exc:
            self.messages[idx].note = f"REG-T could not answer: {exc}"
            return
        self._record("sent", "reg-t", ep.transport, ep.local, src, data, response.summary(), "answer of REG-T")

    def _answer(self, flow_name: str, ep, request: Request, src: Addr, idx: int) -> None:
        """A request reached a UE flow: record the delivery and answer as the UE would."""
        if flow_name.startswith("reg-t"):
            self._regt_answer(ep, request, src, idx)
            return
        self.deliveries.append((flow_name, request, idx))
        if request.method == "ACK":
            return
        status, reason = uas_status(request)
        response = build_response(request, status, reason, to_tag=self._uas_tag)
        data = response.to_bytes()
        try:
            ep.send(data, src)
        except TransportError as exc:
            self.messages[idx].note = f"could not answer: {exc}"
            return
        self._record("sent", flow_name, ep.transport, ep.local, src, data, response.summary(), "answer of the UE")

    def _live_endpoints(self) -> list[tuple[str, object]]:
        return [(name, ep) for name, ep in self.endpoints.items() if not ep.closed]

    def _poll(self, sel, timeout: float, request: Request | None):
        """Wait up to ``timeout`` on every open endpoint; return (responses to request, closed notes)."""
        responses: list[tuple[Response, int]] = []
        closed: dict[str, str] = {}
        for key, _ in sel.select(timeout) if timeout > 0 else sel.select(0):
            ep = key.fileobj
            if isinstance(ep, TcpListenEndpoint):
                for conn in ep.accept():
                    name = f"reg-t#{conn.fileno()}"
                    self.endpoints[name] = conn
                    sel.register(conn, selectors.EVENT_READ, name)
                continue
            items = ep.read()
            self._garbage += sum(1 for i in items if i.kind == "garbage")
            got, note = self._drain(key.data, ep, items, request)
            responses.extend(got)
            if note:
                closed[key.data] = note
            if ep.closed:
                sel.unregister(ep)
        return responses, closed

    def _selector(self):
        sel = selectors.DefaultSelector()
        for name, ep in self._live_endpoints():
            sel.register(ep, selectors.EVENT_READ, name)
        return sel

    def exchange(self, flow_name: str, ep, request: Request, timeout: float | None = None,
                 dst: Addr | None = None):
        """Send a request and wait, bounded, for its final response.

        Every open endpoint is watched meanwhile, so requests the SUT sends to any UE flow (a
        terminating request, a NOTIFY) are recorded and answered.  Returns (response or None,
        request index, response index or None, why-no-response).
        """
        dst = dst or self.sut
        data = request.to_bytes()
        try:
            ep.send(data, dst)
        except TransportError as exc:
            idx = self._record("sent", flow_name, ep.transport, ep.local, dst, data, request.summary(),
                               f"send failed: {exc}")
            return None, idx, None, str(exc)
        req_idx = self._record("sent", flow_name, ep.transport, ep.local, dst, data, request.summary())
        timers = self.target.timers
        bound = timeout if timeout is not None else timers.response
        tx = ClientTransaction(reliable=ep.transport == "tcp", t1=timers.t1, t2=timers.t2, timeout=bound,
                               started=self._now())
        self._garbage = 0
        with self._selector() as sel:
            while True:
                deadline = tx.next_deadline()
                wait = max(0.0, deadline - self._now()) if deadline is not None else 0.0
                responses, closed = self._poll(sel, wait, request)
                for resp, idx in responses:
                    if tx.on_response(resp.status):
                        return resp, req_idx, idx, ""
                if flow_name in closed:
                    return None, req_idx, None, f"{closed[flow_name]} before a final response"
                if responses or closed or self._now() < (tx.next_deadline() or 0):
                    continue
                event = tx.on_timer(self._now())
                if event == RETRANSMIT:
                    try:
                        ep.send(data, dst)
                    except TransportError as exc:
                        return None, req_idx, None, str(exc)
                    self._record("sent", flow_name, ep.transport, ep.local, dst, data, request.summary(),
                                 f"retransmission {tx.retransmissions} (RFC 3261 §17.1.2.2)")
                elif event == TIMEOUT:
                    extra = f"; {self._garbage} unparseable message(s) received" if self._garbage else ""
                    retx = f" after {tx.retransmissions} retransmission(s)" if tx.retransmissions else ""
                    return None, req_idx, None, f"no final response within {bound:g} s{retx}{extra}"

    # -- steps --------------------------------------------------------------------------------
    def _options(self, step: StepSpec, ue: UE) -> RegisterOptions:
        o = step.options
        opts = RegisterOptions(kind=step.action)
        if step.action == "deregister":
            opts.expires = 0
        if "expires" in o:
            opts.expires = o["expires"]
        opts.expires_header = o.get("expires_header")
        if "supported" in o:
            opts.supported = list(o["supported"] or [])
        opts.require = list(o.get("require") or [])
        contact = o.get("contact") or {}
        if "reg_id" in contact:
            opts.reg_id = contact["reg_id"]
        if "instance" in contact:
            opts.instance = bool(contact["instance"])
        opts.contact_params = {str(k): (None if v is None else str(v)) for k, v in (contact.get("params") or {}).items()}
        for extra in o.get("contacts") or []:
            _, other = self._flow(extra["flow"])
            if other.local_port is None:
                raise LocalProtocolError(f"contacts: flow {extra['flow']} has not registered yet")
            opts.extra_contacts.append((other, int(extra.get("expires", 600))))
        opts.headers = [(str(n), str(v)) for n, v in (o.get("headers") or [])]
        if "authorization" in o:
            opts.authorization = bool(o["authorization"])
        return opts

    def _dialog_for(self, step: StepSpec, flow: FlowState) -> None:
        which = step.options.get("call_id")
        if step.action == "refresh" and flow.dialog is None:
            raise LocalProtocolError(f"refresh of flow {flow.name} before it registered")
        if which == "new" or (flow.dialog is None and which is None):
            flow.dialog = RegDialog(call_id=f"{uuid.uuid4().hex}@{flow.local_ip}")
        elif which is not None:
            _, other = self._flow(which)
            if other.dialog is None:
                raise LocalProtocolError(f"call_id: {which} names a flow that has no Call-ID yet")
            flow.dialog = other.dialog
        flow.dialog.next_cseq()

    def _context(self, ue: UE, request: Request | None, response: Response | None, why: str,
                 ue_override: str | None = None) -> CheckContext:
        who = self.ues.get(ue_override) if ue_override else ue
        flows: dict[str, str] = {}
        reg_ids: dict[str, int | None] = {}
        for u in self.ues.values():
            for f in u.flows.values():
                if f.local_port is not None:
                    flows[f.name] = u.contact_uri(f)
                reg_ids[f.name] = f.reg_id
        tokens = {f.name: f.edge_token for u in self.ues.values() for f in u.flows.values() if f.edge is not None}
        addresses = {f.name: (f.local_ip, f.local_port) for u in self.ues.values() for f in u.flows.values()
                     if f.local_port is not None}
        return CheckContext(request=request, response=response, instance=(who or ue).instance,
                            flow_contacts=flows, flow_reg_ids=reg_ids, flow_tokens=tokens,
                            closed_flows=set(self.closed_flows),
                            forwarded=[(req, resp) for req, _, resp in self.forwarded[self._step_marks[0]:]],
                            flow_addresses=addresses, no_response_reason=why or "no final response")

    def _judge(self, step: StepSpec, result: StepResult, ctx: CheckContext, resp_idx) -> None:
        judge = StepJudge(self.case, self.strict, lambda name: self.ues[name].instance)
        judge.judge(step, result, ctx, resp_idx)
        if result.classification is not None:
            self.classification = result.classification

    def _register_step(self, step: StepSpec, result: StepResult) -> None:
        ue, flow = self._flow(step.flow)
        opts = self._options(step, ue)
        self._dialog_for(step, flow)
        ep = self._endpoint(flow, new_connection=bool(step.options.get("new_connection")))
        request = build_register(ue, flow, opts, branch=new_branch())
        self._send_and_judge(step, result, ue, flow.name, ep, request)

    def _send_and_judge(self, step, result, ue, flow_name, ep, request) -> None:
        response, req_idx, resp_idx, why = self.exchange(flow_name, ep, request, step.options.get("timeout"))
        result.request_index, result.response_index = req_idx, resp_idx
        ctx = self._context(ue, request, response, why)
        ctx.earlier_paths = [uri for f, uri in self.path_history if f != flow_name]
        if response is None:
            result.note = why
        elif 200 <= response.status < 300 and request.method == "REGISTER":
            self._remember_path(flow_name, response)
            self._remember_flow_timer(flow_name, response)
        self._judge(step, result, ctx, resp_idx)

    def _remember_path(self, flow_name: str, response: Response) -> None:
        """Keep the top Path URI of a 2xx to REGISTER: the edge's URI with the flow's token."""
        from ..sip.headers import parse_name_addr

        paths = response.values("Path")
        if not paths:
            return
        try:
            uri = parse_name_addr(paths[0]).uri
        except ParseError:
            return
        if uri is not None:
            self.path_history.append((flow_name, str(uri)))
            self.last_path[flow_name] = str(uri)

    def _remember_flow_timer(self, flow_name: str, response: Response) -> None:
        """The Flow-Timer the SUT gave the flow (RFC 5626 §4.4.1), for keep-alive loops."""
        from ..sip.headers import parse_flow_timer

        try:
            self.flow_timers[flow_name] = parse_flow_timer(response.get("Flow-Timer") or "")
        except ParseError:
            self.flow_timers.pop(flow_name, None)

    def _send_step(self, step: StepSpec, result: StepResult) -> None:
        ue, flow = self._flow(step.flow)
        if flow.dialog is None:
            flow.dialog = RegDialog(call_id=f"{uuid.uuid4().hex}@{flow.local_ip}")
        flow.dialog.next_cseq()
        ep = self._endpoint(flow, new_connection=bool(step.options.get("new_connection")))
        branch = new_branch()
        fields = {
            "call_id": flow.dialog.call_id, "cseq": flow.dialog.cseq, "branch": branch,
            "from_tag": flow.dialog.from_tag, "aor": ue.impu, "impu": ue.impu, "impi": ue.impi,
            "user": ue.user, "domain": ue.domain, "local": flow.host_port(),
            "transport": flow.transport.upper(), "contact": ue.contact_uri(flow),
            "instance": ue.instance or "", "reg_id": flow.reg_id if flow.reg_id is not None else "",
        }
        try:
            text = str(step.options["message"]).format(**fields)
        except (KeyError, IndexError, ValueError) as exc:
            raise LocalProtocolError(f"send: bad placeholder in message template: {exc}") from None
        if "\r\n" not in text:
            text = text.replace("\n", "\r\n")
        data = text.encode("utf-8")
        try:
            request = parse_message(data)
        except ParseError:
            request = None
        if not isinstance(request, Request):
            # Deliberately malformed stimulus: send it and only record what comes back.
            ep.send(data, self.sut)
            result.request_index = self._record("sent", flow.name, ep.transport, ep.local, self.sut, data,
                                                "raw message", "not valid SIP (deliberate)")
            self._wait(float(step.options.get("timeout", self.target.timers.response)))
            ctx = self._context(ue, None, None, "stimulus was not a request; no response matched")
            self._judge(step, result, ctx, None)
            return
        self._send_and_judge(step, result, ue, flow.name, ep, request)

    def _wait(self, seconds: float, until=None) -> None:
        """Listen on every open endpoint for ``seconds`` (at most 30), or until ``until()`` holds."""
        deadline = self._now() + min(seconds, MAX_WAIT_STEP)
        with self._selector() as sel:
            while True:
                left = deadline - self._now()
                if left <= 0 or (until is not None and until()):
                    return
                if not sel.get_map():
                    time.sleep(left)  # nothing to listen to: the wait is the step itself
                    return
                self._poll(sel, left, None)

    # -- the case -----------------------------------------------------------------------------
    def run(self) -> CaseResult:
        error = None
        stopped = None
        preamble_failed = False
        try:
            self._make_ues()
            if self.regt is not None:
                self.regt.drain()
                self.regt_core = self.regt.new_core(self.target.domain)
                self.endpoints["reg-t"] = UdpEndpoint.adopt(self.regt.udp, self._on_wire)
                self.endpoints["reg-t-listen"] = TcpListenEndpoint(self.regt.tcp, self._on_wire)
            for step in self.case.steps:
                self._current_step = step.name
                self._step_marks = (len(self.forwarded), len(self.deliveries))
                result = StepResult(name=step.name, action=step.action, flow=step.flow,
                                    location=str(step.location or ""))
                self.steps.append(result)
                try:
                    if step.action in REGISTER_ACTIONS:
                        self._register_step(step, result)
                    elif step.action == "send":
                        self._send_step(step, result)
                    elif step.action in TERMINATING_STEPS:
                        TERMINATING_STEPS[step.action](self, step, result)
                    elif step.action == "wait":
                        self._wait(float(step.options.get("seconds", 0)))
                    else:
                        raise LocalProtocolError(f"unknown action {step.action!r}")
                except TransportError as exc:
                    stopped = f"{step.name}: SUT unreachable: {exc}"
                    result.note = stopped
                    result.findings.append(Finding(
                        check="SUT reachable", level="MUST", ref="", outcome=INCONCLUSIVE,
                        expected=f"a connection to {self.sut[0]}:{self.sut[1]}", observed=str(exc),
                        step=step.name, location=result.location))
                    break
                bad = [f for f in result.findings if f.outcome in (FAIL, INCONCLUSIVE)]
                if step.preamble and bad:
                    preamble_failed = True
                    stopped = f"{step.name} (preamble) did not succeed"
                    break
        except LocalProtocolError as exc:
            error = f"{self._current_step or 'set-up'}: {exc}"
        except Exception as exc:  # an engine bug must not crash the suite; report it as error
            error = f"internal error in {self._current_step or 'set-up'}: {exc!r}\n{traceback.format_exc()}"
        finally:
            for ep in self.endpoints.values():
                try:
                    ep.close()
                except OSError:
                    pass
            pcap_path = None
            if self.pcap_dir is not None:
                pcap_path = self.pcap_dir / f"{_safe_name(self.case.id)}-{self.transport}.pcap"
                try:
                    self.pcap.write(pcap_path)
                except OSError as exc:
                    error = error or f"could not write {pcap_path}: {exc}"
                    pcap_path = None
        findings = [f for s in self.steps for f in s.findings]
        cv = combine(findings, preamble_failed=preamble_failed, error=error, stopped_reason=stopped)
        return CaseResult(
            id=self.item_id, case_id=self.case.id, title=self.case.title, purpose=self.case.purpose,
            transport=self.transport, verdict=cv.verdict, reason=cv.reason,
            requirements=list(self.case.requirements), references=list(self.case.references),
            test_purposes=list(self.case.test_purposes), target=self.target.name,
            pcap=str(pcap_path) if pcap_path else None, classification=self.classification,
            warnings=cv.warnings, duration=time.monotonic() - self._t0, steps=self.steps,
            messages=self.messages, location=str(self.case.location or ""))


def not_applicable_result(case: CaseSpec, transport: str, target: Target, reason: str) -> CaseResult:
    return CaseResult(
        id=f"{case.id}[{transport}]", case_id=case.id, title=case.title, purpose=case.purpose,
        transport=transport, verdict=Verdict.NOT_APPLICABLE, reason=reason,
        requirements=list(case.requirements), references=list(case.references),
        test_purposes=list(case.test_purposes), target=target.name, location=str(case.location or ""))


from .term_steps import TERMINATING_STEPS  # noqa: E402  (the steps call back into CaseRun)
