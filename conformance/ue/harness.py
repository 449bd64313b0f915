"""The sans-IO UE against the reference registrar's sans-IO core, in memory.

Each REGISTER goes the way it goes on the wire, without a wire: the UE model builds it, it is
serialised and parsed again, the reference :class:`~conformance.sut.registrar.Registrar`
answers it on a :class:`~conformance.sut.flow.FlowInfo` naming the flow's address, and its
response is serialised and parsed for the UE.  The UE's client transaction carries each request
(over UDP a lost answer is retransmitted at Timer E), and time is a :class:`FakeClock` that the
caller and the transaction's timers move.  So registration behaviour (R1-R3: Reg1a, Reg2, Reg1b,
Rel-7) is testable and judged by the same check functions as a case, in microseconds and without
a socket.
"""

from __future__ import annotations

import uuid
from dataclasses import dataclass, field

from ..cases.model import EdgeSpec, FlowSpec, StepSpec
from ..meaning.checks import CheckContext, run_check
from ..meaning.checks.atomic import note_answer
from ..meaning.checks.unchanged import remember
from ..meaning.verdict import Finding
from ..sip.message import Request, Response, parse_message
from ..sut.config import SutConfig
from ..sut.flow import FlowInfo
from ..sut.registrar.registrar import Registrar
from .model import UE, FlowState, RegDialog, RegisterOptions, build_register, new_branch
from .transaction import RETRANSMIT, ClientTransaction

REGISTRAR_ADDRESS = ("192.0.2.100", 5060)
#: RFC 3261 timers of the UE's client transactions (section 17.1.1.1), Timer F = 64*T1.
T1, T2 = 0.5, 4.0
#: The first local port given to a flow (each flow gets the next).
FIRST_PORT = 40000


@dataclass
class FakeClock:
    """Monotonic seconds, moved only by :meth:`advance` (binding expiry, transaction cache)."""

    now: float = 1000.0

    def advance(self, seconds: float) -> float:
        self.now += seconds
        return self.now


@dataclass
class Exchange:
    """One REGISTER and its answer, as each side parsed the other's bytes."""

    flow: str
    action: str
    request: Request                 # as the registrar parsed it
    response: Response | None        # as the UE parsed it; None: no final response reached it
    context: CheckContext            # what a case's checks see for this exchange
    retransmissions: int = 0         # of the request, by the UE's client transaction (UDP)

    @property
    def status(self) -> int | None:
        return self.response.status if self.response is not None else None


