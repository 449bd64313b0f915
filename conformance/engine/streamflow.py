"""A flow over TLS, WebSocket or WebSocket over TLS: one TCP connection whose bytes go through
``conformance.wire.Stack`` (``ssl.SSLObject`` and ``wsproto``, sans-IO).

To the runner a :class:`StreamEndpoint` looks like a :class:`~.transport.TcpEndpoint`: ``send``
takes one SIP message (or a CRLF keep-alive), ``read`` returns :class:`~.transport.Incoming`
items (``message``, ``ping``, ``pong``, ``closed``, ``garbage``, and ``ws-ping`` / ``ws-pong``
for WebSocket control frames), ``fileno`` for the selector.  ``on_wire`` is told the bytes that
really crossed the socket (TLS records, WebSocket frames), so the pcap holds real TLS and
WebSocket; the SIP inside reaches the message list through the exchange as over TCP.

Connecting and every handshake (TCP, TLS, the WebSocket upgrade) finish within ``timeout``; a
failure raises :class:`~.transport.TransportError` whose text carries the reason (certificate
verify failed: ..., WebSocket upgrade answered 401), which the runner turns into an inconclusive
verdict, never pass or fail.
"""

from __future__ import annotations

import errno
import socket
import time

from ..sip.framing import Message, Ping, Pong
from ..sip.wireshark_ports import bind_free_port
from ..wire.stack import Stack
from ..wire.tlsconf import TlsClient
from ..wire.ws import WsClient
from .transport import Addr, HandshakeError, Incoming, TransportError, WireHook

__all__ = ["StreamEndpoint"]

def _family(ip: str) -> int:
    return socket.AF_INET6 if ":" in ip else socket.AF_INET


_NAMES = {"tls": "TLS", "ws": "WebSocket", "wss": "WebSocket over TLS"}


