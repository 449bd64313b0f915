"""A NAT-like UDP relay on loopback, for tests: the UE sends to the relay's front socket, the
relay forwards each datagram from a socket of its own (one per UE source, on another loopback
address: the "mapping") to the server, and sends the server's answers back to that UE from the
front socket.  Like a NAT the suite did not build: the server sees the mapping, not the UE."""

from __future__ import annotations

import selectors
import socket
import threading


class UdpRelay:
    def __init__(self, server: tuple[str, int], front_ip: str = "127.0.0.1", mapped_ip: str = "127.0.0.98"):
        self.server = server
        self.mapped_ip = mapped_ip
        self.front = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
        self.front.bind((front_ip, 0))
        self.front.setblocking(False)
        self.address = self.front.getsockname()[:2]
        self.mappings: dict[tuple[str, int], socket.socket] = {}   # UE source -> relay socket
        self._back: dict[socket.socket, tuple[str, int]] = {}
        self._sel = selectors.DefaultSelector()
        self._sel.register(self.front, selectors.EVENT_READ, None)
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._loop, daemon=True)

    def mapping_of(self, ue: tuple[str, int]) -> tuple[str, int] | None:
        sock = self.mappings.get(tuple(ue))
        return sock.getsockname()[:2] if sock else None

    def _loop(self) -> None:
        while not self._stop.is_set():
            for key, _ in self._sel.select(0.05):
                sock = key.fileobj
                try:
                    data, src = sock.recvfrom(65536)
                except OSError:
                    continue
                if sock is self.front:
                    back = self.mappings.get(src)
                    if back is None:
                        back = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
                        back.bind((self.mapped_ip, 0))
                        back.setblocking(False)
                        self.mappings[src] = back
                        self._back[back] = src
                        self._sel.register(back, selectors.EVENT_READ, None)
                    back.sendto(data, self.server)
                else:
                    try:
                        self.front.sendto(data, self._back[sock])
                    except OSError:
                        pass

    def __enter__(self) -> "UdpRelay":
        self._thread.start()
        return self

    def __exit__(self, *exc) -> None:
        self._stop.set()
        self._thread.join(2)
        for sock in [self.front, *self.mappings.values()]:
            sock.close()
        self._sel.close()
