"""The run API: what a step kind's ``live(run, step, result)`` may use of the case run.

:class:`RunApi` names it (a typing Protocol: step modules annotate ``run: RunApi``);
:class:`~conformance.engine.runner.CaseRun` provides it.  Per-feature state (digest, dialogs,
SA sets, keep-alives, REGISTER answers) is not bolted onto the run: a feature defines a state
class and asks ``run.state(Cls)`` for the run's one instance of it.
"""

from __future__ import annotations

from typing import Any, Callable, Protocol, TypeVar

from ..cases.model import CaseSpec, StepSpec
from ..meaning.checks import CheckContext
from ..meaning.results import MessageRecord, StepResult
from ..sip.message import Request, Response
from ..targets.model import Target
from ..ue.model import UE, FlowState
from .pcap import PcapRecorder
from .transport import Addr

S = TypeVar("S")

#: (final response or None, request index, response index or None, why no response)
Outcome = tuple[Response | None, int, int | None, str]


class StepNotPossible(Exception):
    """A step cannot be carried out because what it acts on never happened (an earlier check
    already judged that): the case stops there, inconclusive for this step, and the earlier
    findings keep their verdict (a fail stays a fail)."""


class RunStates:
    """One instance per state class and run, made on first use."""

    def __init__(self) -> None:
        self._states: dict[type, Any] = {}

    def state(self, cls: type[S]) -> S:
        found = self._states.get(cls)
        if found is None:
            found = self._states[cls] = cls()
        return found


class RunApi(Protocol):
    case: CaseSpec
    target: Target
    transport: str
    sut: Addr
    peer: Addr
    topology: Any
    nat_mark: int        # where this case's part of the NAT capture starts
    strict: bool
    run_token: str
    item_id: str
    messages: list[MessageRecord]
    steps: list[StepResult]
    ues: dict[str, UE]
    endpoints: dict[str, Any]
    closed_flows: set[str]
    deliveries: list[tuple[str, Request, int]]
    forwarded: list[tuple[Request, int, Response | None]]
    step_marks: tuple[int, int]
    uas_tag: str
    pcap: PcapRecorder
    mappings: dict[str, list[Addr]]
    wall_start: float

    def state(self, cls: type[S]) -> S: ...
    def flow(self, name: str) -> tuple[UE, FlowState]: ...
    def endpoint(self, flow: FlowState, *, new_connection: bool = False) -> Any: ...
    def sut_for(self, ip: str) -> Addr: ...
    def dst_of(self, ep: Any) -> Addr: ...
    def sock_factory(self, ip: str, site: int = 1) -> Callable | None: ...
    def keylog_file(self) -> str: ...
    def flow_mapping(self, flow: FlowState) -> Addr | None: ...
    def record(self, direction: str, flow: str, transport: str, src: Addr, dst: Addr, data: bytes,
               summary: str, note: str = "") -> int: ...
    def on_wire(self, direction: str, transport: str, src: Addr, dst: Addr, data: bytes, event: str) -> None: ...
    def on_esp_packet(self, direction: str, packet: bytes) -> None: ...
    def exchange(self, flow_name: str, ep: Any, request: Request, timeout: float | None = None,
                 dst: Addr | None = None) -> Outcome: ...
    def await_final(self, flow_name: str, ep: Any, request: Request, req_idx: int,
                    timeout: float | None = None, dst: Addr | None = None) -> Outcome: ...
    def send_and_judge(self, step: StepSpec, result: StepResult, ue: UE, flow_name: str, ep: Any,
                       request: Request) -> None: ...
    def take_exchange_findings(self) -> list: ...
    def selector(self) -> Any: ...
    def poll(self, sel: Any, timeout: float, request: Request | None) -> tuple[list, dict]: ...
    def wait(self, seconds: float, until: Callable[[], bool] | None = None) -> None: ...
    def context(self, ue: UE, request: Request | None, response: Response | None, why: str,
                ue_override: str | None = None) -> CheckContext: ...
    def judge(self, step: StepSpec, result: StepResult, ctx: CheckContext, response_index: int | None) -> None: ...
    def now(self) -> float: ...
    def wall(self) -> float: ...
