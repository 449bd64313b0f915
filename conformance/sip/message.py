"""SIP messages as plain objects: parse bytes into a Request or Response, build bytes back.

Sans-IO: nothing here touches a socket or a clock.  The message keeps its header lines in wire
order as ``(name, value)`` pairs, so repeated headers (Via, Contact, Path, Route) and compact
forms (``m:``, ``v:``, ``i:``, ``k:``) survive; lookups by name accept either form.  A message
parsed from bytes remembers those bytes, and ``bytes(msg)`` gives them back unchanged until the
message is modified.

RFC 3261 section 7 (message format), 7.3.1 (header field format, folding), 7.3.3 (compact
forms), 7.5 (framing), 20.14 (Content-Length).
"""

from __future__ import annotations

import functools
import re
from dataclasses import dataclass, field
from typing import Iterable, Iterator

from .errors import ParseError

# RFC 3261 section 7.3.3 and the IANA registry of compact forms.
COMPACT_FORMS = {
    "a": "Accept-Contact",
    "b": "Referred-By",
    "c": "Content-Type",
    "d": "Request-Disposition",
    "e": "Content-Encoding",
    "f": "From",
    "i": "Call-ID",
    "j": "Reject-Contact",
    "k": "Supported",
    "l": "Content-Length",
    "m": "Contact",
    "n": "Identity-Info",
    "o": "Event",
    "r": "Refer-To",
    "s": "Subject",
    "t": "To",
    "u": "Allow-Events",
    "v": "Via",
    "x": "Session-Expires",
    "y": "Identity",
}

# Canonical spellings for names whose capitalisation is not plain title case.
_CANONICAL = {
    n.lower(): n
    for n in (
        "Call-ID", "CSeq", "WWW-Authenticate", "Security-Client", "Security-Server",
        "Security-Verify", "P-Associated-URI", "P-Access-Network-Info", "P-Visited-Network-ID",
        "P-Charging-Vector", "Flow-Timer", "Service-Route", "Record-Route", "MIME-Version",
        "Min-Expires", "Max-Forwards", "RSeq", "RAck", "SIP-ETag", "SIP-If-Match",
    )
}

# Headers whose values never contain a list separator (RFC 3261 section 7.3.1: these carry
# commas inside a single value and must not be split).
NOT_LISTS = {
    "www-authenticate", "authorization", "proxy-authenticate", "proxy-authorization",
    "authentication-info", "date", "retry-after", "subject", "user-agent", "server",
    "call-id", "cseq", "content-length", "content-type", "expires", "min-expires",
    "max-forwards", "from", "to", "organization", "timestamp", "flow-timer", "warning",
}

TOKEN_RE = re.compile(r"^[A-Za-z0-9\-.!%*_+`'~]+$")
# Status-Line = SIP-Version SP Status-Code SP Reason-Phrase (RFC 3261 §7.2); the SP before an
# empty reason is tolerated when missing.  The code is exactly three digits: "4294967301" must
# not be read as 429 (RFC 4475 §3.1.2.19).
_STATUS_RE = re.compile(rb"^SIP/(\d+\.\d+) (\d{3})(?: (.*))?$")
_REQUEST_RE = re.compile(rb"^([A-Za-z0-9\-.!%*_+`'~]+) (\S+) SIP/(\d+\.\d+)$")

#: Bound on what we accept as one message (the engine never buffers without limit).
MAX_MESSAGE_SIZE = 256 * 1024


def canonical_name(name: str) -> str:
    """The long, conventionally capitalised form of a header name (``m`` -> ``Contact``)."""
    return _canonical_cached(name)


@functools.lru_cache(maxsize=4096)
def _canonical_cached(name: str) -> str:
    low = name.strip().lower()
    if low in COMPACT_FORMS:
        return COMPACT_FORMS[low]
    if low in _CANONICAL:
        return _CANONICAL[low]
    return "-".join(part[:1].upper() + part[1:] for part in low.split("-"))


# Header name as written -> its canonical name in lower case: the key every lookup compares.
# A plain dict (a lookup costs less than a call), bounded: cleared when it grows past _KEYS_MAX.
_KEYS: dict[str, str] = {}
_KEYS_MAX = 8192