class StreamEndpoint:
    """One tls / ws / wss connection of a flow (see the module's text)."""

    def __init__(self, local_ip: str, remote: Addr, transport: str, on_wire: WireHook, timeout: float,
                 tls: TlsClient | None = None, ws: WsClient | None = None, sock_factory=None,
                 local_port: int = 0, retry_authorization: str | None = None):
        """``retry_authorization``: an ``Authorization`` value to send on a second upgrade, on a
        new connection, when the first is answered 401 (RFC 7118 §7: a SIP WebSocket Client MUST
        be ready to be challenged); without it a 401 is a HandshakeError."""
        self.transport = transport
        self.remote = tuple(remote)
        self.on_wire = on_wire
        self.closed = False
        self.close_reason: str | None = None
        self.tls = tls
        self.keylog = tls.keylog if tls is not None else None
        self.upgrade_answers: list[dict] = []   # WebSocket: each upgrade's answer, in order
        self._pending: list[Incoming] = []   # what arrived together with the end of a handshake
        deadline = time.monotonic() + timeout
        self.local_ip, self._factory, self._local_port = local_ip, sock_factory, local_port
        try:
            self._open(deadline, timeout, ws)
        except HandshakeError as exc:
            if not (retry_authorization and ws is not None and exc.http_status == 401):
                raise
            again = WsClient(path=ws.path, host=ws.host, subprotocol=ws.subprotocol,
                             authorization=retry_authorization, fragment=ws.fragment)
            self._open(deadline, timeout, again)
        self.sock.setblocking(False)

    def _open(self, deadline: float, timeout: float, ws: WsClient | None) -> None:
        """One TCP connection and its handshakes (a new Stack each time)."""
        self.stack = Stack.client(self.transport, tls=self.tls, ws=ws)   # ValueError for udp/tcp
        self.closed, self.close_reason = False, None
        local_ip, remote = self.local_ip, self.remote
        try:
            self.sock = bind_free_port(lambda: (self._factory or socket.socket)(_family(local_ip), socket.SOCK_STREAM),
                                       local_ip, self._local_port)
        except OSError as exc:
            raise TransportError(f"cannot bind {local_ip}:{self._local_port} for {self.transport}: "
                                 f"{exc.strerror}") from None
        try:
            self.sock.settimeout(max(0.001, deadline - time.monotonic()))
            self.sock.connect(remote)
        except (OSError, socket.timeout) as exc:
            self.sock.close()
            what = "timed out" if isinstance(exc, socket.timeout) else (exc.strerror or str(exc))
            raise TransportError(f"TCP connect from {local_ip} to {remote[0]}:{remote[1]} (for {self.transport}) "
                                 f"{what}") from None
        self.sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        self.local: Addr = self.sock.getsockname()[:2]
        self.on_wire("open", self.transport, self.local, remote, b"", "open")
        try:
            self._handshake(deadline, timeout)
        except TransportError:   # HandshakeError, or the socket failed under it
            self._drop("handshake failed")
            raise

    # -- the handshakes ---------------------------------------------------------------------
    def _where(self) -> str:
        return f"{_NAMES[self.transport]} to {self.remote[0]}:{self.remote[1]}"

    def _handshake(self, deadline: float, timeout: float) -> None:
        self._write(self.stack.start())
        while not self.stack.ready:
            left = deadline - time.monotonic()
            if left <= 0:
                raise HandshakeError(f"{self._where()}: handshake not finished within {timeout:g} s", self.remote)
            self.sock.settimeout(left)
            try:
                data = self.sock.recv(65536)
            except socket.timeout:
                raise HandshakeError(f"{self._where()}: handshake not finished within {timeout:g} s", self.remote) from None
            except OSError as exc:
                raise HandshakeError(f"{self._where()}: handshake failed: {exc.strerror or exc}", self.remote) from None
            if data:
                self.on_wire("received", self.transport, self.remote, self.local, data, "bytes")
            ev = self.stack.receive(data)
            self._write(ev.send)
            if ev.http_status:
                self.upgrade_answers.append({"status": ev.http_status, "subprotocol": None})
            elif ev.ready and self.stack.ws is not None:
                self.upgrade_answers.append({"status": 101, "subprotocol": self.stack.ws.subprotocol})
            if ev.error or ev.http_status:
                status = f" (HTTP {ev.http_status})" if ev.http_status and str(ev.http_status) not in (ev.error or "") else ""
                raise HandshakeError(f"{self._where()}: {ev.error or 'WebSocket upgrade refused'}{status}", self.remote,
                                     http_status=ev.http_status)
            if ev.closed and not self.stack.ready:
                raise HandshakeError(f"{self._where()}: the SUT closed the connection during the handshake "
                                     f"({ev.closed})", self.remote)
            self._pending += self._items(ev)

    def _write(self, data: bytes) -> None:
        """Put stack output on the socket (blocking, bounded) and report it to the pcap."""
        if not data:
            return
        blocking = self.sock.gettimeout()
        try:
            if blocking == 0.0:
                self.sock.settimeout(2.0)
            self.sock.sendall(data)
        except OSError as exc:
            raise TransportError(f"{self._where()}: send failed: {exc.strerror or exc}") from None
        finally:
            if blocking == 0.0:
                self.sock.setblocking(False)
        self.on_wire("sent", self.transport, self.local, self.remote, data, "bytes")

    # -- the runner's side ---------------------------------------------------------------------
    def fileno(self) -> int:
        return self.sock.fileno()

    @property
    def pending(self) -> bool:
        """Items already read (with the end of the handshake) that ``read`` has not returned."""
        return bool(self._pending)

    @property
    def framer(self):
        """The TLS stream's SIP framer (None over WebSocket: one message per WS message)."""
        return self.stack.framer

    def send(self, data: bytes, dst: Addr | None = None) -> None:
        """One SIP message (or a CRLF keep-alive) on the connection."""
        if self.closed:
            raise TransportError(f"{self._where()}: connection already closed")
        self._write(self.stack.send_message(data))

    def keepalive(self, crlf: bytes = b"\r\n\r\n") -> None:
        """An RFC 5626 §4.4.1 CRLF keep-alive (over WebSocket in a message of its own)."""
        self.send(crlf)

    def ws_ping(self, payload: bytes = b"") -> None:
        """A WebSocket Ping control frame (RFC 6455 §5.5.2, RFC 7118 §6)."""
        if self.closed:
            raise TransportError(f"{self._where()}: connection already closed")
        try:
            wire = self.stack.ping(payload)
        except ValueError as exc:
            raise TransportError(str(exc)) from None
        self._write(wire)

    def read(self) -> list[Incoming]:
        out, self._pending = self._pending, []
        if self.closed:
            return out
        while True:
            try:
                data = self.sock.recv(65536)
            except BlockingIOError:
                # The peer went quiet: a lone CRLF held by the TLS stream's framer is a pong.
                out += [Incoming("pong", b"\r\n", self.remote) for _ in self.stack.flush()]
                return out
            except OSError as exc:
                why = "reset by the SUT" if exc.errno == errno.ECONNRESET else (exc.strerror or str(exc))
                out.append(self._peer_closed(f"{_NAMES[self.transport]} connection {why}"))
                return out
            if data:
                self.on_wire("received", self.transport, self.remote, self.local, data, "bytes")
            ev = self.stack.receive(data)
            try:
                self._write(ev.send)   # WS Pong / Close answers, TLS alerts
            except TransportError:
                pass
            out += self._items(ev)
            if ev.error:
                out.append(Incoming("garbage", b"", self.remote, f"{_NAMES[self.transport]}: {ev.error}"))
                out.append(self._peer_closed(f"{_NAMES[self.transport]} connection failed: {ev.error}"))
                self.sock.close()
                return out
            if ev.closed or not data:
                out.append(self._peer_closed(f"{_NAMES[self.transport]} connection closed by the SUT "
                                             f"({ev.closed or 'EOF'})"))
                return out

    def _items(self, ev) -> list[Incoming]:
        items: list[Incoming] = []
        for fr in ev.frames:
            if isinstance(fr, Message):
                items.append(Incoming("message", fr.data, self.remote))
            elif isinstance(fr, Pong):
                items.append(Incoming("pong", b"\r\n", self.remote))
            elif isinstance(fr, Ping):
                items.append(Incoming("ping", b"\r\n\r\n", self.remote))
        items += [Incoming("ws-ping", p, self.remote, "WebSocket Ping") for p in ev.ws_pings]
        items += [Incoming("ws-pong", p, self.remote, "WebSocket Pong") for p in ev.ws_pongs]
        return items

    def _peer_closed(self, why: str) -> Incoming:
        if not self.closed:
            self.closed = True
            self.close_reason = why
            self.on_wire("closed", self.transport, self.remote, self.local, b"", why)
        return Incoming("closed", b"", self.remote, why)

    def _drop(self, why: str) -> None:
        if not self.closed:
            self.closed = True
            self.close_reason = why
            self.on_wire("close", self.transport, self.local, self.remote, b"", "close")
        try:
            self.sock.close()
        except OSError:
            pass

    def close(self) -> None:
        """End the flow politely: WebSocket Close, then TLS close_notify, then FIN."""
        if not self.closed:
            try:
                self._write(self.stack.close(graceful=True))
            except (TransportError, OSError):
                pass
            self.closed = True
            self.close_reason = "closed by the tester"
            self.on_wire("close", self.transport, self.local, self.remote, b"", "close")
            try:
                self.sock.shutdown(socket.SHUT_RDWR)
            except OSError:
                pass
        self.sock.close()

    def abort(self) -> None:
        """Drop the connection without WebSocket Close or close_notify (a fault the cases use):
        the SUT sees the TCP connection end with no goodbye at the layers above."""
        self._drop("dropped by the tester without close_notify / WebSocket Close")
