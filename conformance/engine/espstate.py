"""What a case run keeps about ESP: its SA sets (their keys go beside the pcap), the SA each
protected message arrived over, and the protected ports of UDP-encapsulated flows.

One instance per run, made by ``run.state(EspState)`` the first time a sec-agree REGISTER or
an encapsulated flow needs it.
"""

from __future__ import annotations

from dataclasses import dataclass, field


@dataclass
class EspState:
    #: every SA set of the case (keys written beside the pcap)
    sa_sets: list = field(default_factory=list)
    #: message index -> the ESP SA it arrived over
    meta: dict[int, dict] = field(default_factory=dict)
    #: the protected ports of UDP-encapsulated flows (RFC 3948)
    encap_ports: set[int] = field(default_factory=set)
