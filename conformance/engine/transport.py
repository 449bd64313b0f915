"""Thin socket wrappers for the tester's flows: the only engine module that opens sockets.

Each flow owns one endpoint bound to its own local address (an "added IP" is another
127.x address) and an ephemeral port.  Endpoints never block: the runner polls them with a
selector and a deadline, so every wait has a bound.  Everything sent or received is reported to
``on_wire(direction, transport, src, dst, data, event)`` for the case's message list and pcap.
"""

from __future__ import annotations

import errno
import socket
import struct
import sys
from dataclasses import dataclass
from typing import Callable

from ..sip.errors import ParseError
from ..sip.framing import Message, Ping, Pong, StreamFramer, classify_datagram
from ..sip.wireshark_ports import bind_free_port

Addr = tuple[str, int]
WireHook = Callable[[str, str, Addr, Addr, bytes, str], None]


class TransportError(Exception):
    """The network refused what we asked (connection refused, reset, unreachable, timeout)."""


class HandshakeError(TransportError):
    """A TLS or WebSocket handshake did not succeed (certificate verify failed, the upgrade
    answered 401, ...): the flow could not be opened, so the case cannot judge the SUT
    (inconclusive with this reason, never pass or fail)."""

    def __init__(self, message: str, remote: "Addr | None" = None, http_status: int | None = None):
        super().__init__(message)
        self.remote = remote
        self.http_status = http_status   # the WebSocket upgrade's answer when not 101


@dataclass
class Incoming:
    """Something that arrived on a flow: a SIP message's bytes, or a keep-alive event."""

    kind: str  # "message" | "pong" | "ping" | "stun" | "garbage" | "closed" | "icmp" (src: the address refused)
    data: bytes
    src: Addr
    note: str = ""
    meta: dict | None = None  # e.g. the ESP SA a protected datagram came over (engine/espflow.py)


def _family(ip: str) -> int:
    return socket.AF_INET6 if ":" in ip else socket.AF_INET


# Linux: with IP_RECVERR an unconnected UDP socket is told about ICMP errors for what it sent
# (without it only connected sockets are, RFC 1122 §4.1.3.3); the error queue says for which
# destination.  Values from <linux/in.h>, <linux/in6.h>; elsewhere the options are skipped.
_IP_RECVERR = getattr(socket, "IP_RECVERR", 11)
_IPV6_RECVERR = getattr(socket, "IPV6_RECVERR", 25)
_MSG_ERRQUEUE = getattr(socket, "MSG_ERRQUEUE", 0x2000)
_ICMP_WHAT = {(2, 3, 3): "ICMP port unreachable", (2, 3, 1): "ICMP host unreachable",
              (2, 3, 0): "ICMP network unreachable", (3, 1, 4): "ICMP port unreachable",
              (3, 1, 3): "ICMP address unreachable"}  # (ee_origin 2 ICMP | 3 ICMPv6, type, code)


def _enable_icmp_errors(sock: socket.socket, family: int) -> bool:
    if not sys.platform.startswith("linux"):
        return False
    try:
        if family == socket.AF_INET6:
            sock.setsockopt(socket.IPPROTO_IPV6, _IPV6_RECVERR, 1)
        else:
            sock.setsockopt(socket.IPPROTO_IP, _IP_RECVERR, 1)
        return True
    except (OSError, AttributeError):
        return False


def _icmp_errors(sock: socket.socket) -> list[tuple[Addr | None, str]]:
    """Drain the socket's error queue: (destination that was refused, what the ICMP said)."""

    out = []
    for _ in range(64):
        try:
            _, ancdata, _, addr = sock.recvmsg(512, 512, _MSG_ERRQUEUE)
        except (BlockingIOError, InterruptedError):
            break
        except OSError:
            break
        what = "ICMP error"
        for _level, _type, data in ancdata:
            if len(data) >= 7:  # struct sock_extended_err
                _errno, origin, icmp_type, icmp_code = struct.unpack("=IBBB", data[:7])
                what = _ICMP_WHAT.get((origin, icmp_type, icmp_code), f"ICMP type {icmp_type} code {icmp_code}")
        out.append((tuple(addr[:2]) if addr else None, what))
    return out


