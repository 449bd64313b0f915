"""Thin I/O around the sans-IO :class:`~conformance.sut.registrar.Registrar`.

One selector loop thread serves UDP and TCP on the same port number (RFC 3261 section 18.2.1:
"For any port and interface that a server listens on for UDP, it MUST listen on that same port
and interface for TCP").

* TCP: each connection has a :class:`~conformance.sip.framing.StreamFramer`; a double-CRLF ping
  gets a single CRLF at once (RFC 5626 section 5.4); responses go back on the connection the
  request came on (RFC 3261 section 18.2.2, first bullet).  A framing error closes the
  connection; a closed connection invalidates the direct-flow bindings on it (RFC 5626 s7).
* UDP: SIP requests are answered to ``received``/``rport`` of the response's top Via (RFC 3581
  section 4, RFC 3261 section 18.2.2) from the socket they arrived on; CRLF keep-alives are
  ignored; STUN Binding requests go to :meth:`ReferenceCscf.on_stun`, a hook that answers
  nothing yet (RFC 5626 section 8 support is a later issue).

Buffers are bounded (per-connection input via the framer, output by ``MAX_OUTPUT``, and the
number of connections by ``MAX_CONNECTIONS``).
"""

from __future__ import annotations

import errno
import itertools
import logging
import selectors
import socket
import threading
import time
from dataclasses import dataclass, field

from ..sip.errors import ParseError
from ..sip.framing import Message, Ping, StreamFramer, classify_datagram
from ..sip.headers import parse_via
from ..sip.message import Response
from .bindings import Binding
from .config import SutConfig
from .flow import FlowInfo
from .registrar import Registrar

log = logging.getLogger(__name__)

MAX_CONNECTIONS = 256
MAX_OUTPUT = 1024 * 1024
RECV_SIZE = 65536
BIND_ATTEMPTS = 50


@dataclass
class _Conn:
    sock: socket.socket
    flow: FlowInfo
    framer: StreamFramer = field(default_factory=StreamFramer)
    out: bytearray = field(default_factory=bytearray)


def udp_destination(response: Response, flow: FlowInfo) -> tuple[str, int]:
    """Where a UDP response goes: RFC 3581 section 4 (received + rport), else RFC 3261 section
    18.2.2 (received or sent-by, with the sent-by port or 5060).  The registrar always stamps
    ``received`` when sent-by is not the source address, so no DNS lookup is ever needed."""
    try:
        via = parse_via(response.values("Via")[0])
    except (ParseError, IndexError):
        return flow.remote
    host = (via.received or via.host).strip("[]")
    rport = via.params.get("rport")
    if via.received and rport and rport.isdigit():
        return host, int(rport)
    return host, via.port or 5060


