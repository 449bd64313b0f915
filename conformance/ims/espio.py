"""Process-wide ESP I/O over raw sockets (the only I/O of :mod:`conformance.ims`).

There is no kernel IPsec here (no xfrm): ESP is built and checked in user space
(:mod:`.esp`, :mod:`.endpoint`) and carried by raw sockets (measured facts in
shared/design/sec-agree-esp.md):

* receive with ``socket(AF_INET, SOCK_RAW, 50)``: one such socket sees every ESP packet the
  host receives, so it is opened once per process and a reader thread demultiplexes by SPI
  (optionally by SPI and destination address) to the :class:`Mailbox` that claimed it.  While it
  is open the kernel does not answer ESP with ICMP protocol-unreachable, so the hub stays open
  for the whole run (:func:`EspHub.shared`), and is closed by :meth:`EspHub.close` (tests) or at
  exit;
* send with ``socket(AF_INET, SOCK_RAW, IPPROTO_RAW)``: the caller gives a whole IPv4 packet
  (:func:`~.ippkt.ipv4_wrap`), the kernel fills in the identification and checksum.

Both the tester and the embedded reference P-CSCF use the same hub when they run in one process;
each owns a :class:`Mailbox` (a datagram socket pair: its read end is selectable, so it fits the
selector loops of the engine and of the reference server).  Packets for an SPI nobody claims are
counted and dropped, as a host without that SA would drop them (RFC 4303 §3.4.2).

Without root (no ``CAP_NET_RAW``) :meth:`EspHub.shared` raises :class:`EspUnavailable` with the
reason; callers turn it into a skip or an inconclusive verdict.
"""

from __future__ import annotations

import atexit
import os
import secrets
import select
import socket
import struct
import threading
from collections import OrderedDict, deque

from .errors import EspError

__all__ = ["EspUnavailable", "EspHub", "Mailbox", "esp_available"]

PROTO_ESP = 50
MAX_PACKET = 65535
UNCLAIMED_KEYS = 4096    # distinct (spi, dst) pairs remembered as dropped
MAILBOX_BUFFER = 1 << 20


class EspUnavailable(EspError):
    """Raw sockets cannot be opened (not root, or no CAP_NET_RAW)."""


def _spi_of(packet: bytes) -> tuple[int, str] | None:
    """(SPI, destination address) of an IPv4/ESP packet, None for anything else."""
    if len(packet) < 20 or packet[0] >> 4 != 4 or packet[9] != PROTO_ESP:
        return None
    ihl = (packet[0] & 0x0F) * 4
    if len(packet) < ihl + 8:
        return None
    return struct.unpack_from("!I", packet, ihl)[0], socket.inet_ntoa(packet[16:20])


class Mailbox:
    """One owner's share of the hub: the SPIs it claimed and a queue of their packets.

    ``fileno()`` is readable when packets wait; :meth:`read` returns them (whole IPv4 packets as
    received), :meth:`wait` blocks at most ``timeout`` seconds.
    """

    def __init__(self, hub: "EspHub", name: str):
        self.hub, self.name = hub, name
        self._r, self._w = socket.socketpair(socket.AF_UNIX, socket.SOCK_DGRAM)
        for s in (self._r, self._w):
            s.setblocking(False)
        try:
            self._w.setsockopt(socket.SOL_SOCKET, socket.SO_SNDBUF, MAILBOX_BUFFER)
            self._r.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, MAILBOX_BUFFER)
        except OSError:
            pass
        self.spis: set[tuple[int, str | None]] = set()
        self.dropped = 0
        self.closed = False

    def fileno(self) -> int:
        return self._r.fileno()

    def claim(self, spi: int, dst: str | None = None) -> None:
        """Deliver ESP with ``spi`` (to ``dst`` only, when given) here."""
        self.hub._claim(self, spi, dst)
        self.spis.add((spi, dst))

    def release(self, spi: int, dst: str | None = None) -> None:
        self.hub._release(self, spi, dst)
        self.spis.discard((spi, dst))

    def release_all(self) -> None:
        for spi, dst in list(self.spis):
            self.release(spi, dst)

    def _put(self, packet: bytes) -> None:
        try:
            self._w.send(packet)
        except OSError:
            self.dropped += 1            # the owner does not read: bounded, drop

    def read(self) -> list[bytes]:
        out = []
        while True:
            try:
                out.append(self._r.recv(MAX_PACKET))
            except (BlockingIOError, InterruptedError):
                return out
            except OSError:
                return out

    def wait(self, timeout: float) -> list[bytes]:
        """Packets that arrive within ``timeout`` seconds (returns at the first batch)."""
        ready, _, _ = select.select([self._r], [], [], max(0.0, timeout))
        return self.read() if ready else []

    def send(self, packet: bytes) -> None:
        self.hub.send(packet)

    def close(self) -> None:
        if self.closed:
            return
        self.closed = True
        self.release_all()
        self.hub._forget(self)
        for s in (self._r, self._w):
            s.close()


