"""The reference UE's configuration and the record of what crossed its sockets (plain data)."""

from __future__ import annotations

from dataclasses import dataclass, field

from ..model import UeTimers
from . import check_fault

TRANSPORTS = ("udp", "tcp", "tls", "ws", "wss")


@dataclass
class RefUeConfig:
    """Everything the reference UE is configured with (the driver fills it from the profile and
    the network's NetworkInfo)."""

    aor: str  # sip:user@domain
    impi: str
    password: str
    domain: str
    edge: dict[str, tuple[str, int]]  # transport -> the edge's (host, port)
    transport: str  # udp | tcp | tls | ws | wss
    addresses: list[str]  # the UE's loopback addresses (flow 1 uses the first)
    instance: str  # "<urn:uuid:...>"
    timers: UeTimers = field(default_factory=UeTimers)
    fault: str | None = None
    expires: int = 3600  # asked for in each REGISTER
    pong_timeout: float = 10.0  # RFC 5626 §4.4.1
    stun_rto: float = 0.5  # RFC 5389 §7.2.1 RTO; no answer after 16 RTO: flow failed (§4.4.2)
    t1: float = 0.5  # RFC 3261 §17.1.1.1
    t2: float = 4.0
    transaction_timeout: float = 8.0  # bound on Timer F (a silent network costs this, not 32 s)
    ca_file: str | None = None  # tls / wss: the CA the edge's certificate is checked against
    server_name: str | None = None  # tls / wss: the name checked (None: the domain)
    ws_path: str = "/"

    def __post_init__(self) -> None:
        check_fault(self.fault)
        if self.transport not in TRANSPORTS:
            raise ValueError(f"the reference UE speaks {', '.join(TRANSPORTS)}, not {self.transport!r}")
        if not self.addresses:
            raise ValueError("the reference UE needs at least one local address")


@dataclass
class Trace:
    """One thing that crossed the UE's sockets (or a decision the UE took)."""

    time: float  # clock seconds
    flow: int  # the flow number (0: not a flow's)
    reg_id: int | None
    transport: str
    local: tuple[str, int] | None
    direction: str  # "out" (sent by the UE), "in" (received) or "-" (a note)
    kind: str  # sip | ping | pong | stun | stun-response | open | close | failed | note
    text: str = ""
    msg: object = None  # the parsed SIP message for kind "sip"

    def __str__(self) -> str:
        local = f"{self.local[0]}:{self.local[1]}" if self.local else "-"
        return (f"{self.time:10.3f} flow {self.flow} reg-id {self.reg_id} {self.transport} {local} "
                f"{self.direction} {self.kind} {self.text}")


__all__ = ["TRANSPORTS", "RefUeConfig", "Trace"]
