"""The reference server's listeners and connections (TCP, and TLS / WebSocket over TCP).

A node names a connection by its :class:`~conformance.sut.flow.FlowInfo` (``conn_id``), the
selector by its socket; :class:`Connections` keeps both views in step and tells the node when a
connection opens or closes (RFC 5626 section 7: a direct-flow binding lives as long as its
connection).  It is public so that what else opens connections for the server (the IMS
P-CSCF's TUN-bound TCP, :mod:`.protected_tcp`) shares the same bounds and bookkeeping instead
of reaching into the server.

Bounds: at most ``MAX_CONNECTIONS`` connections (checked by whoever accepts or opens one, see
:attr:`Connections.full`), at most ``MAX_OUTPUT`` bytes queued per connection (a peer that does
not read is closed), input bounded by each connection's framer, connects by ``CONNECT_TIMEOUT``.

TLS, WS and WSS connections carry a :class:`conformance.wire.Stack` (sans-IO TLS and WebSocket
layers) between the socket and SIP: ``out`` holds wire bytes, :meth:`Connections.send` passes SIP
through ``stack.send_message``.  Such a connection is a flow only once its handshakes are done
(:meth:`Connections.announce`; until then the node knows nothing of it); an accepted one whose
handshake is not done within ``HANDSHAKE_TIMEOUT`` is closed by the server.
"""

from __future__ import annotations

import itertools
import selectors
import socket
import threading
import time
from dataclasses import dataclass, field

from ...sip.framing import StreamFramer
from ..flow import FlowInfo

__all__ = ["CONNECT_TIMEOUT", "Connection", "Connections", "HANDSHAKE_TIMEOUT", "Listener", "MAX_CONNECTIONS",
           "MAX_OUTPUT"]

MAX_CONNECTIONS = 256
MAX_OUTPUT = 1024 * 1024
CONNECT_TIMEOUT = 3.0
HANDSHAKE_TIMEOUT = 3.0     # TLS and WebSocket handshakes of accepted connections


@dataclass(eq=False)
class Listener:
    """One port of the server with the node behind it (UDP and TCP on the same port; or, with
    ``transport`` tls / ws / wss, a TCP listening socket alone whose connections carry a stack)."""

    name: str
    node: object
    port: int
    udp: socket.socket | None = None
    tcp: socket.socket | None = None
    host: str | None = None  # None: the server's host; else a dual-stack twin's address
    transport: str = "tcp"   # what the connections accepted on ``tcp`` carry


@dataclass(eq=False)
class Connection:
    """A connection: its flow, the listener whose node owns it, its framer (TCP) or stack (TLS,
    WS, WSS) and output (wire bytes)."""

    sock: socket.socket
    flow: FlowInfo
    listener: Listener
    framer: StreamFramer = field(default_factory=StreamFramer)
    out: bytearray = field(default_factory=bytearray)
    connecting: bool = False
    connect_deadline: float | None = None
    refs: list = field(default_factory=list)   # what failed if the connect fails (node refs)
    stack: object | None = None                # conformance.wire.Stack of a tls/ws/wss connection
    handshake_deadline: float | None = None    # accepted with a stack: close if not ready by then
    announced: bool = True                     # the node heard flow_opened (a stack: once ready)
    closing: bool = False                      # close as soon as ``out`` is written
    survives: bool = False                     # closed without telling the node (a fault)


