"""TCP over ESP through a TUN device: the gateway's I/O (its rules are in :mod:`.tuncore`).

There is no kernel IPsec here (shared/design/sec-agree-esp.md), and writing a TCP in user space
is not worth it.  Instead the UE's and the P-CSCF's *kernel* TCP sockets on the protected ports
are bound to a TUN device (``SO_BINDTODEVICE``, :meth:`TunGateway.bind_socket`); the kernel then
routes what they send into the TUN even on loopback (a socket bound to a device skips the local
table), and this gateway

* reads each clear packet from the TUN, seals it with the SA its selectors name
  (:meth:`~.tuncore.GatewayCore.outbound`) and sends the ESP packet through the process's
  raw-socket hub (:mod:`.espio`), i.e. over ``lo`` like every other ESP packet of the suite;
* reads ESP for the SPIs its bindings claimed (their :class:`~.espio.Mailbox`), checks it and
  writes the clear packet back into the TUN, where the kernel delivers it to the bound socket.
  A P-CSCF that demultiplexes ESP itself hands TCP packets in with :meth:`TunGateway.inject`.

Clear TCP to a protected port over ``lo`` reaches no socket (the listeners are bound to the
TUN): the kernel answers with a reset.

Nothing but the device is configured: no address, no route, no rule.  The device is
non-persistent, so it disappears when its file descriptor closes, which :meth:`close` does
(tests; ``atexit``; Ctrl-C runs ``atexit`` too) and the kernel does when the process dies,
however it dies.  Its per-device sysctls go with it: ``accept_local`` and ``route_localnet``
(loopback addresses arrive on a non-loopback device), ``rp_filter`` 0, IPv6 off.

Needs root (``CAP_NET_ADMIN`` for the TUN, ``CAP_NET_RAW`` for the raw sockets and
``SO_BINDTODEVICE``) and ``/dev/net/tun``: :func:`tun_available` gives the reason otherwise.
"""

from __future__ import annotations

import atexit
import errno
import fcntl
import itertools
import os
import select
import socket
import struct
import threading
import time

from .errors import EspError
from .espio import EspHub, EspUnavailable, Mailbox
from .tuncore import Binding, GatewayCore, Protector

__all__ = ["TunGateway", "TunUnavailable", "tun_available", "DEVICE_PREFIX"]

DEVICE_PREFIX = "cftun"
TUN_PATH = "/dev/net/tun"
TUNSETIFF = 0x400454CA
IFF_TUN, IFF_NO_PI = 0x0001, 0x1000
SIOCGIFFLAGS, SIOCSIFFLAGS, SIOCSIFMTU = 0x8913, 0x8914, 0x8922
IFF_UP = 0x1
#: the TUN's MTU: ESP adds at most 8 + 16 (IV) + 17 (padding, trailer) + 12 (ICV) octets, so
#: the outer packet still fits a 1500-octet link; ``lo`` itself takes 65536
DEFAULT_MTU = 1400
MAX_PACKET = 65535
_SYSCTLS = (("ipv4", "accept_local", "1"), ("ipv4", "route_localnet", "1"),
            ("ipv4", "rp_filter", "0"), ("ipv6", "disable_ipv6", "1"))
_names = itertools.count(1)


class TunUnavailable(EspError):
    """No TUN device here (not root, no /dev/net/tun) or no raw ESP sockets."""


def _device_name() -> str:
    """cftun<pid>n<k>: unique per process (pids have at most 7 digits: 15 characters at most)."""
    return f"{DEVICE_PREFIX}{os.getpid()}n{next(_names) % 100}"


