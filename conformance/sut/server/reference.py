"""Thin I/O around the sans-IO parts of the reference: the S-CSCF
(:class:`~conformance.sut.registrar.scscf.ScscfNode`, registrar plus terminating proxy) and the
edge proxy (:class:`~conformance.sut.edge.proxy.EdgeProxy`, or the IMS P-CSCF
:class:`~conformance.sut.ims.proxy.ImsEdgeProxy`).

One selector thread serves every listener of the process.  A listener is UDP and TCP on the
same port (RFC 3261 section 18.2.1: "For any port and interface that a server listens on for
UDP, it MUST listen on that same port and interface for TCP") with one node behind it.
:class:`ReferenceCore` runs, by ``config.topology``:

* ``registrar``: the S-CSCF alone (``address`` = ``core_address``), as before;
* ``edge``: the edge alone in front of ``config.edge_next_hop``;
* ``core``: the edge on the advertised port (``edge_address``, where UEs register) and the
  S-CSCF on a second port (``core_address``, where a PEER sends terminating requests), the
  edge's next hop being the S-CSCF over ``config.core_transport``.

I/O rules:

* TCP: each connection has a :class:`~conformance.sip.framing.StreamFramer`; a double-CRLF ping
  gets a single CRLF at once (RFC 5626 section 5.4); a framing error closes the connection; a
  closed connection is reported to its node (RFC 5626 section 7: direct-flow bindings go; the
  edge forgets the flow, so its token now gets 430).  Nodes may ask to send to a next hop over
  TCP: a connection of the same node whose remote address is that hop is reused (accepted or
  opened earlier), else a new one is opened with a bounded connect.
* TLS, WS, WSS (``config.tls_port``/``ws_port``/``wss_port``, :mod:`.streams`): one more TCP
  listening port each, served by the node on the advertised port (the edge when there is one).
  Each accepted connection gets a sans-IO :class:`conformance.wire.Stack` between the socket and
  SIP; it becomes a flow (``flow_opened``, FlowInfo.transport "tls"/"ws"/"wss") once its TLS and
  WebSocket handshakes are done, within ``HANDSHAKE_TIMEOUT`` or it is closed.  Then it is a TCP
  flow in every respect: frames go to the node, outgoing SIP through ``stack.send_message`` (one
  WebSocket message per SIP message, RFC 7118 section 5), a CRLF ping gets a CRLF pong (over WS
  in a message of its own), a WebSocket Ping gets its Pong (wsproto, through the stack), and a
  closed connection (FIN, WebSocket Close, TLS close_notify or not) is a failed flow (RFC 5626
  section 7).  Terminating requests reach such a flow only over its connection (the node's
  SendOnFlow); the reference never opens a TLS or WebSocket connection itself (no topology
  needs one: the edge reaches its S-CSCF over UDP/TCP), so a SendToHop over tls/ws/wss fails
  like an unreachable hop (a WS client's Contact host is ``.invalid``, RFC 7118 section 5),
  except when the hop is the remote end of one of the node's connections (an edge co-located
  with its UE names its end of the flow in Path): that connection is reused.  The nodes stamp
  ``received``/``rport`` on the top Via as for TCP (RFC 3261 section 18.2.1: a ``.invalid``
  sent-by is a domain name, so ``received`` is always added; RFC 7118 section 5.2 is understood
  to let a WebSocket server leave it out, which the reference does not: the exact text was not
  available here to quote).
* UDP: SIP goes to the node; CRLF keep-alives are ignored; STUN Binding requests are answered
  on the same socket (RFC 5626 section 8, :func:`~conformance.sip.stun.stun_response`).
* Every CRLF ping (TCP) and every non-SIP datagram (STUN, CRLF keep-alive) is reported to the
  node as traffic on its flow (``flow_activity``), for Flow-Timer supervision (RFC 5626
  section 5.4); SIP messages count through ``receive``.  The nodes' timers are driven with
  ``next_deadline`` / ``on_timer(now)``; a ``CloseFlow`` action closes a TCP connection the node
  declared failed.
* Actions that cannot be performed are reported back with the node's ``send_failed``.

Buffers are bounded (per-connection input via the framer, output and the number of connections
by :mod:`.connections`).  No name is ever resolved: next hops must be
literal addresses.
"""