class UdpEndpoint:
    transport = "udp"
    owned = True  # close the socket with the endpoint (False: a socket lent for one case)

    @classmethod
    def adopt(cls, sock: socket.socket, on_wire: WireHook) -> "UdpEndpoint":
        """Wrap a bound socket that outlives the case (e.g. the emulated registrar's)."""
        ep = cls.__new__(cls)
        ep.sock, ep.on_wire, ep.closed, ep.owned = sock, on_wire, False, False
        ep.local = sock.getsockname()[:2]
        return ep

    def __init__(self, local_ip: str, on_wire: WireHook, port: int = 0, sock_factory=None):
        # sock_factory(family, type): e.g. a socket made inside a network namespace (topology/)
        try:
            self.sock = bind_free_port(
                lambda: (sock_factory or socket.socket)(_family(local_ip), socket.SOCK_DGRAM), local_ip, port)
        except OSError as exc:
            raise TransportError(f"cannot bind UDP {local_ip}:{port}: {exc.strerror}") from None
        self.sock.setblocking(False)
        self.local: Addr = self.sock.getsockname()[:2]
        self.on_wire = on_wire
        self.closed = False
        self.icmp = _enable_icmp_errors(self.sock, _family(local_ip))

    def fileno(self) -> int:
        return self.sock.fileno()

    def send(self, data: bytes, dst: Addr) -> None:
        try:
            self.sock.sendto(data, dst)
        except OSError as exc:
            raise TransportError(f"UDP send to {dst[0]}:{dst[1]} failed: {exc.strerror}") from None
        self.on_wire("sent", "udp", self.local, dst, data, "message")

    def read(self) -> list[Incoming]:

        out: list[Incoming] = []
        while True:
            try:
                data, src = self.sock.recvfrom(65535)
            except BlockingIOError:
                return out
            except ConnectionRefusedError:
                # ICMP port unreachable from an earlier send (RFC 5626 §7 counts it as flow failure)
                errors = _icmp_errors(self.sock) if getattr(self, "icmp", False) else []
                if not errors:
                    out.append(Incoming("closed", b"", self.local, "ICMP port unreachable"))
                    return out
                for dst, what in errors:
                    where = f" from {dst[0]}:{dst[1]}" if dst else ""
                    out.append(Incoming("icmp", b"", dst or self.local, f"{what}{where}"))
                continue
            except OSError as exc:
                out.append(Incoming("closed", b"", self.local, f"UDP error: {exc.strerror}"))
                return out
            src = src[:2]
            kind = classify_datagram(data)
            event = {"sip": "message", "stun": "stun", "keepalive": "pong"}.get(kind, "garbage")
            self.on_wire("received", "udp", src, self.local, data, event)
            out.append(Incoming(event, data, src))

    def close(self) -> None:
        if not self.closed:
            self.closed = True
            if self.owned:
                self.sock.close()


