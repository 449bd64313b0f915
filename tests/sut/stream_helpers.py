"""A UE on a TLS / WS / WSS connection to the reference, over a real loopback socket, with
:class:`conformance.wire.Stack` as its client side; and a PEER that sends terminating requests
over UDP.  Every wait is bounded by the socket timeout."""

from __future__ import annotations

import itertools
import socket
import time

from conformance.sip.framing import Message, Ping, Pong
from conformance.sip.message import Response, parse_message
from conformance.wire import Stack, TlsClient, WsClient

WAIT = 3.0
INSTANCE = '"<urn:uuid:00000000-0000-1000-8000-000A95A0E128>"'
AOR = "sip:ue-a@ims.test"
_n = itertools.count(1)


class StreamUe:
    def __init__(self, transport: str, port: int, ca: str, ws: WsClient | None = None,
                 host: str = "127.0.0.1", source: str = "127.0.0.11"):
        self.transport = transport
        self.stack = Stack.client(transport, tls=TlsClient(ca=ca, server_name="ims.test"),
                                  ws=ws or WsClient())
        self.sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
        self.sock.settimeout(WAIT)
        self.sock.bind((source, 0))
        self.sock.connect((host, port))
        self.frames: list = []
        self.events: list = []
        self.via_host = "ue%d.invalid" % next(_n) if transport in ("ws", "wss") else source
        self.contact_host = self.via_host

    # -- wire ------------------------------------------------------------------------------
    def pump(self) -> object:
        """Read once (bounded) and feed the stack; returns its events (closed on EOF)."""
        try:
            data = self.sock.recv(65536)
        except (socket.timeout, ConnectionResetError):
            data = b""
        ev = self.stack.receive(data)
        self.events.append(ev)
        if ev.send:
            try:
                self.sock.sendall(ev.send)
            except OSError:
                pass
        self.frames += ev.frames
        return ev

    def open(self) -> "StreamUe":
        self.sock.sendall(self.stack.start())
        deadline = time.monotonic() + WAIT
        while not self.stack.ready and time.monotonic() < deadline:
            ev = self.pump()
            if ev.error or ev.closed:
                break
        return self

    def send(self, sip: bytes) -> None:
        self.sock.sendall(self.stack.send_message(sip))

    def next_message(self) -> bytes | None:
        deadline = time.monotonic() + WAIT
        while time.monotonic() < deadline:
            for i, f in enumerate(self.frames):
                if isinstance(f, Message):
                    del self.frames[i]
                    return f.data
            ev = self.pump()
            if ev.closed or ev.error:
                return None
        return None

    def next_keepalive(self) -> object | None:
        deadline = time.monotonic() + WAIT
        while time.monotonic() < deadline:
            for i, f in enumerate(self.frames):
                if isinstance(f, (Ping, Pong)):
                    del self.frames[i]
                    return f
            ev = self.pump()
            self.frames += self.stack.flush()          # a lone CRLF over TLS is a pong
            if ev.closed or ev.error:
                return None
        return None

    def close(self, graceful: bool = True) -> None:
        try:
            out = self.stack.close(graceful)
            if out:
                self.sock.sendall(out)
        except OSError:
            pass
        self.sock.close()

    # -- SIP -------------------------------------------------------------------------------
    def register(self, reg_id: int = 1, call_id: str | None = None, expires: int = 600,
                 route: str | None = None) -> Response:
        t = self.transport.upper()
        uri_t = "tls" if self.transport == "tls" else "ws"
        n = next(_n)
        msg = (f"REGISTER sip:ims.test SIP/2.0\r\n"
               f"Via: SIP/2.0/{t} {self.via_host};branch=z9hG4bK-r{n};rport\r\n"
               f"Max-Forwards: 70\r\nFrom: <{AOR}>;tag=f{n}\r\nTo: <{AOR}>\r\n"
               f"Call-ID: {call_id or f'reg-{n}'}\r\nCSeq: {n} REGISTER\r\n"
               f"Supported: path, outbound\r\n" + (f"Route: {route}\r\n" if route else "") +
               f"Contact: <sip:ue-a@{self.contact_host};transport={uri_t};ob>;reg-id={reg_id};"
               f"+sip.instance={INSTANCE}\r\nExpires: {expires}\r\nContent-Length: 0\r\n\r\n")
        self.send(msg.encode())
        data = self.next_message()
        assert data is not None, f"no answer to REGISTER over {self.transport}: {self.events[-1:]}"
        return parse_message(data)

    def answer(self, request: bytes, status: int = 200) -> None:
        req = parse_message(request)
        heads = [f"{n}: {v}" for n, v in req.headers if n.lower() in ("via", "from", "call-id", "cseq")]
        to = req.get("To")
        text = (f"SIP/2.0 {status} OK\r\n" + "\r\n".join(heads) + f"\r\nTo: {to};tag=ue\r\n"
                "Content-Length: 0\r\n\r\n")
        self.send(text.encode())


class Peer:
    """Sends terminating requests over UDP and reads the final answers (bounded)."""

    def __init__(self, address: tuple[str, int], source: str = "127.0.0.30"):
        self.address = address
        self.sock = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
        self.sock.settimeout(WAIT)
        self.sock.bind((source, 0))

    def message(self, uri: str = AOR) -> str:
        n = next(_n)
        host, port = self.sock.getsockname()
        call_id = f"msg-{n}"
        text = (f"MESSAGE {uri} SIP/2.0\r\nVia: SIP/2.0/UDP {host}:{port};branch=z9hG4bK-m{n};rport\r\n"
                f"Max-Forwards: 70\r\nFrom: <sip:peer@example.test>;tag=p{n}\r\nTo: <{uri}>\r\n"
                f"Call-ID: {call_id}\r\nCSeq: 1 MESSAGE\r\nContent-Type: text/plain\r\n"
                f"Content-Length: 5\r\n\r\nhello")
        self.sock.sendto(text.encode(), self.address)
        return call_id

    def final(self, call_id: str) -> Response | None:
        deadline = time.monotonic() + 2 * WAIT + 4
        while time.monotonic() < deadline:
            try:
                data, _ = self.sock.recvfrom(65536)
            except socket.timeout:
                continue
            msg = parse_message(data)
            if isinstance(msg, Response) and msg.call_id == call_id and msg.status >= 200:
                return msg
        return None

    def close(self) -> None:
        self.sock.close()
