"""SIP (RFC 3261) as a Scapy layer: the wire representation of captured and crafted messages.

Load with ``from conformance.sip.layer import *``; UDP and TCP port 5060 are bound, other ports
(sec-agree protected ports, the SUT's ephemeral ports) with :func:`bind_sip_port`.

Shape, after ``scapy/layers/http.py`` and ``scapy/contrib/rtsp.py``:

* :class:`SIP` is an empty dispatcher that picks :class:`SIPRequest`, :class:`SIPResponse`,
  :class:`SIPKeepAlive` (CRLF pings/pongs, RFC 5626 §4.4.1) or ``Raw``, and frames TCP streams
  (``tcp_reassemble``, used by ``TCPSession``) on Content-Length, several messages per segment.
* Start-line fields, then ``headers``: an ordered list of ``(name, value)`` byte pairs, one per
  header line as written (repeated headers and compact names kept, folded lines joined).
  Unlike HTTP's layer there is no dict keyed by lower-cased name: SIP repeats Via, Contact,
  Path, Route and Record-Route, and their order matters.
* The body is the payload (``Raw``); octets past Content-Length become ``Padding``
  (RFC 3261 §18.3 has a UDP receiver ignore them).  ``raw_packet_cache`` keeps dissected bytes,
  so ``bytes(SIP(data)) == data``; building from fields adds Content-Length when it is missing.

Dissection never raises on odd input; the meaning of header values (and verdicts on their
syntax) belongs to :mod:`conformance.sip.headers` and :mod:`conformance.sip.message`, reached
through :meth:`to_message`.
"""

from __future__ import annotations

import re

from scapy.compat import bytes_encode, plain_str
from scapy.config import conf
from scapy.fields import Field, StrField
from scapy.layers.inet import TCP, UDP
from scapy.packet import Packet, bind_bottom_up, bind_layers

from .message import Request, Response, canonical_name, parse_message

__all__ = ["SIP", "SIPRequest", "SIPResponse", "SIPKeepAlive", "SIPHeadersField",
           "from_message", "bind_sip_port"]

_REQUEST_LINE = re.compile(rb"^[A-Za-z0-9\-.!%*_+`'~]+[ \t]+\S.*[ \t]SIP/\d+\.\d+[ \t]*$")
_STATUS_LINE = re.compile(rb"^SIP/\d+\.\d+[ \t]+\d+")
_CONTENT_LENGTH = re.compile(rb"^(?:content-length|l)[ \t]*:[ \t]*(\d+)[ \t]*\r?$", re.I | re.M)


def _head_end(s: bytes) -> tuple[int, int]:
    """(offset, separator length) of the empty line ending the header section, or (-1, 0)."""
    crlf, lf = s.find(b"\r\n\r\n"), s.find(b"\n\n")
    if lf >= 0 and (crlf < 0 or lf < crlf):
        return lf, 2
    return (crlf, 4) if crlf >= 0 else (-1, 0)


def _content_length(head: bytes) -> int | None:
    values = {int(m.group(1)) for m in _CONTENT_LENGTH.finditer(head)}
    return values.pop() if len(values) == 1 else None


def _split_header_lines(head: bytes) -> list[tuple[bytes, bytes | None]]:
    """Header lines as (name, value) pairs; continuation lines joined (RFC 3261 §7.3.1).

    A line without a colon is kept as ``(line, None)`` so nothing is silently dropped.
    """
    pairs: list[tuple[bytes, bytes | None]] = []
    for line in re.split(rb"\r?\n", head):
        if line[:1] in (b" ", b"\t") and pairs:
            name, value = pairs[-1]
            pairs[-1] = (name, (value or b"").rstrip() + b" " + line.strip())
        elif line:
            name, colon, value = line.partition(b":")
            pairs.append((name.strip(), value.strip()) if colon else (line, None))
    return pairs


class SIPHeadersField(Field):
    """An ordered list of ``(name, value)`` header lines.

    Values may be given as ``str`` or ``bytes`` pairs, or as ``"Name: value"`` lines; they are
    held as bytes.  When building, a Content-Length line is added if the list has none.
    """

    islist = 1

    def __init__(self, name, default=None):
        Field.__init__(self, name, default or [], fmt="H")

    def any2i(self, pkt, x):
        out = []
        for item in x or []:
            if isinstance(item, (bytes, str)):
                n, colon, v = bytes_encode(item).partition(b":")
                out.append((n.strip(), v.strip()) if colon else (n.strip(), None))
            else:
                n, v = item
                out.append((bytes_encode(n), None if v is None else bytes_encode(v)))
        return out

    h2i = any2i

    def i2m(self, pkt, x):
        lines = [n if v is None else n + b": " + v for n, v in (x or [])]
        if pkt is not None and not any(
                canonical_name(plain_str(n)) == "Content-Length" for n, _ in (x or [])):
            lines.append(b"Content-Length: %d" % len(pkt.payload.do_build()))
        return b"".join(line + b"\r\n" for line in lines) + b"\r\n"

    def addfield(self, pkt, s, val):
        return s + self.i2m(pkt, val)

    def getfield(self, pkt, s):
        end, sep = _head_end(s)
        if end < 0:
            return b"", _split_header_lines(s)
        return s[end + sep:], _split_header_lines(s[:end])

    def do_copy(self, x):
        return list(x)

    def i2repr(self, pkt, x):
        return repr([(plain_str(n), None if v is None else plain_str(v)) for n, v in x or []])


