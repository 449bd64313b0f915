"""The mangling relay over TLS, WebSocket and WebSocket over TLS: each accepted connection is
terminated with a server ``conformance.wire.Stack`` (the suite's test CA server certificate, a
WebSocket server offering ``sip``) and relayed over a client Stack to the SUT's listener for the
same transport (the target's ``tls:`` / ``ws:`` settings).  The rules (rules.py) see whole SIP
messages as over TCP; the stream faults act on the layers: a connection dropped without
close_notify, a WebSocket Close, messages in small WebSocket frames.  Thin I/O, used by
:class:`~.relay.Relay`'s loop.
"""

from __future__ import annotations

import selectors
import socket
import time

from ..sip.framing import Message, Ping, Pong
from ..wire import Stack, WsServer, server_context
from .rules import WS_FRAGMENT, Action

HANDSHAKE_TIMEOUT = 2.0
WS_CLOSE_GRACE = 1.0  # seconds the relay waits for the UE's Close answer before dropping the connection


class StreamPair:
    """A UE's tls / ws / wss connection and the relay's own to the SUT."""

    def __init__(self, transport: str, ue: socket.socket, sut: socket.socket, ue_stack: Stack, sut_stack: Stack):
        self.transport = transport
        self.ue, self.sut = ue, sut
        self.ue_stack, self.sut_stack = ue_stack, sut_stack
        self.closed = False
        self.busy_until = 0.0


