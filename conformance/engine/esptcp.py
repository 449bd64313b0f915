"""A UE flow's protected ports over TCP: kernel TCP sockets carried as ESP by the TUN gateway.

The UDP flavour is :mod:`.espflow` (the engine builds every ESP packet itself).  Over TCP the
kernel does TCP and :class:`~conformance.ims.tungw.TunGateway` does ESP: the flow's sockets are
bound to the gateway's TUN device, and the gateway seals what they send with the flow's SA set
(a :class:`~conformance.ims.tuncore.Binding`) and opens what arrives on its inbound SPIs.

* ``port_uc``: the UE's client port.  The UE connects from it to the P-CSCF's ``port_ps``; with
  outbound, TS 24.229 5.1.1.2.2 b) makes this UE-initiated connection *the* flow, "used to
  exchange SIP messages between the UE and the P-CSCF" (requests, responses, and terminating
  requests: TP_IMS_013).  Over SA 1 (out) and SA 2 (in).
* ``port_us``: the UE's server port, a listener for connections the P-CSCF opens from its
  ``port_pc`` (TS 33.203 7.1, SA 3 in and SA 4 out): without outbound the P-CSCF's requests
  come that way; what arrives there is recorded and answered on the same connection.

The endpoint looks like :class:`~.transport.TcpEndpoint` to the runner (``send``, ``read``,
``fileno``: an epoll descriptor over all its sockets, ``local``, ``closed``, ``close``).  The pcap
gets the ESP packets the gateway sends and receives for the binding, not the clear segments.
Each message's ``Incoming.meta`` names the SA its connection runs over.

Where the gateway cannot run (not root, no ``/dev/net/tun``) TCP cases with sec-agree are not
applicable, with the reason (:func:`unavailable_reason`).
"""

from __future__ import annotations

import errno
import select
import selectors
import socket
import struct
from typing import Callable

from ..ims.endpoint import EspEndpoint
from ..ims.espio import Mailbox
from ..ims.tuncore import Binding
from ..ims.tungw import TunGateway, TunUnavailable, tun_available
from ..sip.errors import LocalProtocolError, ParseError
from ..sip.framing import Message, Ping, Pong, StreamFramer
from .flowsec import FlowSec, SecUnavailable, esp_hub
from .transport import Addr, Incoming, TransportError

__all__ = ["TcpEspFlowEndpoint", "tcp_flow_sec", "unavailable_reason"]

_LINGER_RST = struct.pack("ii", 1, 0)      # close with RST: no TIME_WAIT on a fixed port pair


def unavailable_reason(case, transport: str) -> str | None:
    """Why a sec-agree case cannot run over ``transport`` here (None: it can)."""
    if transport != "tcp" or "sec-agree" not in case.applies_to:
        return None
    why = tun_available()
    return None if why is None else f"TCP over ESP needs the TUN gateway: {why}"


class _Conn:
    def __init__(self, sock: socket.socket, remote: Addr, local: Addr):
        self.sock, self.remote, self.local = sock, remote, local
        self.framer = StreamFramer()


