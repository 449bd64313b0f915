"""Capture at the NAT: a raw AF_PACKET socket on each of the NAT namespace's veth ends, read by
one thread, so the suite sees each packet before and after translation.

The frames (real Ethernet frames, as the kernel sent and received them) are merged into the
case's pcap; :meth:`NatCapture.mapping` finds the public address a UE's flow was mapped to by
pairing a packet that entered the NAT from the UE with the one that left towards the SUT (UDP:
same destination and payload; TCP: same destination, sequence number and flags; the NAT changes
neither).
"""

from __future__ import annotations

import ipaddress
import select
import socket
import struct
import threading
import time
from dataclasses import dataclass

from .nsenter import in_namespace

ETH_P_ALL = 0x0003
PACKET_OUTGOING = 4
MAX_FRAMES = 200_000


@dataclass
class Frame:
    when: float
    iface: str
    outgoing: bool
    data: bytes
    proto: str = ""          # "udp" | "tcp" | ""
    src: tuple[str, int] | None = None
    dst: tuple[str, int] | None = None
    key: tuple = ()          # what the NAT leaves unchanged (destination aside)


def parse_frame(data: bytes):
    """(proto, src, dst, key) of an Ethernet frame carrying UDP or TCP over IPv4/IPv6."""
    if len(data) < 14:
        return "", None, None, ()
    etype = struct.unpack_from("!H", data, 12)[0]
    off = 14
    if etype == 0x0800 and len(data) >= off + 20:
        ihl = (data[off] & 0x0F) * 4
        proto = data[off + 9]
        src_ip = str(ipaddress.IPv4Address(data[off + 12:off + 16]))
        dst_ip = str(ipaddress.IPv4Address(data[off + 16:off + 20]))
        l4 = off + ihl
    elif etype == 0x86DD and len(data) >= off + 40:
        proto = data[off + 6]
        src_ip = str(ipaddress.IPv6Address(data[off + 8:off + 24]))
        dst_ip = str(ipaddress.IPv6Address(data[off + 24:off + 40]))
        l4 = off + 40
    else:
        return "", None, None, ()
    if proto == 17 and len(data) >= l4 + 8:
        sport, dport = struct.unpack_from("!HH", data, l4)
        return "udp", (src_ip, sport), (dst_ip, dport), ("udp", data[l4 + 8:])
    if proto == 6 and len(data) >= l4 + 20:
        sport, dport, seq = struct.unpack_from("!HHI", data, l4)
        flags = data[l4 + 13]
        return "tcp", (src_ip, sport), (dst_ip, dport), ("tcp", seq, flags)
    return "", None, None, ()


class NatCapture:
    def __init__(self, netns_path: str, interfaces: list[str]):
        self.netns_path = netns_path
        self.interfaces = interfaces
        self.frames: list[Frame] = []
        self._socks: list[tuple[socket.socket, str]] = []
        self._stop_r, self._stop_w = socket.socketpair()
        self._sync_r, self._sync_w = socket.socketpair()
        self._synced = threading.Condition()
        self._sync_count = 0
        self._thread: threading.Thread | None = None
        self._lock = threading.Lock()

    def start(self) -> None:
        def open_all():
            out = []
            for name in self.interfaces:
                s = socket.socket(socket.AF_PACKET, socket.SOCK_RAW, socket.htons(ETH_P_ALL))
                s.bind((name, 0))
                s.setblocking(False)
                out.append((s, name))
            return out

        self._socks = in_namespace(self.netns_path, open_all)
        self._thread = threading.Thread(target=self._loop, name="nat-capture", daemon=True)
        self._thread.start()

    def _loop(self) -> None:
        socks = {s.fileno(): (s, name) for s, name in self._socks}
        while True:
            ready, _, _ = select.select([self._stop_r.fileno(), self._sync_r.fileno(), *socks], [], [], 1.0)
            if self._stop_r.fileno() in ready:
                return
            if self._sync_r.fileno() in ready:
                # everything queued before the sync request is read before it is answered
                n = len(self._sync_r.recv(4096))
                ready = list(socks)
            else:
                n = 0
            for fd in ready:
                if fd not in socks:
                    continue
                s, name = socks[fd]
                while True:
                    try:
                        data, addr = s.recvfrom(65535)
                    except (BlockingIOError, InterruptedError):
                        break
                    except OSError:
                        return
                    proto, src, dst, key = parse_frame(data)
                    frame = Frame(time.time(), name, addr[2] == PACKET_OUTGOING, data, proto, src, dst, key)
                    with self._lock:
                        if len(self.frames) < MAX_FRAMES:
                            self.frames.append(frame)
            if n:
                with self._synced:
                    self._sync_count += n
                    self._synced.notify_all()

    def sync(self, timeout: float = 1.0) -> None:
        """Return once every frame queued on the capture sockets so far has been read."""
        if self._thread is None:
            return
        with self._synced:
            target = self._sync_count + 1
            self._sync_w.send(b"s")
            self._synced.wait_for(lambda: self._sync_count >= target, timeout)

    def stop(self) -> None:
        try:
            self._stop_w.send(b"x")
        except OSError:
            pass
        if self._thread is not None:
            self._thread.join(2.0)
            self._thread = None
        for s, _ in self._socks:
            s.close()
        self._socks = []
        for s in (self._stop_r, self._stop_w, self._sync_r, self._sync_w):
            s.close()

    def between(self, start: float, end: float) -> list[Frame]:
        with self._lock:
            return [f for f in self.frames if start <= f.when <= end]

    def mark(self) -> int:
        """A position in the capture: every frame queued so far comes before it."""
        self.sync()
        with self._lock:
            return len(self.frames)

    def since(self, mark: int) -> list[Frame]:
        self.sync()
        with self._lock:
            return self.frames[mark:]

    def _pair(self, inside: Frame) -> Frame | None:
        with self._lock:
            frames = list(self.frames)
        for f in frames:
            if (f.when >= inside.when - 0.001 and f.outgoing and f.iface == "out0" and f.proto == inside.proto
                    and f.dst == inside.dst and f.key == inside.key):
                return f
        return None

    def mapping(self, local: tuple[str, int], transport: str, iface: str = "in0",
                at: float | None = None, sent: bool = False) -> tuple[str, int] | None:
        """The source address of the latest packet from ``local`` as it left the NAT.  With
        ``at`` (a message's time): the mapping then, i.e. of the first packet from ``local`` at
        or after it (``sent``: the message itself), else of the latest before it."""
        self.sync()
        local = (local[0], int(local[1]))
        with self._lock:
            inside = [f for f in self.frames if f.proto == transport and f.src == local
                      and not f.outgoing and f.iface == iface]
        if at is not None:
            later = [f for f in inside if f.when >= at - 0.01]
            inside = later[:1] if sent and later else [f for f in inside if f.when < at]
        for f in reversed(inside[-20:]):
            out = self._pair(f)
            if out is not None:
                return out.src
        return None

    def translated(self, transport: str, payload: bytes, sent: bool, after: float) -> Frame | None:
        """The out0 frame carrying ``payload`` (UDP), leaving (sent by the UE) or arriving (sent
        by the SUT), at or after ``after``."""
        with self._lock:
            frames = list(self.frames)
        for f in frames:
            if f.iface == "out0" and f.proto == "udp" == transport and f.outgoing == sent \
                    and f.when >= after - 0.5 and f.key == ("udp", payload):
                return f
        return None
