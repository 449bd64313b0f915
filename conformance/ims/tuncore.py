"""The sans-IO half of the TUN gateway (:mod:`.tungw`): a user-space stand-in for kernel xfrm.

Kernel TCP sockets of the UE and of the P-CSCF are bound to the gateway's TUN device, so every
segment they send comes out of the TUN as a clear IPv4 packet.  :meth:`GatewayCore.outbound`
picks the SA for it by its selectors (source address and port, destination address and port:
TS 33.203 7.1, the SPD of RFC 4301 §4.4.1) and returns the transport-mode ESP packet to send
(RFC 4303 §3.1.1: the ESP header goes between the IP header and the segment, whose checksum
stays valid because the outer addresses are the inner ones).  :meth:`GatewayCore.inbound`
checks an ESP packet on the binding that claimed its SPI (replay window, ICV, selectors: all in
:class:`~.endpoint.EspEndpoint`) and returns the clear packet to write back into the TUN.

A *binding* is one owner's SA set: the UE's (:class:`Binding` over an ``EspEndpoint(sas, "ue")``)
or a *protector* function standing for a P-CSCF whose SA sets change under its own lock.
Packets that match no SA are dropped with the reason (a host without the SA would not send
them in clear either: RFC 4301 §5.1, DISCARD).
"""

from __future__ import annotations

import struct
from collections import deque
from dataclasses import dataclass, replace
from typing import Callable, Optional

from .endpoint import EspEndpoint
from .errors import EspError, MalformedEsp
from .esp import PROTO_ESP, PROTO_TCP, PROTO_UDP, EspCodec
from .ippkt import ipv4_unwrap, ipv4_wrap

__all__ = ["Binding", "GatewayCore", "Selector", "clear_selector", "tcp_payload_len",
           "NEGATIVE_MODES"]

#: (source address, source port, destination address, destination port)
Selector = tuple[str, int, str, int]
#: a protector: the ESP packet for a clear one, or None when it has no SA for it
Protector = Callable[[bytes], Optional[bytes]]
#: deliberate faults on a UE binding's data segments (negative cases over TCP)
NEGATIVE_MODES = (None, "tamper_icv", "wrong_spi")


def clear_selector(packet: bytes) -> tuple[Selector, int, bytes]:
    """(selector, protocol, segment) of a clear IPv4 TCP/UDP packet (:class:`MalformedEsp`
    for anything else: IPv6, fragments, other protocols)."""
    src, dst, proto, segment = ipv4_unwrap(packet)
    if proto not in (PROTO_TCP, PROTO_UDP) or len(segment) < 8:
        raise MalformedEsp(f"IP protocol {proto} is neither TCP nor UDP")
    sport, dport = struct.unpack_from("!HH", segment)
    return (src, sport, dst, dport), proto, segment


def tcp_payload_len(segment: bytes) -> int:
    """Octets of data in a TCP segment (0 for a bare SYN, ACK or FIN)."""
    if len(segment) < 20:
        return 0
    return max(0, len(segment) - (segment[12] >> 4) * 4)


class Binding:
    """One SA set of one owner in the gateway.

    ``role`` is the side the endpoint plays ("ue" or "pcscf"); the binding sends on its outbound
    SAs and opens what arrives on its inbound SPIs.  ``mode`` is a negative stimulus applied to
    segments that carry data (never to the handshake, so the connection still opens):
    ``tamper_icv`` flips one ICV bit, ``wrong_spi`` seals under ``wrong_spi_value``.
    """

    def __init__(self, endpoint: EspEndpoint, role: str, name: str = "",
                 on_packet: Callable[[str, bytes], None] | None = None):
        self.endpoint, self.role, self.name = endpoint, role, name
        self.on_packet = on_packet
        self.mode: str | None = None
        self.wrong_spi_value: int | None = None
        self.selectors: set[Selector] = {(sa.src, sa.sport, sa.dst, sa.dport)
                                         for sa in endpoint.sas.outbound(role)}
        self.inbound_spis = [sa.spi for sa in endpoint.sas.inbound(role)]
        self.sent = self.received = 0
        self.last_inbound: dict[tuple[int, int], tuple[int, int]] = {}  # (sport, dport) -> (SA, seq)

    def seal(self, selector: Selector, proto: int, segment: bytes) -> bytes:
        src, sport, dst, dport = selector
        mode = self.mode if proto == PROTO_TCP and tcp_payload_len(segment) else None
        if mode == "wrong_spi":
            sa = self.endpoint.sas.for_ports(sport, dport)
            other = self.wrong_spi_value or (sa.spi ^ 0x5A5A5A5A) or 0x1234
            esp = EspCodec.from_sa(replace(sa, spi=other)).seal(1, proto, segment)
        else:
            _, esp = self.endpoint.protect(sport, dport, proto, segment)
            if mode == "tamper_icv":
                esp = esp[:-1] + bytes([esp[-1] ^ 0x01])
        self.sent += 1
        return ipv4_wrap(src, dst, PROTO_ESP, esp)

    def open(self, packet: bytes) -> bytes:
        """The clear packet for an inbound ESP packet (raises :class:`EspError`)."""
        src, dst, proto, esp = ipv4_unwrap(packet)
        if proto != PROTO_ESP:
            raise MalformedEsp(f"IP protocol {proto} is not ESP")
        inbound = self.endpoint.unprotect(esp)
        sa = inbound.sa
        if (src, dst) != (sa.src, sa.dst):
            raise EspError(f"SA {sa.number} (SPI {sa.spi:#x}) is {sa.src} -> {sa.dst}, the packet "
                           f"came {src} -> {dst}")
        self.received += 1
        self.last_inbound[(sa.sport, sa.dport)] = (sa.number, inbound.packet.seq)
        return ipv4_wrap(src, dst, inbound.packet.next_header, inbound.packet.payload)