class TcpEspFlowEndpoint:
    transport = "tcp"

    def __init__(self, gateway: TunGateway, mailbox: Mailbox, local_ip: str,
                 on_packet: Callable[[str, bytes], None], connect_timeout: float):
        self.gateway, self.mailbox = gateway, mailbox
        self.on_packet, self.connect_timeout = on_packet, connect_timeout
        self._sel = selectors.EpollSelector()
        self.uc_sock = self._socket(local_ip, 0)
        self.local: Addr = self.uc_sock.getsockname()[:2]
        self.listener = self._socket(local_ip, 0)
        self.listener.listen(8)
        self.listener.setblocking(False)
        self.port_us = self.listener.getsockname()[1]
        self._sel.register(self.listener, selectors.EVENT_READ, None)
        self.conn: _Conn | None = None            # port_uc -> port_ps
        self.accepted: dict[Addr, _Conn] = {}     # port_pc -> port_us, by remote address
        self.binding: Binding | None = None
        self.endpoint: EspEndpoint | None = None
        self.pcscf: Addr | None = None
        self.outbound = True                      # the flow registers with reg-id (the checks' view)
        self.closed = False

    def _socket(self, ip: str, port: int) -> socket.socket:
        s = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
        try:
            self.gateway.bind_socket(s)
            s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
            s.bind((ip, port))
        except OSError as exc:
            s.close()
            raise TransportError(f"cannot bind TCP {ip}:{port} to {self.gateway.name}: "
                                 f"{exc.strerror or exc}") from None
        return s

    # -- the SA set ------------------------------------------------------------------------------
    def use(self, endpoint: EspEndpoint, pcscf: Addr) -> None:
        """Switch to a new SA set: the gateway carries it; connections of the old one go."""
        self._drop_connections()
        self.gateway.drain()                      # their resets leave under the old SAs
        if self.binding is not None:
            self.gateway.detach(self.binding)
        self.endpoint, self.pcscf = endpoint, pcscf
        self.binding = Binding(endpoint, "ue", self.mailbox.name, on_packet=self.on_packet)
        self.gateway.attach(self.binding, self.mailbox)

    def renew_port_uc(self) -> int:
        """A new client port (TS 24.229 5.1.1.5.1, a new Security-Client after a failed
        challenge); the old one's connection goes."""
        if self.conn is not None:
            self._forget(self.conn)
        old, self.uc_sock = self.uc_sock, self._socket(self.local[0], 0)
        if old is not None:
            old.close()
        self.local = self.uc_sock.getsockname()[:2]
        return self.local[1]

    @property
    def mode(self) -> str | None:
        return self.binding.mode if self.binding is not None else None

    @mode.setter
    def mode(self, value: str | None) -> None:
        if value not in (None, "tamper_icv", "wrong_spi"):
            # the case asks for what TCP cannot do: a case error, not the SUT's
            raise LocalProtocolError(f"ESP stimulus {value!r} is not available over TCP "
                                     "(esp: tamper_icv and wrong_spi are)")
        if self.binding is not None:
            self.binding.mode = value

    # -- the runner's interface -------------------------------------------------------------------
    def fileno(self) -> int:
        return self._sel.fileno()

    def _connect(self) -> _Conn:
        if self.pcscf is None:
            raise TransportError("no SA set with the P-CSCF")
        sock = self.uc_sock if self.uc_sock is not None else self._socket(*self.local)
        self.uc_sock = None
        sock.setblocking(False)
        rc = sock.connect_ex(self.pcscf)
        if rc not in (0, errno.EINPROGRESS):
            sock.close()
            raise TransportError(f"TCP connect from {self.local[0]}:{self.local[1]} to "
                                 f"{self.pcscf[0]}:{self.pcscf[1]} over ESP failed: "
                                 f"{errno.errorcode.get(rc, rc)}")
        poller = select.poll()
        poller.register(sock, select.POLLOUT)
        writable = poller.poll(int(self.connect_timeout * 1000))
        err = sock.getsockopt(socket.SOL_SOCKET, socket.SO_ERROR) if writable else errno.ETIMEDOUT
        if err:
            sock.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, _LINGER_RST)
            sock.close()
            what = "timed out" if err == errno.ETIMEDOUT else errno.errorcode.get(err, err)
            raise TransportError(f"TCP connect from {self.local[0]}:{self.local[1]} to "
                                 f"{self.pcscf[0]}:{self.pcscf[1]} over ESP {what}"
                                 f"{self._dropped()}")
        sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        conn = _Conn(sock, self.pcscf, self.local)
        self._sel.register(sock, selectors.EVENT_READ, conn)
        self.conn = conn
        return conn

    def _dropped(self) -> str:
        reasons = list(self.gateway.core.reasons)[-1:]
        return f" (gateway: {reasons[0]})" if reasons else ""

    def send(self, data: bytes, dst: Addr | None = None) -> None:
        if self.closed:
            raise TransportError("flow closed")
        conn = self.accepted.get(tuple(dst)) if dst is not None else None
        if conn is None:
            conn = self.conn or self._connect()
        try:
            conn.sock.setblocking(True)
            conn.sock.settimeout(2.0)
            conn.sock.sendall(data)
        except OSError as exc:
            self._forget(conn)
            raise TransportError(f"TCP send over ESP failed: {exc.strerror or exc}") from None
        finally:
            if conn.sock.fileno() >= 0:
                conn.sock.setblocking(False)

    def _meta(self, conn: _Conn) -> dict:
        """The SA of the connection's inbound direction, as the gateway last saw it."""
        sas = self.endpoint.sas if self.endpoint is not None else None
        sa = sas.for_ports(conn.remote[1], conn.local[1]) if sas is not None else None
        if sa is None:
            return {}
        seq = self.binding.last_inbound.get((sa.sport, sa.dport), (0, 0))[1] if self.binding else 0
        return {"sa": sa.number, "spi": sa.spi, "src": sa.src, "sport": sa.sport, "dst": sa.dst,
                "dport": sa.dport, "port_us": self.port_us, "port_uc": self.local[1],
                "seq": seq, "transport": "tcp", "outbound": self.outbound}

    def read(self) -> list[Incoming]:
        out: list[Incoming] = []
        if self.closed:
            return out
        for key, _ in self._sel.select(0):
            if key.data is None:
                self._accept(out)
                continue
            self._read_conn(key.data, out)
        return out

    def _accept(self, out: list[Incoming]) -> None:
        while True:
            try:
                sock, remote = self.listener.accept()
            except (BlockingIOError, InterruptedError, OSError):
                return
            sock.setblocking(False)
            conn = _Conn(sock, tuple(remote[:2]), sock.getsockname()[:2])
            self.accepted[conn.remote] = conn
            self._sel.register(sock, selectors.EVENT_READ, conn)

    def _read_conn(self, conn: _Conn, out: list[Incoming]) -> None:
        meta = self._meta(conn)
        via = (f"ESP SA {meta['sa']} (SPI {meta['spi']:#x}) over TCP {conn.remote[0]}:"
               f"{conn.remote[1]} -> {conn.local[0]}:{conn.local[1]}") if meta else "TCP over ESP"
        while True:
            try:
                data = conn.sock.recv(65536)
            except (BlockingIOError, InterruptedError):
                return
            except OSError as exc:
                self._forget(conn)
                why = "reset by the SUT" if exc.errno == errno.ECONNRESET else exc.strerror
                out.append(Incoming("closed", b"", conn.remote, f"TCP connection over ESP {why}"))
                return
            if not data:
                self._forget(conn)
                out.append(Incoming("closed", b"", conn.remote,
                                    "TCP connection over ESP closed by the SUT"))
                return
            try:
                frames = conn.framer.feed(data)
            except ParseError as exc:
                self._forget(conn)
                out.append(Incoming("garbage", data, conn.remote, f"unframeable TCP data: {exc}"))
                return
            for fr in frames:
                if isinstance(fr, Message):
                    out.append(Incoming("message", fr.data, conn.remote, via, meta=dict(meta)))
                elif isinstance(fr, Pong):
                    out.append(Incoming("pong", b"\r\n", conn.remote))
                elif isinstance(fr, Ping):
                    out.append(Incoming("ping", b"\r\n\r\n", conn.remote))

    # -- the end ---------------------------------------------------------------------------------
    def _forget(self, conn: _Conn) -> None:
        try:
            self._sel.unregister(conn.sock)
        except (KeyError, ValueError):
            pass
        if conn is self.conn:
            self.conn = None
        self.accepted.pop(conn.remote, None)
        try:
            conn.sock.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, _LINGER_RST)
        except OSError:
            pass
        conn.sock.close()

    def _drop_connections(self) -> None:
        for conn in [self.conn, *self.accepted.values()]:
            if conn is not None:
                self._forget(conn)

    def close(self) -> None:
        if self.closed:
            return
        self.closed = True
        self._drop_connections()
        if self.binding is not None:
            self.gateway.drain()                  # the resets reach the P-CSCF before the SAs go
            self.gateway.detach(self.binding)
        for s in (self.uc_sock, self.listener):
            if s is not None:
                s.close()
        self._sel.close()
        self.mailbox.close()


def tcp_flow_sec(run, flow, step):
    """The sec-agree state of a TCP flow (the TCP twin of :func:`.secreg.flow_sec`)."""
    hub = esp_hub()
    try:
        gateway = TunGateway.shared()
    except TunUnavailable as exc:
        raise SecUnavailable(f"TCP over ESP needs the TUN gateway: {exc}") from None
    mailbox = hub.mailbox(f"tester {run.item_id} {flow.name}")
    try:
        esp = TcpEspFlowEndpoint(gateway, mailbox, flow.local_ip, run.on_esp_packet,
                                 run.target.timers.connect)
    except TransportError:
        mailbox.close()
        raise
    esp.outbound = getattr(flow.spec, "reg_id", None) is not None
    offer = [tuple(p) for p in (step.options.get("algorithms") or run.target.sec_agree.offer)]
    flow.sec = FlowSec(esp.local[1], esp.port_us, esp, offer)
    flow.port_uc, flow.port_us = esp.local[1], esp.port_us
    run.endpoints[f"{flow.name}~esp"] = esp
    return flow.sec
