"""Run one case against one SUT over one transport: the I/O driver around the sans-IO parts.

``CaseRun.run()`` never raises and never waits without a bound: every exchange ends at a final
response, a transport event or the transaction timeout; every wait step is capped.  The case's
pcap is written in a ``finally`` so it exists whatever happened.
"""

from __future__ import annotations

import re
import selectors
import time
import traceback
import uuid
from pathlib import Path

from ..cases.model import CaseSpec, StepSpec
from ..meaning.checks import CheckContext
from ..meaning.checks.unchanged import remember
from ..meaning.checks.atomic import note_answer
from ..meaning.results import CaseResult, MessageRecord, StepResult
from ..sip.errors import LocalProtocolError, ParseError
from ..sip.message import Request, Response, parse_message
from ..targets.model import Target
from ..meaning.verdict import FAIL, INCONCLUSIVE, Finding, Verdict, combine
from ..meaning.judging import StepJudge
from .pcap import PcapRecorder
from .digest_steps import answer_challenges, prepare as prepare_digest
from .raw_steps import send_bytes_step
from .shared_socket import shared_endpoint
from ..ue.transaction import RETRANSMIT, TIMEOUT, ClientTransaction
from .regt import answer
from .transport import Addr, Incoming, TcpEndpoint, TcpListenEndpoint, TransportError, UdpEndpoint
from ..ue.uas import build_response
from ..ue.model import UE, FlowState, RegDialog, RegisterOptions, build_register, new_branch, new_tag

MAX_WAIT_STEP = 30.0
REGISTER_ACTIONS = ("register", "refresh", "deregister", "deregister_all", "fetch")


def not_applicable_reason(case: CaseSpec, transport: str, target: Target) -> str | None:
    """Why a case does not apply to a target (from its declared capabilities), or None."""
    missing = [c for c in case.applies_to if not target.declares(c)]
    if missing:
        return (f"target '{target.name}' does not declare capability "
                f"{', '.join(repr(m) for m in missing)} required by {case.id}")
    policy = [c for c in getattr(case, "applies_unless", ()) if target.declares(c)]
    if policy:
        return (f"target '{target.name}' declares the local policy {', '.join(repr(p) for p in policy)}, "
                f"under which {case.id}'s stimulus is refused by design")
    wanted = getattr(case, "topology", None) or []
    if wanted:
        topo = getattr(target, "topology", None)
        if topo is None:
            return (f"target '{target.name}' declares no network topology; {case.id} needs "
                    f"{', '.join(wanted)} (topology: in the target, docs/topologies.md)")
        lacking = topo.missing(wanted)
        if lacking:
            return f"topology {topo.name} of target '{target.name}' offers no {', '.join(lacking)} (needed by {case.id})"
    topo = getattr(target, "topology", None)
    if topo is not None and target.role == "registrar" and any(s.action == "peer_request" for s in case.steps):
        # The tester's emulated edge proxy (EP-T) shares its flow's address: behind a NAT its Path
        # names a private address the SUT cannot reach with a terminating request (RFC 3327
        # routes by Path, not the flow); registrations through it are fine.
        for ue in case.ues.values():
            for f in ue.flows.values():
                if f.edge is not None and f.address <= len(target.ue_addresses) \
                        and topo.behind_nat(target.ue_addresses[f.address - 1]):
                    return (f"flow {f.name} of {case.id} has an emulated edge proxy, which behind the NAT of "
                            f"topology {topo.name} cannot be reached by the SUT's terminating request (its Path names a private address)")
    if transport not in target.transports:
        return f"target '{target.name}' does not offer transport {transport}"
    if target.role not in case.roles:
        return f"{case.id} is written for role {'/'.join(case.roles)}; target role is {target.role}"
    from .esptcp import unavailable_reason        # TCP over ESP needs the TUN gateway
    return unavailable_reason(case, transport)


PADS = {"{pad600}": "a" * 600, "{pad10k}": "a" * 10240, "{pad60k}": "a" * 61440,
        # a 300-hop Path value list on loopback (TP_ROB_001)
        "{path300}": ", ".join(f"<sip:hop{i}@127.0.0.1:9;lr>" for i in range(1, 301))}


def _pads(text: str) -> str:
    """Expand the padding placeholders of oversized stimuli (TP_REG_037) in option values."""
    for key, value in PADS.items():
        if key in text:
            text = text.replace(key, value)
    return text


