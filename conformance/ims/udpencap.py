"""UDP-encapsulated ESP (RFC 3948) in the tunnel mode IMS uses behind a NAT (``mod=UDP-enc-tun``,
TS 33.203 Annex M), sans-IO: bytes in, bytes out, no sockets, no clocks.

Framing of a UDP payload (RFC 3948 §2):

* one octet ``0xFF``: a NAT-keepalive (§2.3), sent only to keep the NAT's mapping; the receiver
  ignores it;
* four zero octets first, the non-ESP marker (§2.2): an IKE message follows (there is no IKE in
  IMS, the SAs come from sec-agree: such payloads are refused);
* anything else of at least 8 octets: an ESP packet, SPI first (§2.1; an SPI is never 0, which
  is what tells ESP from the marker).

The UDP checksum of an encapsulating datagram is sent as zero (§2.1 "SHOULD be transmitted as a
zero value"), see :func:`outer_udp`.

Tunnel mode (RFC 4303 §3.1.2): the ESP payload is a whole inner IPv4 packet (next header 4)
between the SA's own addresses (the UE's address as the UE knows it, i.e. its private one
behind a NAT, and the P-CSCF's) and ports, here carrying UDP.  The outer addresses and ports
are whatever the NAT made of them.  After decryption the inner addresses, protocol and ports
must be the SA's selectors (RFC 4301 §5.2), else :class:`~.endpoint.SelectorMismatch`.

NAT-keepalives (RFC 3948 §4): sent when nothing else went to the peer for an interval
(:class:`KeepaliveSchedule`); 3GPP sends them from each protected port that must keep a
mapping open.
"""

from __future__ import annotations

import struct
from dataclasses import dataclass

from .endpoint import EspEndpoint, Inbound, SelectorMismatch
from .errors import EspError, MalformedEsp
from .ippkt import ipv4_unwrap, ipv4_wrap, udp_build, udp_parse
from .sa import SaSpec

__all__ = ["KEEPALIVE", "NON_ESP_MARKER", "PROTO_IPV4", "KEEPALIVE_INTERVAL", "classify",
           "seal_tunnel", "inner_packet", "open_tunnel", "outer_udp", "KeepaliveSchedule"]

KEEPALIVE = b"\xff"
NON_ESP_MARKER = b"\x00\x00\x00\x00"
PROTO_IPV4 = 4               # next header of a tunnel-mode ESP payload carrying IPv4
PROTO_UDP = 17
KEEPALIVE_INTERVAL = 20.0    # RFC 3948 §4: the default, in seconds
MIN_ESP = 8                  # SPI and sequence number


def classify(payload: bytes) -> str:
    """``keepalive``, ``non-esp`` (IKE behind the marker), ``esp`` or ``malformed``."""
    payload = bytes(payload)
    if payload == KEEPALIVE:
        return "keepalive"
    if payload[:4] == NON_ESP_MARKER and len(payload) >= 4:
        return "non-esp"
    if len(payload) < MIN_ESP:
        return "malformed"
    return "esp"


def seal_tunnel(endpoint: EspEndpoint, sa: SaSpec, data: bytes, *, seq: int | None = None) -> bytes:
    """The UDP payload (ESP, SPI first) carrying ``data`` from ``sa.sport`` to ``sa.dport`` in an
    inner IPv4/UDP packet between ``sa.src`` and ``sa.dst``."""
    if sa.inbound_at == endpoint.role:
        raise EspError(f"SA {sa.number} is inbound at the {endpoint.role}: nothing is sent on it")
    _, esp = endpoint.protect(sa.sport, sa.dport, PROTO_IPV4, inner_packet(sa, data), seq=seq)
    return esp


def inner_packet(sa: SaSpec, data: bytes) -> bytes:
    """The inner IPv4/UDP packet of ``data`` on ``sa`` (its addresses and ports)."""
    return ipv4_wrap(sa.src, sa.dst, PROTO_UDP, udp_build(sa.src, sa.dst, sa.sport, sa.dport, data))


def open_tunnel(endpoint: EspEndpoint, payload: bytes) -> tuple[Inbound, bytes]:
    """(Inbound with the inner addresses, UDP data) of one encapsulated ESP packet.

    The receiver's order (RFC 4303 §3.4): SPI, replay window, ICV, decryption; then the inner
    packet must be IPv4/UDP between the SA's addresses and ports (RFC 4301 §5.2)."""
    kind = classify(payload)
    if kind != "esp":
        raise MalformedEsp(f"not ESP: a {kind} payload (RFC 3948 §2)")
    packet = endpoint.receiver.open(bytes(payload))
    sa = endpoint.sas.by_spi(packet.spi)
    if packet.next_header != PROTO_IPV4:
        raise SelectorMismatch(f"SA {sa.number} (SPI {sa.spi:#x}) carried next header "
                               f"{packet.next_header}, not 4 (IPv4): not tunnel mode")
    src, dst, proto, segment = ipv4_unwrap(packet.payload)
    if (src, dst) != (sa.src, sa.dst):
        raise SelectorMismatch(f"SA {sa.number} (SPI {sa.spi:#x}) carried an inner packet "
                               f"{src} -> {dst}, not {sa.src} -> {sa.dst}")
    if proto != PROTO_UDP:
        raise SelectorMismatch(f"SA {sa.number} carried IP protocol {proto}, not UDP")
    sport, dport, data = udp_parse(segment)
    if (sport, dport) != (sa.sport, sa.dport):
        raise SelectorMismatch(f"SA {sa.number} (SPI {sa.spi:#x}) carried ports {sport} -> "
                               f"{dport}, not {sa.sport} -> {sa.dport}")
    return Inbound(sa, packet, src, dst), data


def outer_udp(sport: int, dport: int, payload: bytes) -> bytes:
    """The encapsulating UDP header and payload, checksum zero (RFC 3948 §2.1)."""
    return struct.pack("!HHHH", sport, dport, 8 + len(payload), 0) + bytes(payload)


@dataclass
class KeepaliveSchedule:
    """When the next NAT-keepalive is due: ``interval`` seconds after the last packet sent to
    the peer, keep-alive or not (RFC 3948 §4: only when no other packet went in the interval)."""

    interval: float = KEEPALIVE_INTERVAL
    last_sent: float | None = None

    def __post_init__(self):
        if self.interval <= 0:
            raise ValueError("the keep-alive interval is positive")

    def sent(self, now: float) -> None:
        self.last_sent = now

    def due(self, now: float) -> bool:
        return self.last_sent is None or now - self.last_sent >= self.interval

    def next_at(self) -> float | None:
        return None if self.last_sent is None else self.last_sent + self.interval