class _StartLineField(StrField):
    """A start-line element followed by its separator (SP, or CRLF for the last one)."""

    __slots__ = ["sep"]

    def __init__(self, name, default, sep=b" "):
        StrField.__init__(self, name, default)
        self.sep = sep

    def addfield(self, pkt, s, val):
        return s + bytes_encode(val if val is not None else b"") + self.sep


class _SIPContent(Packet):
    """Common behaviour of SIP requests and responses."""

    def header(self, name: str) -> bytes | None:
        """Value of the first header line with this name (compact forms match)."""
        values = self.header_all(name)
        return values[0] if values else None

    def header_all(self, name: str) -> list[bytes]:
        wanted = canonical_name(name).lower()
        return [v for n, v in self.headers or []
                if v is not None and canonical_name(plain_str(n)).lower() == wanted]

    def _start_line(self, s: bytes) -> tuple[bytes, bytes]:
        first, _, rest = s.partition(b"\n")
        return first.rstrip(b"\r"), rest

    def do_dissect(self, s):
        lead = len(s) - len(s.lstrip(b"\r\n"))  # CRLFs before a start line (RFC 3261 §7.5)
        msg = s[lead:]
        first, _ = self._start_line(msg)
        self._set_start_line(first)
        nl = msg.find(b"\n")
        end, sep = _head_end(msg)
        if end < 0:
            head, consumed = (msg[nl + 1:] if nl >= 0 else b""), len(s)
        else:
            head, consumed = (msg[nl + 1:end] if end > nl else b""), lead + end + sep
        self.fields["headers"] = _split_header_lines(head)
        self.raw_packet_cache_fields = {"headers": list(self.fields["headers"])}
        self.raw_packet_cache = s[:consumed]
        self.explicit = 1
        return s[consumed:]

    def extract_padding(self, s):
        length = _content_length(self.raw_packet_cache or b"")
        if length is None or length >= len(s):
            return s, None
        return s[:length], s[length:]

    def _cseq(self) -> tuple[bytes, bytes]:
        parts = (self.header("CSeq") or b"").split()
        return (parts[0], parts[1]) if len(parts) == 2 else (b"", b"")

    def _branch(self) -> bytes:
        via = self.header("Via") or b""
        m = re.search(rb";\s*branch\s*=\s*([^;,\s]+)", via, re.I)
        return m.group(1) if m else b""

    def hashret(self):
        """Call-ID, CSeq number and top Via branch: shared by a request and its responses."""
        return b"|".join([self.header("Call-ID") or b"", self._cseq()[0], self._branch()])

    def to_message(self) -> Request | Response:
        """This layer (with its body) as a :mod:`conformance.sip.message` object.

        Raises :class:`~conformance.sip.errors.ParseError` for bytes that are not valid SIP.
        """
        return parse_message(self.do_build())

    def guess_payload_class(self, payload):
        return conf.raw_layer


class SIPRequest(_SIPContent):
    name = "SIP Request"
    fields_desc = [
        _StartLineField("Method", b"REGISTER"),
        _StartLineField("Request_URI", b"sip:example.com"),
        _StartLineField("SIP_Version", b"SIP/2.0", sep=b"\r\n"),
        SIPHeadersField("headers", []),
    ]

    def _set_start_line(self, line: bytes) -> None:
        parts = line.split(None, 1)
        method = parts[0] if parts else b""
        uri, _, version = (parts[1] if len(parts) > 1 else b"").rstrip().rpartition(b" ")
        self.fields.update(Method=method, Request_URI=uri.strip(), SIP_Version=version)

    def answers(self, other):
        return 0

    def mysummary(self):
        return "SIP %s %s" % (plain_str(self.Method), plain_str(self.Request_URI))


