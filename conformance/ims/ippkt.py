"""IPv4 and UDP in bytes, for transport-mode ESP (sans-IO, no scapy).

In transport mode the ESP payload is the UDP/TCP segment whose checksum is computed over the
outer IP addresses (RFC 4303 §3.1.1, RFC 768 pseudo-header).
"""

from __future__ import annotations

import ipaddress
import struct

from .errors import MalformedEsp

__all__ = ["checksum", "ipv4_wrap", "ipv4_unwrap", "udp_build", "udp_parse", "transport_ports"]


def checksum(data: bytes) -> int:
    if len(data) % 2:
        data += b"\0"
    total = sum(struct.unpack(f"!{len(data) // 2}H", data))
    while total >> 16:
        total = (total & 0xFFFF) + (total >> 16)
    return ~total & 0xFFFF


def _a(addr: str) -> bytes:
    return ipaddress.IPv4Address(addr).packed


def ipv4_wrap(src: str, dst: str, proto: int, payload: bytes, *, ident: int = 0,
              ttl: int = 64) -> bytes:
    """An IPv4 header (no options, DF clear) in front of ``payload``."""
    total = 20 + len(payload)
    if total > 0xFFFF:
        raise ValueError(f"IPv4 packet of {total} octets")
    head = struct.pack("!BBHHHBBH4s4s", 0x45, 0, total, ident & 0xFFFF, 0, ttl, proto, 0,
                       _a(src), _a(dst))
    return head[:10] + struct.pack("!H", checksum(head)) + head[12:] + payload


def ipv4_unwrap(packet: bytes) -> tuple[str, str, int, bytes]:
    """(src, dst, protocol, payload) of an unfragmented IPv4 packet."""
    if len(packet) < 20 or packet[0] >> 4 != 4:
        raise MalformedEsp("not an IPv4 packet")
    ihl = (packet[0] & 0x0F) * 4
    total = struct.unpack_from("!H", packet, 2)[0]
    if ihl < 20 or total < ihl or total > len(packet):
        raise MalformedEsp("bad IPv4 header lengths")
    if struct.unpack_from("!H", packet, 6)[0] & 0x3FFF:
        raise MalformedEsp("IPv4 fragment: reassemble first")
    src = str(ipaddress.IPv4Address(packet[12:16]))
    dst = str(ipaddress.IPv4Address(packet[16:20]))
    return src, dst, packet[9], packet[ihl:total]


def udp_build(src: str, dst: str, sport: int, dport: int, data: bytes) -> bytes:
    length = 8 + len(data)
    pseudo = _a(src) + _a(dst) + struct.pack("!BBH", 0, 17, length)
    seg = struct.pack("!HHHH", sport, dport, length, 0) + data
    csum = checksum(pseudo + seg) or 0xFFFF
    return seg[:6] + struct.pack("!H", csum) + seg[8:]


def udp_parse(segment: bytes) -> tuple[int, int, bytes]:
    if len(segment) < 8:
        raise MalformedEsp("UDP header truncated")
    sport, dport, length = struct.unpack_from("!HHH", segment)
    if not 8 <= length <= len(segment):
        raise MalformedEsp("bad UDP length")
    return sport, dport, segment[8:length]


def transport_ports(next_header: int, segment: bytes) -> tuple[int, int] | None:
    """(sport, dport) of a UDP or TCP segment, None for other protocols."""
    if next_header in (6, 17) and len(segment) >= 4:
        return struct.unpack_from("!HH", segment)
    return None