@dataclass
class Harness:
    """One UE (one instance URN) and one reference registrar, sharing a fake clock."""

    config: SutConfig = field(default_factory=SutConfig)
    clock: FakeClock = field(default_factory=FakeClock)
    wire: list[tuple[str, str, bytes]] = field(default_factory=list)  # (direction, flow, bytes)

    def __post_init__(self) -> None:
        self.registrar = Registrar(self.config, tag_secret="in-memory")
        domain = self.config.domain
        self.ue = UE(name="a", user="ue-a", impu=f"sip:ue-a@{domain}", impi=f"ue-a@{domain}", domain=domain,
                     instance=UE.new_instance())
        self._register_history: list = []          # checks/unchanged.py
        self._register_answers: dict[str, list] = {}  # checks/atomic.py
        self._next_port = FIRST_PORT

    # -- the UE's side -----------------------------------------------------------------------
    def flow(self, name: str, address: str, reg_id: int | None, *, transport: str = "udp",
             edge: bool = True) -> FlowState:
        """A flow from ``address`` (the UE's IP on it).  ``edge``: the tester's emulated edge is
        in front of the registrar (a Via and a Path with ;ob), as in the registrar cases
        (``edge: {}``); False: the UE is the registrar's first hop."""
        emulated = EdgeSpec() if edge else None
        spec = FlowSpec(name=name, address=len(self.ue.flows) + 1, reg_id=reg_id, transport=transport, edge=emulated)
        state = FlowState(spec=spec, local_ip=address, transport=transport, local_port=self._next_port,
                          edge=emulated)
        self._next_port += 1
        state.port_uc = state.port_us = state.local_port
        self.ue.flows[name] = state
        return state

    def register(self, flow: str, action: str = "register", *, expires: int | None = 600,
                 call_id: str | None = None, lose: int = 0) -> Exchange:
        """One REGISTER step: ``action`` register | refresh | deregister | deregister_all | fetch;
        ``call_id`` "new", the name of another flow whose dialog to share (Reg1b), or None (the
        flow's own, new on its first REGISTER).  ``lose``: that many of the registrar's answers
        are lost on the way back; over UDP the UE's client transaction retransmits at Timer E
        (the clock moves to each deadline) until an answer arrives or Timer F fires."""
        state = self.ue.flows[flow]
        opts = RegisterOptions(kind=action, expires=0 if action == "deregister" else expires)
        self._dialog_for(state, call_id)
        request = build_register(self.ue, state, opts, branch=new_branch())
        transaction = ClientTransaction(reliable=state.transport != "udp", t1=T1, t2=T2, timeout=64 * T1,
                                        started=self.clock.now)
        response = None
        while True:
            received = self._to_registrar(flow, request)
            answer = self.registrar.handle(received, self._flow_info(state), self.clock.now)
            if answer is not None and lose > 0:
                lose -= 1
                self.wire.append(("lost", flow, answer.to_bytes()))
            elif answer is not None:
                response = self._to_ue(flow, answer)
                if transaction.on_response(response.status):
                    break
            self.clock.now = max(self.clock.now, transaction.next_deadline())
            if transaction.on_timer(self.clock.now) != RETRANSMIT:
                response = None                       # Timer F: no final response
                break
        context = self._context(flow, action, expires, request, response)
        return Exchange(flow, action, received, response, context, transaction.retransmissions)

    def _dialog_for(self, state: FlowState, call_id: str | None) -> None:
        if call_id == "new" or (state.dialog is None and call_id is None):
            state.dialog = RegDialog(call_id=f"{uuid.uuid4().hex}@{state.local_ip}")
        elif call_id is not None:
            state.dialog = self.ue.flows[call_id].dialog
        state.dialog.next_cseq()

    # -- the wire, without one ---------------------------------------------------------------
    def _to_registrar(self, flow: str, request: Request) -> Request:
        data = request.to_bytes()
        self.wire.append(("sent", flow, data))
        parsed = parse_message(data)
        assert isinstance(parsed, Request)
        return parsed

    def _to_ue(self, flow: str, response: Response) -> Response:
        data = response.to_bytes()
        self.wire.append(("received", flow, data))
        parsed = parse_message(data)
        assert isinstance(parsed, Response)
        return parsed

    def _flow_info(self, state: FlowState) -> FlowInfo:
        conn = state.local_port if state.transport == "tcp" else None
        return FlowInfo(state.transport, REGISTRAR_ADDRESS, (state.local_ip, state.local_port), conn)

    # -- what the checks see -----------------------------------------------------------------
    def _context(self, flow: str, action: str, expires: int | None, request: Request,
                 response: Response | None) -> CheckContext:
        step = StepSpec(action=action, flow=flow, options={} if expires is None else {"expires": expires})
        note_answer(self._register_answers, step, flow, self.ue.flows, response, request)
        ctx = CheckContext(
            request=request, response=response, instance=self.ue.instance,
            flow_contacts={f.name: self.ue.contact_uri(f) for f in self.ue.flows.values()},
            flow_reg_ids={f.name: f.reg_id for f in self.ue.flows.values()},
            flow_tokens={f.name: f.edge_token for f in self.ue.flows.values() if f.edge is not None},
            flow_addresses={f.name: (f.local_ip, f.local_port) for f in self.ue.flows.values()},
            no_response_reason=f"no final response before Timer F ({64 * T1:g} s)",
            register_history=list(self._register_history),
            register_answers={k: list(v) for k, v in self._register_answers.items()},
        )
        ctx.request_source = ctx.flow_addresses[flow]
        remember(self._register_history, response)
        return ctx


def judge(exchange: Exchange, checks: list[dict], *, strict: bool = False) -> list[Finding]:
    """Run a case's ``checks:`` list (``[{kind: args, level?: ..., ref?: ...}, ...]``) on one
    exchange through :func:`conformance.meaning.checks.run_check`, as a case step would."""
    found: list[Finding] = []
    for entry in checks:
        options = {k: entry[k] for k in ("level", "ref") if k in entry}
        [(kind, args)] = [(k, v) for k, v in entry.items() if k not in ("level", "ref")]
        found += run_check(kind, args, exchange.context, strict=strict, step=exchange.action, **options)
    return found


__all__ = ["Exchange", "FakeClock", "Harness", "REGISTRAR_ADDRESS", "judge"]
