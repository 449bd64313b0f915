"""A flow's stream layers composed: ``tls`` (TLS), ``ws`` (WebSocket), ``wss`` (WebSocket over
TLS). Bytes read from the socket go in, SIP frames and bytes to write come out; nothing here
touches a socket, so both the tester's endpoints and the reference server drive it from their
own selector loops.
"""

from __future__ import annotations

import ssl
from dataclasses import dataclass, field

from ..sip.errors import ParseError
from ..sip.framing import Message, Ping, Pong, StreamFramer
from .tls import TlsLayer
from .tlsconf import TlsClient
from .ws import WsClient, WsLayer, WsServer

__all__ = ["Stack", "StackEvents", "STREAM_TRANSPORTS", "ws_frame"]

STREAM_TRANSPORTS = ("tls", "ws", "wss")


@dataclass
class StackEvents:
    send: bytes = b""                                 # write these to the socket now
    frames: list = field(default_factory=list)        # sip.framing Message / Ping / Pong
    ws_pings: list[bytes] = field(default_factory=list)
    ws_pongs: list[bytes] = field(default_factory=list)
    ready: bool = False                               # every handshake finished in this call
    closed: str | None = None                         # the peer ended the connection
    error: str | None = None                          # a handshake or framing failure
    http_status: int | None = None                    # the WS upgrade's answer, when not 101
    request: dict | None = None                       # server: the WS upgrade request


def ws_frame(data: bytes) -> object:
    """What one WebSocket message is: a keep-alive (RFC 5626 §4.4.1 carried in a WS message) or
    a SIP message."""
    if data == b"\r\n\r\n":
        return Ping()
    if data == b"\r\n":
        return Pong()
    return Message(data)


class Stack:
    """Use :meth:`client` / :meth:`server`."""

    def __init__(self, transport: str, tls: TlsLayer | None, ws: WsLayer | None):
        if transport not in STREAM_TRANSPORTS:
            raise ValueError(f"no stream stack for transport {transport!r}")
        self.transport, self.tls, self.ws = transport, tls, ws
        self.framer = StreamFramer() if ws is None else None
        self._tls_ready = tls is None
        self.closed: str | None = None

    @classmethod
    def client(cls, transport: str, tls: TlsClient | None = None, ws: WsClient | None = None,
               context: ssl.SSLContext | None = None) -> "Stack":
        t = w = None
        if transport in ("tls", "wss"):
            tls = tls or TlsClient()
            t = TlsLayer(context or tls.context(), server_side=False, server_name=tls.server_name)
        if transport in ("ws", "wss"):
            w = WsLayer(client=ws or WsClient())
        return cls(transport, t, w)

    @classmethod
    def server(cls, transport: str, tls_context: ssl.SSLContext | None = None,
               ws: WsServer | None = None) -> "Stack":
        t = w = None
        if transport in ("tls", "wss"):
            if tls_context is None:
                raise ValueError(f"a {transport} server needs a TLS context")
            t = TlsLayer(tls_context, server_side=True)
        if transport in ("ws", "wss"):
            w = WsLayer(server=ws or WsServer())
        return cls(transport, t, w)

    @property
    def ready(self) -> bool:
        return self._tls_ready and (self.ws is None or self.ws.ready)

    def start(self) -> bytes:
        if self.tls is not None:
            return self.tls.start()          # the WS upgrade follows once TLS is up
        return self.ws.start() if self.ws is not None else b""

    # -- input --------------------------------------------------------------------------------
    def receive(self, data: bytes) -> StackEvents:
        """``data`` read from the socket; b"" when the socket reached EOF."""
        ev = StackEvents()
        was_ready = self.ready
        plain, eof = data, not data
        if self.tls is not None:
            out = self.tls.receive(data)
            ev.send += out.send
            if out.error:
                ev.error = out.error
                return self._finish(ev, was_ready)
            if out.ready:
                self._tls_ready = True
                if self.ws is not None and self.ws.client is not None:
                    ev.send += self.tls.send(self.ws.start())   # the upgrade, inside TLS
            plain = out.data
            if out.closed:
                ev.closed, eof = out.closed, True
        if self.ws is not None:
            if plain:
                self._from_ws(self.ws.receive(plain), ev)
            if eof and not self.ws.closed:
                self._from_ws(self.ws.receive(b""), ev)
        elif plain:
            try:
                ev.frames += self.framer.feed(plain)
            except ParseError as exc:
                ev.error = f"unframeable data: {exc}"
        if eof and ev.closed is None:
            ev.closed = "EOF"
        if ev.closed:
            self.closed = ev.closed
            if self.framer is not None:
                ev.frames += self.framer.flush()
        return self._finish(ev, was_ready)

    def _from_ws(self, w, ev: StackEvents) -> None:
        ev.send += self._wrap(w.send)
        ev.frames += [ws_frame(m) for m in w.messages]
        ev.ws_pings += w.pings
        ev.ws_pongs += w.pongs
        ev.http_status = ev.http_status or w.http_status
        ev.request = ev.request or w.request
        ev.error = ev.error or w.error
        if w.closed:
            ev.closed = w.closed if ev.closed is None else f"{w.closed} ({ev.closed})"

    def _finish(self, ev: StackEvents, was_ready: bool) -> StackEvents:
        ev.ready = self.ready and not was_ready
        return ev

    def flush(self) -> list:
        """The peer went quiet: a lone CRLF held by the TLS stream's framer is a pong."""
        return self.framer.flush() if self.framer is not None else []

    # -- output -------------------------------------------------------------------------------
    def _wrap(self, data: bytes) -> bytes:
        if not data:
            return b""
        return self.tls.send(data) if self.tls is not None else data

    def send_message(self, sip: bytes) -> bytes:
        if self.ws is not None:
            return self._wrap(self.ws.send_message(sip))
        return self._wrap(sip)

    def send_keepalive(self, crlf: bytes = b"\r\n\r\n") -> bytes:
        """An RFC 5626 CRLF keep-alive (ping ``\\r\\n\\r\\n`` or pong ``\\r\\n``); over WS in a
        message of its own."""
        return self.send_message(crlf)

    def ping(self, payload: bytes = b"") -> bytes:
        if self.ws is None:
            raise ValueError("a WebSocket Ping needs a ws or wss flow")
        return self._wrap(self.ws.ping(payload))

    def close(self, graceful: bool = True) -> bytes:
        """The bytes that end the connection politely (WS Close, then TLS close_notify);
        graceful=False: nothing, the caller drops the socket (a fault)."""
        if not graceful:
            return b""
        out = b""
        if self.ws is not None:
            out += self._wrap(self.ws.close())
        if self.tls is not None and self._tls_ready and not self.tls.closed:
            out += self.tls.close()
        return out
