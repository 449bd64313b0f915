"""The per-case capture: every message the tester sent or received, as IP packets in a pcap.

The tester talks through ordinary sockets, so the kernel's headers are not visible to it; the
recorder rebuilds them, packed with ``struct`` byte for byte as Scapy would build them: IPv4/IPv6
+ UDP, or TCP segments with a three-way handshake, consistent sequence and acknowledgement
numbers and a closing FIN, so that Wireshark follows and reassembles the streams and decodes the
SIP inside.

Packets are kept in memory (a case exchanges tens of messages) and written by :meth:`write`,
which the runner calls in a ``finally`` so the file exists even when the case fails or aborts.
"""

from __future__ import annotations

import array
import bisect
import functools
import ipaddress
import socket
import struct
import sys
import zlib
from dataclasses import dataclass, field
from pathlib import Path

_MAC_TESTER = "02:00:00:00:00:01"
_MAC_SUT = "02:00:00:00:00:02"
_ETHER_HEAD = bytes.fromhex(_MAC_SUT.replace(":", "")) + bytes.fromhex(_MAC_TESTER.replace(":", ""))
_ETHER_IPV4, _ETHER_IPV6 = 0x0800, 0x86DD
_TCP_FLAGS = {"F": 0x01, "S": 0x02, "R": 0x04, "P": 0x08, "A": 0x10, "U": 0x20, "E": 0x40, "C": 0x80}
_CSUM_OFFSET = {17: 6, 6: 16}  # where the UDP / TCP checksum sits


@functools.lru_cache(maxsize=1024)
def _addr_bytes(ip: str) -> bytes:
    return ipaddress.ip_address(ip).packed


def _checksum(data: bytes) -> int:
    """The Internet checksum (RFC 1071) of data."""
    if len(data) % 2:
        data += b"\0"
    total = sum(array.array("H", data))  # native order; folded and swapped back below
    while total >> 16:
        total = (total & 0xFFFF) + (total >> 16)
    total = ~total & 0xFFFF
    return socket.ntohs(total) if sys.byteorder == "little" else total


def _with_checksum(l4: bytes, proto: int, pseudo: bytes) -> bytes:
    csum = _checksum(pseudo + l4)
    if proto == 17 and csum == 0:
        csum = 0xFFFF  # RFC 768: a computed zero is sent as all ones
    off = _CSUM_OFFSET[proto]
    return l4[:off] + struct.pack("!H", csum) + l4[off + 2:]


def _isn(src: tuple[str, int], dst: tuple[str, int]) -> int:
    """A deterministic initial sequence number per direction (stable pcaps across runs)."""
    return zlib.crc32(f"{src}{dst}".encode()) & 0x0FFFFFFF


@dataclass
class _TcpState:
    seq: dict[tuple, int] = field(default_factory=dict)  # per direction (src, dst) -> next seq


