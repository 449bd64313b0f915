"""WebSocket (RFC 6455) read back from one captured connection's two byte streams: the HTTP
upgrade, then frames parsed by ``wsproto``'s frame parser (``FrameProtocol``: client frames
masked, server frames not, fragmented messages joined, permessage-deflate when the 101 accepted
it). Each finished message is one SIP message or keep-alive (RFC 7118 §5), as the suite's own
WebSocket layer reads them (``conformance.wire.stack.ws_frame``). Sans-IO.
"""

from __future__ import annotations

from dataclasses import dataclass, field

from wsproto.extensions import PerMessageDeflate
from wsproto.frame_protocol import FrameProtocol, Opcode, ParseFailed

from ..wire.stack import ws_frame

MAX_HEADER = 16 * 1024  # an HTTP upgrade's header section
MAX_MESSAGE = 256 * 1024


@dataclass
class WsOut:
    frames: list = field(default_factory=list)   # sip.framing Message / Ping / Pong
    pings: int = 0                               # WebSocket Ping / Pong control frames
    pongs: int = 0
    closed: str | None = None                    # "WebSocket close 1000 ..."
    notes: list[str] = field(default_factory=list)


def _headers(block: bytes) -> tuple[str, dict[str, str]]:
    lines = block.decode("latin-1").split("\r\n")
    head: dict[str, str] = {}
    for line in lines[1:]:
        name, sep, value = line.partition(":")
        if sep:
            key = name.strip().lower()
            head[key] = f"{head[key]}, {value.strip()}" if key in head else value.strip()
    return lines[0], head


class WsDecoder:
    """Both directions of one WebSocket connection. ``feed(from_client, data)`` in capture order."""

    def __init__(self) -> None:
        self._buf = {True: b"", False: b""}
        self._parsers: dict[bool, FrameProtocol] = {}
        self._partial: dict[bool, list[bytes]] = {True: [], False: []}
        self.request: dict | None = None     # the upgrade: path, host, subprotocols
        self.status: int | None = None       # the answer to the (last) upgrade
        self.upgraded = False
        self.broken = False
        self.failed = ""
        self.not_websocket = False  # an HTTP request that is no WebSocket upgrade: not SIP at all

    def feed(self, from_client: bool, data: bytes) -> WsOut:
        out = WsOut()
        if self.broken:
            return out
        buf = self._buf[from_client] + data
        self._buf[from_client] = b""
        if not self.upgraded:
            buf = self._http(from_client, buf, out)
            if not self.upgraded:
                self._buf[from_client] = buf
                return out
            if from_client is False and self._buf[True]:
                # client bytes held while the 101 was awaited
                held, self._buf[True] = self._buf[True], b""
                self._frames(True, held, out)
        if buf:
            self._frames(from_client, buf, out)
        return out

    def _http(self, from_client: bool, buf: bytes, out: WsOut) -> bytes:
        while True:
            end = buf.find(b"\r\n\r\n")
            if end < 0:
                if len(buf) > MAX_HEADER:
                    self._break(out, "an HTTP header section over 16 kB before the WebSocket upgrade")
                    return b""
                return buf
            line, head = _headers(buf[:end])
            rest = buf[end + 4:]
            if from_client:
                parts = line.split()
                if len(parts) < 3 or parts[0] != "GET":
                    self._break(out, f"not a WebSocket upgrade request: {line[:80]!r}")
                    return b""
                if "websocket" not in head.get("upgrade", "").lower():
                    self.not_websocket = self.broken = True
                    self.failed = f"HTTP without a WebSocket upgrade: {line[:80]!r}"
                    return b""
                self.request = {"path": parts[1], "host": head.get("host"),
                                "subprotocols": [p.strip() for p in head.get("sec-websocket-protocol", "").split(",")
                                                 if p.strip()]}
                return rest  # the client waits for the answer before sending frames
            parts = line.split(None, 2)
            try:
                self.status = int(parts[1])
            except (IndexError, ValueError):
                self._break(out, f"not an HTTP response: {line[:80]!r}")
                return b""
            if self.status == 101:
                self.upgraded = True
                self._start(head)
                return rest
            out.notes.append(f"WebSocket upgrade answered {line[9:60].strip()}")
            length = head.get("content-length", "0").strip()
            skip = int(length) if length.isdigit() else 0
            if len(rest) < skip:  # the body is not all here: keep it for the next feed
                return buf
            buf = rest[skip:]

    def _start(self, head: dict[str, str]) -> None:
        accepted = head.get("sec-websocket-extensions", "")
        for from_client in (True, False):
            exts = []
            if "permessage-deflate" in accepted:
                pmd = PerMessageDeflate()
                pmd.finalize(next(e for e in accepted.split(",") if "permessage-deflate" in e).strip())
                exts.append(pmd)
            # the parser of frames *from* the client is the server's (client frames are masked)
            self._parsers[from_client] = FrameProtocol(client=not from_client, extensions=exts)

    def _frames(self, from_client: bool, data: bytes, out: WsOut) -> None:
        parser = self._parsers[from_client]
        parser.receive_bytes(data)
        partial = self._partial[from_client]
        try:
            for frame in parser.received_frames():
                op = frame.opcode
                if op in (Opcode.TEXT, Opcode.BINARY, Opcode.CONTINUATION):
                    chunk = frame.payload.encode() if isinstance(frame.payload, str) else bytes(frame.payload)
                    partial.append(chunk)
                    if sum(map(len, partial)) > MAX_MESSAGE:
                        self._break(out, f"a WebSocket message over {MAX_MESSAGE} bytes")
                        return
                    if frame.message_finished:
                        out.frames.append(ws_frame(b"".join(partial)))
                        partial.clear()
                elif op is Opcode.PING:
                    out.pings += 1
                elif op is Opcode.PONG:
                    out.pongs += 1
                elif op is Opcode.CLOSE:
                    code, reason = frame.payload
                    out.closed = f"WebSocket close {int(code)}" + (f" {reason}" if reason else "")
        except ParseFailed as exc:
            self._break(out, f"WebSocket framing lost: {exc}")

    def _break(self, out: WsOut, why: str) -> None:
        self.broken, self.failed = True, why
        out.notes.append(why)
