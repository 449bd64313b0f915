"""The server's side of the IMS P-CSCF's protected TCP: SIP over TCP over ESP on ``port_ps``.

The P-CSCF (:class:`~conformance.sut.ims.tcp.ProtectedTcpMixin`) checks every ESP packet and
hands a checked TCP segment back as ``InjectIp``; here it goes into the TUN gateway
(:mod:`conformance.ims.tungw`), where the P-CSCF's listener on ``port_ps`` lives (bound to the
TUN, so clear TCP over ``lo`` never reaches it).  What the TUN-bound sockets send comes out of
the TUN and is sealed by the P-CSCF's ``seal_tcp`` (the gateway's protector).  ``SendFromPort``
opens (or reuses) a connection from ``port_pc`` to the UE's ``port_us``.  Connections are the
server's own (:class:`~.connections.Connections`), so bounds, framing and flow bookkeeping are
shared with every other TCP connection.
"""

from __future__ import annotations

import errno
import socket
import threading

from ...ims.errors import EspError
from ...ims.tungw import TunGateway, TunUnavailable
from ..actions import SendFromPort
from .connections import Connections, Listener

__all__ = ["ProtectedTcp"]


def _tun_socket(gateway: TunGateway, address: tuple[str, int]) -> socket.socket:
    """A non-blocking TCP socket bound to the TUN device and to ``address``."""
    sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    try:
        gateway.bind_socket(sock)
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        sock.setblocking(False)
        sock.bind(address)
    except OSError:
        sock.close()
        raise
    return sock


class ProtectedTcp:
    """A running TUN-bound TCP listener on ``port_ps`` (with ``port_pc`` reserved) and the
    gateway's protector; :meth:`start` makes one, :meth:`stop` ends it."""

    def __init__(self, gateway: TunGateway, listener: Listener, protector, pc: socket.socket,
                 connections: Connections):
        self.gateway = gateway
        self.listener = listener
        self.protector = protector
        self.pc = pc
        self.connections = connections

    @classmethod
    def start(cls, edge, host: str, edge_udp: socket.socket, lock: threading.RLock,
              connections: Connections) -> ProtectedTcp | None:
        """None (and UDP only) when the gateway cannot run here or the P-CSCF is not on IPv4.
        ``edge_udp``: the main edge listener's UDP socket, what the edge forwards over UDP leaves
        from there."""
        if ":" in host:
            return None
        try:
            gateway = TunGateway.shared()
        except TunUnavailable:
            return None
        try:
            tcp = _tun_socket(gateway, (host, edge.port_ps))
        except OSError:
            return None
        try:
            tcp.listen(64)
        except OSError:
            tcp.close()
            return None
        # port_pc reserved for TCP too (bound, not listening: a connection may bind it again)
        try:
            pc = _tun_socket(gateway, (host, edge.port_pc))
        except OSError:
            tcp.close()
            return None
        listener = Listener("edge-ps-tcp", edge, edge.port_ps, udp=edge_udp, tcp=tcp)

        def protector(packet: bytes) -> bytes | None:
            with lock:
                try:
                    return edge.seal_tcp(packet)
                except EspError:
                    raise
                except Exception as exc:  # noqa: BLE001 - the gateway thread must survive
                    raise EspError(f"P-CSCF protector: {exc!r}") from None

        gateway.add_protector(protector)
        return cls(gateway, listener, protector, pc, connections)

    def stop(self) -> None:
        self.gateway.remove_protector(self.protector)
        self.pc.close()
        if self.listener.tcp is not None:
            self.listener.tcp.close()
            self.listener.tcp = None

    def inject(self, packet: bytes) -> bool:
        """Perform ``InjectIp``: a checked packet back into the kernel through the TUN."""
        try:
            self.gateway.inject(packet)
        except Exception:  # noqa: BLE001 - an EspError: the TUN is gone
            return False
        return True

    def send_from_port(self, action: SendFromPort) -> bool:
        """Perform ``SendFromPort``: reuse the connection of that address pair or open one, bound
        to the TUN and to the local port, with a bounded connect (as the server's own)."""
        conn = self.connections.between(action.local, action.address)
        if conn is not None:
            return self.connections.send(conn, action.data, action.ref)
        try:
            sock = _tun_socket(self.gateway, tuple(action.local))
        except OSError:
            return False
        try:
            rc = sock.connect_ex(tuple(action.address))
            if rc not in (0, errno.EINPROGRESS):
                raise OSError(rc, "connect failed")
        except OSError:
            sock.close()
            return False
        flow = self.connections.new_flow(action.local, action.address)
        self.connections.add_outgoing(sock, flow, self.listener, action.data, action.ref)
        return True
