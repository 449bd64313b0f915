"""What the reference UE does on each event: REGISTER, responses, keep-alives, recovery.

Called only from the agent's loop thread (:mod:`.agent`); the clock is passed in, so apart from
the flows' sockets this is plain state.  RFC 5626 §4 rules, each where it applies:

- §4.1 one ``+sip.instance`` for all flows; §4.2.1 ``Supported: path, outbound``, a distinct
  reg-id per flow, a unique Call-ID per flow's registration; §4.2.2 refreshes and removals
  reuse instance, reg-id and Call-ID over the same flow; §4.2.3 ``Contact: *`` without either.
- §4.2.1 / TS 24.229 5.1.1.2.1 (f): after a 2xx without ``Require: outbound`` no additional
  flow; on 439 one re-attempt without the outbound mechanism (no reg-id), as the text allows.
- §4.4: keep-alives only after a 2xx with ``Require: outbound``: CRLF ping on TCP (no pong in
  ``pong_timeout``: failed), STUN Binding on UDP (error, no answer in 16 RTO or a changed
  XOR-MAPPED-ADDRESS: failed); intervals from :func:`.timing.keepalive_interval`.
- §4.5: a failed flow is replaced by a new one with the same reg-id; a failed attempt waits
  :func:`.timing.retry_delay` (consecutive failures counted per flow, reset once a flow is
  successful: registered and, with keep-alives, one keep-alive answered).
"""

from __future__ import annotations

import dataclasses
import os
import secrets

from ...cases.model import FlowSpec
from ...sip.errors import ParseError
from ...sip.message import Request, Response, parse_message
from ...sip.stun import ATTR_XOR_MAPPED_ADDRESS, CLASS_SUCCESS, binding_request, decode_xor_address, parse
from ...ue.model import UE, FlowState, RegDialog, RegisterOptions, build_register, new_branch, new_tag
from ...ue.transaction import ClientTransaction
from ...ue.uas import build_response, uas_status
from .answers import on_register_response
from .config import Trace
from .flow import NEW, REGISTERED, REGISTERING, REMOVED, REMOVING, WAITING, Pending, StunCheck, UeFlow
from .outgoing import ack_for, build_call, in_dialog
from .timers import Timers
from .timing import keepalive_interval, retry_delay, upper_bound_wait