class EspHub:
    """The raw ESP sockets of the process and the SPI demultiplexer."""

    _shared: "EspHub | None" = None
    _shared_lock = threading.Lock()

    def __init__(self):
        try:
            self._rx = socket.socket(socket.AF_INET, socket.SOCK_RAW, PROTO_ESP)
        except PermissionError as exc:
            raise EspUnavailable(f"raw ESP sockets need root or CAP_NET_RAW: {exc}") from None
        except OSError as exc:
            raise EspUnavailable(f"cannot open a raw ESP socket: {exc}") from None
        try:
            self._tx = socket.socket(socket.AF_INET, socket.SOCK_RAW, socket.IPPROTO_RAW)
        except OSError as exc:
            self._rx.close()
            raise EspUnavailable(f"cannot open a raw IP socket for sending: {exc}") from None
        try:
            self._rx.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 4 << 20)
        except OSError:
            pass
        self._lock = threading.Lock()
        self._claims: dict[tuple[int, str | None], Mailbox] = {}
        self._mailboxes: set[Mailbox] = set()
        self.unclaimed = 0
        self.recent_unclaimed: deque[tuple[int, str]] = deque(maxlen=64)
        # every (spi, dst) dropped lately, newest last: a raw socket sees the ESP of every process
        # on the host, so the packet deque above can fill with other processes' retransmissions
        self._unclaimed_keys: OrderedDict[tuple[int, str], int] = OrderedDict()
        self.received = 0
        self.sent = 0
        self._wake_r, self._wake_w = os.pipe()
        self._stop = False
        self._thread = threading.Thread(target=self._run, name="esp-hub", daemon=True)
        self._thread.start()

    # -- the process-wide hub ------------------------------------------------------------------
    @classmethod
    def shared(cls) -> "EspHub":
        """The hub of this process, opened on first use (:class:`EspUnavailable` if it cannot)."""
        with cls._shared_lock:
            if cls._shared is None or cls._shared.closed:
                cls._shared = cls()
            return cls._shared

    def unclaimed_of(self, spi: int, dst: str) -> int:
        """How many packets for ``spi`` to ``dst`` were dropped unclaimed (0 once forgotten)."""
        return self._unclaimed_keys.get((spi, dst), 0)

    @property
    def closed(self) -> bool:
        return self._stop

    # -- owners --------------------------------------------------------------------------------
    def mailbox(self, name: str = "") -> Mailbox:
        box = Mailbox(self, name)
        with self._lock:
            self._mailboxes.add(box)
        return box

    def _forget(self, box: Mailbox) -> None:
        with self._lock:
            self._mailboxes.discard(box)

    def _claim(self, box: Mailbox, spi: int, dst: str | None) -> None:
        with self._lock:
            owner = self._claims.get((spi, dst))
            if owner is not None and owner is not box:
                raise EspError(f"SPI {spi:#x} is already claimed by {owner.name or 'another owner'}")
            self._claims[(spi, dst)] = box

    def _release(self, box: Mailbox, spi: int, dst: str | None) -> None:
        with self._lock:
            if self._claims.get((spi, dst)) is box:
                del self._claims[(spi, dst)]

    def claimed(self, spi: int) -> bool:
        with self._lock:
            return any(k[0] == spi for k in self._claims)

    def new_spi(self, avoid=()) -> int:
        """A random SPI (256..2**32-1, RFC 4303 §2.1) that no owner of this process uses."""
        avoid = set(avoid)
        while True:
            spi = secrets.randbits(32)
            if spi >= 256 and spi not in avoid and not self.claimed(spi):
                return spi

    # -- sending -------------------------------------------------------------------------------
    def send(self, packet: bytes) -> None:
        """Send one whole IPv4 packet (its header built by the caller)."""
        if self._stop:
            raise EspError("the ESP hub is closed")
        dst = socket.inet_ntoa(packet[16:20])
        try:
            self._tx.sendto(packet, (dst, 0))
        except OSError as exc:
            raise EspError(f"raw send to {dst} failed: {exc.strerror or exc}") from None
        self.sent += 1

    # -- the reader ----------------------------------------------------------------------------
    def _run(self) -> None:
        while not self._stop:
            try:
                ready, _, _ = select.select([self._rx, self._wake_r], [], [], 1.0)
            except (OSError, ValueError):
                return
            if self._wake_r in ready or self._stop:
                return
            if not ready:
                continue
            try:
                packet = self._rx.recv(MAX_PACKET)
            except OSError:
                continue
            self._dispatch(packet)

    def _dispatch(self, packet: bytes) -> None:
        key = _spi_of(packet)
        if key is None:
            return
        spi, dst = key
        self.received += 1
        with self._lock:
            box = self._claims.get((spi, dst)) or self._claims.get((spi, None))
        if box is None:
            self.unclaimed += 1
            self.recent_unclaimed.append((spi, dst))
            self._unclaimed_keys[(spi, dst)] = self._unclaimed_keys.pop((spi, dst), 0) + 1
            if len(self._unclaimed_keys) > UNCLAIMED_KEYS:
                self._unclaimed_keys.popitem(last=False)
            return
        box._put(packet)

    def close(self) -> None:
        if self._stop:
            return
        self._stop = True
        try:
            os.write(self._wake_w, b"x")
        except OSError:
            pass
        self._thread.join(2.0)
        for box in list(self._mailboxes):
            box.close()
        for s in (self._rx, self._tx):
            s.close()
        for fd in (self._wake_r, self._wake_w):
            try:
                os.close(fd)
            except OSError:
                pass


def esp_available() -> str | None:
    """None when raw ESP I/O works here, else the reason it does not (for skips)."""
    try:
        EspHub.shared()
    except EspUnavailable as exc:
        return str(exc)
    return None


@atexit.register
def _close_shared() -> None:
    hub = EspHub._shared
    if hub is not None:
        hub.close()