def _safe_name(text: str) -> str:
    return re.sub(r"[^A-Za-z0-9_.-]+", "_", text)


class StepAbort(Exception):
    """A step could not be carried out (the reason becomes the verdict's reason)."""


class CaseRun:
    def __init__(self, case: CaseSpec, transport: str, target: Target, sut: Addr, *,
                 pcap_dir: Path | None = None, run_token: str | None = None, strict: bool | None = None,
                 peer: Addr | None = None, regt=None, topology=None):
        self.case = case
        # A running network-namespace topology (conformance/topology/netns.Topology): sockets of
        # addresses inside it are made in their namespace; the NAT's view is merged in the pcap.
        self.topology = topology
        self.mappings: dict[str, list[Addr]] = {}  # flow -> distinct NAT mappings seen, in order
        cap = getattr(topology, "capture", None)
        self.nat_mark = cap.mark() if cap is not None else 0  # the NAT capture from here is this case's
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
        self._first_garbage = ""
        self._unmatched: list[str] = []  # why responses of the current exchange matched no request
        self._pending_dst: Addr | None = None  # where the request of the current exchange went
        self._exchange_findings: list[Finding] = []  # what the exchange itself saw (a missing To tag)
        self._uas_tag = new_tag()
        self.sa_sets: list = []          # every SA set of the case (keys written beside the pcap)
        self.esp_meta: dict[int, dict] = {}  # message index -> the ESP SA it arrived over
        self.register_history: dict[str, list] = {}  # UE -> its REGISTER outcomes (checks/unchanged.py)
        self.register_answers: dict[str, list] = {}  # flow -> its REGISTERs' answers (checks/atomic.py)

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

    def _on_esp_packet(self, direction: str, packet: bytes) -> None:
        self.pcap.raw_ip(self._wall(), packet)

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
            if getattr(spec, "aor_of", None):   # a second instance of another UE's AOR
                other = self.ues[spec.aor_of]
                ue.user, ue.impu, ue.impi = other.user, other.impu, other.impi
            for fname, fspec in spec.flows.items():
                if fspec.address > len(t.ue_addresses):
                    raise LocalProtocolError(
                        f"flow {fname} uses address {fspec.address} but target '{t.name}' lists only "
                        f"{len(t.ue_addresses)} ue_addresses")
                ue.flows[fname] = FlowState(spec=fspec, local_ip=t.ue_addresses[fspec.address - 1],
                                            transport=fspec.transport or self.transport,
                                            edge=self._emulated_edge(fspec))
                if getattr(fspec, "port", None):
                    ue.flows[fname].local_port = fspec.port
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

    def sock_factory(self, ip: str, site: int = 1):
        """How to make a socket for local address ``ip``: inside its namespace when a topology
        owns it, else an ordinary socket (None)."""
        if self.topology is None:
            return None
        try:
            role = self.topology.role_of(ip)
        except KeyError:
            return None
        if role == "ue" and site > 1:
            role = f"ue{site}"
        return lambda family, kind: self.topology.socket(ip, family, kind, role=role)

    def sut_for(self, ip: str) -> Addr:
        """Where a flow from ``ip`` reaches the SUT: its address in that family (dual-stack)."""
        alt = getattr(self.target, "alt_host", None)
        if alt and (":" in alt) == (":" in ip) and (":" in self.sut[0]) != (":" in ip):
            return (alt, self.sut[1])
        return self.sut

    def flow_mapping(self, flow: FlowState) -> Addr | None:
        """The flow's address as the SUT sees it: its NAT mapping behind a NAT, else its own."""
        if flow.local_port is None:
            return None
        local = (flow.local_ip, flow.local_port)
        if self.topology is None:
            return local
        mapped = self.topology.mapping(local, flow.transport, site=getattr(flow.spec, "site", 1))
        if mapped is not None:
            seen = self.mappings.setdefault(flow.name, [])
            if not seen or seen[-1] != tuple(mapped):
                seen.append(tuple(mapped))
        return tuple(mapped) if mapped else None

    def _endpoint(self, flow: FlowState, *, new_connection: bool = False):
        if getattr(flow.spec, "socket", None):   # the flow shares another flow's socket
            return shared_endpoint(self, flow, new_connection)
        ep = self.endpoints.get(flow.name)
        if ep is not None and (new_connection or ep.closed):
            ep.close()
            ep = None
        if ep is None:
            if flow.transport == "udp":
                port = flow.local_port or 0
                ep = UdpEndpoint(flow.local_ip, self._on_wire, port=port,
                                 sock_factory=self.sock_factory(flow.local_ip, getattr(flow.spec, "site", 1)))
            else:
                ep = TcpEndpoint(flow.local_ip, self.sut_for(flow.local_ip), self._on_wire, self.target.timers.connect,
                                 sock_factory=self.sock_factory(flow.local_ip, getattr(flow.spec, "site", 1)))
            self.endpoints[flow.name] = ep
            self.closed_flows.discard(flow.name)
            flow.local_port = ep.local[1]
            flow.port_uc = flow.port_us = ep.local[1]
            open_contact(self, flow)   # a Contact elsewhere, as behind a NAT (engine/nat_contact.py)
        return ep

    # -- the exchange -------------------------------------------------------------------------
    def _matches(self, request: Request, response: Response) -> bool:
        return (response.call_id == request.call_id and response.cseq == request.cseq
                and response.top_branch == request.top_branch)

    @staticmethod
    def _mismatch(request: Request, response: Response) -> str:
        """Which transaction key of ``response`` differs from ``request`` (RFC 3261 §17.1.3)."""
        diffs = []
        if response.call_id != request.call_id:
            diffs.append(f"Call-ID {response.call_id!r} is not the request's {request.call_id!r}")
        if response.cseq != request.cseq:
            diffs.append(f"CSeq {response.cseq} is not the request's {request.cseq}")
        if response.top_branch != request.top_branch:
            diffs.append(f"branch {response.top_branch!r} is not the request's {request.top_branch!r}")
        return ", ".join(diffs)

    def _incomplete(self, ep) -> str:
        """What a TCP endpoint's framer holds of a message that never completed."""
        framer = getattr(ep, "framer", None)
        n = framer.pending() if framer is not None else 0
        return f"; {n} byte(s) of an incomplete message held (Content-Length not satisfied)" if n else ""

    def _explain(self) -> str:
        """Why nothing matched, for the reason of a timeout: responses that matched no request."""
        if not self._unmatched:
            return ""
        first = self._unmatched[0]
        more = f" (first: {first})"
        return f"; {len(self._unmatched)} response(s) matched no pending request{more}"

    def _check_to_tag(self, request: Request, response: Response) -> None:
        """RFC 3261 §8.2.6.2: a UAS MUST add a To tag to a final response (any but 100).  Judged
        only when both To header fields parse (a malformed stimulus may leave the SUT no To)."""
        if response.status < 200:
            return
        from ..sip.headers import parse_name_addr

        try:
            parse_name_addr(request.get("To") or "")
            tag = parse_name_addr(response.get("To") or "").params.get("tag")
        except ParseError:
            return
        if not tag:
            self._exchange_findings.append(Finding(
                check="To tag in the final response", level="MUST", ref="RFC 3261 §8.2.6.2", outcome=FAIL,
                expected="a To header field with a tag", observed=f"To: {response.get('To')}",
                step=self._current_step))

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
            if inc.kind == "icmp":
                self._record("received", flow_name, ep.transport, inc.src, ep.local, b"", inc.note, inc.note)
                if self._pending_dst is not None and tuple(inc.src) == tuple(self._pending_dst):
                    closed = inc.note
                continue
            if inc.kind == "garbage" and not inc.data and inc.note:
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
                self._garbage += 1
                self._first_garbage = self._first_garbage or str(exc)
                continue
            idx = self._record("received", flow_name, ep.transport, inc.src, ep.local, inc.data, msg.summary(),
                               inc.note)
            if inc.meta is not None:
                self.esp_meta[idx] = inc.meta
            if isinstance(msg, Response) and request is not None and self._matches(request, msg):
                responses.append((msg, idx))
            elif isinstance(msg, Response):
                why = self._mismatch(request, msg) if request is not None else ""
                self.messages[idx].note = f"response to no pending request (ignored{': ' + why if why else ''})"
                if why:
                    self._unmatched.append(why)
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
            if not dialog_regt_answer(self, ep, request, src, idx):   # REG-T as a dialog's far end
                self._regt_answer(ep, request, src, idx)
            return
        flow_name = flow_name.split("#", 1)[0]   # "f1@contact#7": a connection to f1's Contact
        self.deliveries.append((flow_name, request, idx))
        if request.method == "ACK":
            return
        status, reason = ue_answer(self, flow_name, request)   # engine/term_steps.py
        response = dialog_ue_response(self, flow_name, request) or \
            build_response(request, status, reason, to_tag=self._uas_tag)
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
                    name = f"{key.data.removesuffix('-listen')}#{conn.fileno()}"  # reg-t#7, f1@contact#7
                    self.endpoints[name] = conn
                    sel.register(conn, selectors.EVENT_READ, name)
                continue
            items = ep.read()
            # "f1~esp", "f1~uc": the protected ports of flow f1 (engine/sec_steps.py)
            got, note = self._drain(key.data.split("~")[0], ep, items, request)
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
        dst = dst or self.sut_for(ep.local[0])
        data = request.to_bytes()
        try:
            ep.send(data, dst)
        except TransportError as exc:
            idx = self._record("sent", flow_name, ep.transport, ep.local, dst, data, request.summary(),
                               f"send failed: {exc}")
            return None, idx, None, str(exc)
        req_idx = self._record("sent", flow_name, ep.transport, ep.local, dst, data, request.summary())
        self._pending_dst = tuple(dst)
        self._unmatched = []
        self._exchange_findings = []
        try:
            return self._await_final(flow_name, ep, request, data, dst, req_idx, timeout)
        finally:
            self._pending_dst = None

    def _await_final(self, flow_name, ep, request, data, dst, req_idx, timeout):
        timers = self.target.timers
        bound = timeout if timeout is not None else timers.response
        tx = ClientTransaction(reliable=ep.transport == "tcp", t1=timers.t1, t2=timers.t2, timeout=bound,
                               started=self._now())
        self._garbage, self._first_garbage = 0, ""
        with self._selector() as sel:
            while True:
                deadline = tx.next_deadline()
                wait = max(0.0, deadline - self._now()) if deadline is not None else 0.0
                responses, closed = self._poll(sel, wait, request)
                for resp, idx in responses:
                    if tx.on_response(resp.status):
                        self._check_to_tag(request, resp)
                        return resp, req_idx, idx, ""
                if flow_name in closed:
                    if closed[flow_name].startswith("ICMP"):
                        # the SUT's address refused the request: as unreachable as a refused connect
                        raise TransportError(closed[flow_name])
                    return None, req_idx, None, (f"{closed[flow_name]} before a final response"
                                                 f"{self._incomplete(ep)}{self._explain()}")
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
                    extra = (f"; {self._garbage} unparseable message(s) received (first: {self._first_garbage})"
                             if self._garbage else "")
                    retx = f" after {tx.retransmissions} retransmission(s)" if tx.retransmissions else ""
                    return None, req_idx, None, (f"no final response within {bound:g} s{retx}{extra}"
                                                 f"{self._incomplete(ep)}{self._explain()}")

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
        opts.contact_params = {str(k): (None if v is None else _pads(str(v)))
                               for k, v in (contact.get("params") or {}).items()}
        for extra in o.get("contacts") or []:
            _, other = self._flow(extra["flow"])
            if other.local_port is None:
                raise LocalProtocolError(f"contacts: flow {extra['flow']} has not registered yet")
            opts.extra_contacts.append((other, int(extra.get("expires", 600))))
        opts.headers = [(str(n), _pads(str(v))) for n, v in (o.get("headers") or [])]
        if "authorization" in o:
            opts.authorization = bool(o["authorization"])
        opts.via_keep = bool(o.get("via_keep"))
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
        addresses = {f.name: (self.flow_mapping(f) or (f.local_ip, f.local_port)) for u in self.ues.values()
                     for f in u.flows.values() if f.local_port is not None}
        sec = sec_context(self, self.steps[-1].flow if self.steps else None)
        if sec or self.esp_meta:
            resp_idx = next((i for i in range(len(self.messages) - 1, -1, -1)
                             if response is not None and self.messages[i].direction == "received"
                             and self.messages[i].text == response.to_bytes().decode("utf-8", "replace")),
                            None)
            sec["response"] = self.esp_meta.get(resp_idx) if resp_idx is not None else None
            sec["deliveries"] = {}
            for fname, _, idx in self.deliveries[self._step_marks[1]:]:
                sec["deliveries"].setdefault(fname, []).append(self.esp_meta.get(idx))
        return CheckContext(request=request, response=response, instance=(who or ue).instance,
                            flow_contacts=flows, flow_reg_ids=reg_ids, flow_tokens=tokens,
                            closed_flows=set(self.closed_flows),
                            forwarded=[(req, resp) for req, _, resp in self.forwarded[self._step_marks[0]:]],
                            flow_addresses=addresses, no_response_reason=why or "no final response",
                            sec=sec, mappings={k: list(v) for k, v in self.mappings.items()},
                            register_answers={k: list(v) for k, v in self.register_answers.items()})

    def _judge(self, step: StepSpec, result: StepResult, ctx: CheckContext, resp_idx) -> None:
        judge = StepJudge(self.case, self.strict, lambda name: self.ues[name].instance,
                          getattr(self.target, "capabilities", ()) or ())
        judge.judge(step, result, ctx, resp_idx)
        if result.classification is not None:
            self.classification = result.classification

    def _register_step(self, step: StepSpec, result: StepResult) -> None:
        ue, flow = self._flow(step.flow)
        if flow.sec is not None or any(k in step.options for k in SEC_OPTIONS):
            sec_register_step(self, step, result)
            return
        opts = self._options(step, ue)
        self._dialog_for(step, flow)
        ep = self._endpoint(flow, new_connection=bool(step.options.get("new_connection")))
        request = build_register(ue, flow, opts, branch=new_branch())
        self._send_and_judge(step, result, ue, flow.name, ep, request)

    def _send_and_judge(self, step, result, ue, flow_name, ep, request) -> None:
        request = prepare_digest(self, step, request)   # digest: {replay: FLOW}
        outcome = self.exchange(flow_name, ep, request, step.options.get("timeout"))
        # a target declaring digest-auth: answer 401/407 within the step (engine/digest_steps.py)
        dialog = self._flow(flow_name)[1].dialog
        request, outcome = answer_challenges(
            self, step, result, ue, flow_name, ep, request, outcome,
            resend_cseq=(lambda: None) if step.action == "send" else dialog.next_cseq)
        response, req_idx, resp_idx, why = outcome
        result.request_index, result.response_index = req_idx, resp_idx
        for f in self._exchange_findings:
            f.message_index = resp_idx
        result.findings.extend(self._exchange_findings)
        self._exchange_findings = []
        if response is None and step.options.get("liveness"):
            result.findings.append(Finding(
                check="SUT still serves after the attack", level="MUST",
                ref="robustness criterion (test-purposes §7: no crash, a valid REGISTER answered)", outcome=FAIL,
                expected="a final response to a normal REGISTER", observed=f"{why} (the SUT stopped serving)",
                step=step.name, location=result.location, message_index=req_idx))
        note_answer(self.register_answers, step, flow_name, ue.flows, response, request)  # checks/atomic.py
        ctx = self._context(ue, request, response, why)
        ctx.request_source = ctx.flow_addresses.get(flow_name)
        if request.method == "REGISTER":  # the UE's REGISTER outcomes (checks/unchanged.py)
            ctx.register_history = list(self.register_history.setdefault(ue.name, []))
            remember(self.register_history[ue.name], response)
        ctx.earlier_paths = [uri for f, uri in self.path_history if f != flow_name]
        if response is None:
            result.note = "; ".join(n for n in (result.note, why) if n)
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
            # the CSeq of the flow's previous request (a replay, TP_REG_006)
            "last_cseq": max(1, flow.dialog.cseq - 1),
            # padding for oversized stimuli (TP_REG_037)
            **{k.strip("{}"): v for k, v in PADS.items()},
        }
        for other in self.ues.values():  # another UE's identities (hijack attempts, TP_REG_032)
            fields[f"aor_{other.name}"] = other.impu
            fields[f"instance_{other.name}"] = other.instance or ""
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
            ep.send(data, self.sut_for(ep.local[0]))
            result.request_index = self._record("sent", flow.name, ep.transport, ep.local, self.sut_for(ep.local[0]), data,
                                                "raw message", "not valid SIP (deliberate)")
            self._wait(float(step.options.get("timeout", self.target.timers.response)))
            ctx = self._context(ue, None, None, "stimulus was not a request; no response matched")
            self._judge(step, result, ctx, None)
            return
        self._send_and_judge(step, result, ue, flow.name, ep, request)

    def _write_keys(self, pcap_path: Path) -> Path:
        # encap_ports: the protected ports of UDP-encapsulated flows (engine/encap_steps.py)
        return _write_keys_for(pcap_path, self.sa_sets, getattr(self, "encap_ports", ()))

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
                    elif step.action == "send_bytes":
                        send_bytes_step(self, step, result)
                    elif step.action in TERMINATING_STEPS:
                        TERMINATING_STEPS[step.action](self, step, result)
                    elif step.action in DIALOG_STEPS:
                        DIALOG_STEPS[step.action](self, step, result)
                    elif step.action in TOPOLOGY_STEPS:
                        TOPOLOGY_STEPS[step.action](self, step, result)
                    elif step.action in MORE_STEPS:     # engine/limit_steps.py, robust_steps.py
                        MORE_STEPS[step.action](self, step, result)
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
                    stopped = f"{step.name} (preamble) did not succeed: {bad[0].check}: observed {bad[0].observed}"
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
            if self.topology is not None:
                try:
                    from .topo_steps import merge_nat_view
                    merge_nat_view(self)
                except Exception as exc:  # noqa: BLE001 - the capture must not spoil the verdict
                    error = error or f"NAT capture: {exc!r}"
            pcap_path = None
            if self.pcap_dir is not None:
                pcap_path = self.pcap_dir / f"{_safe_name(self.case.id)}-{self.transport}.pcap"
                try:
                    self.pcap.write(pcap_path)
                    if self.sa_sets:
                        self._write_keys(pcap_path)
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


