"""The exchange: a request out, its final response back, with every open endpoint watched
meanwhile so requests the SUT sends to any UE flow (a terminating request, a NOTIFY, what reaches
the emulated registrar) are recorded and answered as the UE, or REG-T, would.

Nothing here waits without a bound: every exchange ends at a final response, a transport event
or the transaction timeout; every wait is capped at :data:`MAX_WAIT_STEP`.
"""

from __future__ import annotations

import selectors
import time

from ..meaning.verdict import FAIL, Finding
from ..sip.errors import ParseError
from ..sip.headers import parse_name_addr
from ..sip.message import Request, Response, parse_message
from ..sip.transports import is_stream
from ..ue.transaction import RETRANSMIT, TIMEOUT, ClientTransaction
from ..ue.uas import build_response
from ..ue.model import new_tag
from .dialogs import regt_answer as dialog_regt_answer, ue_response as dialog_ue_response
from .espstate import EspState
from .keepalive_log import KeepaliveLog
from .regt import answer as regt_registrar_answer
from .transport import Addr, Incoming, TcpListenEndpoint, TransportError
from .ue_answers import ue_answer

MAX_WAIT_STEP = 30.0


class Exchange:
    """The exchange half of a case run (mixed into :class:`~conformance.engine.runner.CaseRun`)."""

    def __init__(self) -> None:
        self.deliveries: list[tuple[str, Request, int]] = []  # (flow, request, message index)
        self.forwarded: list[tuple[Request, int, Response | None]] = []  # what reached REG-T
        self.step_marks = (0, 0)  # (forwarded, deliveries) at the start of the current step
        self.uas_tag = new_tag()
        self._garbage = 0
        self._first_garbage = ""
        self._unmatched: list[str] = []  # why responses of the current exchange matched no request
        self._pending_dst: Addr | None = None  # where the request of the current exchange went
        self._exchange_findings: list[Finding] = []  # what the exchange itself saw (a missing To tag)

    def take_exchange_findings(self) -> list[Finding]:
        """What the last exchange itself found (a final response without a To tag), once."""
        found, self._exchange_findings = self._exchange_findings, []
        return found

    @staticmethod
    def _matches(request: Request, response: Response) -> bool:
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
        try:
            parse_name_addr(request.get("To") or "")
            tag = parse_name_addr(response.get("To") or "").params.get("tag")
        except ParseError:
            return
        if not tag:
            self._exchange_findings.append(Finding(
                check="To tag in the final response", level="MUST", ref="RFC 3261 §8.2.6.2", outcome=FAIL,
                expected="a To header field with a tag", observed=f"To: {response.get('To')}",
                step=self.current_step))

    def _drain(self, flow_name: str, ep, items: list[Incoming], request: Request | None):
        """Record what arrived on one endpoint; answer requests from the SUT (the UE's UAS role).

        Returns (responses matching ``request``, closed note or None).
        """
        responses: list[tuple[Response, int]] = []
        closed = None
        for inc in items:
            if inc.kind == "closed":
                closed = inc.note
                self.record("received", flow_name, ep.transport, inc.src, ep.local, b"", inc.note, inc.note)
                continue
            if inc.kind == "icmp":
                self.record("received", flow_name, ep.transport, inc.src, ep.local, b"", inc.note, inc.note)
                if self._pending_dst is not None and tuple(inc.src) == tuple(self._pending_dst):
                    closed = inc.note
                continue
            if inc.kind == "garbage" and not inc.data and inc.note:
                self.record("received", flow_name, ep.transport, inc.src, ep.local, b"", inc.note, inc.note)
                continue
            if inc.kind in ("pong", "ping", "stun", "ws-ping", "ws-pong"):
                label = {"pong": "CRLF pong", "ping": "CRLF ping", "stun": "STUN", "ws-ping": "WebSocket Ping",
                         "ws-pong": "WebSocket Pong"}[inc.kind]
                idx = self.record("received", flow_name, ep.transport, inc.src, ep.local, inc.data, label)
                self.state(KeepaliveLog).seen.append((flow_name, inc.kind, inc.data, idx, self.now()))
                continue
            try:
                msg = parse_message(inc.data)
            except ParseError as exc:
                self.record("received", flow_name, ep.transport, inc.src, ep.local, inc.data,
                             "unparseable message", f"not SIP: {exc}")
                self._garbage += 1
                self._first_garbage = self._first_garbage or str(exc)
                continue
            idx = self.record("received", flow_name, ep.transport, inc.src, ep.local, inc.data, msg.summary(),
                               inc.note)
            if inc.meta is not None:
                self.state(EspState).meta[idx] = inc.meta
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
        conn = ep.fileno() if is_stream(ep.transport) else None
        response = regt_registrar_answer(self.regt_core, request, ep.transport, ep.local, src, conn, self.now())
        self.forwarded.append((request, idx, response))
        if response is None:
            return
        data = response.to_bytes()
        try:
            ep.send(data, src)
        except TransportError as exc:
            self.messages[idx].note = f"REG-T could not answer: {exc}"
            return
        self.record("sent", "reg-t", ep.transport, ep.local, src, data, response.summary(), "answer of REG-T")

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
        status, reason = ue_answer(self, flow_name, request)   # engine/ue_answers.py
        response = dialog_ue_response(self, flow_name, request) or \
            build_response(request, status, reason, to_tag=self.uas_tag)
        data = response.to_bytes()
        try:
            ep.send(data, src)
        except TransportError as exc:
            self.messages[idx].note = f"could not answer: {exc}"
            return
        self.record("sent", flow_name, ep.transport, ep.local, src, data, response.summary(), "answer of the UE")

    def _live_endpoints(self) -> list[tuple[str, object]]:
        return [(name, ep) for name, ep in self.endpoints.items() if not ep.closed]

    def poll(self, sel, timeout: float, request: Request | None):
        """Wait up to ``timeout`` on every open endpoint; return (responses to request, closed notes)."""
        responses: list[tuple[Response, int]] = []
        closed: dict[str, str] = {}
        # what an endpoint already holds (a tls/ws/wss flow: SIP that came with the end of its
        # handshake) is read now, whatever the socket says
        held = [k for k in sel.get_map().values() if getattr(k.fileobj, "pending", False)]
        keys = [k for k, _ in (sel.select(timeout) if timeout > 0 and not held else sel.select(0))]
        for key in keys + [k for k in held if k not in keys]:
            ep = key.fileobj
            if isinstance(ep, TcpListenEndpoint):
                for conn in ep.accept():
                    name = f"{key.data.removesuffix('-listen')}#{conn.fileno()}"  # reg-t#7, f1@contact#7
                    self.endpoints[name] = conn
                    sel.register(conn, selectors.EVENT_READ, name)
                continue
            items = ep.read()
            # "f1~esp", "f1~uc": the protected ports of flow f1 (engine/secreg.py)
            got, note = self._drain(key.data.split("~")[0], ep, items, request)
            responses.extend(got)
            if note:
                closed[key.data] = note
            if ep.closed:
                sel.unregister(ep)
        return responses, closed

    def selector(self):
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
        dst = dst or self.dst_of(ep)
        data = request.to_bytes()
        try:
            ep.send(data, dst)
        except TransportError as exc:
            idx = self.record("sent", flow_name, ep.transport, ep.local, dst, data, request.summary(),
                               f"send failed: {exc}")
            return None, idx, None, str(exc)
        req_idx = self.record("sent", flow_name, ep.transport, ep.local, dst, data, request.summary())
        return self.await_final(flow_name, ep, request, req_idx, timeout, dst)

    def await_final(self, flow_name: str, ep, request: Request, req_idx: int, timeout: float | None = None,
                    dst: Addr | None = None):
        """Wait, bounded, for the final response to ``request`` (already on the wire, recorded
        as ``req_idx``), retransmitting it as the client transaction says.  Same tuple as
        :meth:`exchange`."""
        dst = dst or self.dst_of(ep)
        self._pending_dst = tuple(dst)
        self._unmatched = []
        self._exchange_findings = []
        try:
            return self._await(flow_name, ep, request, req_idx, timeout, dst)
        finally:
            self._pending_dst = None

    def _await(self, flow_name, ep, request, req_idx, timeout, dst):
        data = request.to_bytes()
        timers = self.target.timers
        bound = timeout if timeout is not None else timers.response
        tx = ClientTransaction(reliable=is_stream(ep.transport), t1=timers.t1, t2=timers.t2, timeout=bound,
                               started=self.now())
        self._garbage, self._first_garbage = 0, ""
        with self.selector() as sel:
            while True:
                deadline = tx.next_deadline()
                wait = max(0.0, deadline - self.now()) if deadline is not None else 0.0
                responses, closed = self.poll(sel, wait, request)
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
                if responses or closed or self.now() < (tx.next_deadline() or 0):
                    continue
                event = tx.on_timer(self.now())
                if event == RETRANSMIT:
                    try:
                        ep.send(data, dst)
                    except TransportError as exc:
                        return None, req_idx, None, str(exc)
                    self.record("sent", flow_name, ep.transport, ep.local, dst, data, request.summary(),
                                 f"retransmission {tx.retransmissions} (RFC 3261 §17.1.2.2)")
                elif event == TIMEOUT:
                    extra = (f"; {self._garbage} unparseable message(s) received (first: {self._first_garbage})"
                             if self._garbage else "")
                    retx = f" after {tx.retransmissions} retransmission(s)" if tx.retransmissions else ""
                    return None, req_idx, None, (f"no final response within {bound:g} s{retx}{extra}"
                                                 f"{self._incomplete(ep)}{self._explain()}")

    def wait(self, seconds: float, until=None) -> None:
        """Listen on every open endpoint for ``seconds`` (at most 30), or until ``until()`` holds."""
        deadline = self.now() + min(seconds, MAX_WAIT_STEP)
        with self.selector() as sel:
            while True:
                left = deadline - self.now()
                if left <= 0 or (until is not None and until()):
                    return
                if not sel.get_map():
                    time.sleep(left)  # nothing to listen to: the wait is the step itself
                    return
                self.poll(sel, left, None)