class ReferenceCscf:
    """The reference CSCF on ``host:port`` (``port=0`` picks a port free for UDP and TCP)."""

    def __init__(self, config: SutConfig | None = None, host: str = "127.0.0.1", port: int = 0,
                 registrar: Registrar | None = None):
        self.config = config or SutConfig()
        self.registrar = registrar or Registrar(self.config)
        self._host = host
        self._port = port
        self._family = socket.AF_INET6 if ":" in host else socket.AF_INET
        self._lock = threading.Lock()
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None
        self._sel: selectors.BaseSelector | None = None
        self._udp: socket.socket | None = None
        self._tcp: socket.socket | None = None
        self._wake_r: socket.socket | None = None
        self._wake_w: socket.socket | None = None
        self._conns: dict[socket.socket, _Conn] = {}
        self._conn_ids = itertools.count(1)

    # -- properties --------------------------------------------------------------------------
    @property
    def host(self) -> str:
        return self._host

    @property
    def port(self) -> int:
        return self._port

    @property
    def address(self) -> tuple[str, int]:
        return self._host, self._port

    @property
    def log(self):
        """What the registrar handled (a bounded list of :class:`~.registrar.Handled`)."""
        return self.registrar.log

    def lookup(self, aor: str) -> list[Binding]:
        """Current bindings of an AOR, on the server's clock (thread-safe)."""
        with self._lock:
            return self.registrar.lookup(aor, time.monotonic())

    # -- lifecycle ---------------------------------------------------------------------------
    def start(self) -> "ReferenceCscf":
        if self._thread is not None:
            raise RuntimeError("already started")
        self._bind()
        self._sel = selectors.DefaultSelector()
        self._wake_r, self._wake_w = socket.socketpair()
        self._wake_r.setblocking(False)
        self._sel.register(self._wake_r, selectors.EVENT_READ, "wake")
        self._sel.register(self._udp, selectors.EVENT_READ, "udp")
        self._sel.register(self._tcp, selectors.EVENT_READ, "listen")
        self._stop.clear()
        self._thread = threading.Thread(target=self._run, name=f"reference-cscf:{self._port}",
                                        daemon=True)
        self._thread.start()
        return self

    def stop(self, timeout: float = 1.0) -> None:
        if self._thread is None:
            return
        self._stop.set()
        try:
            self._wake_w.send(b"x")
        except OSError:
            pass
        self._thread.join(timeout)
        self._thread = None
        self._close_all()

    def __enter__(self) -> "ReferenceCscf":
        return self.start()

    def __exit__(self, *exc) -> None:
        self.stop()

    def _bind(self) -> None:
        """Bind UDP and TCP to one port; with port 0, retry until both get the same one."""
        attempts = BIND_ATTEMPTS if self._port == 0 else 1
        last: OSError | None = None
        for _ in range(attempts):
            tcp = socket.socket(self._family, socket.SOCK_STREAM)
            udp = socket.socket(self._family, socket.SOCK_DGRAM)
            try:
                tcp.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
                tcp.bind((self._host, self._port))
                port = tcp.getsockname()[1]
                udp.bind((self._host, port))
                tcp.listen(64)
            except OSError as exc:
                tcp.close()
                udp.close()
                last = exc
                if exc.errno != errno.EADDRINUSE or self._port != 0:
                    raise
                continue
            tcp.setblocking(False)
            udp.setblocking(False)
            self._tcp, self._udp, self._port = tcp, udp, port
            return
        raise OSError(errno.EADDRINUSE, f"no port free for both UDP and TCP on {self._host}") from last

    def _close_all(self) -> None:
        for conn in list(self._conns.values()):
            self._close(conn, notify=False)
        for s in (self._udp, self._tcp, self._wake_r, self._wake_w):
            if s is not None:
                try:
                    s.close()
                except OSError:
                    pass
        if self._sel is not None:
            self._sel.close()
        self._udp = self._tcp = self._wake_r = self._wake_w = self._sel = None

    # -- the loop ----------------------------------------------------------------------------
    def _run(self) -> None:
        while not self._stop.is_set():
            try:
                events = self._sel.select(timeout=0.5)
            except OSError:
                break
            for key, mask in events:
                try:
                    self._dispatch(key, mask)
                except Exception:  # noqa: BLE001 - one bad socket must not stop the server
                    log.exception("reference CSCF: error on %s", key.data)

    def _dispatch(self, key: selectors.SelectorKey, mask: int) -> None:
        if key.data == "wake":
            try:
                self._wake_r.recv(64)
            except OSError:
                pass
        elif key.data == "udp":
            self._on_udp()
        elif key.data == "listen":
            self._on_accept()
        else:
            conn: _Conn = key.data
            if mask & selectors.EVENT_READ:
                self._on_tcp_read(conn)
            if mask & selectors.EVENT_WRITE and conn.sock in self._conns:
                self._flush(conn)

    # -- UDP ---------------------------------------------------------------------------------
    def _on_udp(self) -> None:
        try:
            data, addr = self._udp.recvfrom(RECV_SIZE)
        except (BlockingIOError, InterruptedError):
            return
        except OSError:
            return  # e.g. ICMP port unreachable reported on the socket
        kind = classify_datagram(data)
        local = self._udp.getsockname()[:2]
        flow = FlowInfo("udp", (local[0], local[1]), (addr[0], addr[1]))
        if kind == "stun":
            reply = self.on_stun(data, flow)
            if reply:
                self._udp.sendto(reply, addr)
            return
        if kind != "sip":
            return  # CRLF keep-alives (RFC 5626 section 3.5.1) and noise are ignored on UDP
        response = self._handle(data, flow)
        if response is not None:
            try:
                self._udp.sendto(bytes(response), udp_destination(response, flow))
            except OSError as exc:
                log.info("reference CSCF: UDP send failed: %s", exc)

    def on_stun(self, data: bytes, flow: FlowInfo) -> bytes | None:
        """Hook for the limited STUN server of RFC 5626 section 8 (a later issue): return the
        Binding response bytes to send back, or None to stay silent."""
        return None

    # -- TCP ---------------------------------------------------------------------------------
    def _on_accept(self) -> None:
        try:
            sock, addr = self._tcp.accept()
        except (BlockingIOError, InterruptedError, OSError):
            return
        if len(self._conns) >= MAX_CONNECTIONS:
            sock.close()
            return
        sock.setblocking(False)
        local = sock.getsockname()
        flow = FlowInfo("tcp", (local[0], local[1]), (addr[0], addr[1]), next(self._conn_ids))
        conn = _Conn(sock, flow)
        self._conns[sock] = conn
        self._sel.register(sock, selectors.EVENT_READ, conn)

    def _on_tcp_read(self, conn: _Conn) -> None:
        try:
            data = conn.sock.recv(RECV_SIZE)
        except (BlockingIOError, InterruptedError):
            return
        except OSError:
            data = b""
        if not data:
            self._close(conn)
            return
        try:
            frames = conn.framer.feed(data)
        except ParseError as exc:
            log.info("reference CSCF: closing %s: %s", conn.flow, exc)
            self._close(conn)
            return
        for frame in frames:
            if isinstance(frame, Ping):
                self._send(conn, b"\r\n")          # RFC 5626 section 5.4: pong at once
            elif isinstance(frame, Message):
                response = self._handle(frame.data, conn.flow)
                if response is not None:
                    self._send(conn, bytes(response))
            if conn.sock not in self._conns:
                return

    def _send(self, conn: _Conn, data: bytes) -> None:
        conn.out += data
        if len(conn.out) > MAX_OUTPUT:
            self._close(conn)          # the peer does not read: do not buffer without limit
            return
        self._flush(conn)

    def _flush(self, conn: _Conn) -> None:
        try:
            sent = conn.sock.send(conn.out)
            del conn.out[:sent]
        except (BlockingIOError, InterruptedError):
            pass
        except OSError:
            self._close(conn)
            return
        events = selectors.EVENT_READ | (selectors.EVENT_WRITE if conn.out else 0)
        self._sel.modify(conn.sock, events, conn)

    def _close(self, conn: _Conn, notify: bool = True) -> None:
        self._conns.pop(conn.sock, None)
        try:
            if self._sel is not None:
                self._sel.unregister(conn.sock)
        except (KeyError, ValueError):
            pass
        conn.sock.close()
        if notify:
            with self._lock:
                self.registrar.flow_closed(conn.flow)

    # -- shared ------------------------------------------------------------------------------
    def _handle(self, data: bytes, flow: FlowInfo) -> Response | None:
        with self._lock:
            return self.registrar.handle_bytes(data, flow, time.monotonic(), wall=time.time())


__all__ = ["ReferenceCscf", "udp_destination"]