def _key(name: str) -> str:
    k = _KEYS.get(name)
    if k is None:
        if len(_KEYS) >= _KEYS_MAX:
            _KEYS.clear()
        k = _KEYS[name] = _canonical_cached(name).lower()
    return k


def split_list(value: str) -> list[str]:
    """Split a header value on top-level commas (outside quotes and angle brackets)."""
    if "," not in value:  # the common case: one value per line
        value = value.strip()
        return [value] if value else []
    if '"' not in value and "<" not in value:
        return [v for v in (part.strip() for part in value.split(",")) if v]
    out: list[str] = []
    depth = 0
    quoted = False
    escaped = False
    start = 0
    for i, ch in enumerate(value):
        if quoted:
            if escaped:
                escaped = False
            elif ch == "\\":
                escaped = True
            elif ch == '"':
                quoted = False
            continue
        if ch == '"':
            quoted = True
        elif ch == "<":
            depth += 1
        elif ch == ">":
            depth = max(0, depth - 1)
        elif ch == "," and depth == 0:
            out.append(value[start:i].strip())
            start = i + 1
    out.append(value[start:].strip())
    return [v for v in out if v]


@dataclass
class SipMessage:
    """Common part of requests and responses."""

    headers: list[tuple[str, str]] = field(default_factory=list)
    body: bytes = b""
    version: str = "2.0"
    raw: bytes | None = field(default=None, repr=False, compare=False)
    # (headers, its length, header index): see header_index; an instance attribute once built
    _idx = None

    # -- header access ---------------------------------------------------------------------
    def _matches(self, stored: str, wanted: str) -> bool:
        return _key(stored) == wanted

    def header_index(self) -> dict[str, list[str]]:
        """Header values by canonical lower-case name, built once per state of ``headers``.

        The index is rebuilt when ``headers`` is another list or has another length: change a
        message with add / insert / remove / set, or by assigning a new list (as the code does),
        not by replacing one item of the list in place.
        """
        d = self.__dict__
        cached = d.get("_idx")
        if cached is not None:
            if "headers" not in d:  # parsed, its lines not read since (see _Lines): unchanged
                return cached[2]
            hs = d["headers"]
            if cached[0] is hs and cached[1] == len(hs):
                return cached[2]
        hs = self.headers
        idx: dict[str, list[str]] = {}
        keys = _KEYS
        for n, v in hs:
            k = keys.get(n) or _key(n)
            lst = idx.get(k)
            if lst is None:
                idx[k] = [v]
            else:
                lst.append(v)
        self.__dict__["_idx"] = (hs, len(hs), idx)
        return idx

    def get_all(self, name: str) -> list[str]:
        """Values of every header line with this name (compact form included), in order."""
        return list(self.header_index().get(_KEYS.get(name) or _key(name), ()))

    def get(self, name: str, default: str | None = None) -> str | None:
        """Value of the first header line with this name."""
        values = self.get_all(name)
        return values[0] if values else default

    def values(self, name: str) -> list[str]:
        """All comma-separated values of this header across its lines (Via, Contact, Require...).

        Headers that never form lists (Authorization, Date, ...) are returned one per line.
        """
        lines = self.get_all(name)
        if _key(name) in NOT_LISTS:
            return list(lines)
        out: list[str] = []
        for line in lines:
            out.extend(split_list(line))
        return out

    def has(self, name: str) -> bool:
        return bool(self.get_all(name))

    def add(self, name: str, value: str) -> "SipMessage":
        self.headers.append((name, value))
        self.raw = None
        return self

    def insert(self, index: int, name: str, value: str) -> "SipMessage":
        self.headers.insert(index, (name, value))
        self.raw = None
        return self

    def remove(self, name: str) -> int:
        """Remove every line of this header; return how many were removed."""
        wanted = canonical_name(name).lower()
        before = len(self.headers)
        self.headers = [(n, v) for (n, v) in self.headers if not self._matches(n, wanted)]
        self.raw = None
        return before - len(self.headers)

    def set(self, name: str, value: str) -> "SipMessage":
        """Replace all lines of a header by one line (kept at the first one's position)."""
        wanted = canonical_name(name).lower()
        for i, (n, _) in enumerate(self.headers):
            if self._matches(n, wanted):
                self.headers = list(self.headers)  # a new list: the index sees the change
                self.headers[i] = (n, value)
                self.headers = self.headers[: i + 1] + [
                    (n2, v2) for (n2, v2) in self.headers[i + 1 :] if not self._matches(n2, wanted)
                ]
                self.raw = None
                return self
        return self.add(canonical_name(name), value)

    # -- convenience -------------------------------------------------------------------------
    @property
    def call_id(self) -> str | None:
        return self.get("Call-ID")

    @property
    def cseq(self) -> tuple[int, str] | None:
        value = self.get("CSeq")
        if value is None:
            return None
        parts = value.split()
        if len(parts) != 2 or not parts[0].isdigit():
            return None
        return int(parts[0]), parts[1]

    @property
    def top_branch(self) -> str | None:
        vias = self.values("Via")
        if not vias:
            return None
        m = re.search(r";\s*branch\s*=\s*([^;,\s]+)", vias[0], re.I)
        return m.group(1) if m else None

    def start_line(self) -> str:  # pragma: no cover - overridden
        raise NotImplementedError

    def summary(self) -> str:  # pragma: no cover - overridden
        raise NotImplementedError

    # -- serialisation -----------------------------------------------------------------------
    def to_bytes(self, *, update_length: bool = True) -> bytes:
        """Build the wire form.  Content-Length is set to the body size unless told not to."""
        if self.raw is not None:
            return self.raw
        headers = list(self.headers)
        if update_length:
            length = str(len(self.body))
            found = False
            for i, (n, _) in enumerate(headers):
                if canonical_name(n) == "Content-Length":
                    headers[i] = (n, length)
                    found = True
            if not found:
                headers.append(("Content-Length", length))
        lines = [self.start_line()] + [f"{n}: {v}" for (n, v) in headers]
        return ("\r\n".join(lines) + "\r\n\r\n").encode("utf-8") + self.body

    def __bytes__(self) -> bytes:
        return self.to_bytes()

    def __str__(self) -> str:
        return self.to_bytes().decode("utf-8", "replace")