class TunGateway:
    """One TUN device and the thread that carries its packets in and out of ESP."""

    _shared: "TunGateway | None" = None
    _shared_lock = threading.Lock()

    def __init__(self, hub: EspHub | None = None, mtu: int = DEFAULT_MTU):
        if not os.path.exists(TUN_PATH):
            raise TunUnavailable(f"{TUN_PATH} does not exist")
        try:
            self.hub = hub or EspHub.shared()
        except EspUnavailable as exc:
            raise TunUnavailable(str(exc)) from None
        self.core = GatewayCore()
        self.name = _device_name()
        self.mtu = mtu
        self._lock = threading.Lock()
        self._mailboxes: dict[Mailbox, Binding] = {}
        self._stop = False
        self.written = self.read_packets = 0
        try:
            self._fd = os.open(TUN_PATH, os.O_RDWR | os.O_CLOEXEC)
        except OSError as exc:
            raise TunUnavailable(f"cannot open {TUN_PATH}: {exc.strerror}") from None
        try:
            fcntl.ioctl(self._fd, TUNSETIFF, struct.pack("16sH", self.name.encode(),
                                                         IFF_TUN | IFF_NO_PI))
            os.set_blocking(self._fd, False)
            self._configure()
        except OSError as exc:
            os.close(self._fd)
            raise TunUnavailable(f"cannot set up TUN device {self.name}: "
                                 f"{exc.strerror or exc}") from None
        self._wake_r, self._wake_w = os.pipe()
        self._thread = threading.Thread(target=self._run, name=f"tun-gw {self.name}", daemon=True)
        self._thread.start()

    def _configure(self) -> None:
        for family, key, value in _SYSCTLS:
            path = f"/proc/sys/net/{family}/conf/{self.name}/{key}"
            if os.path.exists(path):
                with open(path, "w") as f:
                    f.write(value)
        with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as s:
            name = self.name.encode()
            fcntl.ioctl(s, SIOCSIFMTU, struct.pack("16si", name, self.mtu))
            flags = struct.unpack("16sH", fcntl.ioctl(s, SIOCGIFFLAGS,
                                                      struct.pack("16sH", name, 0))[:18])[1]
            fcntl.ioctl(s, SIOCSIFFLAGS, struct.pack("16sH", name, flags | IFF_UP))

    # -- the process-wide gateway --------------------------------------------------------------
    @classmethod
    def shared(cls) -> "TunGateway":
        with cls._shared_lock:
            if cls._shared is None or cls._shared.closed:
                cls._shared = cls()
            return cls._shared

    @property
    def closed(self) -> bool:
        return self._stop

    # -- sockets ---------------------------------------------------------------------------------
    def bind_socket(self, sock: socket.socket) -> None:
        """Route ``sock``'s traffic through the TUN (before bind/connect/listen)."""
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_BINDTODEVICE, self.name.encode())

    # -- owners ----------------------------------------------------------------------------------
    def attach(self, binding: Binding, mailbox: Mailbox | None = None) -> None:
        """Carry ``binding``'s SAs; ESP for its inbound SPIs is read from ``mailbox`` (whose
        claims are the caller's)."""
        with self._lock:
            self.core.attach(binding)
            if mailbox is not None:
                self._mailboxes[mailbox] = binding
        self._wake()

    def detach(self, binding: Binding) -> None:
        with self._lock:
            self.core.detach(binding)
            for box, b in list(self._mailboxes.items()):
                if b is binding:
                    del self._mailboxes[box]
        self._wake()

    def add_protector(self, protector: Protector) -> None:
        with self._lock:
            self.core.protectors.append(protector)

    def remove_protector(self, protector: Protector) -> None:
        with self._lock:
            if protector in self.core.protectors:
                self.core.protectors.remove(protector)

    def inject(self, packet: bytes) -> None:
        """Write a checked clear packet into the TUN (the kernel delivers it)."""
        if self._stop:
            raise EspError(f"TUN gateway {self.name} is closed")
        try:
            os.write(self._fd, packet)
        except OSError as exc:
            raise EspError(f"write to {self.name} failed: {exc.strerror}") from None
        self.written += 1

    def drain(self, timeout: float = 0.1) -> None:
        """Wait, at most ``timeout`` seconds, until the thread has read what the kernel queued
        on the TUN (e.g. the resets of connections just closed, before their SAs go)."""
        poller = select.poll()
        poller.register(self._fd, select.POLLIN)
        deadline = time.monotonic() + timeout
        while not self._stop and poller.poll(0) and time.monotonic() < deadline:
            time.sleep(0.002)
        with self._lock:            # a packet read just now is sealed under the lock
            pass

    # -- the thread ------------------------------------------------------------------------------
    def _wake(self) -> None:
        try:
            os.write(self._wake_w, b"x")
        except OSError:
            pass

    def _run(self) -> None:
        while not self._stop:
            with self._lock:
                boxes = {b.fileno(): b for b in self._mailboxes if not b.closed}
            poller = select.poll()                 # poll: no FD_SETSIZE limit on descriptors
            for fd in (self._fd, self._wake_r, *boxes):
                poller.register(fd, select.POLLIN)
            try:
                ready = [fd for fd, ev in poller.poll(1000) if ev & (select.POLLIN | select.POLLERR)]
            except OSError:
                if self._stop:
                    return
                continue
            if self._stop:
                return
            if self._wake_r in ready:
                try:
                    os.read(self._wake_r, 512)
                except OSError:
                    pass
            if self._fd in ready:
                self._from_tun()
            for fd in ready:
                box = boxes.get(fd)
                if box is not None and not box.closed:
                    self._from_esp(box)

    def _from_tun(self) -> None:
        for _ in range(256):
            try:
                packet = os.read(self._fd, MAX_PACKET)
            except (BlockingIOError, InterruptedError):
                return
            except OSError:
                return
            self.read_packets += 1
            with self._lock:
                out = self.core.outbound(packet)
            if out is None:
                continue
            try:
                self.hub.send(out.packet)
            except EspError as exc:
                self.core.drop(str(exc))
                continue
            if out.binding is not None and out.binding.on_packet is not None:
                out.binding.on_packet("sent", out.packet)

    def _from_esp(self, box: Mailbox) -> None:
        for packet in box.read():
            with self._lock:
                binding = self._mailboxes.get(box)
                if binding is not None and binding.on_packet is not None:
                    binding.on_packet("received", packet)
                opened = self.core.inbound(packet)
            if opened is None:
                continue
            try:
                self.inject(opened[1])
            except EspError as exc:
                self.core.drop(str(exc))

    # -- the end -----------------------------------------------------------------------------
    def close(self) -> None:
        """Stop the thread and close the device (the kernel removes it with its settings)."""
        if self._stop:
            return
        self._stop = True
        self._wake()
        if self._thread is not threading.current_thread():
            self._thread.join(3.0)
        for fd in (self._fd, self._wake_r, self._wake_w):
            try:
                os.close(fd)
            except OSError:
                pass

    def __enter__(self):
        return self

    def __exit__(self, *exc) -> None:
        self.close()


def device_exists(name: str) -> bool:
    return os.path.exists(f"/sys/class/net/{name}")


_unavailable: str | None = None


def tun_available() -> str | None:
    """None when the TUN gateway works here, else why not (for skips and not-applicable; a
    failure is remembered, so that each case does not try again)."""
    global _unavailable
    if _unavailable is not None:
        return _unavailable
    try:
        TunGateway.shared()
    except TunUnavailable as exc:
        _unavailable = str(exc)
    except OSError as exc:
        _unavailable = f"TUN gateway: {exc.strerror or exc}" if exc.errno != errno.EPERM else \
            "a TUN device needs root (CAP_NET_ADMIN)"
    return _unavailable


@atexit.register
def _close_shared() -> None:
    gw = TunGateway._shared
    if gw is not None:
        gw.close()