class PcapRecorder:
    def __init__(self, start_time: float):
        self.start_time = start_time
        self._packets: list[tuple[float, bytes]] = []
        self._tcp: dict[frozenset, _TcpState] = {}

    # -- building ------------------------------------------------------------------------------
    # Headers are packed with struct (no Scapy on this path: importing it alone costs about a
    # second, and building a packet with it tens of microseconds); the bytes are those Scapy
    # builds for the same fields (IPv4 id 1, TTL 64, DF; IPv6 hop limit 64; checksums filled).
    def _ip_packet(self, src: tuple[str, int], dst: tuple[str, int], proto: int, l4: bytes) -> bytes:
        """IP header + an L4 segment whose checksum field (at the usual offset) is still zero."""
        s, d = _addr_bytes(src[0]), _addr_bytes(dst[0])
        if len(s) == 16:
            pseudo = s + d + struct.pack("!IxxxB", len(l4), proto)
            l4 = _with_checksum(l4, proto, pseudo)
            return struct.pack("!IHBB", 6 << 28, len(l4), proto, 64) + s + d + l4
        pseudo = s + d + struct.pack("!xBH", proto, len(l4))
        l4 = _with_checksum(l4, proto, pseudo)
        hdr = struct.pack("!BBHHHBBH4s4s", 0x45, 0, 20 + len(l4), 1, 0x4000, 64, proto, 0, s, d)
        return hdr[:10] + struct.pack("!H", _checksum(hdr)) + hdr[12:] + l4

    def _add_ip(self, when: float, packet: bytes) -> None:
        etype = _ETHER_IPV6 if packet[0] >> 4 == 6 else _ETHER_IPV4
        self._packets.append((when, _ETHER_HEAD + struct.pack("!H", etype) + packet))

    def udp(self, when: float, src: tuple[str, int], dst: tuple[str, int], payload: bytes) -> None:
        l4 = struct.pack("!HHHH", src[1], dst[1], 8 + len(payload), 0) + payload
        self._add_ip(when, self._ip_packet(src, dst, 17, l4))

    def ether(self, when: float, frame: bytes) -> None:
        """A whole Ethernet frame as captured elsewhere (the NAT's veth ends, topology/); kept in
        time order among the rebuilt packets."""

        i = bisect.bisect_right([t for t, _ in self._packets], when)
        self._packets.insert(i, (when, frame))

    def raw_ip(self, when: float, packet: bytes) -> None:
        """A whole IP packet (v4 or v6) as sent or received (ESP: the encrypted packet, not its
        content; a fragment as it went on the wire)."""
        packet = bytes(packet)
        etype = _ETHER_IPV6 if packet[:1] and packet[0] >> 4 == 6 else _ETHER_IPV4
        self._packets.append((when, _ETHER_HEAD + struct.pack("!H", etype) + packet))

    def _tcp_seg(self, when, src, dst, flags, payload=b""):
        key = frozenset((src, dst))
        st = self._tcp.setdefault(key, _TcpState())
        seq = st.seq.setdefault((src, dst), _isn(src, dst))
        ack = st.seq.setdefault((dst, src), _isn(dst, src))
        bits = 0
        for ch in flags:
            bits |= _TCP_FLAGS[ch]
        l4 = struct.pack("!HHIIBBHHH", src[1], dst[1], seq, ack if "A" in flags else 0, 5 << 4, bits,
                         65535, 0, 0) + payload
        self._add_ip(when, self._ip_packet(src, dst, 6, l4))
        advance = len(payload) + (1 if ("S" in flags or "F" in flags) else 0)
        st.seq[(src, dst)] = (seq + advance) & 0xFFFFFFFF

    def tcp_open(self, when: float, client: tuple[str, int], server: tuple[str, int]) -> None:
        self._tcp.pop(frozenset((client, server)), None)
        self._tcp_seg(when, client, server, "S")
        self._tcp_seg(when, server, client, "SA")
        self._tcp_seg(when, client, server, "A")

    def tcp_data(self, when: float, src: tuple[str, int], dst: tuple[str, int], payload: bytes) -> None:
        # Segments of at most 1400 bytes, as a real stack would send them over loopback MTU.
        for i in range(0, len(payload), 1400):
            self._tcp_seg(when, src, dst, "PA", payload[i : i + 1400])

    def tcp_close(self, when: float, src: tuple[str, int], dst: tuple[str, int]) -> None:
        self._tcp_seg(when, src, dst, "FA")
        self._tcp_seg(when, dst, src, "FA")
        self._tcp_seg(when, src, dst, "A")

    # -- output --------------------------------------------------------------------------------
    def __len__(self) -> int:
        return len(self._packets)

    def packets(self) -> list[tuple[float, bytes]]:
        """(time, Ethernet frame) of every packet, in order (engine/pcapng.py writes them)."""
        return list(self._packets)

    def write(self, path: Path) -> Path:
        """Write the pcap (Ethernet link type); an empty capture still gives a valid file."""
        path.parent.mkdir(parents=True, exist_ok=True)
        tmp = path.with_suffix(".pcap.tmp")
        with open(tmp, "wb") as f:
            # libpcap global header: magic, version 2.4, zone, sigfigs, snaplen, LINKTYPE_ETHERNET
            f.write(struct.pack("<IHHiIII", 0xA1B2C3D4, 2, 4, 0, 0, 262144, 1))
            for when, data in self._packets:
                sec = int(when)
                usec = min(int(round((when - sec) * 1_000_000)), 999_999)
                f.write(struct.pack("<IIII", sec, usec, len(data), len(data)))
                f.write(data)
        tmp.replace(path)
        return path