def keys_dir(pcap_path: Path) -> Path:
    """Where the ESP keys of a case's pcap are written (a Wireshark configuration directory)."""
    return pcap_path.with_suffix(".wireshark")


def _write_keys_for(pcap_path: Path, sa_sets, encap_ports=()) -> Path:
    """esp_sa + preferences (decryption and ICV check on) + decode_as_entries (SIP on every
    protected port): ``WIRESHARK_CONFIG_DIR=<dir> tshark -r <pcap>`` shows the SIP inside.
    SAs of UDP-encapsulated flows (a port in ``encap_ports``) match any address (the NAT
    changes the outer ones) and their ports decode as UDPENCAP (RFC 3948)."""
    from ..ims.wireshark import write_config_dir

    sas = [sa for s in sa_sets for sa in s.sas]
    encap = {sa.spi for sa in sas if {sa.sport, sa.dport} & set(encap_ports)}
    directory = write_config_dir(keys_dir(pcap_path), sas, any_address_spis=encap)
    ports = sorted({p for sa in sas for p in (sa.sport, sa.dport)})
    wrapped = {p for sa in sas if sa.spi in encap for p in (sa.sport, sa.dport)}
    (directory / "decode_as_entries").write_text(
        "".join(f"decode_as_entry: udp.port,{p},(none),{'UDPENCAP' if p in wrapped else 'SIP'}\n"
                for p in ports))
    return directory


