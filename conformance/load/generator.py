"""The load generator's I/O loop: one thread, one selector, non-blocking sockets, timers in a
FIFO (first deadlines) and a heap (after a retransmission).

UDP: one socket per local address, connected to the SUT and shared by every flow from that
address (responses are matched on the top Via branch, a fixed-length token found with one
``bytes.find``); Timer E retransmissions and Timer F (bounded by the scenario's timeout) are
kept in the transaction object itself, by the rules of ``ue/transaction.py``; on Linux a turn's
datagrams leave in one sendmmsg(2) and the responses are read by recvmmsg(2) (``mmsg.py``); the
datagrams (retransmissions included) are paced by a token bucket at the offered rate, a few milliseconds
deep (``Pacer``), so that they leave in small, even batches and a late turn sends no backlog in
one burst; a busy turn drains the sockets with recv alone (no epoll call).  TCP: one connection per flow (a flow is a connection,
RFC 5626 §4.2), or ``tcp_connections`` shared connections per address; the requests of one turn
of the loop (1 ms at least) leave in one send() per connection, and responses are read where
they lie in the stream buffer (framed by ``walk_frames``).  Requests are rendered from pre-built templates
(``templates.py``); responses are read for their status code and top branch only, unless a
challenge must be answered.

TLS, WS, WSS: a TCP connection as above whose bytes go through ``conformance.wire.Stack`` (the
standard library's ``ssl`` and ``wsproto``); its set-up (connect, TLS handshake, WebSocket
upgrade) is done when the connection is opened, bounded by the scenario's timeout, and counted
apart from the REGISTER transactions (``LoadStats.handshakes``: wall and CPU time).
"""

from __future__ import annotations

import errno
import gc
import heapq
import os
import re
import resource
import selectors
import socket
import time
from collections import deque
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from collections.abc import Callable

from ..cases.model import FlowSpec
from ..ue.transaction import timer_f
from ..ue.model import FlowState
from .scenario import LoadScenario
from .mmsg import RECV_SLOTS, Single, batch_for
from .stats import LoadStats
from .templates import Numbered, Prototype, options

_LENGTH_RE = re.compile(rb"\r\n(?:content-length|l)[ \t]*:[ \t]*(\d+)", re.I)
# Requests started per turn of the loop before reading again.  UDP: the most the pacing bucket
# may hold (``Pacer``), as a registrar's socket buffer holds about a hundred datagrams on
# loopback by default and a burst beyond it is lost and retransmitted 500 ms later; TCP: one
# send() per connection per turn.
SEND_BATCH = {"udp": 96, "tcp": 512, "tls": 512, "ws": 512, "wss": 512}
STREAMS = ("tls", "ws", "wss")
TIMER_BATCH = 128  # timers handled per turn over TCP (Timer F; UDP: the pacing bucket bounds them)
# UDP pacing, a token bucket: tokens come at the offered rate times PACE_HEADROOM (room for
# refreshes overlapping the ramp, and to catch up after a late turn) and the bucket holds at most
# PACE_DEPTH_S seconds' worth (at least PACE_MIN_DEPTH, at most the transport's SEND_BATCH): a turn
# that comes late (the process descheduled for 20 ms) sends no more than the depth, never the
# backlog in one burst a registrar's socket buffer (about 200 KB: ~90 datagrams on loopback)
# cannot hold while it is busy; retransmissions and new requests draw from the same bucket.
PACE_HEADROOM = 2.0
PACE_DEPTH_S = 0.003
PACE_MIN_DEPTH = 8


class Pacer:
    """The UDP token bucket: ``take(now)`` adds what the rate gives since the last call (capped
    at the depth) and returns the whole datagrams the turn may send; ``spend(n)`` removes what
    it sent."""

    __slots__ = ("rate", "depth", "tokens", "last")

    def __init__(self, rate: float, cap: int, now: float):
        self.rate = rate * PACE_HEADROOM
        self.depth = float(min(cap, max(PACE_MIN_DEPTH, rate * PACE_DEPTH_S))) if rate > 0 else float(cap)
        self.tokens = self.depth
        self.last = now

    def take(self, now: float) -> int:
        t = self.tokens + (now - self.last) * self.rate if self.rate > 0 else self.depth
        self.tokens = t if t < self.depth else self.depth
        self.last = now
        return int(self.tokens)

    def spend(self, n: int) -> None:
        self.tokens -= n


# The shortest turn of the loop (SIPp's default timer resolution is 1 ms too); what comes due
# within it leaves at its end, at most 1 ms late.
TURN = 0.001


def walk_frames(buf, emit) -> int:
    """Hand ``emit(buf, start, stop)`` each complete message at the front of a TCP stream buffer,
    where it lies (no copy); CRLF keep-alives skipped; returns how far it got.  Lighter than the
    engine's StreamFramer: the generator only needs the responses' bytes, and a message without
    Content-Length is taken as bodiless."""
    pos, n = 0, len(buf)
    while pos < n:
        while buf.startswith(b"\r\n", pos) and not buf.startswith(b"\r\n\r\n", pos):
            pos += 2
        if buf.startswith(b"\r\n\r\n", pos):
            pos += 4
            continue
        end = buf.find(b"\r\n\r\n", pos)
        if end < 0:
            break
        if buf.startswith(b"\r\nContent-Length: 0", end - 19) and end - 19 >= pos:
            stop = end + 4  # the usual last header line of a bodiless response: no search
        else:
            m = _LENGTH_RE.search(buf, pos, end)
            stop = end + 4 + (int(m.group(1)) if m else 0)
        if stop > n:
            break
        emit(buf, pos, stop)
        pos = stop
    return pos


