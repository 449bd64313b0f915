"""The thin I/O of the mangling proxy: a UDP and TCP relay on one port, in one thread.

UDP: each UE source address gets its own upstream socket, so the SUT sees one flow per UE flow
(and sends terminating requests back over it).  TCP: each accepted connection gets its own
connection to the SUT.  Bytes from the SUT are framed into SIP messages and handed to the
rules (``rules.Mangler``); their actions are scheduled on a clock, so delays never block the
relay.  ``port_unreachable`` needs no relay: :func:`closed_udp_port` gives a port nobody holds.
TLS, WS, WSS (``streams``: the SUT's port per transport): a listener each, terminated on both
sides with ``conformance.wire`` stacks (streams.py); ``Relay.ports`` says where.
"""

from __future__ import annotations

import heapq
import itertools
import selectors
import socket
import struct
import threading
import time

from ..sip.errors import ParseError
from ..sip.framing import Message, Ping, Pong, StreamFramer
from .rules import Action, FaultSpec, Mangler
from .streams import StreamSide

Addr = tuple[str, int]


def closed_udp_port(host: str = "127.0.0.1") -> int:
    """A UDP port on ``host`` where nothing listens (bound once, then released)."""
    with socket.socket(socket.AF_INET6 if ":" in host else socket.AF_INET, socket.SOCK_DGRAM) as s:
        s.bind((host, 0))
        return s.getsockname()[1]


class _TcpPair:
    def __init__(self, ue: socket.socket, sut: socket.socket):
        self.ue, self.sut = ue, sut
        self.framer = StreamFramer(max_message=1024 * 1024)
        self.up_framer = StreamFramer(max_message=1024 * 1024)
        self.closed = False
        self.busy_until = 0.0  # dribbles and delays keep their order per connection


