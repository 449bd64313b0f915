"""Ports in Linux's ephemeral range (32768-60999) that Wireshark hands to a dissector other than
SIP by port number (``tshark -G decodes``, Wireshark 4.0: udp.port / tcp.port entries). A capture
whose SIP runs on one of them opens as, say, EtherNet/IP (44818) with "[Malformed Packet]", so
the suite never lets the kernel give one of them to a socket it binds to a free port.
"""

from __future__ import annotations

import socket
from typing import Callable

__all__ = ["CLAIMED_PORTS", "bind_free_port"]

CLAIMED_PORTS = frozenset({
    34962, 34980, 37008, 41170, 44321, 44322, 44818, 45564, 47000, 47808, 48049, 48898, 49999,
    54328, 56000, 56001, 56500, 56501, 57000, 57001, 57032, 57033, 57500, 57501, 57532, 57533,
    59000, 59001, 59032, 59033, 59500, 59501, 59532, 59533, 60001,
})


def bind_free_port(make: Callable[[], socket.socket], ip: str, port: int = 0,
                   attempts: int = 16) -> socket.socket:
    """A new socket from ``make()`` bound to ``(ip, port)``; with port 0 on a free port Wireshark
    reads as SIP: a claimed port is kept bound (so the kernel does not give it again) while the
    next socket is tried, then released. OSError when the bind fails (the socket is closed)."""
    if port:
        sock = make()
        try:
            sock.bind((ip, port))
        except OSError:
            sock.close()
            raise
        return sock
    held: list[socket.socket] = []
    try:
        for _ in range(attempts):
            sock = make()
            try:
                sock.bind((ip, 0))
            except OSError:
                sock.close()
                raise
            if sock.getsockname()[1] not in CLAIMED_PORTS:
                return sock
            held.append(sock)
        return held.pop()            # very unlikely: keep the last one rather than fail
    finally:
        for s in held:
            s.close()
