"""One side's IPsec state (UE or P-CSCF) over the four SAs: SPD by port pair, SAD by SPI.

``EspEndpoint(sa_set, "ue")`` protects what the UE sends from its protected ports (SA 1 and 4)
and unprotects what arrives on SA 2 and 3; the P-CSCF endpoint is the mirror image.  After
decryption the inner UDP/TCP ports must match the SA's selectors (RFC 4301 §5.2, an inbound
selector check; TP_SEC_015 d), else :class:`SelectorMismatch`.
"""

from __future__ import annotations

import os
from dataclasses import dataclass
from typing import Callable

from .errors import EspError
from .esp import PROTO_ESP, PROTO_UDP, EspCodec, EspPacket, EspReceiver, EspSender
from .ippkt import ipv4_unwrap, ipv4_wrap, transport_ports, udp_build, udp_parse
from .sa import SaSet, SaSpec

__all__ = ["EspEndpoint", "Inbound", "SelectorMismatch"]


class SelectorMismatch(EspError):
    """A packet that verified on an SA but carries other ports than the SA's."""


@dataclass(frozen=True)
class Inbound:
    sa: SaSpec
    packet: EspPacket
    src: str | None = None
    dst: str | None = None


class EspEndpoint:
    def __init__(self, sas: SaSet, role: str, *, window: int = 64,
                 iv_source: Callable[[int], bytes] = os.urandom):
        self.sas, self.role = sas, role
        self.senders = {(s.sport, s.dport): (s, EspSender(EspCodec.from_sa(s),
                                                          iv_source=iv_source))
                        for s in sas.outbound(role)}
        self.receiver = EspReceiver((EspCodec.from_sa(s) for s in sas.inbound(role)), window)

    def protect(self, sport: int, dport: int, next_header: int, segment: bytes, *,
                seq: int | None = None) -> tuple[SaSpec, bytes]:
        """(SA, ESP payload) for a segment from local ``sport`` to remote ``dport``."""
        try:
            sa, sender = self.senders[(sport, dport)]
        except KeyError:
            raise EspError(f"no outbound SA for ports {sport} -> {dport}") from None
        return sa, sender.seal(next_header, segment, seq=seq)

    def protect_udp(self, sport: int, dport: int, data: bytes, *,
                    seq: int | None = None) -> bytes:
        """A whole IPv4/ESP packet carrying a UDP datagram."""
        sa = self.sas.for_ports(sport, dport)
        if sa is None or sa.inbound_at == self.role:
            raise EspError(f"no outbound SA for ports {sport} -> {dport}")
        seg = udp_build(sa.src, sa.dst, sport, dport, data)
        _, esp = self.protect(sport, dport, PROTO_UDP, seg, seq=seq)
        return ipv4_wrap(sa.src, sa.dst, PROTO_ESP, esp)

    def unprotect(self, esp: bytes) -> Inbound:
        packet = self.receiver.open(esp)
        sa = self.sas.by_spi(packet.spi)
        ports = transport_ports(packet.next_header, packet.payload)
        if ports is not None and ports != (sa.sport, sa.dport):
            raise SelectorMismatch(f"SA {sa.number} (SPI {sa.spi:#x}) carried ports "
                                   f"{ports[0]} -> {ports[1]}, not {sa.sport} -> {sa.dport}")
        return Inbound(sa, packet)

    def unprotect_ipv4(self, ip_packet: bytes) -> tuple[Inbound, bytes]:
        """(Inbound, UDP data) of an IPv4/ESP/UDP packet."""
        src, dst, proto, esp = ipv4_unwrap(ip_packet)
        if proto != PROTO_ESP:
            raise EspError(f"IP protocol {proto} is not ESP")
        inbound = self.unprotect(esp)
        if inbound.packet.next_header != PROTO_UDP:
            raise EspError(f"next header {inbound.packet.next_header} is not UDP")
        data = udp_parse(inbound.packet.payload)[2]
        return Inbound(inbound.sa, inbound.packet, src, dst), data