class Relay(StreamSide):
    """``Relay(spec, sut_address).start()`` listens on ``spec.host:spec.port`` (0: any); with
    ``streams`` ({"tls": SUT port, ...}) also on a free port per tls / ws / wss (``ports``), with
    ``tls_client`` / ``ws_client`` (conformance.wire) for its own connections to the SUT."""

    def __init__(self, spec: FaultSpec, sut: Addr, transports: tuple[str, ...] = ("udp", "tcp"),
                 streams: dict[str, int] | None = None, tls_client=None, ws_client=None):
        self.spec = spec
        self.sut = (sut[0], int(sut[1]))
        self.rules = Mangler(spec)
        fam = socket.AF_INET6 if ":" in spec.host else socket.AF_INET
        self.family = fam
        self.udp = socket.socket(fam, socket.SOCK_DGRAM)
        self.udp.bind((spec.host, spec.port))
        port = self.udp.getsockname()[1]
        self.tcp = None
        if "tcp" in transports:
            self.tcp = socket.socket(fam, socket.SOCK_STREAM)
            self.tcp.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
            try:
                self.tcp.bind((spec.host, port))
            except OSError:
                self.udp.close()
                self.tcp.close()
                raise
            self.tcp.listen(64)
        self.address: Addr = (spec.host, port)
        self._sel = selectors.DefaultSelector()
        self._upstream: dict[Addr, socket.socket] = {}  # UE address -> its socket towards the SUT
        self._timers: list = []
        self._seq = itertools.count()
        self._lock = threading.Lock()
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._loop, name="mangler-relay", daemon=True)
        self.handled = 0
        self.errors: list[str] = []
        try:
            self._stream_setup(streams, tls_client, ws_client)
        except OSError:
            for sock in (self.udp, self.tcp):
                if sock is not None:
                    sock.close()
            raise

    # -- life --------------------------------------------------------------------------------------
    def start(self) -> "Relay":
        for s in (self.udp, self.tcp):
            if s is not None:
                s.setblocking(False)
        self._sel.register(self.udp, selectors.EVENT_READ, ("udp-listen", None))
        if self.tcp is not None:
            self._sel.register(self.tcp, selectors.EVENT_READ, ("tcp-listen", None))
        self._stream_register()
        self._thread.start()
        return self

    def stop(self) -> None:
        self._stop.set()
        self._thread.join(2)
        for key in list(self._sel.get_map().values()):
            try:
                key.fileobj.close()
            except OSError:
                pass
        self._sel.close()

    # -- scheduling --------------------------------------------------------------------------------
    def _later(self, delay: float, fn, *args) -> None:
        heapq.heappush(self._timers, (time.monotonic() + max(0.0, delay), next(self._seq), fn, args))

    def _run_timers(self) -> float:
        now = time.monotonic()
        while self._timers and self._timers[0][0] <= now:
            _, _, fn, args = heapq.heappop(self._timers)
            try:
                fn(*args)
            except Exception as exc:  # a relay that dies would look like a silent SUT
                self.errors.append(repr(exc))
        return max(0.0, self._timers[0][0] - now) if self._timers else 0.2

    def _loop(self) -> None:
        while not self._stop.is_set():
            wait = min(self._run_timers(), 0.2)
            for key, _ in self._sel.select(wait):
                kind, ctx = key.data
                try:
                    if kind == "udp-listen":
                        self._from_ue_udp()
                    elif kind == "udp-up":
                        self._from_sut_udp(key.fileobj, ctx)
                    elif kind == "tcp-listen":
                        self._accept()
                    elif kind == "tcp-ue":
                        self._from_ue_tcp(ctx)
                    elif kind == "tcp-sut":
                        self._from_sut_tcp(ctx)
                    elif kind == "stream-listen":
                        self._stream_accept(ctx)
                    elif kind == "stream-ue":
                        self._from_ue_stream(ctx)
                    elif kind == "stream-sut":
                        self._from_sut_stream(ctx)
                except Exception as exc:
                    self.errors.append(repr(exc))

    # -- UDP ---------------------------------------------------------------------------------------
    def _from_ue_udp(self) -> None:
        while True:
            try:
                data, src = self.udp.recvfrom(65535)
            except (BlockingIOError, InterruptedError):
                return
            except OSError:
                return
            src = src[:2]
            up = self._upstream.get(src)
            if up is None:
                up = socket.socket(self.family, socket.SOCK_DGRAM)
                up.bind((self.spec.host, 0))
                up.setblocking(False)
                self._upstream[src] = up
                self._sel.register(up, selectors.EVENT_READ, ("udp-up", src))
            for act in self.rules.to_sut(data, "udp"):
                up.sendto(act.data, self.sut)

    def _from_sut_udp(self, up: socket.socket, ue: Addr) -> None:
        while True:
            try:
                data, src = up.recvfrom(65535)
            except (BlockingIOError, InterruptedError):
                return
            except OSError:
                return
            if data.strip(b"\r\n") == b"" or data[:1] in (b"\x00", b"\x01"):
                up_send = data  # keep-alives and STUN pass untouched
                self.udp.sendto(up_send, ue)
                continue
            self.handled += 1
            self._plan_udp(self.rules.to_ue(data, "udp", ue), ue)

    def _plan_udp(self, actions: list[Action], ue: Addr) -> None:
        for act in actions:
            if act.kind == "send":
                self._later(act.delay, self._udp_send, act.data, ue)
            elif act.kind == "hold":
                self._later(act.delay, self._release, ue, lambda d: self._udp_send(d, ue))

    def _udp_send(self, data: bytes, ue: Addr) -> None:
        try:
            self.udp.sendto(data, ue)
        except OSError:
            pass

    def _release(self, channel, send) -> None:
        held = self.rules.release_held(channel)
        if held is not None:
            send(held)

    # -- TCP ---------------------------------------------------------------------------------------
    def _accept(self) -> None:
        while True:
            try:
                ue, _ = self.tcp.accept()
            except (BlockingIOError, InterruptedError):
                return
            sut = socket.socket(self.family, socket.SOCK_STREAM)
            try:
                sut.bind((self.spec.host, 0))
                sut.settimeout(2)
                sut.connect(self.sut)
            except OSError:
                sut.close()
                ue.close()  # the SUT refused: so do we
                continue
            ue.setblocking(False)
            sut.setblocking(False)
            pair = _TcpPair(ue, sut)
            self._sel.register(ue, selectors.EVENT_READ, ("tcp-ue", pair))
            self._sel.register(sut, selectors.EVENT_READ, ("tcp-sut", pair))

    def _from_ue_tcp(self, pair: _TcpPair) -> None:
        try:
            data = pair.ue.recv(65536)
        except (BlockingIOError, InterruptedError):
            return
        except OSError:
            data = b""
        if not data:
            self._close_pair(pair)
            return
        # UE to SUT: framed, so that answers to the requests the proxy made up are dropped whole
        try:
            frames = pair.up_framer.feed(data)
        except ParseError:
            self._tcp_send(pair, pair.sut, data)
            return
        for fr in frames:
            out = b"\r\n\r\n" if isinstance(fr, Ping) else b"\r\n" if isinstance(fr, Pong) else None
            if out is None:
                out = b"".join(a.data for a in self.rules.to_sut(fr.data, "tcp"))
            if out:
                self._tcp_send(pair, pair.sut, out)

    def _from_sut_tcp(self, pair: _TcpPair) -> None:
        try:
            data = pair.sut.recv(65536)
        except (BlockingIOError, InterruptedError):
            return
        except OSError:
            data = b""
        if not data:
            self._later(max(0.0, pair.busy_until - time.monotonic()), self._close_pair, pair)
            return
        try:
            frames = pair.framer.feed(data)
        except ParseError:
            self._tcp_send(pair, pair.ue, data)
            return
        for fr in frames:
            if isinstance(fr, Message):
                self.handled += 1
                self._plan_tcp(pair, self.rules.to_ue(fr.data, "tcp", id(pair)))
            elif isinstance(fr, (Ping, Pong)):
                self._at(pair, 0.0, self._tcp_send, pair, pair.ue, b"\r\n\r\n" if isinstance(fr, Ping) else b"\r\n")

    def _at(self, pair: _TcpPair, delay: float, fn, *args, spaced: bool = False) -> None:
        """Schedule in order for this connection: no action overtakes an earlier one
        (``spaced``: ``delay`` counts from the previous action, as for a dribble)."""
        now = time.monotonic()
        due = max(now, pair.busy_until) + delay if spaced else max(now + delay, pair.busy_until)
        pair.busy_until = due
        heapq.heappush(self._timers, (due, next(self._seq), fn, args))

    def _plan_tcp(self, pair: _TcpPair, actions: list[Action]) -> None:
        for act in actions:
            if act.kind == "send":
                self._at(pair, act.delay, self._tcp_send, pair, pair.ue, act.data)
            elif act.kind == "hold":
                self._later(act.delay, self._release, id(pair), lambda d: self._tcp_send(pair, pair.ue, d))
            elif act.kind == "close":
                self._at(pair, act.delay, self._close_pair, pair)
            elif act.kind == "reset":
                self._at(pair, act.delay, self._reset_pair, pair)
            elif act.kind == "dribble":
                for i, b in enumerate(act.data):
                    self._at(pair, act.interval if i else act.delay, self._tcp_send, pair, pair.ue, bytes([b]),
                             spaced=bool(i))

    def _tcp_send(self, pair: _TcpPair, sock: socket.socket, data: bytes) -> None:
        if pair.closed:
            return
        try:
            sock.setblocking(True)
            sock.settimeout(2)
            sock.sendall(data)
        except OSError:
            self._close_pair(pair)
        finally:
            if not pair.closed:
                sock.setblocking(False)

    def _close_pair(self, pair: _TcpPair) -> None:
        if pair.closed:
            return
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

    def _reset_pair(self, pair: _TcpPair) -> None:
        try:
            pair.ue.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))
        except OSError:
            pass
        self._close_pair(pair)