def frames(buf: bytearray) -> list[bytes]:
    """Complete messages at the front of a TCP stream buffer, as copies (removed from it)."""
    out: list[bytes] = []
    pos = walk_frames(buf, lambda b, start, stop: out.append(bytes(b[start:stop])))
    if pos:
        del buf[:pos]
    return out


class _Flow:
    """One flow of one UE, as light as can be (a run may have hundreds of thousands): the UE's
    number (its identity: user, +sip.instance, Call-ID and tag are formatted from it into the
    request itself, ``templates.Numbered``); the engine's UE / FlowState objects exist per
    prototype only."""

    __slots__ = ("ue", "reg_id", "home", "addr", "cseq", "refreshes_left", "registered", "busy", "conn", "auth",
                 "index", "second")

    def __init__(self, ue: int, reg_id: int, home: int, index: int):
        self.ue, self.reg_id, self.home, self.addr = ue, reg_id, home, home
        self.cseq = 0
        self.refreshes_left = 0
        self.registered = False
        self.busy = False
        self.conn = None
        self.auth = b""
        self.index = index
        self.second: "_Flow | None" = None  # the Reg2 flow started after this one's first 2xx


class _Txn:
    """One REGISTER transaction and its RFC 3261 §17.1.2 timers, kept in the object itself (no
    transaction object beside it): Timer E over UDP (``e_at``, its interval ``e_int``: T1
    doubling up to T2, T2 once a provisional response came) and Timer F (``f_at``: 64*T1
    bounded by the scenario's timeout), the same rules as ``ue/transaction.py``'s."""

    __slots__ = ("flow", "kind", "branch", "data", "sent", "conn", "done", "authed", "e_at", "e_int", "f_at",
                 "provisional")

    def __init__(self, flow, kind, branch, data, sent, conn, e_at, e_int, f_at):
        self.flow, self.kind, self.branch, self.data, self.sent, self.conn = flow, kind, branch, data, sent, conn
        self.e_at, self.e_int, self.f_at = e_at, e_int, f_at
        self.done = False
        self.authed = False
        self.provisional = False


class _Tcp:
    __slots__ = ("sock", "buf", "local", "out", "closed", "addr", "writing", "stack", "plain")

    def __init__(self, sock, local, addr, stack=None):
        self.sock, self.local, self.addr = sock, local, addr
        self.stack = stack  # conformance.wire.Stack for tls / ws / wss
        self.plain = bytearray()  # tls: the turn's requests, encrypted together when they leave
        self.buf = bytearray()
        self.out = bytearray()
        self.closed = False
        self.writing = False  # registered for EVENT_WRITE (the kernel's buffer was full)


def _big_buffers(s: socket.socket, size: int = 8 << 20) -> None:
    """Socket buffers for bursts of responses while the loop is busy: SO_RCVBUF is capped by
    net.core.rmem_max (about 200 KB by default, a hundred small datagrams on loopback), so as
    root the FORCE variants (Linux) set it beyond; otherwise as large as allowed."""
    for force, plain in ((getattr(socket, "SO_RCVBUFFORCE", None), socket.SO_RCVBUF),
                         (getattr(socket, "SO_SNDBUFFORCE", None), socket.SO_SNDBUF)):
        try:
            if force is None:
                raise PermissionError
            s.setsockopt(socket.SOL_SOCKET, force, size)
        except (PermissionError, OSError):
            try:
                s.setsockopt(socket.SOL_SOCKET, plain, size)
            except OSError:
                pass


def _raise_fd_limit() -> None:
    try:
        soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
        if soft < hard:
            resource.setrlimit(resource.RLIMIT_NOFILE, (hard, hard))
    except (ValueError, OSError):
        pass


