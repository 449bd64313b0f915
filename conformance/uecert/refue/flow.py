"""One flow of the reference UE: its registration state, keep-alive bookkeeping and socket.

A flow (RFC 5626 §3.5) is a UDP socket or a connection (tcp; tls, ws, wss through
conformance.wire's sans-IO stack, the handshakes done within ``open``'s bound) from one of the
UE's addresses to the edge.  ``number`` is the flow's name for the driver ("flow 1"); it survives recovery and moves
(a replacement flow keeps the number and, §4.5, the reg-id) while the socket, the local port
and the Call-ID change.  Reading a socket returns frames: ``("sip", bytes)``, ``("pong",)``,
``("ping",)``, ``("stun", bytes)`` or ``("closed", why)``.
"""

from __future__ import annotations

import socket
import time
from dataclasses import dataclass, field

from ...sip.errors import ParseError
from ...sip.framing import Message, Ping, Pong, StreamFramer, classify_datagram
from ...wire.stack import Stack
from ...wire.tlsconf import TlsClient
from ...wire.ws import WsClient

CONNECT_TIMEOUT = 3.0
SEND_TIMEOUT = 2.0

# Flow status.
NEW, REGISTERING, REGISTERED, WAITING, REMOVING, REMOVED = (
    "new", "registering", "registered", "waiting", "removing", "removed")


@dataclass
class Pending:
    """The client transaction in progress on a flow (one at a time)."""

    kind: str  # initial | refresh | removal | removal-all | message
    request: object  # sip.message.Request
    txn: object  # ue.transaction.ClientTransaction
    challenges: int = 0


@dataclass
class StunCheck:
    """A STUN Binding request in flight (RFC 5389 §7.2.1: RTO doubling, 7 retransmissions,
    failure after 16 RTO with no response — RFC 5626 §4.4.2)."""

    tid: bytes
    data: bytes
    sent: float
    rto: float
    next_at: float
    give_up_at: float
    retransmissions: int = 0