class StreamSide:
    """The relay's stream listeners and connections (mixed into Relay: uses its selector,
    timers, rules and ``_at`` ordering)."""

    def _stream_setup(self, streams: dict[str, int] | None, tls_client, ws_client) -> None:
        self.stream_sut_ports = dict(streams or {})
        self.stream_tls, self.stream_ws = tls_client, ws_client
        self.stream_listeners: dict[str, socket.socket] = {}
        self.ports: dict[str, int] = {}
        self._server_ctx = None
        for transport in self.stream_sut_ports:
            s = socket.socket(self.family, socket.SOCK_STREAM)
            s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
            s.bind((self.spec.host, 0))
            s.listen(64)
            s.setblocking(False)
            self.stream_listeners[transport] = s
            self.ports[transport] = s.getsockname()[1]

    def _stream_register(self) -> None:
        for transport, s in self.stream_listeners.items():
            self._sel.register(s, selectors.EVENT_READ, ("stream-listen", transport))

    def _server_context(self):
        if self._server_ctx is None:
            from ..wire.testca import ensure_test_ca

            ca = ensure_test_ca()
            self._server_ctx = server_context(str(ca.server_cert), str(ca.server_key))
        return self._server_ctx

    # -- set-up -------------------------------------------------------------------------------
    def _stream_accept(self, transport: str) -> None:
        lst = self.stream_listeners[transport]
        while True:
            try:
                ue, _ = lst.accept()
            except (BlockingIOError, InterruptedError):
                return
            try:
                sut, sut_stack = self._stream_connect(transport)
            except OSError as exc:
                self.errors.append(f"{transport} to the SUT: {exc}")
                ue.close()  # the SUT refused: so do we
                continue
            ws = WsServer(fragment=WS_FRAGMENT if self.spec.fault == "ws_fragment" else 0)
            ue_stack = Stack.server(transport, tls_context=self._server_context() if transport != "ws" else None, ws=ws)
            ue.setblocking(False)
            sut.setblocking(False)
            pair = StreamPair(transport, ue, sut, ue_stack, sut_stack)
            self._sel.register(ue, selectors.EVENT_READ, ("stream-ue", pair))
            self._sel.register(sut, selectors.EVENT_READ, ("stream-sut", pair))

    def _stream_connect(self, transport: str) -> tuple[socket.socket, Stack]:
        """The relay's connection to the SUT's listener, its handshakes done (bounded)."""
        sut = socket.socket(self.family, socket.SOCK_STREAM)
        deadline = time.monotonic() + HANDSHAKE_TIMEOUT
        try:
            sut.bind((self.spec.host, 0))
            sut.settimeout(HANDSHAKE_TIMEOUT)
            sut.connect((self.sut[0], self.stream_sut_ports[transport]))
            stack = Stack.client(transport, tls=self.stream_tls, ws=self.stream_ws)
            sut.sendall(stack.start())
            while not stack.ready:
                sut.settimeout(max(0.01, deadline - time.monotonic()))
                data = sut.recv(65536)
                ev = stack.receive(data)
                if ev.send:
                    sut.sendall(ev.send)
                if ev.error or ev.http_status or ev.closed:
                    raise OSError(f"handshake: {ev.error or ev.http_status or ev.closed}")
        except (OSError, socket.timeout):
            sut.close()
            raise
        return sut, stack

    # -- relaying -----------------------------------------------------------------------------
    @staticmethod
    def _recv(sock: socket.socket) -> bytes | None:
        try:
            return sock.recv(65536)
        except (BlockingIOError, InterruptedError):
            return None
        except OSError:
            return b""

    def _from_ue_stream(self, pair: StreamPair) -> None:
        data = self._recv(pair.ue)
        if data is None:
            return
        ev = pair.ue_stack.receive(data)
        if ev.send:  # handshake records, WebSocket Pong / Close answers
            self._raw(pair, pair.ue, ev.send)
        for fr in ev.frames:
            if isinstance(fr, Message):
                for act in self.rules.to_sut(fr.data, pair.transport):
                    self._raw(pair, pair.sut, pair.sut_stack.send_message(act.data))
            else:
                self._raw(pair, pair.sut, pair.sut_stack.send_keepalive(b"\r\n\r\n" if isinstance(fr, Ping) else b"\r\n"))
        if ev.closed or ev.error:
            self._stream_close(pair)

    def _from_sut_stream(self, pair: StreamPair) -> None:
        data = self._recv(pair.sut)
        if data is None:
            return
        ev = pair.sut_stack.receive(data)
        if ev.send:
            self._raw(pair, pair.sut, ev.send)
        for fr in ev.frames:
            if isinstance(fr, Message):
                self.handled += 1
                self._plan_stream(pair, self.rules.to_ue(fr.data, pair.transport, id(pair)))
            elif isinstance(fr, (Ping, Pong)):
                crlf = b"\r\n\r\n" if isinstance(fr, Ping) else b"\r\n"
                self._at(pair, 0.0, self._to_ue, pair, crlf)
        if ev.closed or ev.error:
            self._later(max(0.0, pair.busy_until - time.monotonic()), self._stream_close, pair)

    def _plan_stream(self, pair: StreamPair, actions: list[Action]) -> None:
        for act in actions:
            if act.kind in ("send", "fragments"):  # fragments: the UE side's stack frames them
                self._at(pair, act.delay, self._to_ue, pair, act.data)
            elif act.kind == "hold":
                self._later(act.delay, self._release, id(pair), lambda d: self._to_ue(pair, d))
            elif act.kind in ("close", "ws_close"):
                self._at(pair, act.delay, self._stream_polite_close, pair)
            elif act.kind in ("abort", "reset"):
                self._at(pair, act.delay, self._stream_abort, pair, act.kind == "reset")
            elif act.kind == "dribble":  # the records / frames of the message, a byte at a time
                self._at(pair, act.delay, self._dribble, pair, act.data, act.interval)

    def _to_ue(self, pair: StreamPair, sip: bytes) -> None:
        """Wrapped when it leaves (TLS records are numbered in sending order)."""
        if not pair.closed and pair.ue_stack.ready:
            self._raw(pair, pair.ue, pair.ue_stack.send_message(sip))

    def _dribble(self, pair: StreamPair, sip: bytes, interval: float) -> None:
        if pair.closed or not pair.ue_stack.ready:
            return
        wire = pair.ue_stack.send_message(sip)
        for i, b in enumerate(wire):
            self._at(pair, interval if i else 0.0, self._raw, pair, pair.ue, bytes([b]), spaced=bool(i))

    def _raw(self, pair: StreamPair, sock: socket.socket, data: bytes) -> None:
        if pair.closed or not data:
            return
        try:
            sock.setblocking(True)
            sock.settimeout(2)
            sock.sendall(data)
        except OSError:
            self._stream_close(pair)
        finally:
            if not pair.closed:
                sock.setblocking(False)

    def _stream_polite_close(self, pair: StreamPair) -> None:
        """WebSocket Close (and TLS close_notify) to the UE; the connection ends when the UE
        answers, or after a grace period."""
        if pair.closed:
            return
        self._raw(pair, pair.ue, pair.ue_stack.close())
        self._later(WS_CLOSE_GRACE, self._stream_close, pair)

    def _stream_abort(self, pair: StreamPair, reset: bool = False) -> None:
        """The UE's connection dropped: no close_notify, no WebSocket Close (RST with ``reset``)."""
        if reset:
            try:
                import struct

                pair.ue.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))
            except OSError:
                pass
        self._stream_close(pair, polite=False)

    def _stream_close(self, pair: StreamPair, polite: bool = True) -> None:
        if pair.closed:
            return
        if polite:
            for sock, stack in ((pair.ue, pair.ue_stack), (pair.sut, pair.sut_stack)):
                try:
                    sock.setblocking(True)
                    sock.settimeout(0.5)
                    sock.sendall(stack.close())
                except (OSError, ValueError):
                    pass
        else:
            try:  # the SUT's side still ends politely: only the UE sees the fault
                pair.sut.setblocking(True)
                pair.sut.settimeout(0.5)
                pair.sut.sendall(pair.sut_stack.close())
            except (OSError, ValueError):
                pass
        pair.closed = True
        for s in (pair.ue, pair.sut):
            try:
                self._sel.unregister(s)
            except (KeyError, ValueError):
                pass
            try:
                s.close()
            except OSError:
                pass
