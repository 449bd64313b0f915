"""Cutting a byte stream into SIP messages and keep-alives, and sorting datagrams.

Sans-IO: the caller feeds bytes as they arrive and gets frames back; nothing here reads a socket
or a clock.  The buffer is bounded, and a framing error is sticky (as in h11): once the stream
is out of step nothing later on it can be trusted, so every further ``feed`` fails too.

Rules used:

* A message on a stream is framed by its Content-Length, which is mandatory there
  (RFC 3261 §7.5, §18.3, §20.14).
* Between messages, a double CRLF is a keep-alive ping and a single CRLF the pong
  (RFC 5626 §3.5.1, §4.4.1, §5.4).  A lone CRLF that might still be the first half of a ping
  is held back until the next byte shows which it is, or until :meth:`StreamFramer.flush` is
  called (the peer went quiet, or the stream ended).  Two pongs sent back to back cannot be told
  from a ping; RFC 5626 only ever sends one pong per ping.
* On datagrams, STUN is recognised by RFC 5389 §6 (top two bits zero, magic cookie at
  offset 4), CRLF runs are keep-alives, and anything starting with a SIP start line is SIP.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from typing import Union

from .errors import ParseError

__all__ = ["Message", "Ping", "Pong", "Frame", "StreamFramer", "classify_datagram",
           "STUN_MAGIC_COOKIE"]

STUN_MAGIC_COOKIE = 0x2112A442


@dataclass(frozen=True)
class Message:
    """One complete SIP message, bytes exactly as received."""

    data: bytes


@dataclass(frozen=True)
class Ping:
    """A double-CRLF keep-alive (RFC 5626 §4.4.1)."""


@dataclass(frozen=True)
class Pong:
    """A single-CRLF keep-alive response (RFC 5626 §4.4.1)."""


Frame = Union[Message, Ping, Pong]

_CONTENT_LENGTH = re.compile(rb"^(?:content-length|l)[ \t]*:[ \t]*(.*?)[ \t]*\r?$", re.I | re.M)
START_LINE = re.compile(  # a SIP start line (public: the split pre-scan of analysis/parallel.py tests it inline)
    rb"^(?:[A-Za-z0-9\-.!%*_+`'~]+ \S+ SIP/\d+\.\d+|SIP/\d+\.\d+ \d{3}(?: .*)?)\r?$")


class StreamFramer:
    """Frames one direction of a TCP/TLS stream."""

    def __init__(self, max_message: int = 256 * 1024):
        self.max_message = max_message
        self._buf = bytearray()
        self._error: ParseError | None = None

    def pending(self) -> int:
        """Bytes received but not yet returned in a frame."""
        return len(self._buf)

    @property
    def error(self) -> ParseError | None:
        """The framing error the stream hit, if any."""
        return self._error

    def _fail(self, reason: str) -> ParseError:
        self._error = ParseError(reason)
        return self._error

    def feed(self, data: bytes) -> list[Frame]:
        """Add received bytes; return every frame they complete, in order."""
        if self._error is not None:
            raise ParseError(f"stream already failed: {self._error.reason}")
        self._buf += data
        frames: list[Frame] = []
        while self._buf:
            frame = self._next_frame()
            if frame is None:
                break
            frames.append(frame)
        if len(self._buf) > self.max_message:
            raise self._fail(
                f"{len(self._buf)} bytes buffered without a complete message "
                f"(limit {self.max_message})")
        return frames

    def flush(self) -> list[Frame]:
        """Resolve a held lone CRLF as a pong (call when the peer went quiet or at EOF)."""
        if self._error is None and bytes(self._buf) == b"\r\n":
            self._buf.clear()
            return [Pong()]
        return []

    def _next_frame(self) -> Frame | None:
        buf = self._buf
        if buf[:1] == b"\r":
            if buf[:4] == b"\r\n\r\n":
                del buf[:4]
                return Ping()
            if buf[:2] == b"\r\n" and len(buf) > 2 and buf[2:3] != b"\r":
                del buf[:2]
                return Pong()
            if bytes(buf) in (b"\r", b"\r\n", b"\r\n\r"):
                return None  # not yet known whether this is a ping or a pong
            if buf[:2] != b"\r\n" or buf[2:4] != b"\r\n":
                raise self._fail(f"stray CR between messages: {bytes(buf[:8])!r}")
        return self._next_message()

    def _next_message(self) -> Message | None:
        buf = self._buf
        end = buf.find(b"\r\n\r\n")
        sep = 4
        lf_end = buf.find(b"\n\n")
        if lf_end >= 0 and (end < 0 or lf_end < end):
            end, sep = lf_end, 2
        nl = buf.find(b"\n")
        if nl >= 0 and not START_LINE.match(bytes(buf[:nl + 1]).rstrip(b"\n")):
            raise self._fail(f"stream does not start with a SIP start line: {bytes(buf[:60])!r}")
        if end < 0:
            if len(buf) > self.max_message:
                raise self._fail(f"header section longer than {self.max_message} bytes")
            return None
        head = bytes(buf[:end])
        values = _content_lengths(head)
        if not values:
            raise self._fail("message on a stream without Content-Length (RFC 3261 §18.3)")
        if len(values) > 1:
            raise self._fail(f"conflicting Content-Length values {sorted(values)!r}")
        value = values.pop()
        if not value.isdigit():
            raise self._fail(f"invalid Content-Length {value[:20]!r}")
        total = end + sep + int(value)
        if total > self.max_message:
            raise self._fail(f"message of {total} bytes exceeds the {self.max_message}-byte limit")
        if len(buf) < total:
            return None
        data = bytes(buf[:total])
        del buf[:total]
        return Message(data)


def _content_lengths(head: bytes) -> set[bytes]:
    """``{m.group(1) for m in _CONTENT_LENGTH.finditer(head)}``: the expression tried only at the
    starts of the lines it can match (those starting with ``content-length`` or ``l``, in any
    case), which are found by searching the lower-cased text."""
    low = head.lower()
    out = set()
    for prefix in (b"content-length", b"l"):
        pos = 0 if low.startswith(prefix) else -1
        nl = b"\n" + prefix
        while True:
            if pos >= 0:
                m = _CONTENT_LENGTH.match(head, pos)
                if m is not None:
                    out.add(m.group(1))
            i = low.find(nl, pos + 1)
            if i < 0:
                break
            pos = i + 1
    return out


def classify_datagram(data: bytes) -> str:
    """``"stun"``, ``"keepalive"``, ``"sip"`` or ``"unknown"`` for one received datagram."""
    data = bytes(data)
    if (len(data) >= 20 and data[0] & 0xC0 == 0
            and int.from_bytes(data[4:8], "big") == STUN_MAGIC_COOKIE):
        return "stun"
    if data[:1] in (b"\r", b"\n"):  # else neither a keep-alive nor leading CRLFs (no copies made)
        if not data.strip(b"\r\n"):
            return "keepalive"
        data = data.lstrip(b"\r\n")
    nl = data.find(b"\n")
    first = data if nl < 0 else data[:nl]
    sip = _FIRST_LINES.get(first)
    if sip is None:
        sip = START_LINE.match(first) is not None
        if len(first) <= 256:  # a start line's length (what is kept stays small)
            if len(_FIRST_LINES) >= 1024:
                _FIRST_LINES.clear()
            _FIRST_LINES[first] = sip
    return "sip" if sip else "unknown"


# First lines of datagrams -> whether START_LINE matches them (bounded): a capture repeats a few
# start lines ("SIP/2.0 200 OK", "REGISTER sip:... SIP/2.0") in every message.
_FIRST_LINES: dict[bytes, bool] = {}
