"""One WebSocket connection (RFC 6455) carrying SIP (RFC 7118), sans-IO, on ``wsproto``.

The client sends the upgrade with ``Sec-WebSocket-Protocol: sip``; the server accepts it when
the client offers ``sip`` (RFC 7118 §4) and, with ``require_auth``, answers 401 until the request
carries ``Authorization`` (RFC 7118 §7). Each SIP message is one WebSocket message (RFC 7118
§5); control frames (Ping, Pong, Close) are reported and answered as RFC 6455 §5.5 says.
"""

from __future__ import annotations

from dataclasses import dataclass, field

from wsproto import ConnectionType, WSConnection
from wsproto.events import (AcceptConnection, BytesMessage, CloseConnection, Ping, Pong,
                            RejectConnection, RejectData, Request, TextMessage)
from wsproto.utilities import LocalProtocolError, RemoteProtocolError

__all__ = ["WsClient", "WsServer", "WsLayer", "WsOutput"]

MAX_MESSAGE = 256 * 1024  # a SIP message larger than this is an error (same bound as TCP framing)


@dataclass
class WsClient:
    path: str = "/"
    host: str = "ims.test"
    subprotocol: str = "sip"
    authorization: str | None = None  # the value of an Authorization header on the upgrade
    fragment: int = 0  # > 0: split every message into frames of at most this many bytes (a fault)


@dataclass
class WsServer:
    subprotocols: tuple = ("sip",)
    require_auth: str | None = None  # a WWW-Authenticate value: 401 until Authorization is sent
    echo_subprotocol: bool = True  # False: 101 without Sec-WebSocket-Protocol (a server fault)


@dataclass
class WsOutput:
    send: bytes = b""
    messages: list[bytes] = field(default_factory=list)
    pings: list[bytes] = field(default_factory=list)
    pongs: list[bytes] = field(default_factory=list)
    ready: bool = False
    closed: str | None = None
    error: str | None = None
    http_status: int | None = None
    request: dict | None = None  # server side: what the upgrade asked (path, host, subprotocols)


class WsLayer:
    def __init__(self, client: WsClient | None = None, server: WsServer | None = None):
        self.client, self.server = client, server
        self.conn = WSConnection(ConnectionType.CLIENT if client else ConnectionType.SERVER)
        self.ready = False
        self.closed = False
        self.subprotocol: str | None = None
        self._partial: list[bytes] = []
        self._reject_status: int | None = None

    def start(self) -> bytes:
        if self.client is None:
            return b""
        c = self.client
        extra = [("Authorization", c.authorization)] if c.authorization else []
        return self.conn.send(Request(host=c.host, target=c.path, subprotocols=[c.subprotocol],
                                      extra_headers=extra))

    def receive(self, data: bytes) -> WsOutput:
        out = WsOutput()
        try:
            self.conn.receive_data(data if data else None)
            for ev in self.conn.events():
                self._event(ev, out)
        except (RemoteProtocolError, LocalProtocolError) as exc:
            out.error = f"WebSocket protocol error: {exc}"
            if isinstance(exc, RemoteProtocolError) and getattr(exc, "event_hint", None) is not None:
                try:
                    out.send += self.conn.send(exc.event_hint)
                except LocalProtocolError:
                    pass
        if not data and not self.closed and out.error is None:
            out.closed = "connection closed without a WebSocket Close" if self.ready else None
            if not self.ready:
                out.error = "connection closed during the WebSocket handshake"
            self.closed = True
        return out

    def _event(self, ev, out: WsOutput) -> None:
        if isinstance(ev, Request):  # server side
            out.request = {"path": ev.target, "host": ev.host, "subprotocols": list(ev.subprotocols),
                           "headers": {k.decode().lower(): v.decode("latin-1") for k, v in ev.extra_headers}}
            offered = [p for p in ev.subprotocols if p in self.server.subprotocols]
            if self.server.require_auth and "authorization" not in out.request["headers"]:
                out.send += self.conn.send(RejectConnection(
                    status_code=401, headers=[(b"www-authenticate", self.server.require_auth.encode())]))
                out.http_status = 401
            elif not offered:
                # RFC 7118 §4: without "sip" offered the server does not accept the upgrade as SIP.
                out.send += self.conn.send(RejectConnection(status_code=400))
                out.http_status = 400
                out.error = f"upgrade offered no SIP subprotocol ({ev.subprotocols or 'none'})"
            else:
                self.subprotocol = offered[0]
                echoed = offered[0] if self.server.echo_subprotocol else None
                out.send += self.conn.send(AcceptConnection(subprotocol=echoed))
                self.ready = out.ready = True
        elif isinstance(ev, AcceptConnection):
            self.subprotocol = ev.subprotocol
            self.ready = out.ready = True
            if ev.subprotocol != "sip":
                out.error = f"server accepted the upgrade without Sec-WebSocket-Protocol: sip ({ev.subprotocol!r})"
        elif isinstance(ev, RejectConnection):
            out.http_status = ev.status_code
            out.error = f"WebSocket upgrade answered {ev.status_code}"
            self._reject_status = ev.status_code
        elif isinstance(ev, RejectData):
            pass
        elif isinstance(ev, (TextMessage, BytesMessage)):
            chunk = ev.data.encode() if isinstance(ev, TextMessage) else bytes(ev.data)
            self._partial.append(chunk)
            if sum(map(len, self._partial)) > MAX_MESSAGE:
                out.error = f"WebSocket message over {MAX_MESSAGE} bytes"
                self._partial.clear()
                return
            if ev.message_finished:
                out.messages.append(b"".join(self._partial))
                self._partial.clear()
        elif isinstance(ev, Ping):
            out.pings.append(bytes(ev.payload))
            out.send += self.conn.send(ev.response())
        elif isinstance(ev, Pong):
            out.pongs.append(bytes(ev.payload))
        elif isinstance(ev, CloseConnection):
            out.closed = f"WebSocket close {ev.code}" + (f" {ev.reason}" if ev.reason else "")
            try:
                out.send += self.conn.send(ev.response())
            except LocalProtocolError:
                pass  # our own Close went first: this is its answer
            self.closed = True

    def send_message(self, data: bytes) -> bytes:
        """One SIP message as one WebSocket text message (binary when it is not UTF-8)."""
        try:
            text = data.decode("utf-8")
        except UnicodeDecodeError:
            text = None
        size = self.client.fragment if self.client else 0
        if size <= 0 or len(data) <= size:
            return self.conn.send(TextMessage(data=text) if text is not None else BytesMessage(data=data))
        out = b""
        if text is not None:  # fragments of a text message split on character boundaries
            parts = [text[i:i + size] for i in range(0, len(text), size)]
            for i, part in enumerate(parts):
                out += self.conn.send(TextMessage(data=part, message_finished=i == len(parts) - 1))
            return out
        parts = [data[i:i + size] for i in range(0, len(data), size)]
        for i, part in enumerate(parts):
            out += self.conn.send(BytesMessage(data=part, message_finished=i == len(parts) - 1))
        return out

    def ping(self, payload: bytes = b"") -> bytes:
        return self.conn.send(Ping(payload=payload))

    def close(self, code: int = 1000, reason: str = "") -> bytes:
        if self.closed or not self.ready:
            return b""
        self.closed = True
        try:
            return self.conn.send(CloseConnection(code=code, reason=reason or None))
        except LocalProtocolError:
            return b""
