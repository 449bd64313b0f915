"""A tiny tls / ws / wss SIP server on loopback, built on conformance.wire.Stack, for the tester's
StreamEndpoint tests: it answers every request with a 200 that copies Via, From, To, Call-ID and
CSeq, answers CRLF pings with a pong, and notes how each connection ended."""

from __future__ import annotations

import selectors
import socket
import threading

import pytest

from conformance.sip.framing import Message, Ping
from conformance.wire import Stack, WsServer, server_context
from conformance.wire.testca import ensure_test_ca


def answer(req: bytes) -> bytes:
    head = req.split(b"\r\n\r\n", 1)[0].split(b"\r\n")
    keep = [h + (b";tag=srv1" if h.lower().startswith(b"to:") and b"tag=" not in h else b"")
            for h in head[1:] if h.split(b":", 1)[0].strip().lower() in (b"via", b"from", b"to", b"call-id", b"cseq")]
    return b"\r\n".join([b"SIP/2.0 200 OK", *keep, b"Content-Length: 0"]) + b"\r\n\r\n"


class StreamServer:
    """One listening socket, a selector thread, one Stack per accepted connection."""

    def __init__(self, transport: str, ca, ws: WsServer | None = None):
        self.transport, self.ws = transport, ws
        self.ctx = server_context(str(ca.server_cert), str(ca.server_key)) if transport != "ws" else None
        self.sock = socket.socket()
        self.sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        self.sock.bind(("127.0.0.1", 0))
        self.sock.listen(8)
        self.sock.setblocking(False)
        self.port = self.sock.getsockname()[1]
        self.ended: list[str] = []      # how each connection ended (close_notify, WebSocket close, EOF ...)
        self.received: list[bytes] = []  # SIP messages
        self.ws_pings: list[bytes] = []
        self.stop = threading.Event()
        self.sel = selectors.DefaultSelector()
        self.sel.register(self.sock, selectors.EVENT_READ, None)
        self.thread = threading.Thread(target=self._loop, daemon=True)
        self.thread.start()

    def _loop(self) -> None:
        while not self.stop.is_set():
            for key, _ in self.sel.select(0.05):
                if key.data is None:
                    try:
                        conn, _ = self.sock.accept()
                    except OSError:
                        continue
                    conn.setblocking(False)
                    stack = Stack.server(self.transport, tls_context=self.ctx, ws=self.ws)
                    self.sel.register(conn, selectors.EVENT_READ, stack)
                    continue
                conn, stack = key.fileobj, key.data
                try:
                    data = conn.recv(65536)
                except BlockingIOError:
                    continue
                except OSError:
                    data = b""
                ev = stack.receive(data)
                out = ev.send
                self.ws_pings += ev.ws_pings
                for fr in ev.frames:
                    if isinstance(fr, Message):
                        self.received.append(fr.data)
                        if fr.data.startswith(b"REGISTER"):
                            out += stack.send_message(answer(fr.data))
                    elif isinstance(fr, Ping):
                        out += stack.send_keepalive(b"\r\n")
                try:
                    if out:
                        conn.sendall(out)
                except OSError:
                    pass
                if ev.closed or ev.error or not data:
                    self.ended.append(ev.closed or ev.error or "EOF")
                    self.sel.unregister(conn)
                    conn.close()

    def close(self) -> None:
        self.stop.set()
        self.thread.join(2)
        for key in list(self.sel.get_map().values()):
            key.fileobj.close()
        self.sel.close()


@pytest.fixture(scope="session")
def test_ca(tmp_path_factory):
    return ensure_test_ca(tmp_path_factory.mktemp("stream-ca") / "test-ca")


@pytest.fixture
def stream_server(test_ca):
    made = []

    def start(transport: str, ws: WsServer | None = None) -> StreamServer:
        s = StreamServer(transport, test_ca, ws)
        made.append(s)
        return s

    yield start
    for s in made:
        s.close()