from __future__ import annotations

import errno
import ipaddress
import logging
import selectors
import socket
import ssl
import threading
import time

from ...ims.espio import EspHub, EspUnavailable
from ...sip.errors import ParseError
from ...sip.framing import Message, Ping, classify_datagram
from ...sip.wireshark_ports import CLAIMED_PORTS
from ...sip.stun import MAGIC_COOKIE, stun_response
from ..actions import ClaimSpi, CloseFlow, InjectIp, ReleaseSpi, SendFromPort, SendIp, SendOnFlow, \
    SendToHop
from ..common.routing import same_host
from ..config import SutConfig
from ..edge.proxy import EdgeProxy
from ..flow import FlowInfo
from ..ims.proxy import ImsEdgeProxy
from ..registrar.bindings import Binding
from ..registrar.registrar import Registrar
from ..registrar.scscf import ScscfNode
from .connections import HANDSHAKE_TIMEOUT, Connection, Connections, Listener
from .protected_tcp import ProtectedTcp
from .streams import bind_stream, new_stack, tls_context

log = logging.getLogger(__name__)

RECV_SIZE = 65536
BIND_ATTEMPTS = 50
MAX_FAILURE_DEPTH = 8


class ReferenceCore:
    """The reference on ``host``: ``port`` is where UEs talk to it (the edge when there is
    one), ``core_port`` the S-CSCF's port in the ``core`` topology (0 picks free ports)."""

    def __init__(self, config: SutConfig | None = None, host: str = "127.0.0.1", port: int = 0,
                 core_port: int = 0, registrar: Registrar | None = None, alt_host: str | None = None):
        self.config = config or SutConfig()
        self._host = host
        # Dual-stack: every listener also listens on alt_host (the other family), same port and node.
        self._alt_host = alt_host
        self._family = socket.AF_INET6 if ":" in host else socket.AF_INET
        topology = self.config.topology
        self.scscf: ScscfNode | None = None
        self.edge: EdgeProxy | None = None
        self._listeners: list[Listener] = []
        if topology in ("registrar", "core"):
            self.scscf = ScscfNode(self.config, registrar)
            self._listeners.append(Listener("core", self.scscf,
                                             port if topology == "registrar" else core_port))
        if topology in ("edge", "core"):
            if self.config.ims:
                self.edge = ImsEdgeProxy(self.config, next_hop=self.config.edge_next_hop)
            else:
                self.edge = EdgeProxy(self.config, next_hop=self.config.edge_next_hop)
            self._listeners.insert(0, Listener("edge", self.edge, port))
        # IMS P-CSCF: the protected ports (UDP sockets that only catch clear datagrams, which are
        # dropped) and the ESP mailbox of the process's raw-socket hub (ims/espio.py).
        self._protected: list[Listener] = []
        self._esp = None
        self._ps_tcp: ProtectedTcp | None = None   # TCP over ESP on port_ps
        self._lock = threading.RLock()
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None
        self._sel: selectors.BaseSelector | None = None
        self._wake_r: socket.socket | None = None
        self._wake_w: socket.socket | None = None
        self._tcp = Connections(self._lock)
        self._streams: list[Listener] = []           # tls / ws / wss listeners
        self._tls_context = None

    # -- properties --------------------------------------------------------------------------
    @property
    def host(self) -> str:
        return self._host

    @property
    def port(self) -> int:
        return self._listeners[0].port

    @property
    def address(self) -> tuple[str, int]:
        """Where UEs send: the edge when there is one, else the S-CSCF."""
        return self._host, self.port

    @property
    def edge_address(self) -> tuple[str, int] | None:
        return (self._host, self._listener("edge").port) if self.edge is not None else None

    @property
    def core_address(self) -> tuple[str, int] | None:
        """Where a PEER sends terminating requests (the S-CSCF), None in the edge topology."""
        return (self._host, self._listener("core").port) if self.scscf is not None else None

    @property
    def registrar(self) -> Registrar | None:
        return self.scscf.registrar if self.scscf is not None else None

    @property
    def log(self):
        """What the registrar handled (a bounded list of :class:`~conformance.sut.registrar.registrar.Handled`)."""
        return self.registrar.log if self.registrar is not None else []

    def lookup(self, aor: str) -> list[Binding]:
        """Current bindings of an AOR, on the server's clock (thread-safe)."""
        if self.registrar is None:
            return []
        with self._lock:
            return self.registrar.lookup(aor, time.monotonic())

    @property
    def ports(self) -> dict[str, int]:
        """Where UEs reach the reference per transport: {"udp": p, "tcp": p, "tls": .., "ws": ..,
        "wss": ..} (only the configured ones; after start, the real ports)."""
        out = {"udp": self.port, "tcp": self.port}
        out.update({lst.transport: lst.port for lst in self._streams if not lst.name.endswith("-alt")})
        return out

    def _listener(self, name: str) -> Listener:
        return next(lst for lst in self._listeners if lst.name == name)

    # -- lifecycle ---------------------------------------------------------------------------
    def start(self):
        if self._thread is not None:
            raise RuntimeError("already started")
        try:
            for lst in reversed(self._listeners):      # the S-CSCF first: the edge needs its port
                self._bind(lst)
                lst.node.address = (self._host, lst.port)
                if lst.name == "core" and self.edge is not None:
                    self.edge.next_hop = (self._host, lst.port, self.config.core_transport)
            if self._alt_host:
                for lst in list(self._listeners):
                    twin = Listener(lst.name + "-alt", lst.node, lst.port, host=self._alt_host)
                    self._bind(twin)
                    self._listeners.append(twin)
            self._bind_streams()
        except (OSError, ssl.SSLError):
            self._close_all()
            raise
        self._sel = selectors.DefaultSelector()
        self._tcp.selector = self._sel
        if self.config.ims and self.edge is not None:
            try:
                self._start_ims()
            except OSError:
                self._close_all()
                raise
        self._wake_r, self._wake_w = socket.socketpair()
        self._wake_r.setblocking(False)
        self._sel.register(self._wake_r, selectors.EVENT_READ, "wake")
        for lst in self._listeners:
            self._sel.register(lst.udp, selectors.EVENT_READ, ("udp", lst))
            self._sel.register(lst.tcp, selectors.EVENT_READ, ("listen", lst))
        for lst in self._protected:
            self._sel.register(lst.udp, selectors.EVENT_READ, ("udp", lst))
        for lst in self._streams:
            self._sel.register(lst.tcp, selectors.EVENT_READ, ("listen", lst))
        if self._ps_tcp is not None:
            self._sel.register(self._ps_tcp.listener.tcp, selectors.EVENT_READ,
                               ("listen", self._ps_tcp.listener))
        if self._esp is not None:
            self._sel.register(self._esp, selectors.EVENT_READ, "esp")
        self._stop.clear()
        self._thread = threading.Thread(target=self._run, name=f"reference-cscf:{self.port}",
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

    def __enter__(self):
        return self.start()

    def __exit__(self, *exc) -> None:
        self.stop()

    def _bind(self, lst: Listener) -> None:
        """Bind UDP and TCP to one port; with port 0, retry until both get the same one."""
        attempts = BIND_ATTEMPTS if lst.port == 0 else 1
        last: OSError | None = None
        host = lst.host or self._host
        family = socket.AF_INET6 if ":" in host else socket.AF_INET
        held: list[socket.socket] = []   # free ports Wireshark reads as another protocol
        for _ in range(attempts):
            tcp = socket.socket(family, socket.SOCK_STREAM)
            udp = socket.socket(family, socket.SOCK_DGRAM)
            try:
                tcp.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
                tcp.bind((host, lst.port))
                port = tcp.getsockname()[1]
                if lst.port == 0 and port in CLAIMED_PORTS and len(held) < 16:
                    held.append(tcp)
                    udp.close()
                    continue
                udp.bind((host, port))
                tcp.listen(64)
            except OSError as exc:
                tcp.close()
                udp.close()
                last = exc
                if exc.errno != errno.EADDRINUSE or lst.port != 0:
                    raise
                continue
            tcp.setblocking(False)
            udp.setblocking(False)
            lst.tcp, lst.udp, lst.port = tcp, udp, port
            for s in held:
                s.close()
            return
        for s in held:
            s.close()
        raise OSError(errno.EADDRINUSE, f"no port free for both UDP and TCP on {self._host}") from last

    def _bind_streams(self) -> None:
        """The TLS / WS / WSS listening ports of the node UEs talk to (:mod:`.streams`)."""
        wanted = self.config.stream_ports
        if not wanted:
            return
        if any(t in ("tls", "wss") for t in wanted):
            self._tls_context = tls_context(self.config)
        node = self._listeners[0].node
        for transport, port in wanted.items():
            sock = bind_stream(self._host, transport, port)
            self._streams.append(Listener(f"{self._listeners[0].name}-{transport}", node,
                                          sock.getsockname()[1], tcp=sock, transport=transport))
            if isinstance(getattr(node, "stream_addresses", None), dict):
                node.stream_addresses[transport] = (self._host, sock.getsockname()[1])
        if self._alt_host:  # dual-stack: the other family on the same ports, as the UDP/TCP twins
            for lst in list(self._streams):
                sock = bind_stream(self._alt_host, lst.transport, lst.port)
                self._streams.append(Listener(lst.name + "-alt", node, lst.port, tcp=sock,
                                              transport=lst.transport))

    def _start_ims(self) -> None:
        """Bind the P-CSCF's protected ports and open its ESP mailbox."""
        try:
            hub = EspHub.shared()
        except EspUnavailable as exc:
            raise OSError(f"IMS P-CSCF needs raw ESP sockets: {exc}") from None
        for name in ("edge-ps", "edge-pc"):
            udp = socket.socket(self._family, socket.SOCK_DGRAM)
            udp.bind((self._host, 0))
            udp.setblocking(False)
            self._protected.append(Listener(name, self.edge, udp.getsockname()[1], udp=udp))
        self.edge.port_ps, self.edge.port_pc = (lst.port for lst in self._protected)
        self.edge.spi_source = lambda avoid: hub.new_spi(avoid)
        self._esp = hub.mailbox(f"reference P-CSCF {self._host}:{self.port}")
        self._ps_tcp = ProtectedTcp.start(self.edge, self._host, self._listener("edge").udp, self._lock,
                                          self._tcp)

    @property
    def protected_ports(self) -> tuple[int, int] | None:
        """(port_ps, port_pc) of the IMS P-CSCF, None without ims."""
        if not self._protected:
            return None
        return self._protected[0].port, self._protected[1].port

    def _on_esp(self) -> None:
        for packet in self._esp.read():
            with self._lock:
                actions = self.edge.receive_esp(packet, time.monotonic())
            self._perform(self._listener("edge"), actions)

    def _close_all(self) -> None:
        if self._ps_tcp is not None:
            self._ps_tcp.stop()
            self._ps_tcp = None
        if self._esp is not None:
            self._esp.close()
            self._esp = None
        for lst in self._protected:
            if lst.udp is not None:
                lst.udp.close()
                lst.udp = None
        for conn in self._tcp:
            self._tcp.close(conn, notify=False)
        for lst in self._listeners + self._streams:
            for s in (lst.udp, lst.tcp):
                if s is not None:
                    try:
                        s.close()
                    except OSError:
                        pass
            lst.udp = lst.tcp = None
        for s in (self._wake_r, self._wake_w):
            if s is not None:
                try:
                    s.close()
                except OSError:
                    pass
        if self._sel is not None:
            self._sel.close()
        self._wake_r = self._wake_w = self._sel = self._tcp.selector = None

    # -- the loop ----------------------------------------------------------------------------
    def _timeout(self) -> float:
        now = time.monotonic()
        times = [0.5]
        with self._lock:
            for lst in self._listeners:
                d = lst.node.next_deadline()
                if d is not None:
                    times.append(d - now)
        times += [c.connect_deadline - now for c in self._tcp if c.connect_deadline]
        times += [c.handshake_deadline - now for c in self._tcp if c.handshake_deadline]
        return max(0.0, min(times))

    def _run(self) -> None:
        while not self._stop.is_set():
            try:
                events = self._sel.select(timeout=self._timeout())
            except OSError:
                break
            for key, mask in events:
                try:
                    self._dispatch(key, mask)
                except Exception:  # noqa: BLE001 - one bad socket must not stop the server
                    log.exception("reference CSCF: error on %s", key.data)
            try:
                self._timers()
            except Exception:  # noqa: BLE001
                log.exception("reference CSCF: error in timers")

    def _timers(self) -> None:
        now = time.monotonic()
        for conn in self._tcp:
            if conn.connecting and conn.connect_deadline and conn.connect_deadline <= now:
                self._connect_failed(conn)
            elif conn.handshake_deadline is not None and conn.handshake_deadline <= now:
                log.info("reference CSCF: closing %s: handshake not done in %g s", conn.flow,
                         HANDSHAKE_TIMEOUT)
                self._tcp.close(conn)                    # never a flow: the node heard nothing
        for lst in self._listeners:
            d = lst.node.next_deadline()
            if d is not None and d <= now:
                with self._lock:
                    actions = lst.node.on_timer(now)
                self._perform(lst, actions)

    def _dispatch(self, key: selectors.SelectorKey, mask: int) -> None:
        if key.data == "esp":
            self._on_esp()
            return
        if key.data == "wake":
            try:
                self._wake_r.recv(64)
            except OSError:
                pass
            return
        if isinstance(key.data, tuple):
            kind, lst = key.data
            if kind == "udp":
                self._on_udp(lst)
            else:
                self._on_accept(lst)
            return
        conn: Connection = key.data
        if conn.connecting:
            if mask & (selectors.EVENT_WRITE | selectors.EVENT_READ):
                self._on_connected(conn)
            return
        if mask & selectors.EVENT_READ:
            self._on_tcp_read(conn)
        if mask & selectors.EVENT_WRITE and conn in self._tcp:
            self._tcp.flush(conn)

    # -- UDP ---------------------------------------------------------------------------------
    def _on_udp(self, lst: Listener) -> None:
        try:
            data, addr = lst.udp.recvfrom(RECV_SIZE)
        except (BlockingIOError, InterruptedError):
            return
        except OSError:
            return  # e.g. ICMP port unreachable reported on the socket
        kind = classify_datagram(data)
        local = lst.udp.getsockname()[:2]
        flow = FlowInfo("udp", (local[0], local[1]), (addr[0], addr[1]))
        if lst in self._protected:
            # the P-CSCF's protected ports: ESP in UDP, NAT-keepalives, or clear text it drops
            self._deliver(lst, data, flow)
            return
        if kind != "sip":
            with self._lock:
                lst.node.flow_activity(flow, time.monotonic())   # STUN / CRLF keep-alive
        if kind == "stun":
            reply = self.on_stun(data, flow)
            if reply:
                try:
                    lst.udp.sendto(reply, addr)              # RFC 5389 section 7.3.1.2
                except OSError:
                    pass
            return
        if kind != "sip":
            return  # CRLF keep-alives (RFC 5626 section 3.5.1) and noise are ignored on UDP
        self._deliver(lst, data, flow)

    def on_stun(self, data: bytes, flow: FlowInfo) -> bytes | None:
        """The limited STUN server of RFC 5626 section 8 on every SIP UDP port."""
        if self.config.has_fault("no-stun"):
            return None                                      # FAULT: STUN ignored
        if self.config.has_fault("stun-unxored-port"):
            ip, port = flow.remote                           # FAULT: the port is not XORed
            return stun_response(data, (ip, port ^ (MAGIC_COOKIE >> 16)))
        return stun_response(data, flow.remote)

    # -- TCP ---------------------------------------------------------------------------------
    def _on_accept(self, lst: Listener) -> None:
        try:
            sock, addr = lst.tcp.accept()
        except (BlockingIOError, InterruptedError, OSError):
            return
        if self._tcp.full:
            sock.close()
            return
        sock.setblocking(False)
        # Whole messages are written at once; without this, a TLS 1.3 session ticket followed by
        # the 200 waits for the peer's delayed ACK (Nagle): 40 ms at p90 over TLS.
        sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        flow = self._tcp.new_flow(sock.getsockname(), addr, lst.transport)
        if lst.transport == "tcp":
            self._tcp.add(Connection(sock, flow, lst))
            return
        try:
            stack = new_stack(lst.transport, self.config, self._tls_context)
        except Exception:  # noqa: BLE001 - cannot serve it: drop the connection
            log.exception("reference CSCF: no %s stack", lst.transport)
            sock.close()
            return
        self._tcp.add(Connection(sock, flow, lst, stack=stack, announced=False,
                                 handshake_deadline=time.monotonic() + HANDSHAKE_TIMEOUT))

    def _on_tcp_read(self, conn: Connection) -> None:
        try:
            data = conn.sock.recv(RECV_SIZE)
        except (BlockingIOError, InterruptedError):
            return
        except OSError:
            data = b""
        if conn.stack is not None:
            self._on_stream_data(conn, data)
            return
        if not data:
            self._tcp.close(conn)
            return
        try:
            frames = conn.framer.feed(data)
        except ParseError as exc:
            log.info("reference CSCF: closing %s: %s", conn.flow, exc)
            self._tcp.close(conn)
            return
        self._on_frames(conn, frames)

    def _on_frames(self, conn: Connection, frames: list) -> None:
        for frame in frames:
            if isinstance(frame, Ping):
                with self._lock:
                    conn.listener.node.flow_activity(conn.flow, time.monotonic())
                if not self.config.has_fault("no-crlf-pong"):
                    # RFC 5626 section 5.4: pong at once (over WS in a message of its own)
                    self._tcp.send(conn, b"\r\n")
                # else FAULT: the ping goes unanswered
            elif isinstance(frame, Message):
                self._deliver(conn.listener, frame.data, conn.flow)
            if conn not in self._tcp:
                return

    def _on_stream_data(self, conn: Connection, data: bytes) -> None:
        """Bytes of a TLS / WS / WSS connection (b"": EOF) through its stack."""
        ev = conn.stack.receive(data)
        if ev.send:
            self._tcp.write(conn, ev.send)              # handshake records, WS Pong / Close reply
            if conn not in self._tcp:
                return
        if not conn.announced:
            if ev.http_status is not None and ev.http_status != 101:
                # the upgrade was refused (401 until Authorization, RFC 7118 section 7; 400
                # without the sip subprotocol): the answer goes out, then the connection closes
                conn.closing = True
                self._tcp.flush(conn)
                return
            if ev.error or ev.closed:
                log.info("reference CSCF: %s handshake failed: %s", conn.flow, ev.error or ev.closed)
                self._tcp.close(conn)
                return
            if conn.stack.ready:
                self._tcp.announce(conn)
        if ev.ws_pings or ev.ws_pongs:
            with self._lock:                            # WebSocket keep-alives (RFC 7118 section 6)
                conn.listener.node.flow_activity(conn.flow, time.monotonic())
        self._on_frames(conn, ev.frames)
        if conn not in self._tcp:
            return
        if ev.error or ev.closed:
            # RFC 5626 section 7: a closed connection is a failed flow, however it was closed
            log.info("reference CSCF: %s ended: %s", conn.flow, ev.closed or ev.error)
            if self.config.has_fault("tls-flow-survives-close") and conn.flow.transport in ("tls", "wss"):
                conn.survives = True                    # FAULT: the node is never told
            self._tcp.close(conn)

    # -- outgoing connections ----------------------------------------------------------------
    def _connect(self, lst: Listener, address: tuple[str, int], data: bytes, ref: object) -> bool:
        if self._tcp.full:
            return False
        sock = socket.socket(self._family, socket.SOCK_STREAM)
        try:
            sock.setblocking(False)
            sock.bind((self._host, 0))
            rc = sock.connect_ex(address)
            if rc not in (0, errno.EINPROGRESS, errno.EWOULDBLOCK, errno.EAGAIN):
                raise OSError(rc, "connect failed")
            local = sock.getsockname()
        except OSError:
            sock.close()
            return False
        self._tcp.add_outgoing(sock, self._tcp.new_flow(local, address), lst, data, ref)
        return True

    def _on_connected(self, conn: Connection) -> None:
        err = conn.sock.getsockopt(socket.SOL_SOCKET, socket.SO_ERROR)
        if err:
            self._connect_failed(conn)
            return
        conn.connecting = False
        conn.connect_deadline = None
        conn.refs.clear()
        self._tcp.flush(conn)

    def _connect_failed(self, conn: Connection) -> None:
        refs = list(conn.refs)
        self._tcp.close(conn)
        for ref in refs:
            self._failed(conn.listener, ref)

    # -- performing the nodes' actions -------------------------------------------------------
    def _deliver(self, lst: Listener, data: bytes, flow: FlowInfo) -> None:
        with self._lock:
            actions = lst.node.receive(data, flow, time.monotonic(), time.time())
        self._perform(lst, actions)

    def _perform(self, lst: Listener, actions, depth: int = 0) -> None:
        for action in actions or ():
            try:
                ok = self._do(lst, action)
            except Exception:  # noqa: BLE001
                log.exception("reference CSCF: cannot perform %r", type(action).__name__)
                ok = False
            if not ok:
                self._failed(lst, action.ref, depth)

    def _failed(self, lst: Listener, ref: object, depth: int = 0) -> None:
        if ref is None or depth > MAX_FAILURE_DEPTH:
            return
        with self._lock:
            more = lst.node.send_failed(ref, time.monotonic())
        self._perform(lst, more, depth + 1)

    def _do(self, lst: Listener, action) -> bool:
        if isinstance(action, SendIp):
            if self._esp is None:
                return False
            try:
                self._esp.send(action.packet)
            except Exception:  # noqa: BLE001 - an EspError: the send failed
                return False
            return True
        if isinstance(action, InjectIp):
            return self._ps_tcp is not None and self._ps_tcp.inject(action.packet)
        if isinstance(action, SendFromPort):
            return self._ps_tcp is not None and self._ps_tcp.send_from_port(action)
        if isinstance(action, ClaimSpi):
            if self._esp is not None:
                self._esp.claim(action.spi)
            return True
        if isinstance(action, ReleaseSpi):
            if self._esp is not None:
                self._esp.release(action.spi)
            return True
        if isinstance(action, CloseFlow):
            if action.flow.reliable:
                conn = self._tcp.of_flow(action.flow)
                if conn is not None:
                    self._tcp.close(conn, goodbye=True)       # the node hears flow_closed
            return True
        if isinstance(action, SendOnFlow):
            flow = action.flow
            if flow.reliable:
                conn = self._tcp.of_flow(flow)
                if conn is None:
                    return False                             # the connection is gone
                return self._tcp.send(conn, action.data, action.ref)
            sock = self._udp_for(flow.local) or lst.udp
            sock.sendto(action.data, action.address or flow.remote)
            return True
        if isinstance(action, SendToHop):
            host, port = action.address
            try:
                ipaddress.ip_address(host)
            except ValueError:
                return False                                 # no DNS here
            if (":" in host) != (self._family == socket.AF_INET6):
                return False
            if action.transport == "udp":
                # a request that came over TLS / WS / WSS (a stream listener has no UDP socket)
                # leaves from the UDP socket of its node's own listener
                sock = lst.udp or next((other.udp for other in self._listeners
                                        if other.node is lst.node and other.udp is not None), None)
                if sock is None:
                    return False
                sock.sendto(action.data, (host, port))
                return True
            for conn in self._tcp:
                # the connection to that address (RFC 5626 §7: reuse the flow); a tls/ws/wss one
                # came in on the node's own stream listener, not on ``lst``, and a Path's
                # transport=tls / ws reads as tcp here (routing.py)
                mine = (conn.listener is lst and conn.flow.transport == action.transport) or (
                    conn.listener.node is lst.node and conn.flow.transport in ("tls", "ws", "wss"))
                if mine and conn.flow.remote[1] == port and same_host(conn.flow.remote[0], host):
                    return self._tcp.send(conn, action.data, action.ref)
            if action.transport != "tcp":
                return False            # no outgoing TLS / WebSocket connections (module doc)
            return self._connect(lst, (host, port), action.data, action.ref)
        return False

    def _udp_for(self, local: tuple[str, int]) -> socket.socket | None:
        for lst in self._listeners + self._protected:
            if lst.udp is not None and lst.port == local[1] \
                    and (self._alt_host is None or same_host(lst.udp.getsockname()[0], local[0])):
                return lst.udp
        return None


class ReferenceCscf(ReferenceCore):
    """The reference CSCF on ``host:port`` (``port=0`` picks a port free for UDP and TCP); the
    registrar topology unless ``config.topology`` says otherwise."""

    def __init__(self, config: SutConfig | None = None, host: str = "127.0.0.1", port: int = 0,
                 registrar: Registrar | None = None):
        super().__init__(config, host=host, port=port, registrar=registrar)


__all__ = ["ReferenceCore", "ReferenceCscf"]