class _Lines:
    """``SipMessage.headers`` of a message parsed by the fast path, made from its header text when
    first asked for (the analysis reads only the header index).  Not a data descriptor: the list,
    once in the instance's ``__dict__`` (where ``__init__`` puts it), is found there first."""

    def __get__(self, msg, owner=None):
        if msg is None:
            return self
        d = msg.__dict__
        text = d.get("_text")
        if text is None:
            raise AttributeError("headers")
        hs = d["headers"] = _header_lines(text)
        d["_idx"] = (hs, len(hs), d["_idx"][2])
        del d["_text"]
        return hs


SipMessage.headers = _Lines()  # after the dataclass is made (its field has no class default)


@dataclass
class Request(SipMessage):
    method: str = "REGISTER"
    uri: str = ""

    def start_line(self) -> str:
        return f"{self.method} {self.uri} SIP/{self.version}"

    def summary(self) -> str:
        return f"{self.method} {self.uri}"

    @property
    def is_request(self) -> bool:
        return True


@dataclass
class Response(SipMessage):
    status: int = 200
    reason: str = "OK"

    def start_line(self) -> str:
        return f"SIP/{self.version} {self.status} {self.reason}"

    def summary(self) -> str:
        return f"{self.status} {self.reason}"

    @property
    def is_request(self) -> bool:
        return False


def _split_head(data: bytes) -> tuple[bytes, bytes]:
    idx = data.find(b"\r\n\r\n")
    if idx >= 0:
        return data[:idx], data[idx + 4 :]
    # RFC 3261 7.5 asks for CRLF, but be lenient with bare LF (RFC 4475 3.1.1.x use CRLF).
    idx = data.find(b"\n\n")
    if idx >= 0:
        return data[:idx], data[idx + 2 :]
    raise ParseError("no empty line ends the header section", offset=len(data))


