"""The stream layers under SIP on one captured TCP connection: TLS (tlsdecrypt.py), WebSocket
(wsdecode.py) or WebSocket over TLS, as the connection's first bytes show them (a ClientHello, an
HTTP ``GET`` upgrade; inside TLS, an upgrade makes it ``wss``). The flow transport a message
crossed is then ``tls``, ``ws`` or ``wss``, as the suite names flows. Sans-IO.
"""

from __future__ import annotations

from dataclasses import dataclass, field

Addr = tuple[str, int]


def looks_like_tls(data: bytes) -> bool:
    """A stream that starts with a TLS handshake record (ClientHello / ServerHello)."""
    return len(data) >= 3 and data[0] == 22 and data[1] == 3 and data[2] <= 4


def looks_like_upgrade(data: bytes) -> bool:
    """A stream that starts with an HTTP GET (a WebSocket upgrade, RFC 6455 §4.1)."""
    return data.startswith(b"GET ")


def layer_kind(head: bytes) -> str | None:
    """What a connection's first bytes from its client start: "tls", "ws", "wait" (too few bytes
    to tell) or None (anything else: SIP over TCP, or not SIP)."""
    if looks_like_tls(head):
        return "tls"
    if looks_like_upgrade(head):
        return "ws"
    if len(head) < 4 and (b"GET "[:len(head)] == head or (head[:1] == b"\x16" and head[1:2] in (b"", b"\x03"))):
        return "wait"
    return None


@dataclass
class LayerOut:
    stream: bytes = b""                          # SIP stream bytes (TLS plaintext, not WebSocket)
    frames: list = field(default_factory=list)   # whole WebSocket messages as Message / Ping / Pong
    notes: list[str] = field(default_factory=list)
    closed: str | None = None
    ws_pings: int = 0
    ws_pongs: int = 0


class StreamLayers:
    """Both directions of one connection carrying SIP under TLS and/or WebSocket."""

    def __init__(self, client: Addr, server: Addr, kind: str, keys):
        # imported here: a capture of plain SIP never loads wsproto or Scapy's TLS layer
        from .tlsdecrypt import TlsDecryptor
        from .wsdecode import WsDecoder

        self.client, self.server = client, server
        self.tls = TlsDecryptor(keys) if kind == "tls" else None
        self.ws = WsDecoder() if kind == "ws" else None
        self._inner: str | None = None if self.tls is not None else "ws"  # inside TLS: "ws" | "sip"
        self._held = {True: b"", False: b""}  # plaintext held until the inner layer is known

    @property
    def transport(self) -> str:
        if self.tls is None:
            return "ws"
        return "wss" if self._inner == "ws" else "tls"

    def feed(self, from_client: bool, data: bytes) -> LayerOut:
        out = LayerOut()
        if self.tls is None:
            self._ws(from_client, data, out)
            return out
        t = self.tls.feed(from_client, data)
        out.notes += t.notes
        out.closed = t.closed
        plain = t.data
        if self._inner is None and plain:
            # Inside TLS, the first bytes tell: an upgrade from the client is wss, else SIP.
            held = self._held[from_client] + plain
            kind = layer_kind(held)
            if kind == "wait":
                self._held[from_client] = held
                return out
            self._held[from_client] = b""
            self._inner = "ws" if kind == "ws" and from_client else "sip"
            if self._inner == "ws":
                from .wsdecode import WsDecoder

                self.ws = WsDecoder()
            plain = held
        if plain:
            self._route(from_client, plain, out)
        return out

    def _route(self, from_client: bool, plain: bytes, out: LayerOut) -> None:
        if self._inner == "ws":
            self._ws(from_client, plain, out)
        else:
            out.stream += plain

    def _ws(self, from_client: bool, data: bytes, out: LayerOut) -> None:
        w = self.ws.feed(from_client, data)
        out.frames += w.frames
        out.notes += w.notes
        out.ws_pings += w.pings
        out.ws_pongs += w.pongs
        if w.closed:
            out.closed = w.closed if out.closed is None else f"{w.closed} ({out.closed})"

    @property
    def not_sip(self) -> bool:
        """Plain HTTP (no WebSocket upgrade): a stream that carries no SIP."""
        return self.ws is not None and self.ws.not_websocket

    def unread(self) -> int:
        """TLS records that were not decrypted (not judged)."""
        return self.tls.unread if self.tls is not None else 0

    def summary(self) -> dict:
        d = {"client": list(self.client), "server": list(self.server), "transport": self.transport}
        if self.tls is not None:
            d["tls"] = {"version": self.tls.version, "decrypted": bool(self.tls.keyed),
                        "records": self.tls.records, "not_read": self.tls.unread}
            if not self.tls.keyed:
                d["tls"]["why"] = self.tls.why_not
        if self.ws is not None:
            d["websocket"] = {"request": self.ws.request, "status": self.ws.status}
            if self.ws.failed:
                d["websocket"]["failed"] = self.ws.failed
        return d
