"""The sec-agree state of one flow (its ports, SA set, AKA outcome), and why ESP may be unavailable.

Shared by the three ways a flow carries ESP: raw ESP sockets (engine/secreg.py), ESP in UDP
(engine/encapsec.py) and TCP over ESP (engine/esptcp.py).
"""

from __future__ import annotations

from dataclasses import dataclass, field

from ..ims.aka import AkaResult, SqnState
from ..ims.errors import AkaError
from ..ims.espio import EspHub, EspUnavailable
from ..ims.sa import SaSet
from ..ims.secagree import IpsecMechanism
from ..sip.headers import AuthParams, SecurityMechanism


@dataclass
class Usim:
    """The UE's credentials and SQN record (one per UE, i.e. per IMPI)."""

    algo: object
    sqns: SqnState


@dataclass
class FlowSec:
    """sec-agree state of one flow."""

    port_uc: int
    port_us: int
    esp: object                   # EspFlowEndpoint, EncapFlowEndpoint or TcpEspFlowEndpoint
    offer: list[tuple[str, str]]
    client: list[IpsecMechanism] = field(default_factory=list)
    server_raw: list[SecurityMechanism] = field(default_factory=list)
    server: IpsecMechanism | None = None
    challenge: AuthParams | None = None
    aka: AkaResult | None = None
    aka_error: AkaError | None = None
    aka_note: str = ""
    previous_nonce: str | None = None
    sas: SaSet | None = None
    established: bool = False
    nc: int = 0
    last_authorization: str | None = None
    changed_spis: set = field(default_factory=set)   # spi-c values sent in a changed Security-Client
    esp_spis: list = field(default_factory=list)     # SPI of every ESP packet received, in order
    servers: list = field(default_factory=list)      # each Security-Server received, as sent (TP_SEC_021)


def esp_hub() -> EspHub:
    """The process's raw ESP socket hub, or SecUnavailable (no root, no ESP)."""
    try:
        return EspHub.shared()
    except EspUnavailable as exc:
        raise SecUnavailable(str(exc)) from None


class SecUnavailable(Exception):
    """No raw ESP sockets here: the step cannot run (inconclusive, with the reason)."""
