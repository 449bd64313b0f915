"""The per-case capture: every message the tester sent or received, as IP packets in a pcap.

The tester talks through ordinary sockets, so the kernel's headers are not visible to it; the
recorder rebuilds them with Scapy: IPv4/IPv6 + UDP, or TCP segments with a three-way handshake,
consistent sequence and acknowledgement numbers and a closing FIN, so that Wireshark follows
and reassembles the streams and decodes the SIP inside.

Packets are kept in memory (a case exchanges tens of messages) and written by :meth:`write`,
which the runner calls in a ``finally`` so the file exists even when the case fails or aborts.
"""

from __future__ import annotations

import ipaddress
import struct
import zlib
from dataclasses import dataclass, field
from pathlib import Path

_MAC_TESTER = "02:00:00:00:00:01"
_MAC_SUT = "02:00:00:00:00:02"


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
    @staticmethod
    def _ip(src: tuple[str, int], dst: tuple[str, int]):
        from scapy.layers.inet import IP
        from scapy.layers.inet6 import IPv6

        if ipaddress.ip_address(src[0]).version == 6:
            return IPv6(src=src[0], dst=dst[0])
        return IP(src=src[0], dst=dst[0], flags="DF")

    def _frame(self, l3):
        from scapy.layers.l2 import Ether

        return Ether(src=_MAC_TESTER, dst=_MAC_SUT) / l3

    def _add(self, when: float, pkt) -> None:
        self._packets.append((when, bytes(pkt)))

    def udp(self, when: float, src: tuple[str, int], dst: tuple[str, int], payload: bytes) -> None:
        from scapy.layers.inet import UDP

        self._add(when, self._frame(self._ip(src, dst) / UDP(sport=src[1], dport=dst[1]) / payload))

    def _tcp_seg(self, when, src, dst, flags, payload=b""):
        from scapy.layers.inet import TCP

        key = frozenset((src, dst))
        st = self._tcp.setdefault(key, _TcpState())
        seq = st.seq.setdefault((src, dst), _isn(src, dst))
        ack = st.seq.setdefault((dst, src), _isn(dst, src))
        seg = TCP(sport=src[1], dport=dst[1], flags=flags, seq=seq, ack=ack if "A" in flags else 0,
                  window=65535)
        self._add(when, self._frame(self._ip(src, dst) / seg / payload) if payload
                  else self._frame(self._ip(src, dst) / seg))
        advance = len(payload) + (1 if ("S" in flags or "F" in flags) else 0)
        st.seq[(src, dst)] = seq + advance

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