@dataclass
class UeFlow:
    number: int
    reg_id: int | None
    address: str  # the UE's local IP
    transport: str  # udp | tcp | tls | ws | wss
    edge: tuple[str, int]
    instance: str | None  # "<urn:uuid:...>" this flow registers with
    status: str = NEW
    sock: socket.socket | None = None
    framer: StreamFramer | None = None
    state: object = None  # ue.model.FlowState (dialog, local port) of the current socket
    pending: Pending | None = None
    outbound_mode: bool = True  # False after a 439: re-attempted without reg-id (§4.2.1)
    outbound: bool = False  # the last 2xx had Require: outbound
    flow_timer: int | None = None
    granted: int | None = None
    refresh_at: float | None = None
    keepalive_at: float | None = None
    pong_deadline: float | None = None
    stun: StunCheck | None = None
    mapped: tuple[str, int] | None = None  # the first XOR-MAPPED-ADDRESS seen on this socket
    retry_at: float | None = None
    failures: int = 0  # consecutive failed attempts to form this flow (§4.5)
    successful: bool = False  # §4.5: registered and, with keep-alives, one response seen
    retry_after: float | None = None
    history: list[str] = field(default_factory=list)  # Call-IDs this flow has used
    # tls / ws / wss: {"ca": file, "server_name": name, "ws_path": "/", "ws_host": host}
    stream_options: dict = field(default_factory=dict)
    stack: Stack | None = None
    # a removal ("removal" / "removal-all") told while a REGISTER was in flight: sent after its
    # final response (RFC 3261 §10.2: no new registration before the previous one's final response)
    queued: str | None = None

    @property
    def local(self) -> tuple[str, int] | None:
        if self.sock is None:
            return None
        try:
            return self.sock.getsockname()[:2]
        except OSError:
            return None

    # -- socket ---------------------------------------------------------------------------------
    def open(self) -> None:
        """A new socket from ``address`` (TCP: connected to the edge).  OSError on failure."""
        self.close()
        family = socket.AF_INET6 if ":" in self.address else socket.AF_INET
        if self.transport == "udp":
            sock = socket.socket(family, socket.SOCK_DGRAM)
            try:
                sock.bind((self.address, 0))
                sock.setblocking(False)
            except OSError:
                sock.close()
                raise
            self.framer = None
        else:
            sock = socket.socket(family, socket.SOCK_STREAM)
            try:
                sock.bind((self.address, 0))
                sock.settimeout(CONNECT_TIMEOUT)
                sock.connect(self.edge)
                sock.settimeout(SEND_TIMEOUT)
                self.stack = self._handshake(sock) if self.transport != "tcp" else None
            except OSError:
                sock.close()
                raise
            self.framer = StreamFramer() if self.stack is None else None
        self.sock = sock
        self.mapped = None

    def _handshake(self, sock: socket.socket) -> Stack:
        """TLS and / or the WebSocket upgrade, bounded by CONNECT_TIMEOUT (OSError on failure)."""
        o = self.stream_options
        tls = TlsClient(ca=o.get("ca"), server_name=o.get("server_name")) if self.transport in ("tls", "wss") else None
        ws = WsClient(path=o.get("ws_path", "/"), host=o.get("ws_host", "ims.test")) \
            if self.transport in ("ws", "wss") else None
        stack = Stack.client(self.transport, tls=tls, ws=ws)
        sock.sendall(stack.start())
        end = time.monotonic() + CONNECT_TIMEOUT
        while not stack.ready:
            left = end - time.monotonic()
            if left <= 0:
                raise OSError(f"{self.transport} handshake not finished within {CONNECT_TIMEOUT:g} s")
            sock.settimeout(left)
            ev = stack.receive(sock.recv(65536))
            if ev.send:
                sock.sendall(ev.send)
            if ev.error or ev.closed:
                raise OSError(f"{self.transport} handshake failed: {ev.error or ev.closed}"
                              f"{f' (HTTP {ev.http_status})' if ev.http_status else ''}")
        sock.settimeout(SEND_TIMEOUT)
        return stack

    def send(self, data: bytes) -> None:
        if self.sock is None:
            raise OSError("flow has no socket")
        if self.transport == "udp":
            self.sock.sendto(data, self.edge)
        elif self.stack is not None:
            self.sock.sendall(self.stack.send_message(data))
        else:
            self.sock.sendall(data)

    def close(self) -> None:
        if self.sock is not None:
            try:
                if self.stack is not None:
                    self.sock.setblocking(False)
                    self.sock.send(self.stack.close())     # WS Close / close_notify, best effort
            except OSError:
                pass
            try:
                self.sock.close()
            except OSError:
                pass
        self.sock = None
        self.framer = None
        self.stack = None
        self.stop_timers()

    def stop_timers(self) -> None:
        """Nothing more is due on this flow (no transaction, keep-alive, refresh or retry)."""
        self.pending = self.stun = None
        self.refresh_at = self.keepalive_at = self.retry_at = self.pong_deadline = None

    def read(self) -> list[tuple]:
        """Frames from the socket (it is readable)."""
        sock = self.sock
        if sock is None:
            return []
        if self.transport == "udp":
            try:
                data, _ = sock.recvfrom(65535)
            except BlockingIOError:
                return []
            except OSError as exc:
                return [("closed", f"UDP error: {exc}")] if exc.errno not in (111,) else []
            kind = classify_datagram(data)
            if kind == "stun":
                return [("stun", data)]
            if kind == "sip":
                return [("sip", data)]
            if kind == "keepalive":
                return [("pong",)]
            return []
        try:
            data = sock.recv(65536)
        except (BlockingIOError, TimeoutError, socket.timeout):
            return []
        except OSError as exc:
            return [("closed", f"connection error: {exc}")]
        if self.stack is not None:
            return self._read_stack(data)
        if not data:
            frames = self.framer.flush() if self.framer else []
            return [_frame(f) for f in frames] + [("closed", "the edge closed the connection")]
        try:
            # The network never pings the UE, so a lone CRLF is the pong (RFC 5626 §4.4.1):
            # flush at once instead of waiting for the next byte.
            frames = self.framer.feed(data) + self.framer.flush()
        except ParseError as exc:
            return [("closed", f"framing error: {exc}")]
        return [_frame(f) for f in frames]

    def _read_stack(self, data: bytes) -> list[tuple]:
        ev = self.stack.receive(data)
        if ev.send:
            try:
                self.sock.sendall(ev.send)
            except OSError as exc:
                return [("closed", f"connection error: {exc}")]
        out = [_frame(f) for f in ev.frames + self.stack.flush()]
        if ev.error or ev.closed:
            out.append(("closed", f"the edge closed the {self.transport} connection: {ev.error or ev.closed}"))
        return out


def _frame(frame) -> tuple:
    if isinstance(frame, Message):
        return ("sip", frame.data)
    if isinstance(frame, Pong):
        return ("pong",)
    if isinstance(frame, Ping):
        return ("ping",)
    return ("other",)


__all__ = ["NEW", "REGISTERING", "REGISTERED", "WAITING", "REMOVING", "REMOVED", "Pending", "StunCheck",
           "UeFlow"]