@dataclass(frozen=True)
class Outbound:
    packet: bytes                 # the ESP packet to send
    binding: Binding | None       # None: a protector sealed it


class GatewayCore:
    """Bindings by selector (outbound) and by SPI (inbound), protectors, and drop reasons."""

    def __init__(self, max_reasons: int = 64):
        self.by_selector: dict[Selector, Binding] = {}
        self.by_spi: dict[int, Binding] = {}
        self.protectors: list[Protector] = []
        self.dropped = 0
        self.reasons: deque[str] = deque(maxlen=max_reasons)

    def attach(self, binding: Binding) -> None:
        for sel in binding.selectors:
            owner = self.by_selector.get(sel)
            if owner is not None and owner is not binding:
                raise EspError(f"selector {sel} is already bound to {owner.name or 'another SA set'}")
        for sel in binding.selectors:
            self.by_selector[sel] = binding
        for spi in binding.inbound_spis:
            self.by_spi[spi] = binding

    def detach(self, binding: Binding) -> None:
        for sel in binding.selectors:
            if self.by_selector.get(sel) is binding:
                del self.by_selector[sel]
        for spi in binding.inbound_spis:
            if self.by_spi.get(spi) is binding:
                del self.by_spi[spi]

    def drop(self, why: str) -> None:
        self.dropped += 1
        self.reasons.append(why)

    def outbound(self, packet: bytes) -> Outbound | None:
        """What a clear packet from the TUN becomes (None: dropped, the reason recorded)."""
        if not packet or packet[0] >> 4 != 4:
            return None                            # IPv6 noise of the device: not ours
        try:
            selector, proto, segment = clear_selector(packet)
        except EspError as exc:
            self.drop(f"clear packet not sealed: {exc}")
            return None
        binding = self.by_selector.get(selector)
        if binding is not None:
            try:
                return Outbound(binding.seal(selector, proto, segment), binding)
            except EspError as exc:
                self.drop(f"{binding.name}: {exc}")
                return None
        for protector in list(self.protectors):
            try:
                sealed = protector(packet)
            except EspError as exc:
                self.drop(f"protector: {exc}")
                return None
            if sealed is not None:
                return Outbound(sealed, None)
        self.drop("no SA for {}:{} -> {}:{}".format(*selector))
        return None

    def inbound(self, packet: bytes) -> tuple[Binding, bytes] | None:
        """(binding, clear packet for the TUN) for an ESP packet (None: dropped)."""
        if len(packet) < 28 or packet[0] >> 4 != 4:
            self.drop("not an IPv4 ESP packet")
            return None
        ihl = (packet[0] & 0x0F) * 4
        spi = struct.unpack_from("!I", packet, ihl)[0] if len(packet) >= ihl + 8 else None
        binding = self.by_spi.get(spi)
        if binding is None:
            self.drop(f"ESP with SPI {spi:#x} bound to no SA set" if spi is not None else "short ESP")
            return None
        try:
            return binding, binding.open(packet)
        except EspError as exc:
            self.drop(f"{binding.name}: {exc}")
            return None