def _unfold(head: bytes) -> list[tuple[bytes, int]]:
    """Header lines with their byte offsets, continuation lines joined (RFC 3261 7.3.1)."""
    lines: list[tuple[bytes, int]] = []
    offset = 0
    for raw_line in re.split(rb"\r?\n", head):
        if raw_line[:1] in (b" ", b"\t") and lines:
            prev, off = lines[-1]
            lines[-1] = (prev.rstrip() + b" " + raw_line.strip(), off)
        else:
            lines.append((raw_line, offset))
        offset += len(raw_line) + 2
    return lines


_WS = " \t\r\n\x0b\x0c"  # what bytes.strip() strips
# Header lines that are all "token [SP/HTAB] : value" (no blank, folded or odd line): a line
# starting with SP/HTAB (folding), a bare LF or CR anywhere makes the section not plain
_NAME_PART = re.compile(r"[A-Za-z0-9\-.!%*_+`'~]+[ \t]*\Z")
_NAMES: dict[str, tuple[str, str]] = {}  # what precedes a line's colon -> (name, its key), valid ones
_NAMES_MAX = 4096


def _fast_headers(head: bytes) -> tuple[bytes, str, dict[str, list[str]]] | None:
    """The start line, header text and header index (``SipMessage.header_index``) of a plain
    header section (CRLF line ends, no folding, valid names), decoded in one go; None for
    anything else, which the line-by-line parser below handles (and reports with byte offsets).
    The header lines (``_header_lines`` of the text) are the same as that parser's."""
    start, _, rest = head.partition(b"\r\n")
    if b"\n" in start:  # a bare LF in the start line
        return None
    if not rest:
        return start, "", {}
    text = rest.decode("utf-8", "replace")
    lines = text.split("\r\n")
    crlf = len(lines) - 1
    if text.count("\r") != crlf or text.count("\n") != crlf:  # a bare CR or LF
        return None
    idx: dict[str, list[str]] = {}
    names = _NAMES
    for line in lines:
        raw, colon, v = line.partition(":")
        if not colon:  # a blank line, or one without a colon
            return None
        nk = names.get(raw)
        if nk is None:
            nk = _name(raw)
            if nk is None:  # folding, an invalid name
                return None
        v = v.strip(_WS)
        lst = idx.get(nk[1])
        if lst is None:
            idx[nk[1]] = [v]
        else:
            lst.append(v)
    return start, text, idx


def _name(raw: str) -> tuple[str, str] | None:
    """(name, its key) of what precedes a header line's colon, remembered; None if not a name."""
    if _NAME_PART.match(raw) is None:
        return None
    if len(_NAMES) >= _NAMES_MAX:
        _NAMES.clear()
    n = raw.rstrip(" \t")
    nk = _NAMES[raw] = (n, _key(n))
    return nk


def _header_lines(text: str) -> list[tuple[str, str]]:
    """The ``(name, value)`` lines of a header text that ``_fast_headers`` read."""
    out = []
    for line in text.split("\r\n") if text else ():
        raw, _, v = line.partition(":")
        nk = _NAMES.get(raw) or _name(raw)
        out.append((nk[0], v.strip(_WS)))
    return out


# Start lines seen (bounded): a capture repeats a few ("SIP/2.0 200 OK", "REGISTER sip:... SIP/2.0").
# Each maps to the message class and its start-line fields, as the regular expressions read them.
_STARTS: dict[bytes, tuple[type, dict]] = {}
_START_FIELDS = {Request: ("body", "version", "raw", "method", "uri"),
                 Response: ("body", "version", "raw", "status", "reason")}