class Connections:
    """Every TCP connection of one server, accepted or opened.  ``lock`` guards the nodes;
    ``selector`` is set by the server while it runs."""

    def __init__(self, lock: threading.RLock):
        self.lock = lock
        self.selector: selectors.BaseSelector | None = None
        self._by_sock: dict[socket.socket, Connection] = {}
        self._by_id: dict[int, Connection] = {}
        self._ids = itertools.count(1)

    def __len__(self) -> int:
        return len(self._by_sock)

    def __iter__(self):
        return iter(list(self._by_sock.values()))

    def __contains__(self, conn: Connection) -> bool:
        return self._by_sock.get(conn.sock) is conn

    @property
    def full(self) -> bool:
        return len(self._by_sock) >= MAX_CONNECTIONS

    def new_flow(self, local: tuple, remote: tuple, transport: str = "tcp") -> FlowInfo:
        """The flow of a new connection (a fresh ``conn_id``)."""
        return FlowInfo(transport, (local[0], local[1]), (remote[0], remote[1]), next(self._ids))

    def of_flow(self, flow: FlowInfo) -> Connection | None:
        """The connection a node's flow names, None when it is gone."""
        conn = self._by_id.get(flow.conn_id)
        return conn if conn is not None and conn.flow == flow else None

    def between(self, local: tuple, remote: tuple) -> Connection | None:
        """A connection from ``local`` to ``remote``, to be reused."""
        return next((c for c in self if c.flow.local == tuple(local) and c.flow.remote == tuple(remote)),
                    None)

    def add(self, conn: Connection, events: int = selectors.EVENT_READ) -> None:
        self._by_sock[conn.sock] = conn
        self._by_id[conn.flow.conn_id] = conn
        self.selector.register(conn.sock, events, conn)
        if conn.announced:
            with self.lock:
                conn.listener.node.flow_opened(conn.flow)

    def announce(self, conn: Connection) -> None:
        """A stack connection finished its handshakes: from now on it is a flow of its node."""
        conn.handshake_deadline = None
        if not conn.announced:
            conn.announced = True
            with self.lock:
                conn.listener.node.flow_opened(conn.flow)

    def add_outgoing(self, sock: socket.socket, flow: FlowInfo, listener: Listener, data: bytes,
                     ref: object) -> Connection:
        """A connection whose connect is under way: ``data`` waits for it, ``ref`` fails with it."""
        conn = Connection(sock, flow, listener, connecting=True,
                          connect_deadline=time.monotonic() + CONNECT_TIMEOUT, refs=[ref])
        conn.out += data
        self.add(conn, selectors.EVENT_WRITE)
        return conn

    def send(self, conn: Connection, data: bytes, ref: object = None) -> bool:
        """Queue SIP ``data`` (while connecting, ``ref`` then fails with the connect); over a
        stack as one SIP message (one WebSocket message, RFC 7118 section 5)."""
        if conn.stack is not None:
            if not conn.stack.ready or conn.stack.closed or conn.closing:
                return False
            try:
                data = conn.stack.send_message(data)
            except Exception:  # noqa: BLE001 - an ssl/wsproto state error: the flow is unusable
                self.close(conn)
                return False
        return self.write(conn, data, ref)

    def write(self, conn: Connection, data: bytes, ref: object = None) -> bool:
        """Queue wire bytes as they are (a stack's handshake records, pongs, close replies)."""
        if conn.connecting:
            conn.refs.append(ref)
        conn.out += data
        if len(conn.out) > MAX_OUTPUT:
            self.close(conn)          # the peer does not read: do not buffer without limit
            return False
        if not conn.connecting:
            self.flush(conn)
        return True

    def flush(self, conn: Connection) -> None:
        try:
            sent = conn.sock.send(conn.out)
            del conn.out[:sent]
        except (BlockingIOError, InterruptedError):
            pass
        except OSError:
            self.close(conn)
            return
        if conn.closing and not conn.out:
            self.close(conn)
            return
        events = selectors.EVENT_READ | (selectors.EVENT_WRITE if conn.out else 0)
        self.selector.modify(conn.sock, events, conn)

    def close(self, conn: Connection, notify: bool = True, goodbye: bool = False) -> None:
        """Close it; with ``notify`` its node hears ``flow_closed`` (if it ever heard of it);
        with ``goodbye`` a stack connection first sends its closing records (WS Close, TLS
        close_notify), best effort."""
        if conn not in self:
            return
        if goodbye and conn.stack is not None and conn.stack.ready and not conn.stack.closed:
            try:
                conn.sock.send(bytes(conn.out) + conn.stack.close())
            except Exception:  # noqa: BLE001 - best effort, the socket is closed anyway
                pass
        self._by_sock.pop(conn.sock, None)
        self._by_id.pop(conn.flow.conn_id, None)
        try:
            if self.selector is not None:
                self.selector.unregister(conn.sock)
        except (KeyError, ValueError):
            pass
        conn.sock.close()
        if notify and conn.announced and not conn.survives:
            with self.lock:
                conn.listener.node.flow_closed(conn.flow)
