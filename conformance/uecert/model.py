"""UE certification as plain data: the target's ``ue:`` block and a UE case (sans-IO).

A UE case (``testcases/ue/*.yaml``, top-level ``role: ue``) says how the network behaves
(:class:`NetworkBehaviour`), what the suite tells the UE and the network to do, in order
(:class:`UeAction` s), and what is judged at the end (:class:`UeCheckSpec` s, over the whole
:class:`~conformance.uecert.observation.Observation`).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from ..yamlio.errors import Location

# RFC 5626 §4.5 defaults (seconds) and §4.4.1 keep-alive defaults.
MAX_TIME = 1800.0
BASE_TIME_ALL_FAILED = 30.0
BASE_TIME_NOT_ALL_FAILED = 90.0


@dataclass
class UeTimers:
    """What the UE is configured with, as the profile declares (None: the RFC's default).

    Time compression: a UE that lets the bases be configured (the reference UE does) is run with
    small values so §4.5 back-off is measured within a case; the checks judge against these.
    """

    max_time: float = MAX_TIME
    base_time_all_failed: float = BASE_TIME_ALL_FAILED
    base_time_not_all_failed: float = BASE_TIME_NOT_ALL_FAILED
    register_expires: int = 600  # what the network grants when the UE asks for more (0: as asked)


@dataclass
class UeProfile:
    """The ``ue:`` block of a target with ``role: ue``."""

    driver: str = "reference"  # reference | baresip | jssip | command (conformance.uecert.drivers)
    # driver options, free-form per driver (e.g. baresip: {binary, modules}, command: {register: "..."})
    options: dict[str, Any] = field(default_factory=dict)
    # how the UE process is started / stopped when the driver does not own it (command lines)
    managed: dict[str, Any] = field(default_factory=dict)
    timers: UeTimers = field(default_factory=UeTimers)
    # the instance-id the UE is configured with, if the profile knows it (None: learnt from traffic)
    instance: str | None = None
    # a deliberate fault of the reference UE (conformance.uecert.refue.FAULTS), None: conformant
    fault: str | None = None
    # how long the network waits for the UE's first REGISTER after the driver started it
    start_timeout: float = 15.0


@dataclass
class NetworkBehaviour:
    """How the network side answers in a case (all off: a conformant RFC 5626 edge + registrar).

    Each knob is one situation the issue asks to provoke; ``None`` / False leaves the default.
    """

    outbound: bool = True  # registrar applies outbound: Require: outbound + reg-id bindings
    path_ob: bool = True  # the edge adds Path with a flow token and ;ob (False: a Rel-7 edge, no ;ob)
    flow_timer: int | None = None  # Flow-Timer in the 2xx (RFC 5626 §4.4 / §6 ¶9)
    reject: dict | None = None  # {status: 439|430|503|403, retry_after: N, count: N (default 1), match: initial|refresh|any}
    drop_pongs: bool = False  # the edge answers no CRLF ping / STUN request (from drop_pongs_after s)
    drop_pongs_after: float = 0.0
    stun_mapped: str | None = None  # XOR-MAPPED-ADDRESS the STUN server reports ("ip:port"), None: true source
    stun_mapped_after: float | None = None  # ... from this many seconds on (a changed mapping)
    expires: int | None = None  # Expires granted in the 2xx (None: UeTimers.register_expires)
    auth: bool = False  # challenge the first REGISTER of each flow with 401 (digest, or AKA if sec-agree)
    sec_agree: bool = False  # IMS: answer Security-Client with Security-Server (TS 33.203)
    gruu: bool = False  # pub-gruu / temp-gruu in the 2xx Contact


@dataclass
class UeAction:
    """One line of a UE case's script.

    ``actor`` is ``ue`` (an instruction to the UE through its driver), ``network`` (something the
    network side does) or ``await`` (wait, bounded, until the observation shows something).
    ``name`` is the action (see ACTIONS below), ``args`` its arguments from YAML.
    """

    actor: str
    name: str
    args: dict[str, Any] = field(default_factory=dict)
    location: Location | None = None


# The actions a script may use: actor -> name -> one line of what it does (docs and schema).
ACTIONS: dict[str, dict[str, str]] = {
    "ue": {
        "start": "start the UE (it registers on its own, as booted: flow 1)",
        "register": "register a flow: {flow: N (default 1), address: IPn (default the flow's)}",
        "add_flow": "register an additional flow from another address: {address: IPn} (Reg2)",
        "move": "the flow's address changes (lost coverage, Reg1b): {flow: N, address: IPn}",
        "deregister": "remove one flow {flow: N} or all bindings {all: true} (Contact: *)",
        "call": "send a dialog-forming request (MESSAGE/INVITE) to {to: AOR}",
        "stop": "stop the UE (it may de-register first)",
    },
    "network": {
        "close_flow": "close the flow's connection / forget its UDP flow: {flow: N}",
        "send_request": "a request to the UE's AOR over the registered flow: {method: MESSAGE}",
        "notify_deregistered": "a reg-event NOTIFY that deregisters the UE's contact(s)",
        "behave": "change the network behaviour from here on: {<NetworkBehaviour field>: value}",
    },
    "await": {
        "register": "until the UE sent N REGISTERs more (of a kind): {count: 1, kind: initial|refresh|removal|any, within: s}",
        "keepalives": "until N keep-alives more came on a flow: {count: 2, flow: N, within: s}",
        "time": "observe for {seconds: s}",
        "response": "until the UE answered the last network request: {within: s}",
    },
}


@dataclass
class UeCheckSpec:
    """One check over the observation: ``kind`` names a check of ``conformance.uecert.checks``."""

    kind: str
    args: dict[str, Any] = field(default_factory=dict)
    level: str | None = None  # override of the check's declared level (with a ref that justifies it)
    ref: str | None = None
    location: Location | None = None


@dataclass
class UeCaseSpec:
    id: str  # "UE-REG-001"
    title: str
    purpose: str
    test_purposes: list[str] = field(default_factory=list)
    references: list[str] = field(default_factory=list)
    requirements: list[str] = field(default_factory=list)  # R1..R3 markers, as network cases
    # UE capabilities the case needs (outbound, crlf-keepalive, stun-keepalive, sec-agree, gruu,
    # multi-flow, move, ...): not applicable, with the reason, when the UE does not declare one
    requires: list[str] = field(default_factory=list)
    transports: list[str] = field(default_factory=lambda: ["udp", "tcp"])
    network: NetworkBehaviour = field(default_factory=NetworkBehaviour)
    script: list[UeAction] = field(default_factory=list)
    checks: list[UeCheckSpec] = field(default_factory=list)
    long: bool = False  # runs for minutes (RFC default timers): make run-ue only, never make test
    location: Location | None = None
    path: str = ""