class Engine(Timers):
    def __init__(self, config, *, clock, rng, record, before_close=lambda sock: None):
        self.cfg, self.clock, self.rng, self.fault = config, clock, rng, config.fault
        self._record, self.before_close = record, before_close
        self.expires = config.expires  # asked for; raised by a 423's Min-Expires (RFC 3261 §10.2.8)
        user = config.aor.split(":", 1)[-1].split("@", 1)[0]
        self.ue = UE(name="reference", user=user, impu=config.aor, impi=config.impi, domain=config.domain,
                     instance=config.instance)
        self.flows: dict[int, UeFlow] = {}
        self.no_outbound = False  # a 2xx without Require: outbound was seen (TS 24.229 5.1.1.2.1 f)
        self.outbound_known = False  # a 2xx to a REGISTER has been seen (with or without outbound)
        self.others: dict[str, tuple[UeFlow, Pending]] = {}  # top branch -> an INVITE/MESSAGE/BYE in flight
        self.acks: dict[str, Request] = {}  # Call-ID -> the ACK to its 2xx (re-sent on a retransmission)

    # -- recording ------------------------------------------------------------------------------
    def rec(self, flow: UeFlow | None, direction: str, kind: str, text: str = "", msg=None) -> None:
        self._record(Trace(self.clock(), flow.number if flow else 0, flow.reg_id if flow else None,
                                 flow.transport if flow else self.cfg.transport,
                                 flow.local if flow else None, direction, kind, text, msg))

    # -- commands -------------------------------------------------------------------------------
    def boot(self) -> None:
        """As booted: flow 1 from the first address, reg-id 1 (§4.5: 'immediately tries')."""
        self.attempt(self.new_flow(self.cfg.addresses[0], 1))

    def register(self, number: int = 1, address: str | None = None) -> None:
        flow = self.flows.get(number)
        if flow is None:  # a flow the UE does not have yet: an additional one, same rules
            self.add_flow(address or self.cfg.addresses[min(number, len(self.cfg.addresses)) - 1])
        elif address and address != flow.address:
            self.move(number, address)
        elif flow.status == REGISTERED and flow.pending is None:
            self.send_register(flow, "refresh")
        elif flow.status != REGISTERING:
            flow.outbound_mode = True
            self.attempt(flow)

    def add_flow(self, address: str) -> int | None:
        if self.no_outbound:
            self.rec(None, "-", "note", "add_flow refused: the registration's 2xx had no Require: outbound "
                     "(TS 24.229 5.1.1.2.1 (f): refrain from registering additional flows)")
            return None
        reg_id = 1 if self.fault == "reg-id-reused" else self.next_reg_id()  # FAULT: reg-id-reused
        flow = self.new_flow(address, reg_id)
        if self.outbound_known:
            self.attempt(flow)
        else:  # §4.2.1 Note: whether outbound works decides whether to register more flows at all
            self.rec(flow, "-", "note", "waits for the first registration's 2xx (outbound or not)")
        return flow.number

    def outbound_learnt(self) -> None:
        """The first 2xx told whether the registrar does outbound: start or drop the waiting flows."""
        self.outbound_known = True
        for flow in [f for f in self.flows.values() if f.status == NEW and f.number > 1]:
            if self.no_outbound:
                self.rec(flow, "-", "note", "dropped: the 2xx had no Require: outbound (TS 24.229 5.1.1.2.1 (f))")
                del self.flows[flow.number]
            else:
                self.attempt(flow)

    def move(self, number: int, address: str) -> None:
        """Lost coverage (Reg1b): the flow's address changed; a new flow, same reg-id."""
        flow = self._flow(number)
        self.rec(flow, "-", "note", f"moved from {flow.address} to {address}")
        self.close(flow)
        flow.address = address
        flow.failures = 0
        self.attempt(flow)

    def deregister(self, number: int | None, everything: bool) -> None:
        if everything:
            live = [f for f in self.flows.values() if f.sock is not None and f.state is not None]
            if not live:
                raise RuntimeError("no flow to send the removal of all bindings over")
            self._remove(live[0], "removal-all")
            return
        flow = self._flow(number or 1)
        if flow.sock is None or flow.state is None:
            raise RuntimeError(f"flow {flow.number} has no connection to send its removal over")
        self._remove(flow, "removal")

    def _remove(self, flow: UeFlow, kind: str) -> None:
        """Send a removal over ``flow`` now, or once its REGISTER in flight has its final response."""
        if flow.pending is not None:
            flow.queued = kind
            self.rec(flow, "-", "note", f"{kind} waits for the final response to the REGISTER in flight "
                     "(RFC 3261 §10.2)")
            return
        for f in (list(self.flows.values()) if kind == "removal-all" else [flow]):
            f.stop_timers()
            f.status = REMOVING
        self.send_register(flow, kind)

    def run_queued(self, flow: UeFlow) -> None:
        """After a REGISTER's final response (or time-out): the removal told meanwhile, if any."""
        kind, flow.queued = flow.queued, None
        if kind is None:
            return
        if flow.sock is not None and flow.state is not None and flow.status == REGISTERED:
            self._remove(flow, kind)
            return
        for f in (list(self.flows.values()) if kind == "removal-all" else [flow]):  # nothing registered
            self.close(f)
            f.status = REMOVED

    def call(self, to: str, method: str = "INVITE") -> None:
        """A dialog-forming INVITE (or a MESSAGE) to ``to`` over the first registered flow."""
        # a registered flow, else one whose REGISTER is in flight (told to call right after start)
        flows = sorted((f for f in self.flows.values() if f.status in (REGISTERED, REGISTERING) and f.sock),
                       key=lambda f: (f.status != REGISTERED, f.number))
        if not flows:
            raise RuntimeError(f"no flow to send the {method} over")
        flow = flows[0]
        req = build_call(self._ue_for(flow), flow.state, to, method)
        pending = self._transmit(flow, req, method.lower())
        if pending is not None:
            self.others[req.top_branch] = (flow, pending)

    def close_all(self) -> None:
        for flow in self.flows.values():
            self.close(flow)

    # -- flows ----------------------------------------------------------------------------------
    def _flow(self, number: int) -> UeFlow:
        try:
            return self.flows[int(number)]
        except (KeyError, ValueError, TypeError):
            raise ValueError(f"no flow {number!r} (flows: {sorted(self.flows)})") from None

    def next_reg_id(self) -> int:
        return max((f.reg_id or 0 for f in self.flows.values()), default=0) + 1

    def new_flow(self, address: str, reg_id: int) -> UeFlow:
        number = max(self.flows, default=0) + 1
        instance = self.cfg.instance
        if self.fault == "instance-changes" and number > 1:  # FAULT: instance-changes
            instance = UE.new_instance()
        flow = UeFlow(number=number, reg_id=reg_id, address=address, transport=self.cfg.transport,
                      edge=tuple(self.cfg.edge[self.cfg.transport]), instance=instance,
                      stream_options={"ca": self.cfg.ca_file, "server_name": self.cfg.server_name or self.cfg.domain,
                                      "ws_path": self.cfg.ws_path, "ws_host": self.cfg.domain})
        self.flows[number] = flow
        return flow

    def _ue_for(self, flow: UeFlow) -> UE:
        return self.ue if flow.instance == self.ue.instance else dataclasses.replace(self.ue, instance=flow.instance)

    def close(self, flow: UeFlow) -> None:
        if flow.sock is not None:
            self.rec(flow, "-", "close")
            self.before_close(flow.sock)
        flow.close()

    def attempt(self, flow: UeFlow) -> None:
        """Form the flow (a new socket) and send its initial REGISTER with a new Call-ID."""
        self.close(flow)
        flow.status, flow.retry_at, flow.successful = REGISTERING, None, False
        flow.outbound = False
        flow.flow_timer = None
        try:
            flow.open()
        except OSError as exc:
            self.rec(flow, "-", "failed", f"cannot form the flow to {flow.edge[0]}:{flow.edge[1]}: {exc}")
            self.attempt_failed(flow, "connection failed")
            return
        port = flow.local[1]
        call_id = secrets.token_hex(12)
        flow.history.append(call_id)
        spec = FlowSpec(name=f"flow{flow.number}", address=flow.number, reg_id=flow.reg_id, transport=flow.transport)
        flow.state = FlowState(spec=spec, local_ip=flow.address, transport=flow.transport, local_port=port,
                               dialog=RegDialog(call_id=call_id))
        self.rec(flow, "-", "open", f"to {flow.edge[0]}:{flow.edge[1]}")
        self.send_register(flow, "initial")

    def attempt_failed(self, flow: UeFlow, why: str, after: float | None = None) -> None:
        """§4.5: wait the retry delay before the next attempt to form this flow."""
        self.close(flow)
        flow.failures += 1
        all_failed = not any(f.status == REGISTERED for f in self.flows.values() if f is not flow)
        delay = retry_delay(flow.failures, all_failed, self.cfg.timers, self.rng, retry_after=after,
                            no_backoff=self.fault == "no-backoff")  # FAULT: no-backoff
        w = upper_bound_wait(flow.failures, all_failed, self.cfg.timers)
        flow.status, flow.retry_at = WAITING, self.clock() + delay
        self.rec(flow, "-", "note", f"attempt failed ({why}); consecutive failures {flow.failures}, "
                 f"{'all' if all_failed else 'not all'} flows failed, W={w:g} s: retry in {delay:.3f} s")

    def flow_failed(self, flow: UeFlow | int, why: str) -> None:
        """The flow failed (§4.4): replace it (§4.5, same reg-id)."""
        if not isinstance(flow, UeFlow):
            flow = self._flow(flow)
        if flow.status in (REMOVED, WAITING):
            return
        if flow.status == REMOVING:
            self.close(flow)
            flow.status = REMOVED
            return
        self.rec(flow, "-", "failed", why)
        if self.fault == "new-reg-id-after-failure":  # FAULT: new-reg-id-after-failure
            flow.reg_id = self.next_reg_id()
        if flow.status == REGISTERED and flow.successful:
            flow.failures = 0
            self.close(flow)
            self.attempt(flow)
        else:
            self.attempt_failed(flow, why)

    # -- sending --------------------------------------------------------------------------------
    def _options(self, flow: UeFlow, kind: str) -> RegisterOptions:
        supported = ["path"] if self.fault == "no-supported-outbound" else ["path", "outbound"]  # FAULT
        reg_id = "flow" if flow.outbound_mode else None
        if kind == "removal-all":
            return RegisterOptions(kind="deregister_all", expires=None, supported=supported, authorization=False)
        if kind == "removal":
            return RegisterOptions(kind="deregister", expires=0, supported=supported, reg_id=reg_id,
                                   authorization=False)
        return RegisterOptions(kind="register" if kind == "initial" else "refresh", expires=self.expires,
                               supported=supported, reg_id=reg_id, authorization=False)

    def send_register(self, flow: UeFlow, kind: str) -> None:
        flow.state.spec.reg_id = flow.reg_id
        flow.state.dialog.next_cseq()
        req = build_register(self._ue_for(flow), flow.state, self._options(flow, kind), branch=new_branch())
        self.transmit_register(flow, req, kind)

    def transmit_register(self, flow: UeFlow, req: Request, kind: str, challenges: int = 0) -> None:
        """Send a REGISTER as the flow's transaction (a send failure has replaced the flow already)."""
        pending = self._transmit(flow, req, kind, challenges)
        if pending is not None:
            flow.pending = pending

    def _transmit(self, flow: UeFlow, req: Request, kind: str, challenges: int = 0) -> Pending | None:
        try:
            flow.send(req.to_bytes())
        except OSError as exc:
            self.rec(flow, "-", "failed", f"cannot send {req.method}: {exc}")
            if kind in ("initial", "refresh", "removal", "removal-all"):
                self.flow_failed(flow, f"send failed: {exc}")
            return None
        self.rec(flow, "out", "sip", f"{req.method} ({kind})", req)
        now = self.clock()
        txn = ClientTransaction(reliable=flow.transport != "udp", t1=self.cfg.t1, t2=self.cfg.t2,
                                timeout=self.cfg.transaction_timeout, started=now)
        return Pending(kind, req, txn, challenges)

    def send_keepalive(self, flow: UeFlow) -> None:
        now = self.clock()
        flow.keepalive_at = now + keepalive_interval(flow.transport, flow.flow_timer, self.rng,
                                                     too_slow=self.fault == "keepalive-too-slow")  # FAULT
        try:
            if flow.transport == "udp":
                if flow.stun is not None:
                    return  # the Binding request in flight is being retransmitted (RFC 5389 §7.2.1)
                tid = os.urandom(12)
                data = binding_request(tid)
                flow.send(data)
                rto = self.cfg.stun_rto
                flow.stun = StunCheck(tid, data, now, rto, now + rto, now + 16 * rto)
                self.rec(flow, "out", "stun", "Binding request")
            else:
                flow.send(b"\r\n\r\n")
                if flow.pong_deadline is None:
                    flow.pong_deadline = now + self.cfg.pong_timeout
                self.rec(flow, "out", "ping", "CRLF ping")
        except OSError as exc:
            self.flow_failed(flow, f"keep-alive not sent: {exc}")

    # -- receiving ------------------------------------------------------------------------------
    def on_readable(self, flow: UeFlow, sock) -> None:
        if flow.sock is not sock:
            return
        for frame in flow.read():
            kind = frame[0]
            if kind == "sip":
                try:
                    msg = parse_message(frame[1])
                except ParseError as exc:
                    self.rec(flow, "in", "note", f"unparseable SIP: {exc}")
                    continue
                self.rec(flow, "in", "sip", msg.summary(), msg)
                if isinstance(msg, Response):
                    self.on_response(flow, msg)
                else:
                    self.on_request(flow, msg)
            elif kind == "pong":
                self.rec(flow, "in", "pong", "CRLF pong")
                if flow.pong_deadline is not None:
                    flow.pong_deadline = None
                    self._kept_alive(flow)
            elif kind == "stun":
                self.on_stun(flow, frame[1])
            elif kind == "closed":
                self.flow_failed(flow, frame[1])
            if flow.sock is not sock:
                return

    def _kept_alive(self, flow: UeFlow) -> None:
        flow.successful = True
        flow.failures = 0

    def on_stun(self, flow: UeFlow, data: bytes) -> None:
        parsed = parse(data)
        if not parsed or flow.stun is None or parsed[2] != flow.stun.tid:
            self.rec(flow, "in", "stun-response", "not an answer to the Binding request in flight")
            return
        _, cls, tid, attrs = parsed
        flow.stun = None
        xma = [v for t, v, _ in attrs if t == ATTR_XOR_MAPPED_ADDRESS]
        if cls != CLASS_SUCCESS or not xma:
            self.rec(flow, "in", "stun-response", f"class {cls}")
            self.flow_failed(flow, "STUN Binding error response (RFC 5626 §4.4.2)")
            return
        try:
            mapped = decode_xor_address(xma[0], tid)
        except ValueError as exc:
            self.flow_failed(flow, f"malformed XOR-MAPPED-ADDRESS: {exc}")
            return
        self.rec(flow, "in", "stun-response", f"XOR-MAPPED-ADDRESS {mapped[0]}:{mapped[1]}")
        if flow.mapped is not None and mapped != flow.mapped:
            self.flow_failed(flow, f"XOR-MAPPED-ADDRESS changed from {flow.mapped[0]}:{flow.mapped[1]} "
                             f"to {mapped[0]}:{mapped[1]} (RFC 5626 §4.4.2)")
            return
        flow.mapped = mapped
        self._kept_alive(flow)

    def _send(self, flow: UeFlow, req: Request, what: str) -> None:
        try:
            flow.send(req.to_bytes())
            self.rec(flow, "out", "sip", what, req)
        except OSError as exc:
            self.rec(flow, "-", "note", f"{req.method} not sent: {exc}")

    def _end_call(self, flow: UeFlow, invite: Request, resp: Response) -> None:
        """ACK the final response; a 2xx is ACKed and the dialog ended with BYE at once."""
        if resp.status >= 300:
            self._send(flow, ack_for(invite, resp), "ACK")
            return
        ack = in_dialog(invite, resp, "ACK", invite.cseq[0])
        self.acks[invite.call_id] = ack
        self._send(flow, ack, "ACK")
        bye = in_dialog(invite, resp, "BYE", invite.cseq[0] + 1)
        pending = self._transmit(flow, bye, "bye")
        if pending is not None:
            self.others[bye.top_branch] = (flow, pending)

    def on_request(self, flow: UeFlow, req: Request) -> None:
        if req.method == "ACK":
            return  # RFC 3261 §17.2.1: absorbed by the INVITE server transaction, never answered
        status, reason = uas_status(req)
        resp = build_response(req, status, reason, to_tag=new_tag())
        try:
            flow.send(resp.to_bytes())
        except OSError as exc:
            self.flow_failed(flow, f"cannot answer {req.method}: {exc}")
            return
        self.rec(flow, "out", "sip", resp.summary(), resp)

    def on_response(self, flow: UeFlow, resp: Response) -> None:
        branch = resp.top_branch
        if branch in self.others:
            _, pending = self.others[branch]
            if pending.txn.on_response(resp.status):
                del self.others[branch]
                if pending.kind == "invite":
                    self._end_call(flow, pending.request, resp)
            return
        if resp.cseq and resp.cseq[1] == "INVITE" and 200 <= resp.status < 300 and resp.call_id in self.acks:
            self._send(flow, self.acks[resp.call_id], "ACK (2xx retransmitted)")
            return
        pending = flow.pending
        if pending is None or pending.request.top_branch != branch:
            return
        if not pending.txn.on_response(resp.status):
            return
        flow.pending = None
        on_register_response(self, flow, pending, resp)
        if flow.pending is None:
            self.run_queued(flow)

__all__ = ["Engine"]