def not_applicable_result(case: CaseSpec, transport: str, target: Target, reason: str) -> CaseResult:
    return CaseResult(
        id=f"{case.id}[{transport}]", case_id=case.id, title=case.title, purpose=case.purpose,
        transport=transport, verdict=Verdict.NOT_APPLICABLE, reason=reason,
        requirements=list(case.requirements), references=list(case.references),
        test_purposes=list(case.test_purposes), target=target.name, location=str(case.location or ""))


from .term_steps import TERMINATING_STEPS, ue_answer  # noqa: E402  (the steps call back into CaseRun)
from .nat_contact import open_contact  # noqa: E402
from .topo_steps import TOPOLOGY_STEPS  # noqa: E402
from .dialog_steps import DIALOG_STEPS, regt_answer as dialog_regt_answer, ue_response as dialog_ue_response  # noqa: E402
from .robust_steps import STEPS as MORE_STEPS  # noqa: E402
from .sec_steps import sec_context, sec_register_step  # noqa: E402

#: Step options that make a REGISTER step an IMS AKA / sec-agree one (engine/sec_steps.py).
SEC_OPTIONS = ("sec_agree", "auth", "security_verify", "esp", "unprotected", "algorithms",
               "aka_response", "security_client", "replay_authorization", "integrity_protected",
               "via_port", "security_client_text")