class SIPResponse(_SIPContent):
    name = "SIP Response"
    fields_desc = [
        _StartLineField("SIP_Version", b"SIP/2.0"),
        _StartLineField("Status_Code", b"200"),
        _StartLineField("Reason_Phrase", b"OK", sep=b"\r\n"),
        SIPHeadersField("headers", []),
    ]

    def _set_start_line(self, line: bytes) -> None:
        parts = line.split(b" ", 2)
        parts += [b""] * (3 - len(parts))
        self.fields.update(SIP_Version=parts[0], Status_Code=parts[1].strip(),
                           Reason_Phrase=parts[2])

    def answers(self, other):
        """A response answers the request of the same transaction (RFC 3261 §17.1.3)."""
        if not isinstance(other, SIPRequest):
            return 0
        return (self.hashret() == other.hashret()
                and self._cseq()[1] == other._cseq()[1])

    def mysummary(self):
        return "SIP %s %s" % (plain_str(self.Status_Code), plain_str(self.Reason_Phrase))


class SIPKeepAlive(Packet):
    """CRLF keep-alive on a stream: ``\\r\\n\\r\\n`` ping or ``\\r\\n`` pong (RFC 5626 §4.4.1)."""

    name = "SIP keep-alive"
    fields_desc = [StrField("crlf", b"\r\n\r\n")]

    def mysummary(self):
        return "SIP keep-alive %s" % ("ping" if self.crlf == b"\r\n\r\n" else "pong")


class SIP(Packet):
    """Dispatcher: the SIP payload of a UDP datagram or of a reassembled TCP stream."""

    name = "SIP"
    fields_desc = []
    show_indent = 0

    def guess_payload_class(self, payload):
        if payload and not payload.strip(b"\r\n"):
            return SIPKeepAlive
        first = payload.lstrip(b"\r\n").split(b"\n", 1)[0].rstrip(b"\r")
        if _STATUS_LINE.match(first):
            return SIPResponse
        if _REQUEST_LINE.match(first):
            return SIPRequest
        return conf.raw_layer

    def to_message(self) -> Request | Response:
        if isinstance(self.payload, _SIPContent):
            return self.payload.to_message()
        return parse_message(self.do_build())

    def mysummary(self):
        return "SIP"

    @classmethod
    def tcp_reassemble(cls, data, metadata, session):
        """Cut the complete frames (messages, keep-alives) off a TCP stream, for ``TCPSession``.

        Messages are framed on Content-Length (RFC 3261 §18.3).  Every complete frame in
        ``data`` is returned at once, chained (``SIP/SIPRequest/Raw/SIP/SIPKeepAlive...``), and
        an incomplete tail as ``Padding`` that the session keeps for the next segment.  (Handing
        the frames back one by one through ``Padding`` makes Scapy 2.8's TCPSession misplace
        the following segment.)  A lone CRLF at the end of what has arrived is taken as a pong.
        """
        tcp_end = bool(metadata.get("tcp_end"))
        frames, offset = [], 0
        while offset < len(data):
            size = _frame_size(data[offset:], tcp_end)
            if size is None:
                break
            frames.append(data[offset: offset + size])
            offset += size
        if not frames:
            return None
        pkt = cls(frames[0])
        for frame in frames[1:]:
            pkt = pkt / cls(frame)
        if offset < len(data):
            pkt = pkt / conf.padding_layer(data[offset:])
        return pkt


def _frame_size(data: bytes, tcp_end: bool) -> int | None:
    """Length of the first frame of a stream buffer, or None while it is incomplete."""
    if data[:4] == b"\r\n\r\n":
        return 4
    if data[:2] == b"\r\n" and data[2:3] != b"\r":
        return 2
    if data[:1] == b"\r":
        if data in (b"\r", b"\r\n\r") and not tcp_end:
            return None
        return len(data)  # stray CRs: hand them over as one undecodable frame
    first, newline, _ = data.partition(b"\n")
    if newline and not (_STATUS_LINE.match(first.rstrip(b"\r"))
                        or _REQUEST_LINE.match(first.rstrip(b"\r"))):
        return len(data)  # not SIP: give everything to Raw
    end, sep = _head_end(data)
    if end < 0:
        return len(data) if tcp_end else None
    size = end + sep + (_content_length(data[:end]) or 0)
    if len(data) < size:
        return len(data) if tcp_end else None
    return size


def from_message(msg: Request | Response) -> SIP:
    """A :class:`SIP` packet holding a message's exact bytes."""
    return SIP(msg.to_bytes())


SIP.from_message = staticmethod(from_message)
_SIPContent.from_message = staticmethod(from_message)

_bound_ports: set[int] = set()


def bind_sip_port(port: int) -> None:
    """Dissect UDP and TCP traffic to or from ``port`` as SIP (bottom-up only)."""
    if port in _bound_ports:
        return
    _bound_ports.add(port)
    for lower in (UDP, TCP):
        bind_bottom_up(lower, SIP, sport=port)
        bind_bottom_up(lower, SIP, dport=port)


bind_layers(UDP, SIP, sport=5060)
bind_layers(UDP, SIP, dport=5060)
bind_layers(TCP, SIP, sport=5060)
bind_layers(TCP, SIP, dport=5060)
_bound_ports.add(5060)