def parse_message(data: bytes) -> Request | Response:
    """Parse one complete SIP message.

    Raises :class:`ParseError` (with a message and byte offset) for anything that is not a SIP
    message; never any other exception.
    """
    if not isinstance(data, (bytes, bytearray)):
        raise ParseError("expected bytes")
    data = bytes(data)
    if len(data) > MAX_MESSAGE_SIZE:
        raise ParseError(f"message of {len(data)} bytes exceeds the {MAX_MESSAGE_SIZE}-byte limit")
    stripped = data.lstrip(b"\r\n")  # RFC 3261 7.5: ignore CRLFs before the start line
    lead = len(data) - len(stripped)
    if not stripped:
        raise ParseError("empty message")
    idx = stripped.find(b"\r\n\r\n")  # _split_head's common case
    if idx >= 0:
        head, body = stripped[:idx], stripped[idx + 4:]
    else:
        head, body = _split_head(stripped)
    fast = _fast_headers(head)
    if fast is not None:
        start, text, index = fast
        made = _STARTS.get(start)
        if made is not None:  # a start line seen before: the message without the general path
            cls, fields = made
            msg = cls.__new__(cls)
            d = msg.__dict__
            d.update(fields)  # the fields but headers, made from the text when asked for
            d["_text"] = text
            d["_idx"] = (None, 0, index)
            length_values = index.get("content-length")
            if length_values:
                if len(length_values) != 1 or not length_values[0].isdigit():
                    length_values = list(length_values)
                    return _with_length(msg, body, length_values, data)
                length = int(length_values[0])
                if length > len(body):
                    raise ParseError(f"Content-Length {length} exceeds the {len(body)} body bytes received")
                body = body[:length]
            msg.body = body
            msg.raw = data
            return msg
        lines: list[tuple[bytes, int]] = []
    else:
        lines = _unfold(head)
        start, _ = lines[0]
    msg: Request | Response
    m = _STATUS_RE.match(start)
    if m:
        msg = Response(status=int(m.group(2)), reason=(m.group(3) or b"").decode("utf-8", "replace"),
                       version=m.group(1).decode())
    else:
        m = _REQUEST_RE.match(start)
        if not m:
            raise ParseError(f"malformed start line {start[:80]!r}", offset=lead)
        msg = Request(method=m.group(1).decode(), uri=m.group(2).decode("utf-8", "replace"),
                      version=m.group(3).decode())
    if fast is not None:
        if len(_STARTS) >= 1024:
            _STARTS.clear()
        f = msg.__dict__
        _STARTS[start] = (type(msg), {k: f[k] for k in _START_FIELDS[type(msg)]})
        msg.headers = headers = _header_lines(text)
        msg.__dict__["_idx"] = (headers, len(headers), index)
    for line, off in lines[1:]:
        if not line.strip():
            continue
        colon = line.find(b":")
        if colon <= 0:
            raise ParseError(f"header line without a colon: {line[:60]!r}", offset=lead + off)
        name = line[:colon].strip()
        try:
            name_s = name.decode("ascii")
        except UnicodeDecodeError:
            raise ParseError(f"non-ASCII header name {name[:40]!r}", offset=lead + off) from None
        if not TOKEN_RE.match(name_s):
            raise ParseError(f"invalid header name {name_s[:40]!r}", offset=lead + off)
        value = line[colon + 1 :].strip().decode("utf-8", "replace")
        msg.headers.append((name_s, value))
    length_values = index.get("content-length") if fast is not None else msg.get_all("Content-Length")
    return _with_length(msg, body, length_values, data)


def _with_length(msg: Request | Response, body: bytes, length_values: list[str] | None, data: bytes) -> Request | Response:
    """The message with its body cut to its Content-Length, and its bytes."""
    if length_values:
        values = {v.strip() for v in length_values}
        if len(values) != 1 or not next(iter(values)).isdigit():
            raise ParseError(f"invalid Content-Length {length_values!r}")
        length = int(next(iter(values)))
        if length > len(body):
            raise ParseError(
                f"Content-Length {length} exceeds the {len(body)} body bytes received")
        body = body[:length]
    msg.body = body
    msg.raw = data
    return msg


def iter_header_names(msg: SipMessage) -> Iterator[str]:
    for name, _ in msg.headers:
        yield canonical_name(name)


def make_request(method: str, uri: str, headers: Iterable[tuple[str, str]], body: bytes = b"") -> Request:
    return Request(method=method, uri=uri, headers=list(headers), body=body)


def make_response(status: int, reason: str, headers: Iterable[tuple[str, str]], body: bytes = b"") -> Response:
    return Response(status=status, reason=reason, headers=list(headers), body=body)