class TcpEndpoint:
    transport = "tcp"

    def __init__(self, local_ip: str, remote: Addr, on_wire: WireHook, timeout: float, sock_factory=None):

        self.remote = remote
        self.on_wire = on_wire
        self.closed = False
        self.framer = StreamFramer()
        try:
            self.sock = bind_free_port(
                lambda: (sock_factory or socket.socket)(_family(local_ip), socket.SOCK_STREAM), local_ip)
        except OSError as exc:
            raise TransportError(f"cannot bind TCP {local_ip}: {exc.strerror}") from None
        try:
            self.sock.settimeout(timeout)
            self.sock.connect(remote)
        except (OSError, socket.timeout) as exc:
            self.sock.close()
            what = "timed out" if isinstance(exc, socket.timeout) else (exc.strerror or str(exc))
            raise TransportError(f"TCP connect from {local_ip} to {remote[0]}:{remote[1]} {what}") from None
        self.sock.setblocking(False)
        self.sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        self.local: Addr = self.sock.getsockname()[:2]
        self.on_wire("open", "tcp", self.local, remote, b"", "open")

    @classmethod
    def adopt(cls, sock: socket.socket, remote: Addr, on_wire: WireHook) -> "TcpEndpoint":
        """Wrap an accepted connection (the emulated registrar's side of the SUT's connection)."""

        ep = cls.__new__(cls)
        ep.sock, ep.remote, ep.on_wire, ep.closed = sock, remote, on_wire, False
        ep.framer = StreamFramer()
        sock.setblocking(False)
        ep.local = sock.getsockname()[:2]
        on_wire("open", "tcp", remote, ep.local, b"", "open")
        return ep

    def fileno(self) -> int:
        return self.sock.fileno()

    def send(self, data: bytes, dst: Addr | None = None) -> None:
        if self.closed:
            raise TransportError("TCP connection already closed")
        try:
            self.sock.sendall(data)
        except BlockingIOError:
            self.sock.setblocking(True)
            self.sock.settimeout(2.0)
            try:
                self.sock.sendall(data)
            except OSError as exc:
                raise TransportError(f"TCP send failed: {exc}") from None
            finally:
                self.sock.setblocking(False)
        except OSError as exc:
            raise TransportError(f"TCP send failed: {exc.strerror}") from None
        event = "ping" if data == b"\r\n\r\n" else "message"
        self.on_wire("sent", "tcp", self.local, self.remote, data, event)

    def read(self) -> list[Incoming]:

        out: list[Incoming] = []
        if self.closed:
            return out
        while True:
            try:
                data = self.sock.recv(65536)
            except BlockingIOError:
                # The peer went quiet: a lone CRLF held by the framer is a pong (RFC 5626 §4.4.1).
                out.extend(Incoming("pong", b"\r\n", self.remote) for _ in self.framer.flush())
                return out
            except OSError as exc:
                why = "reset by the SUT" if exc.errno == errno.ECONNRESET else exc.strerror
                self._mark_closed(f"TCP connection {why}")
                out.append(Incoming("closed", b"", self.remote, f"TCP connection {why}"))
                return out
            if not data:
                self._mark_closed("closed by the SUT")
                out.append(Incoming("closed", b"", self.remote, "TCP connection closed by the SUT"))
                return out
            self.on_wire("received", "tcp", self.remote, self.local, data, "bytes")
            try:
                frames = self.framer.feed(data)
            except ParseError as exc:
                out.append(Incoming("garbage", data, self.remote, f"unframeable TCP data: {exc}"))
                self._mark_closed("unframeable data")
                self.sock.close()
                return out
            for fr in frames:
                if isinstance(fr, Message):
                    out.append(Incoming("message", fr.data, self.remote))
                elif isinstance(fr, Pong):
                    out.append(Incoming("pong", b"\r\n", self.remote))
                elif isinstance(fr, Ping):
                    out.append(Incoming("ping", b"\r\n\r\n", self.remote))

    def _mark_closed(self, why: str) -> None:
        if not self.closed:
            self.closed = True
            self.on_wire("closed", "tcp", self.remote, self.local, b"", why)

    def close(self) -> None:
        if not self.closed:
            self.closed = True
            self.on_wire("close", "tcp", self.local, self.remote, b"", "close")
            try:
                self.sock.shutdown(socket.SHUT_RDWR)
            except OSError:
                pass
        self.sock.close()


class TcpListenEndpoint:
    """A listening socket lent to a case: ``read()`` accepts and returns new connections."""

    transport = "tcp"
    closed = False

    def __init__(self, sock: socket.socket, on_wire: WireHook):
        self.sock, self.on_wire = sock, on_wire
        self.local: Addr = sock.getsockname()[:2]

    def fileno(self) -> int:
        return self.sock.fileno()

    def accept(self) -> list[TcpEndpoint]:
        out = []
        while True:
            try:
                conn, remote = self.sock.accept()
            except (BlockingIOError, InterruptedError):
                return out
            except OSError:
                return out
            out.append(TcpEndpoint.adopt(conn, remote[:2], self.on_wire))

    def read(self) -> list[Incoming]:
        return []

    def close(self) -> None:
        self.closed = True  # the socket belongs to its owner