class LoadGenerator:
    def __init__(self, sc: LoadScenario, progress: Callable[[dict], None] | None = None, seed: int = 1):
        if sc.transport not in ("udp", "tcp") + STREAMS:
            raise ValueError(f"transport must be udp, tcp, tls, ws or wss, not {sc.transport!r}")
        if sc.turn_ms is None:
            sc.turn_ms = sc.default_turn_ms()
        self.sc = sc
        self.dst = (sc.host, sc.port)
        self.progress = progress
        # what draws the Reg1b refreshes (made on first use: the random module is not imported
        # for runs without them, nor secrets and uuid for the run's token and UUID base below)
        self._seed = seed
        self._rand = None
        self.token = sc.run_token or os.urandom(3).hex()
        self.stats = LoadStats()
        self.sel = selectors.DefaultSelector()
        self.udp: dict[int, socket.socket] = {}  # address index -> socket
        self.udp_ports: dict[int, int] = {}  # address index -> its local port
        self.udp_send: dict[int, Callable] = {}  # address index -> its socket's send (to the SUT)
        self.udp_recv: dict[int, Callable] = {}  # address index -> the recv of its Batch or Single
        # Batched (sendmmsg / recvmmsg, Linux): address index -> (its Batch, the turn's datagrams),
        # ``udp_send`` appending to the list and ``_flush_udp`` sending it at the end of the turn
        self.udp_batch: dict[int, tuple] = {}
        self.udp_batched = sc.udp_connect and sc.udp_batch
        self.pools: dict[int, list[_Tcp]] = {}
        self.conns: list[_Tcp] = []
        self.txns: dict[bytes, _Txn] = {}
        self.timers: list = []  # heap of later deadlines (after a retransmission)
        # First deadlines: every transaction's is its start + the same delay (T1 over UDP, Timer F
        # over TCP), so they come due in start order: a FIFO instead of a heap push per request.
        self.first_timers: deque = deque()
        # What to send: the initial registrations are due at start + k / rate (UE k, made by
        # ``_initial`` when due); refreshes at their 2xx + the interval, hence in the order they
        # are added (a FIFO); Reg2's second flow and the storm's refreshes at once (a FIFO); the
        # storm itself in a heap (rare items).
        self.schedule: list = []
        self.now_q: deque = deque()
        self.refresh_q: deque = deque()
        self.flows: list[_Flow] = []
        self._seq = 0
        self._branch_n = 0
        self.icmp_errors = 0
        self._dirty: set = set()
        self.protos: dict = {}  # (address index, port, reg-id) -> Prototype
        self._uuid_base = int.from_bytes(os.urandom(4), "big")  # a random UUID's last 32 bits
        self._branch_prefix = b"z9hG4bK" + self.token.encode() + b"x"
        self._branch_mark = b"branch=" + self._branch_prefix
        self._branch_len = len(self._branch_prefix) + 10  # the prefix and %010d
        self._timer_f = timer_f(sc.t1, sc.timeout, 0.0)  # offset from a request's start
        self._tls_context = None  # built once for every tls / wss connection
        self._udp_mode = sc.transport == "udp"

    @property
    def rand(self):
        """The run's random.Random (seeded), made on first use."""
        if self._rand is None:
            import random

            self._rand = random.Random(self._seed)
        return self._rand

    # -- set-up ----------------------------------------------------------------------------------
    def _flow(self, i: int, reg_id: int, home: int) -> _Flow:
        f = _Flow(i, reg_id, home, len(self.flows))
        self.flows.append(f)
        return f

    def _identity(self, i: int, reg_id: int) -> dict[str, str]:
        """UE i's identity on its flow of this reg-id (what ``_prototype``'s format makes)."""
        user = f"{self.sc.user_prefix}-{self.token}-{i}"
        return {"user": user, "instance": f"{self._uuid_base:08x}-0000-4000-8000-{i:012x}",  # one per UE
                "call_id": f"{user}-{reg_id}@{self.token}", "tag": f"{self.token}x{i}x{reg_id}"}

    def _prototype(self, addr: int, port: int, reg_id: int) -> Numbered:
        """The engine's UE model and build_register, once per address, port and reg-id: the
        request as one format over the branch counter, the UE number, the CSeq and the extra
        header lines (``_identity``'s fields, formatted in place)."""
        sc = self.sc
        spec = FlowSpec(name=f"f{reg_id}", address=addr + 1, reg_id=reg_id, transport=sc.transport)
        st = FlowState(spec=spec, local_ip=sc.ue_addresses[addr], transport=sc.transport, local_port=port,
                       port_uc=port, port_us=port)
        lit = lambda text: text.encode().replace(b"%", b"%%")  # noqa: E731
        user = lit(f"{sc.user_prefix}-{self.token}-") + b"%(i)d"
        ident = {"user": user, "instance": lit(f"{self._uuid_base:08x}-0000-4000-8000-") + b"%(i)012x",
                 "call_id": user + lit(f"-{reg_id}@{self.token}"),
                 "tag": lit(f"{self.token}x") + b"%(i)d" + lit(f"x{reg_id}")}
        proto = Prototype(st, options(sc.expires), sc.domain).numbered(ident, lit(self._branch_prefix.decode())
                                                                       + b"%(n)010d")
        self.protos[(addr, port, reg_id)] = proto
        return proto

    def _udp_socket(self, addr: int) -> socket.socket:
        s = self.udp.get(addr)
        if s is None:
            ip = self.sc.ue_addresses[addr]
            s = socket.socket(socket.AF_INET6 if ":" in ip else socket.AF_INET, socket.SOCK_DGRAM)
            _big_buffers(s)
            s.bind((ip, 0))
            s.setblocking(False)
            if self.sc.udp_connect:
                # connected to the SUT: send() without an address to resolve and route each
                # time (and ICMP errors reported on the socket); responses from elsewhere are
                # not received (--udp-unconnected for a SUT that answers from another address)
                s.connect(self.dst)
                self.udp_send[addr] = s.send
                mm = batch_for(s) if self.udp_batched else None
                if mm is not None:
                    out: list = []
                    self.udp_batch[addr] = (mm, out)
                    self.udp_send[addr] = out.append
            else:
                self.udp_send[addr] = lambda data, _s=s.sendto, _d=self.dst: _s(data, _d)
            self.udp_recv[addr] = (self.udp_batch[addr][0] if addr in self.udp_batch else Single(s)).recv
            self.sel.register(s, selectors.EVENT_READ, ("udp", addr))
            self.udp[addr] = s
        return s

    def _udp_port(self, addr: int) -> int:
        port = self.udp_ports[addr] = self._udp_socket(addr).getsockname()[1]
        return port

    def _tcp_connect(self, addr: int) -> _Tcp:
        ip = self.sc.ue_addresses[addr]
        s = socket.socket(socket.AF_INET6 if ":" in ip else socket.AF_INET, socket.SOCK_STREAM)
        # Room for the responses of a turn the loop is late for (the process descheduled): a
        # registrar whose writes back up may give the connection up (Kamailio's write queue
        # is bounded, tcp_conn_wq_max).
        _big_buffers(s)
        s.bind((ip, 0))
        s.settimeout(self.sc.timeout)
        s.connect(self.dst)
        s.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        stack = None
        if self.sc.transport in STREAMS:
            stack = self._handshake(s)
        s.setblocking(False)
        c = _Tcp(s, s.getsockname()[:2], addr, stack)
        self.sel.register(s, selectors.EVENT_READ, ("tcp", c))
        self.conns.append(c)
        return c

    def _handshake(self, s: socket.socket):
        """TLS handshake and / or WebSocket upgrade on a connected socket, blocking, within the
        scenario's timeout; the connection's Stack (OSError with the reason when it fails)."""
        from ..sip.framing import Message
        from ..wire import Stack, TlsClient, WsClient

        sc = self.sc
        t_wall, t_cpu = time.perf_counter(), time.process_time()
        if sc.transport in ("tls", "wss") and self._tls_context is None:
            self._tls_context = TlsClient(ca=sc.tls_ca, server_name=sc.tls_server_name,
                                          verify=sc.tls_verify).context()
        stack = Stack.client(sc.transport, tls=TlsClient(server_name=sc.tls_server_name),
                             ws=WsClient(path=sc.ws_path, host=sc.ws_host or sc.domain),
                             context=self._tls_context)
        deadline = time.monotonic() + sc.timeout
        try:
            s.sendall(stack.start())
            while not stack.ready:
                left = deadline - time.monotonic()
                if left <= 0:
                    raise OSError(errno.ETIMEDOUT, f"{sc.transport} handshake not finished within {sc.timeout:g} s")
                s.settimeout(left)
                try:
                    data = s.recv(65536)
                except socket.timeout:
                    continue
                ev = stack.receive(data)
                if ev.send:
                    s.sendall(ev.send)
                if ev.error or ev.http_status or (ev.closed and not stack.ready):
                    raise OSError(errno.ECONNABORTED, f"{sc.transport} handshake: "
                                  f"{ev.error or ev.closed or ev.http_status}")
                if any(isinstance(f, Message) for f in ev.frames):
                    raise OSError(errno.EPROTO, f"{sc.transport}: a message before the handshake ended")
        except OSError:
            self.stats.handshake_failures += 1
            s.close()
            raise
        self.stats.on_handshake(time.perf_counter() - t_wall, time.process_time() - t_cpu)
        return stack

    def _conn_for(self, flow: _Flow, addr: int) -> _Tcp:
        if self.sc.tcp_connections > 0:
            pool = self.pools.setdefault(addr, [])
            if len(pool) < self.sc.tcp_connections:
                pool.append(self._tcp_connect(addr))
                return pool[-1]
            return pool[flow.index % len(pool)]
        if flow.conn is not None and flow.conn.addr == addr and not flow.conn.closed:
            return flow.conn
        return self._tcp_connect(addr)

    # -- sending ---------------------------------------------------------------------------------
    def _push(self, heap, when, item) -> None:
        self._seq += 1
        heapq.heappush(heap, (when, self._seq, item))

    def _start(self, flow: _Flow, kind: str, now: float) -> None:
        sc = self.sc
        addr = flow.addr
        if kind == "reg1b":
            alt = 2 if len(sc.ue_addresses) > 2 else (1 - flow.home if len(sc.ue_addresses) > 1 else 0)
            addr = flow.home if flow.addr != flow.home else alt
        conn = None
        udp = self._udp_mode
        try:
            if udp:
                port = self.udp_ports.get(addr)
                if port is None:  # the address's socket made now: its set-up not counted in the timers
                    port = self._udp_port(addr)
                    now = time.monotonic()
            else:
                conn = self._conn_for(flow, addr)
                port = conn.local[1]
        except OSError as exc:
            self.stats.on_sent(now)
            self.stats.on_failure(now, f"transport: {exc.strerror or exc}")
            return
        flow.addr = addr
        proto = self.protos.get((addr, port, flow.reg_id)) or self._prototype(addr, port, flow.reg_id)
        flow.cseq = cseq = flow.cseq + 1
        self._branch_n = n = self._branch_n + 1
        digits = b"%010d" % n
        branch = self._branch_prefix + digits
        ue = flow.ue  # its number: in decimal in five header fields, in hex in its instance
        data = proto.fmt % proto.getter((digits, b"%d" % ue, b"%012x" % ue, cseq, flow.auth))
        f_at = now + self._timer_f
        flow.busy = True
        st = self.stats
        st.sent += 1
        sec = st.seconds
        i = int(now - st.started)
        if i < len(sec):
            sec[i].sent += 1
        else:
            st.second_at(now).sent += 1
        if udp:
            e_at = now + sc.t1
            self.txns[branch] = txn = _Txn(flow, kind, branch, data, now, None, e_at, sc.t1, f_at)
            try:
                self.udp_send[addr](data)
            except BlockingIOError:
                pass  # the socket buffer is full: Timer E resends
            except ConnectionRefusedError:  # an earlier datagram's ICMP error, reported here
                self.icmp_errors += 1
            except OSError as exc:
                self._finish(txn, now, f"transport: {exc.strerror or exc}")
                return
            self.first_timers.append((e_at if e_at < f_at else f_at, txn))
            return
        flow.conn = conn
        self.txns[branch] = txn = _Txn(flow, kind, branch, data, now, conn, f_at, 0.0, f_at)
        if self._send(txn):
            self.first_timers.append((f_at, txn))

    def _send(self, txn: _Txn) -> bool:
        try:
            if txn.conn is None:
                self.udp_send[txn.flow.addr](txn.data)
            else:
                self._tcp_send(txn.conn, txn.data)
            return True
        except BlockingIOError:
            return True  # the socket buffer is full: Timer E resends (UDP)
        except OSError as exc:
            if isinstance(exc, ConnectionRefusedError) and txn.conn is None:
                self.icmp_errors += 1  # a connected UDP socket: an earlier datagram's ICMP error
                return True
            self._finish(txn, time.monotonic(), f"transport: {exc.strerror or exc}")
            return False

    def _tcp_send(self, c: _Tcp, data: bytes) -> None:
        """Queue: the requests of one turn of the loop leave in one send() (``_flush``)."""
        if c.closed:
            raise OSError(errno.EPIPE, "connection closed")
        if c.stack is not None:
            if c.stack.ws is None:  # TLS: the turn's requests go into records together (_wrap)
                c.plain += data
                if not c.writing:
                    self._dirty.add(c)
                return
            data = c.stack.send_message(data)  # one WebSocket message per request (RFC 7118 §5)
        c.out += data
        if not c.writing:
            self._dirty.add(c)

    @staticmethod
    def _wrap(c: _Tcp) -> None:
        if c.plain:
            c.out += c.stack.send_message(bytes(c.plain))
            c.plain.clear()

    def _flush(self, now: float) -> None:
        for c in self._dirty:
            if c.plain and not c.closed:
                self._wrap(c)
            if c.closed or c.writing or not c.out:
                continue
            try:
                n = c.sock.send(c.out)
            except BlockingIOError:
                n = 0
            except OSError as exc:
                self._close(c, now, f"transport: TCP {exc.strerror or exc}")
                continue
            del c.out[:n]
            if c.out:
                c.writing = True
                self.sel.modify(c.sock, selectors.EVENT_READ | selectors.EVENT_WRITE, ("tcp", c))
        self._dirty.clear()

    # -- receiving -------------------------------------------------------------------------------
    def _on_response(self, data, now: float, pos: int = 0, stop: int | None = None) -> None:
        """The response in ``data[pos:stop]`` (a TCP buffer holds several): read in place, its
        status code and top branch only."""
        if stop is None:
            stop = len(data)
        if not data.startswith(b"SIP/2.0 ", pos):
            return  # a request (OPTIONS, NOTIFY...) or garbage: not ours to answer here
        # the top Via's branch: ours are the run's prefix and ten digits (z9hG4bK<token>x<n>),
        # so the first "branch=" followed by the prefix is the top Via's, and its length known
        b = data.find(self._branch_mark, pos, stop) + 7
        if b < 7:
            return
        txn = self.txns.get(data[b:b + self._branch_len] if type(data) is bytes
                            else bytes(data[b:b + self._branch_len]))
        if txn is None or txn.done:
            return
        try:
            status = int(data[pos + 8:pos + 11])
        except ValueError:
            self._finish(txn, now, "unparseable response")
            return
        if status < 200:  # proceeding: Timer E at T2 from now on (RFC 3261 §17.1.2.2)
            txn.provisional = True
            txn.e_int = self.sc.t2
            return
        if 200 <= status < 300:
            self._finish(txn, now, None)
        elif status in (401, 407) and self.sc.auth_password is not None and not txn.authed:
            self._answer_challenge(txn, bytes(data[pos:stop]), now)
        else:
            end = data.find(b"\r\n", pos, stop)
            self._finish(txn, now, bytes(data[pos + 8:end if end >= 0 else stop]).decode("utf-8", "replace"))

    def _answer_challenge(self, txn: _Txn, data: bytes, now: float) -> None:
        from ..ims.digest import digest_response
        from ..sip.headers import parse_auth
        from ..sip.message import parse_message

        flow = txn.flow
        try:
            msg = parse_message(data)
            hdr = msg.get("WWW-Authenticate") or msg.get("Proxy-Authenticate") or ""
            ch = parse_auth(hdr)
            params = ch.params
            realm, nonce = params.get("realm", ""), params.get("nonce", "")
            qop = "auth" if "auth" in (params.get("qop") or "").split(",") else None
            cnonce = os.urandom(4).hex() if qop else None
            uri = f"sip:{self.sc.domain}"
            impi = f"{self._identity(flow.ue, flow.reg_id)['user']}@{self.sc.domain}"
            resp = digest_response(username=impi, realm=realm, password=self.sc.auth_password,
                                   method="REGISTER", uri=uri, nonce=nonce, qop=qop,
                                   nc="00000001" if qop else None, cnonce=cnonce)
        except Exception as exc:  # a challenge we cannot answer is a failure with its reason
            self._finish(txn, now, f"unanswerable challenge: {exc}")
            return
        name = "Proxy-Authorization" if data.startswith(b"SIP/2.0 407") else "Authorization"
        extra = (f'{name}: Digest username="{impi}", realm="{realm}", nonce="{nonce}", uri="{uri}", '
                 f'response="{resp}", algorithm=MD5' + (f', qop=auth, nc=00000001, cnonce="{cnonce}"' if qop else "")
                 + "\r\n").encode()
        flow.auth = extra
        txn.done = True
        del self.txns[txn.branch]
        flow.busy = False
        self.stats.sent -= 1  # the challenged request and its answer count as one transaction
        self.stats.by_kind["challenged"] += 1
        self._start(flow, txn.kind, now)

    def _finish(self, txn: _Txn, now: float, failure: str | None) -> None:
        if txn.done:
            return
        self.txns.pop(txn.branch, None)
        if failure is None:
            self._ok(txn, now)
            return
        txn.done = True
        txn.flow.busy = False
        self.stats.on_failure(now, failure)

    def _ok(self, txn: _Txn, now: float) -> None:
        """A 2xx for a transaction already taken out of ``txns``: counted, and what comes next
        for its flow (its Reg2 flow, its refresh) queued."""
        txn.done = True
        flow = txn.flow
        flow.busy = False
        self.stats.on_ok(now, now - txn.sent, txn.kind)
        flow.registered = True
        if flow.second is not None and txn.kind == "initial":
            self.now_q.append((flow.second, "initial"))
        if flow.refreshes_left != 0:
            sc = self.sc
            if sc.duration is not None and now - self.stats.started >= sc.duration:
                return  # stopping
            flow.refreshes_left -= 1
            kind = "reg1b" if sc.reg1b_share and self.rand.random() < sc.reg1b_share else "refresh"
            self.refresh_q.append((now + sc.refresh_interval, flow, kind))

    def _read_udp(self, addr: int, now: float) -> None:
        """The datagrams waiting on an address's socket, RECV_SLOTS per call (recvmmsg, or
        ``Single``'s recv calls); a 200 (the usual answer) finds and finishes its transaction
        here, anything else goes to ``_on_response``."""
        recv, on_response, ok, txns = self.udp_recv[addr], self._on_response, self._ok, self.txns
        mark, blen = self._branch_mark, self._branch_len
        for _ in range(64):
            datas, err = recv()
            if err:
                if err == errno.ECONNREFUSED:
                    self.icmp_errors += 1
                    continue
                return
            for data in datas:
                if data.startswith(b"SIP/2.0 200 "):
                    b = data.find(mark) + 7
                    if b >= 7:
                        txn = txns.pop(data[b:b + blen], None)
                        if txn is not None:
                            ok(txn, now)
                        continue  # not ours any more (a late duplicate): nothing to do
                on_response(data, now)
            if len(datas) < RECV_SLOTS:
                return

    def _flush_udp(self, now: float) -> None:
        """The turn's datagrams, per address, in as few sendmmsg calls as they fit: a full socket
        buffer (EAGAIN) leaves the rest to Timer E, as a failed send() would; an earlier
        datagram's ICMP error (ECONNREFUSED) is counted and the send tried again (a few times, then
        that datagram left to Timer E); any other error
        fails the transaction of the datagram it stopped at (found by its branch)."""
        for mm, out in self.udp_batch.values():
            if not out:
                continue
            k, n, refused = 0, len(out), 0
            while k < n:
                sent, err = mm.send(out, k)
                k += sent
                if not err:
                    continue
                if err in (errno.EAGAIN, errno.EWOULDBLOCK):
                    break
                if err == errno.ECONNREFUSED:
                    self.icmp_errors += 1
                    refused += 1
                    if refused > 8:
                        k += 1  # this one not sent (as after a refused send()): Timer E resends it
                    continue
                data = out[k]
                b = data.find(self._branch_mark) + 7
                txn = self.txns.get(data[b:b + self._branch_len]) if b >= 7 else None
                if txn is not None:
                    self._finish(txn, now, f"transport: {os.strerror(err)}")
                k += 1
            out.clear()

    def _read_tcp(self, c: _Tcp, now: float, events: int) -> None:
        if events & selectors.EVENT_WRITE and c.plain:
            self._wrap(c)
        if events & selectors.EVENT_WRITE and c.out:
            try:
                n = c.sock.send(c.out)
                del c.out[:n]
            except BlockingIOError:
                pass
            except OSError:
                self._close(c, now, "transport: TCP send failed")
                return
            if not c.out:
                c.writing = False
                self.sel.modify(c.sock, selectors.EVENT_READ, ("tcp", c))
        if not events & selectors.EVENT_READ:
            return
        try:
            data = c.sock.recv(262144)
        except BlockingIOError:
            return
        except OSError as exc:
            self._close(c, now, f"transport: TCP {exc.strerror or exc}")
            return
        if not data:
            self._close(c, now, "transport: TCP connection closed by the SUT")
            return
        if c.stack is not None:
            self._read_stack(c, data, now)
            return
        if c.buf:
            c.buf += data
            data = c.buf
        pos = self._responses(data, now)
        if c.buf:
            del c.buf[:pos]
        elif pos < len(data):
            c.buf = bytearray(data[pos:])
        if len(c.buf) > 1 << 20:
            self._close(c, now, "transport: unframeable TCP data")

    def _read_stack(self, c: _Tcp, data: bytes, now: float) -> None:
        """Bytes of a tls / ws / wss connection: through its Stack, each SIP message read as
        over TCP (keep-alives and WebSocket control frames are the Stack's)."""
        from ..sip.framing import Message

        ev = c.stack.receive(data)
        if ev.send:  # WebSocket Pong / Close replies, TLS post-handshake messages
            c.out += ev.send
            if not c.writing:
                self._dirty.add(c)
        for fr in ev.frames:
            if type(fr) is Message:
                self._on_response(fr.data, now)
        if ev.error or ev.closed:
            self._close(c, now, f"transport: {c.stack.transport} {ev.error or ev.closed}")

    def _responses(self, buf, now: float) -> int:
        """The complete messages at the front of a TCP stream, each handed to ``_on_response``
        where it lies (no copy); returns how far it got (:func:`walk_frames`)."""
        on_response = self._on_response
        return walk_frames(buf, lambda b, start, stop: on_response(b, now, start, stop))

    def _close(self, c: _Tcp, now: float, why: str) -> None:
        if c.closed:
            return
        c.closed = True
        try:
            self.sel.unregister(c.sock)
        except (KeyError, ValueError):
            pass
        c.sock.close()
        for txn in [t for t in self.txns.values() if t.conn is c]:
            self._finish(txn, now, why)
        pool = self.pools.get(c.addr)
        if pool and c in pool:
            pool.remove(c)

    # -- the loop --------------------------------------------------------------------------------
    def _stopping(self, now: float) -> bool:
        return self.sc.duration is not None and now - self.stats.started >= self.sc.duration

    def _plan(self, t0: float) -> None:
        sc = self.sc
        n2 = int(round(sc.ues * sc.reg2_share))
        self._reg2 = [n2, (sc.ues / n2) if n2 else 0.0, 0.0]  # how many, every how many UEs, next
        if sc.storm_at is not None:
            self._push(self.schedule, t0 + sc.storm_at, (None, "storm"))

    def _initial(self, i: int) -> _Flow:
        """UE i's first flow (and its Reg2 flow), made when its initial registration is due (UEs
        are made as the ramp goes, not all before it starts); called for i = 0, 1, 2... in order."""
        sc = self.sc
        n2, every, next_reg2 = self._reg2
        f1 = self._flow(i, 1, 0)
        f1.refreshes_left = sc.refreshes
        if n2 and i >= next_reg2 and len(sc.ue_addresses) > 1:
            self._reg2[2] = next_reg2 + every
            f2 = self._flow(i, 2, 1)
            f2.refreshes_left = sc.refreshes
            f1.second = f2
        return f1

    def run(self) -> LoadStats:
        _raise_fd_limit()
        sc = self.sc
        st = self.stats
        # No cyclic garbage collection while the loop runs: its objects (flows, transactions,
        # timer entries) form no reference cycles, and a collection's pass over the hundreds
        # of thousands of flows a run keeps costs CPU on the hot path for nothing.
        gc_was = gc.isenabled()
        gc.disable()
        t0 = time.monotonic()
        cpu0 = time.process_time()
        st.started = t0
        self._plan(t0)
        next_progress = t0 + 1.0
        hard_end = t0 + (sc.duration if sc.duration is not None else 1e9) + sc.timeout + 1.0
        select = self.sel.select
        schedule, timers, first = self.schedule, self.timers, self.first_timers
        now_q, refresh_q, initial = self.now_q, self.refresh_q, self._initial
        ni, n_init = 0, sc.ues
        txns, max_out = self.txns, sc.max_outstanding
        stop_at = t0 + sc.duration if sc.duration is not None else float("inf")  # as ``_stopping``
        step = 1.0 / sc.rate if sc.rate > 0 else 0.0
        batch = SEND_BATCH[sc.transport]
        paced = sc.transport == "udp"
        offered = sc.offered_rate
        pacer = Pacer(offered, batch, t0) if paced else None
        udp_addrs, read_udp = self.udp.keys(), self._read_udp
        batched = self.udp_batch
        t2 = sc.t2
        tick = max(TURN, sc.turn_ms / 1000.0)
        if paced and tick > TURN:  # longer turns: the bucket holds a turn's datagrams and a half
            pacer.depth = max(pacer.depth, min(4 * batch, offered * tick * 1.5))
        sleep = time.sleep
        turn = t0
        wait = 0.0
        try:
            while True:
                # 1. what arrived (first: a response waiting in a buffer must not be retransmitted for)
                if paced and wait <= 0:
                    # UDP, busy: the (connected) sockets drained with recv until they are empty,
                    # no epoll_wait call and no selector keys on the way
                    now = time.monotonic()
                    for a in udp_addrs:
                        read_udp(a, now)
                else:
                    for key, events in select(wait):
                        kind, obj = key.data
                        now = time.monotonic()
                        if kind == "udp":
                            read_udp(obj, now)
                        else:
                            self._read_tcp(obj, now, events)
                now = time.monotonic()
                if paced:
                    pace = pacer.take(now)
                    tbudget = (pace + 1) // 2  # retransmissions: half the bucket at most
                else:
                    pace = tbudget = TIMER_BATCH
                # 2. timers: Timer E retransmissions, Timer F / the scenario's timeout
                while tbudget and ((first and first[0][0] <= now) or (timers and timers[0][0] <= now)):
                    if first and first[0][0] <= now:
                        txn = first.popleft()[1]
                    else:
                        txn = heapq.heappop(timers)[2]
                    if txn.done:
                        continue
                    if now >= txn.f_at:
                        self._finish(txn, now, "timeout" + (" (ICMP port unreachable seen)" if self.icmp_errors else ""))
                        continue
                    if txn.conn is None and now >= txn.e_at:  # Timer E: retransmit, then T1 doubling up to T2
                        st.retransmissions += 1
                        tbudget -= 1
                        txn.e_int = t2 if txn.provisional else min(2 * txn.e_int, t2)
                        txn.e_at = now + txn.e_int
                        if not self._send(txn):
                            continue
                    self._push(timers, txn.e_at if txn.e_at < txn.f_at else txn.f_at, txn)
                # 3. due sends, within the window, a bounded batch per turn (UDP: what the
                # retransmissions left of the bucket)
                budget = pace - ((pace + 1) // 2 - tbudget) if paced else batch
                if now >= stop_at:
                    now_q.clear(), refresh_q.clear(), schedule.clear()
                    ni = n_init
                while budget and len(txns) < max_out:
                    if now_q:
                        flow, kind = now_q.popleft()
                    elif refresh_q and refresh_q[0][0] <= now:
                        _, flow, kind = refresh_q.popleft()
                    elif ni < n_init and t0 + ni * step <= now:
                        flow, kind = initial(ni), "initial"
                        ni += 1
                    elif schedule and schedule[0][0] <= now:
                        _, _, (flow, kind) = heapq.heappop(schedule)
                    else:
                        break
                    if flow is None:  # the storm: every registered, idle flow refreshes now
                        now_q.extend((f, "storm") for f in self.flows if f.registered and not f.busy)
                        continue
                    if flow.busy:
                        continue
                    self._start(flow, kind, now)
                    budget -= 1
                if paced:
                    pacer.spend(pace - budget)
                if batched:
                    self._flush_udp(now)
                if self._dirty:
                    self._flush(now)
                if not (now_q or refresh_q or ni < n_init or schedule or txns):
                    break
                if now >= hard_end:
                    for txn in list(self.txns.values()):
                        self._finish(txn, now, "timeout")
                    break
                if now >= next_progress:
                    next_progress = now + 1.0
                    if self.progress is not None:
                        self.progress(self.snapshot(now))
                wake = next_progress
                if len(txns) < max_out:
                    if now_q:
                        wake = now
                    if refresh_q:
                        wake = min(wake, refresh_q[0][0])
                    if ni < n_init:
                        wake = min(wake, t0 + ni * step)
                    if schedule:
                        wake = min(wake, schedule[0][0])
                if timers:
                    wake = min(wake, timers[0][0])
                while first and first[0][1].done:  # answered: no need to wake for it
                    first.popleft()
                if first:
                    wake = min(wake, first[0][0])
                if tick:
                    # A turn at most every millisecond, so that what arrives and what comes due in
                    # between is read and sent in one go (TCP: one recv, one send per connection)
                    # rather than a few transactions per turn, each turn costing a select and a
                    # pass of this loop (over UDP, fewer and more regular bursts, too).
                    left = turn + tick - time.monotonic()
                    if left > 0:
                        sleep(left)
                    turn = time.monotonic()
                wait = max(0.0, wake - time.monotonic())
        finally:
            st.elapsed = time.monotonic() - t0
            st.cpu = time.process_time() - cpu0
            if gc_was:
                gc.enable()
            self.close()
        return st

    def snapshot(self, now: float) -> dict:
        st = self.stats
        last = st.seconds[-2] if len(st.seconds) >= 2 else (st.seconds[-1] if st.seconds else None)
        return {"t": round(now - st.started, 1), "sent": st.sent, "ok": st.ok, "failed": st.failed,
                "outstanding": len(self.txns), "rate": last.ok if last else 0,
                "latency_ms": round(last.latency_sum / last.ok * 1000, 2) if last and last.ok else None}

    def close(self) -> None:
        for s in self.udp.values():
            try:
                self.sel.unregister(s)
            except (KeyError, ValueError):
                pass
            s.close()
        for c in self.conns:
            if not c.closed:
                c.closed = True
                try:
                    self.sel.unregister(c.sock)
                except (KeyError, ValueError):
                    pass
                c.sock.close()
        self.udp.clear()
        self.sel.close()
