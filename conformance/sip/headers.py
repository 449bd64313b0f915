"""Header-value grammar of SIP: URIs, name-addr, Via, option tags, sec-agree, Digest, CSeq.

Sans-IO and pure: every function takes text and returns typed objects, and raises
:class:`~conformance.sip.errors.ParseError` (never another exception) when the text does not
follow the grammar.  The Scapy layer keeps the wire form; this module gives it meaning, so the
checks reason about ``NameAddr.reg_id`` rather than about regular expressions.

Grammar sources: RFC 3261 §19.1 (SIP URI), §20 and §25.1 (header values, LWS around
separators), §19.1.4 (URI comparison); RFC 3329 §2.2 (Security-Client/Server/Verify);
RFC 2617 / RFC 3261 §25 (Digest challenge and credentials); RFC 5626 §10 (Flow-Timer,
``reg-id``, ``+sip.instance``, ``ob``).

Choices worth knowing:

* Parameter names are lower-cased; values are kept exactly as written (quotes included) except
  in :class:`AuthParams`, whose values are unquoted.  A parameter written without ``=`` has the
  value ``None``.
* For URI schemes other than ``sip``/``sips`` the part after ``scheme:`` is kept verbatim in
  :attr:`SipUri.opaque` and also in :attr:`SipUri.host`; ``tel`` URIs additionally get their
  ``;params`` split off (RFC 3966 §3), so ``host`` holds just the number.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from typing import Iterable

from .errors import ParseError
from .message import split_list

__all__ = [
    "SipUri", "NameAddr", "Via", "SecurityMechanism", "AuthParams",
    "parse_uri", "uri_equal", "parse_name_addr", "parse_name_addrs", "parse_contacts",
    "parse_via", "parse_vias", "parse_option_tags", "parse_security", "parse_auth",
    "format_auth", "parse_flow_timer", "parse_cseq", "quote_string", "unquote_string",
    "CREDENTIAL_QUOTED", "CHALLENGE_QUOTED",
]

# -- lexical pieces (RFC 3261 §25.1) ----------------------------------------------------------
_TOKEN_CHARS = r"A-Za-z0-9\-.!%*_+`'~"
_TOKEN = re.compile(rf"[{_TOKEN_CHARS}]+")
_TOKEN_FULL = re.compile(rf"^[{_TOKEN_CHARS}]+$")
_LWS = re.compile(r"[ \t\r\n]*")
# A parameter value: a quoted string, an IPv6 reference, or word characters.  ':' and '[]' are
# accepted so that unbracketed IPv6 ``received=`` values (RFC 3261 §18.2.1) parse.
_PARAM_VALUE = re.compile(rf"[{_TOKEN_CHARS}:\[\]]+")
_SCHEME = re.compile(r"^([A-Za-z][A-Za-z0-9+.\-]*):")
_ESCAPED_OK = re.compile(r"%(?![0-9A-Fa-f]{2})")
# RFC 3261 §25.1: unreserved / escaped / user-unreserved, and the password and param sets.
_USER_RE = re.compile(r"^[A-Za-z0-9\-_.!~*'()%&=+$,;?/]+$")
_PASSWORD_RE = re.compile(r"^[A-Za-z0-9\-_.!~*'()%&=+$,]*$")
_PARAMCHAR_RE = re.compile(r"^[A-Za-z0-9\-_.!~*'()%\[\]/:&+$]+$")
_HNV_RE = re.compile(r"^[A-Za-z0-9\-_.!~*'()%\[\]/?:+$]*$")
_HOSTNAME_RE = re.compile(r"^[A-Za-z0-9](?:[A-Za-z0-9\-.]*[A-Za-z0-9.])?$")
_IPV6REF_RE = re.compile(r"^\[[0-9A-Fa-f:.]+\]$")


# Parameter names and URI schemes as written -> lower-cased, one object for each: a parsed value
# kept (the analysis keeps a Contact per binding) shares its names' texts.  Bounded.
_LOWER: dict[str, str] = {}


def _lower(text: str) -> str:
    low = _LOWER.get(text)
    if low is None:
        if len(_LOWER) >= 1024:
            _LOWER.clear()
        low = text.lower()
        low = _LOWER[text] = _LOWER.setdefault(low, low)
    return low


def _is_token(text: str) -> bool:
    return bool(_TOKEN_FULL.match(text))


def quote_string(text: str) -> str:
    """Wrap text in double quotes, escaping ``"`` and ``\\`` (RFC 3261 §25.1 quoted-pair)."""
    return '"' + text.replace("\\", "\\\\").replace('"', '\\"') + '"'


def unquote_string(text: str) -> str:
    """Remove surrounding quotes and resolve quoted-pairs; unquoted text is returned as is."""
    if len(text) >= 2 and text[0] == '"' and text[-1] == '"':
        inner = text[1:-1]
        return _QUOTED_PAIR.sub(r"\1", inner) if "\\" in inner else inner
    return text


_QUOTED_PAIR = re.compile(r"\\(.)", re.S)


class _Scanner:
    """A cursor over one header value, for the grammar parts regexes handle badly."""

    def __init__(self, text: str):
        self.text = text
        self.pos = 0

    def error(self, what: str) -> ParseError:
        return ParseError(f"{what} in {self.text[:120]!r}", offset=self.pos)

    def lws(self) -> None:
        self.pos = _LWS.match(self.text, self.pos).end()

    def peek(self) -> str:
        return self.text[self.pos: self.pos + 1]

    def at_end(self) -> bool:
        return self.pos >= len(self.text)

    def take(self, char: str) -> bool:
        if self.text.startswith(char, self.pos):
            self.pos += len(char)
            return True
        return False

    def token(self, what: str = "token") -> str:
        m = _TOKEN.match(self.text, self.pos)
        if not m:
            raise self.error(f"expected a {what}")
        self.pos = m.end()
        return m.group(0)

    def quoted(self) -> str:
        """A quoted-string, returned raw (quotes and backslashes kept)."""
        start = self.pos
        if not self.take('"'):
            raise self.error("expected a quoted string")
        while self.pos < len(self.text):
            ch = self.text[self.pos]
            if ch == "\\":
                if self.pos + 1 >= len(self.text) or self.text[self.pos + 1] in "\r\n":
                    raise self.error("bad quoted-pair")
                self.pos += 2
                continue
            self.pos += 1
            if ch == '"':
                return self.text[start: self.pos]
        self.pos = start
        raise self.error("unterminated quoted string")

    def params(self, what: str) -> tuple[dict[str, str | None], list[str]]:
        """``*( SEMI name [ EQUAL value ] )`` up to the end; returns (params, duplicates)."""
        params: dict[str, str | None] = {}
        dups: list[str] = []
        while True:
            self.lws()
            if self.at_end():
                return params, dups
            if not self.take(";"):
                raise self.error(f"unexpected {self.peek()!r} in {what} parameters")
            self.lws()
            name = _lower(self.token(f"{what} parameter name"))
            self.lws()
            value: str | None = None
            if self.take("="):
                self.lws()
                if self.peek() == '"':
                    value = self.quoted()
                else:
                    m = _PARAM_VALUE.match(self.text, self.pos)
                    if not m:
                        raise self.error(f"missing value of {what} parameter {name!r}")
                    value = m.group(0)
                    self.pos = m.end()
            if name in params:
                if name not in dups:
                    dups.append(name)
            else:
                params[name] = value


def _values_of(source, name: str) -> list[str]:
    """Header values from a SipMessage (comma-split) or from strings (comma-split too)."""
    if hasattr(source, "values") and hasattr(source, "headers"):
        return list(source.values(name))
    if isinstance(source, str):
        source = [source]
    out: list[str] = []
    try:
        items = list(source)
    except TypeError:
        raise ParseError(f"expected header values, got {type(source).__name__}") from None
    for item in items:
        if not isinstance(item, str):
            raise ParseError(f"expected header value strings, got {type(item).__name__}")
        out.extend(split_list(item))
    return out


# -- URIs (RFC 3261 §19.1) --------------------------------------------------------------------
@dataclass(slots=True)
class SipUri:
    """A SIP/SIPS URI, or another absolute URI (see the module notes for non-sip schemes)."""

    scheme: str
    user: str | None = None
    password: str | None = None
    host: str = ""
    port: int | None = None
    params: dict[str, str | None] = field(default_factory=dict)
    headers: dict[str, str] = field(default_factory=dict)
    opaque: str | None = None

    @property
    def is_sip(self) -> bool:
        return self.scheme in ("sip", "sips")

    def has_param(self, name: str) -> bool:
        return name.lower() in self.params

    def param(self, name: str) -> str | None:
        return self.params.get(name.lower())

    def host_port(self) -> str:
        return self.host if self.port is None else f"{self.host}:{self.port}"

    def _params_text(self) -> str:
        return "".join(f";{k}" if v is None else f";{k}={v}" for k, v in self.params.items())

    def __str__(self) -> str:
        if not self.is_sip:
            if self.scheme == "tel":
                return f"tel:{self.host}{self._params_text()}"
            return f"{self.scheme}:{self.opaque if self.opaque is not None else self.host}"
        userinfo = ""
        if self.user is not None:
            userinfo = self.user + (f":{self.password}" if self.password is not None else "") + "@"
        text = f"{self.scheme}:{userinfo}{self.host_port()}{self._params_text()}"
        if self.headers:
            text += "?" + "&".join(f"{k}={v}" for k, v in self.headers.items())
        return text


def _parse_hostport(text: str, whole: str) -> tuple[str, int | None]:
    if text.startswith("["):
        end = text.find("]")
        host, rest = text[: end + 1], text[end + 1:]
        if end < 0 or not _IPV6REF_RE.match(host):
            raise ParseError(f"bad IPv6 reference in URI {whole!r}")
    else:
        host, _, port_text = text.partition(":")
        rest = ":" + port_text if _ else ""
        if not _HOSTNAME_RE.match(host):
            raise ParseError(f"bad host {host!r} in URI {whole!r}")
    if not rest:
        return host, None
    if not rest.startswith(":") or not rest[1:].isdigit() or not rest[1:].isascii():
        raise ParseError(f"bad port in URI {whole!r}")
    port = int(rest[1:])
    if port > 65535:
        raise ParseError(f"port {port} out of range in URI {whole!r}")
    return host, port


def _split_uri_params(text: str, whole: str) -> dict[str, str | None]:
    params: dict[str, str | None] = {}
    for piece in text.split(";")[1:] if text else []:
        name, eq, value = piece.partition("=")
        if not name or not _PARAMCHAR_RE.match(name) or (eq and not _PARAMCHAR_RE.match(value)):
            raise ParseError(f"bad URI parameter {piece!r} in {whole!r}")
        params.setdefault(_lower(name), value if eq else None)
    return params


_URI_CACHE: dict[str, SipUri] = {}  # as _NAME_ADDR_CACHE: shared, read-only, bounded
URI_CACHE_MAX = 8192


def parse_uri(text: str) -> SipUri:
    """Parse a URI (``sip:``, ``sips:``, ``tel:`` or any other absolute URI)."""
    hit = _URI_CACHE.get(text) if isinstance(text, str) else None
    if hit is not None:
        return hit
    uri = _parse_uri(text)
    if len(_URI_CACHE) >= URI_CACHE_MAX:
        _URI_CACHE.clear()
    _URI_CACHE[text] = uri
    return uri


def _parse_uri(text: str) -> SipUri:
    if not isinstance(text, str):
        raise ParseError("URI must be text")
    whole = text
    text = text.strip()
    if not text or re.search(r"[\s<>\"]", text):
        raise ParseError(f"URI {whole!r} is empty or contains whitespace, quotes or <>")
    m = _SCHEME.match(text)
    if not m:
        raise ParseError(f"URI {whole!r} has no scheme")
    scheme = _lower(m.group(1))
    rest = text[m.end():]
    if not rest:
        raise ParseError(f"URI {whole!r} is empty after the scheme")
    if _ESCAPED_OK.search(rest):
        raise ParseError(f"bad %-escape in URI {whole!r}")
    if scheme not in ("sip", "sips"):
        if scheme == "tel":
            number, _, ptext = rest.partition(";")
            return SipUri(scheme, host=number, opaque=rest,
                          params=_split_uri_params(";" + ptext if _ else "", whole))
        return SipUri(scheme, host=rest, opaque=rest)
    user = password = None
    at = rest.find("@")
    if at >= 0:
        userinfo, rest = rest[:at], rest[at + 1:]
        user, colon, pw = userinfo.partition(":")
        if not user or not _USER_RE.match(user):
            raise ParseError(f"bad user part in URI {whole!r}")
        if colon:
            if not _PASSWORD_RE.match(pw):
                raise ParseError(f"bad password in URI {whole!r}")
            password = pw
    rest, q, htext = rest.partition("?")
    hostport, semi, ptext = rest.partition(";")
    host, port = _parse_hostport(hostport, whole)
    params = _split_uri_params(";" + ptext if semi else "", whole)
    headers: dict[str, str] = {}
    if q:
        for piece in htext.split("&"):
            name, eq, value = piece.partition("=")
            if not name or not eq or not _HNV_RE.match(name) or not _HNV_RE.match(value):
                raise ParseError(f"bad URI header {piece!r} in {whole!r}")
            headers.setdefault(name, value)
    return SipUri(scheme, user, password, host, port, params, headers)


def _unescape(text: str | None) -> str | None:
    if text is None:
        return None
    return re.sub(r"%([0-9A-Fa-f]{2})", lambda m: chr(int(m.group(1), 16)), text)


def uri_equal(a: SipUri | str, b: SipUri | str) -> bool:
    """URI equivalence after RFC 3261 §19.1.4 (escapes resolved, host case-insensitive,
    user/ttl/method/maddr/transport parameters must agree when either side has them, other
    parameters only when both have them, headers must all agree)."""
    a = parse_uri(a) if isinstance(a, str) else a
    b = parse_uri(b) if isinstance(b, str) else b
    if a.scheme != b.scheme:
        return False
    if not a.is_sip:
        return (a.opaque or a.host).lower() == (b.opaque or b.host).lower()
    if _unescape(a.user) != _unescape(b.user) or _unescape(a.password) != _unescape(b.password):
        return False
    if a.host.lower() != b.host.lower() or a.port != b.port:
        return False

    def norm(v: str | None) -> str | None:
        return None if v is None else (_unescape(v) or "").lower()

    for name in set(a.params) | set(b.params):
        in_both = name in a.params and name in b.params
        if name in ("user", "ttl", "method", "maddr", "transport") and not in_both:
            return False
        if in_both and norm(a.params[name]) != norm(b.params[name]):
            return False
    ha = {k.lower(): _unescape(v) for k, v in a.headers.items()}
    hb = {k.lower(): _unescape(v) for k, v in b.headers.items()}
    return ha == hb


# -- name-addr / addr-spec (RFC 3261 §20.10, §25.1) -----------------------------------------
@dataclass(slots=True)
class NameAddr:
    """One name-addr or addr-spec value with its header parameters.

    ``display`` is the display name with quotes removed and quoted-pairs resolved; ``params``
    keeps the header parameter values raw.  A ``*`` Contact has ``uri=None, star=True``.
    """

    uri: SipUri | None
    display: str | None = None
    params: dict[str, str | None] = field(default_factory=dict)
    star: bool = False
    duplicate_params: list[str] = field(default_factory=list)

    def has_param(self, name: str) -> bool:
        return name.lower() in self.params

    def param(self, name: str) -> str | None:
        return self.params.get(name.lower())

    @property
    def instance(self) -> str | None:
        value = self.params.get("+sip.instance")
        return None if value is None else unquote_string(value)

    @property
    def reg_id(self) -> str | None:
        return self.params.get("reg-id")

    @property
    def tag(self) -> str | None:
        return self.params.get("tag")

    @property
    def expires(self) -> int | None:
        value = self.params.get("expires")
        return int(value) if value is not None and value.isdigit() and value.isascii() else None

    @property
    def q(self) -> float | None:
        value = self.params.get("q")
        if value is None or not re.match(r"^(0(\.\d{0,3})?|1(\.0{0,3})?)$", value):
            return None
        return float(value)

    def __str__(self) -> str:
        params = "".join(f";{k}" if v is None else f";{k}={v}" for k, v in self.params.items())
        if self.star:
            return "*" + params
        display = ""
        if self.display is not None:
            display = (self.display if re.match(rf"^[{_TOKEN_CHARS} ]+$", self.display)
                       and self.display.strip() == self.display else quote_string(self.display))
            display += " "
        return f"{display}<{self.uri}>{params}"


# Parsed name-addrs by text: the checks and the offline timeline ask for the same Contact list
# of a message several times, and refreshes repeat it.  The results are shared and never
# modified by their users (treat a NameAddr as read-only); bounded by clearing when full.
_NAME_ADDR_CACHE: dict[str, NameAddr] = {}
NAME_ADDR_CACHE_MAX = 8192


def parse_name_addr(text: str) -> NameAddr:
    """Parse ``"Bob" <sip:bob@host>;tag=1`` or ``sip:bob@host;tag=1`` (or ``*``).

    In the addr-spec form everything after the first ``;`` is a header parameter, and a URI
    holding ``,``, ``?`` or ``;`` must have used the name-addr form (RFC 3261 §20.10, §20).
    """
    hit = _NAME_ADDR_CACHE.get(text) if isinstance(text, str) else None
    if hit is not None:
        return hit
    na = _parse_name_addr(text)
    if len(_NAME_ADDR_CACHE) >= NAME_ADDR_CACHE_MAX:
        _NAME_ADDR_CACHE.clear()
    _NAME_ADDR_CACHE[text] = na
    return na


def clear_caches() -> None:
    """Forget the parsed name-addrs and URIs kept by text (a caller done parsing frees them)."""
    _NAME_ADDR_CACHE.clear()
    _URI_CACHE.clear()


def parse_name_addr_once(text: str) -> NameAddr:
    """:func:`parse_name_addr` for a text read once (its caller remembers the reading): neither
    the name-addr nor its URI is kept in the caches, which a text never asked again only fills."""
    return _parse_name_addr(text, _parse_uri)


def _parse_name_addr(text: str, parse_uri=parse_uri) -> NameAddr:
    if not isinstance(text, str):
        raise ParseError("name-addr must be text")
    sc = _Scanner(text)
    sc.lws()
    if sc.take("*"):
        params, dups = sc.params("Contact")
        return NameAddr(uri=None, params=params, star=True, duplicate_params=dups)
    display: str | None = None
    uri: SipUri
    lt = _find_unquoted_lt(text, sc.pos)
    if lt is not None:
        display = _parse_display(text[sc.pos: lt], text)
        gt = text.find(">", lt)
        if gt < 0:
            raise ParseError(f"missing '>' in {text!r}", offset=lt)
        inner = text[lt + 1: gt]
        if inner != inner.strip():
            raise ParseError(f"whitespace inside <> in {text!r}", offset=lt)
        uri = parse_uri(inner)
        sc.pos = gt + 1
    else:
        if sc.peek() == '"':
            sc.quoted()  # raises for an unterminated quote
            raise sc.error("display name without <uri>")
        m = re.compile(r"[^;\s]+").match(text, sc.pos)
        if not m:
            raise sc.error("expected a URI")
        if re.search(r"[,?]", m.group(0)):
            raise ParseError(f"addr-spec {m.group(0)!r} holds ',' or '?': needs <>")
        uri = parse_uri(m.group(0))
        sc.pos = m.end()
    params, dups = sc.params("header")
    return NameAddr(uri=uri, display=display, params=params, duplicate_params=dups)


def _find_unquoted_lt(text: str, start: int) -> int | None:
    sc = _Scanner(text)
    sc.pos = start
    while not sc.at_end():
        ch = sc.peek()
        if ch == '"':
            sc.quoted()
        elif ch == "<":
            return sc.pos
        elif ch in ";":
            return None
        else:
            sc.pos += 1
    return None


def _parse_display(raw: str, whole: str) -> str | None:
    raw = raw.strip(" \t\r\n")
    if not raw:
        return None
    if raw.startswith('"'):
        sc = _Scanner(raw)
        quoted = sc.quoted()
        if not sc.at_end():
            raise ParseError(f"text after the quoted display name in {whole!r}")
        return unquote_string(quoted)
    words = raw.split()
    if not all(_is_token(w) for w in words):
        raise ParseError(f"unquoted display name {raw!r} is not a token sequence")
    return " ".join(words)


def parse_name_addrs(source, name: str = "Contact") -> list[NameAddr]:
    """All values of a name-addr list header (Contact, Path, Route, Record-Route...).

    ``source`` is a SipMessage (its ``values(name)``), one header value, or a list of values.
    """
    return [parse_name_addr(v) for v in _values_of(source, name)]


def parse_contacts(source) -> list[NameAddr]:
    """Contact values of a message or of value strings; ``*`` gives one ``star`` entry."""
    return parse_name_addrs(source, "Contact")


# -- Via (RFC 3261 §20.42) --------------------------------------------------------------------
@dataclass
class Via:
    protocol: str
    transport: str
    host: str
    port: int | None = None
    params: dict[str, str | None] = field(default_factory=dict)
    duplicate_params: list[str] = field(default_factory=list)

    @property
    def branch(self) -> str | None:
        return self.params.get("branch")

    @property
    def received(self) -> str | None:
        return self.params.get("received")

    @property
    def rport(self) -> str | None:
        if "rport" not in self.params:
            return None
        return self.params["rport"] or ""

    @property
    def keep(self) -> str | None:
        if "keep" not in self.params:
            return None
        return self.params["keep"] or ""

    def sent_by(self) -> str:
        return self.host if self.port is None else f"{self.host}:{self.port}"

    def __str__(self) -> str:
        params = "".join(f";{k}" if v is None else f";{k}={v}" for k, v in self.params.items())
        return f"{self.protocol}/{self.transport} {self.sent_by()}{params}"


def parse_via(text: str) -> Via:
    """Parse one via-parm, LWS around ``/``, ``:`` and ``;`` allowed (RFC 3261 §25.1)."""
    if not isinstance(text, str):
        raise ParseError("Via must be text")
    sc = _Scanner(text)
    parts = []
    for i in range(3):
        sc.lws()
        parts.append(sc.token("Via protocol part"))
        sc.lws()
        if i < 2 and not sc.take("/"):
            raise sc.error("expected '/' in Via sent-protocol")
    if sc.pos == len(text) or text[sc.pos - 1] not in " \t\r\n":
        raise sc.error("expected LWS before the Via sent-by")
    m = re.compile(r"\[[0-9A-Fa-f:.]+\]|[A-Za-z0-9\-.]+").match(text, sc.pos)
    if not m:
        raise sc.error("expected a Via sent-by host")
    host = m.group(0)
    sc.pos = m.end()
    if not (host.startswith("[") or _HOSTNAME_RE.match(host)):
        raise sc.error(f"bad Via host {host!r}")
    sc.lws()
    port = None
    if sc.take(":"):
        sc.lws()
        pm = re.compile(r"\d+").match(text, sc.pos)
        if not pm or int(pm.group(0)) > 65535:
            raise sc.error("bad Via port")
        port = int(pm.group(0))
        sc.pos = pm.end()
    params, dups = sc.params("Via")
    return Via(f"{parts[0]}/{parts[1]}".upper(), parts[2].upper(), host, port, params, dups)


def parse_vias(source) -> list[Via]:
    """All Via values of a message (top first) or of value strings."""
    return [parse_via(v) for v in _values_of(source, "Via")]


# -- option tags (RFC 3261 §20.32, §20.37, §20.40) -------------------------------------------
def parse_option_tags(source, name: str | None = None) -> list[str]:
    """Lower-cased option tags of Require/Supported/Unsupported/Proxy-Require.

    ``parse_option_tags(msg, "Require")`` or ``parse_option_tags(["path, outbound"])``.
    """
    if name is None and hasattr(source, "headers"):
        raise ParseError("a header name is needed to read option tags from a message")
    tags = []
    for value in _values_of(source, name or ""):
        if not _is_token(value):
            raise ParseError(f"invalid option tag {value!r}")
        tags.append(value.lower())
    return tags


# -- sec-agree (RFC 3329 §2.2) ----------------------------------------------------------------
@dataclass
class SecurityMechanism:
    name: str
    params: dict[str, str | None] = field(default_factory=dict)
    duplicate_params: list[str] = field(default_factory=list)

    def param(self, name: str) -> str | None:
        return self.params.get(name.lower())

    @property
    def q(self) -> float | None:
        value = self.params.get("q")
        try:
            return None if value is None else float(value)
        except ValueError:
            return None

    def __str__(self) -> str:
        return self.name + "".join(
            f";{k}" if v is None else f";{k}={v}" for k, v in self.params.items())


def parse_security(source, name: str | None = None) -> list[SecurityMechanism]:
    """Security-Client/-Server/-Verify values: ``mechanism-name *(SEMI mech-parameters)``.

    ``source`` is a value, a list of values, or a message together with the header ``name``.
    """
    if name is None and hasattr(source, "headers"):
        raise ParseError("a header name is needed to read Security-* values from a message")
    out = []
    for value in _values_of(source, name or ""):
        sc = _Scanner(value)
        sc.lws()
        name = sc.token("security mechanism name")
        params, dups = sc.params("security mechanism")
        out.append(SecurityMechanism(name, params, dups))
    return out


# -- Digest (RFC 2617 §3.2, RFC 3261 §25.1) ---------------------------------------------------
@dataclass
class AuthParams:
    scheme: str
    params: dict[str, str] = field(default_factory=dict)

    def get(self, name: str, default: str | None = None) -> str | None:
        return self.params.get(name.lower(), default)

    def __str__(self) -> str:
        return format_auth(self.scheme, self.params)


def parse_auth(value: str) -> AuthParams:
    """Parse a WWW-Authenticate / Authorization (or Proxy- variants) value.

    Parameter names are lower-cased, values unquoted; a repeated parameter is an error.
    """
    if not isinstance(value, str):
        raise ParseError("auth value must be text")
    sc = _Scanner(value)
    sc.lws()
    scheme = sc.token("auth scheme")
    params: dict[str, str] = {}
    sc.lws()
    first = True
    while not sc.at_end():
        if not first:
            if not sc.take(","):
                raise sc.error("expected ',' between auth parameters")
            sc.lws()
        first = False
        name = sc.token("auth parameter name").lower()
        sc.lws()
        if not sc.take("="):
            raise sc.error(f"expected '=' after {name!r}")
        sc.lws()
        if sc.peek() == '"':
            val = unquote_string(sc.quoted())
        else:
            val = sc.token(f"value of {name!r}")
        if name in params:
            raise ParseError(f"auth parameter {name!r} repeated in {value[:80]!r}")
        params[name] = val
        sc.lws()
    return AuthParams(scheme, params)


#: Parameters written as quoted strings in credentials (Authorization), RFC 3261 §25.1.
CREDENTIAL_QUOTED = frozenset(
    {"username", "realm", "nonce", "uri", "response", "cnonce", "opaque", "auts"})
#: Parameters written as quoted strings in challenges (WWW-Authenticate); qop-options is quoted.
CHALLENGE_QUOTED = frozenset({"realm", "nonce", "opaque", "domain", "qop"})


def format_auth(scheme: str, params: dict[str, str],
                quote: Iterable[str] | None = None) -> str:
    """Build ``Scheme k=v, k="v"``; names in ``quote`` (default: :data:`CREDENTIAL_QUOTED`)
    are written as quoted strings, the others as tokens."""
    quoted = {q.lower() for q in (CREDENTIAL_QUOTED if quote is None else quote)}
    parts = []
    for name, val in params.items():
        val = str(val)
        if name.lower() in quoted or not _is_token(val):
            val = quote_string(val)
        parts.append(f"{name}={val}")
    return f"{scheme} {', '.join(parts)}" if parts else scheme


# -- small scalar headers ---------------------------------------------------------------------
def parse_flow_timer(value: str) -> int:
    """Flow-Timer = 1*DIGIT (RFC 5626 §10)."""
    text = value.strip() if isinstance(value, str) else ""
    if not text.isdigit() or not text.isascii():
        raise ParseError(f"invalid Flow-Timer {value!r}")
    return int(text)


def parse_cseq(value: str) -> tuple[int, str]:
    """CSeq = 1*DIGIT LWS Method, the number below 2**31 (RFC 3261 §20.16, §8.1.1.5)."""
    if not isinstance(value, str):
        raise ParseError("CSeq must be text")
    m = re.match(rf"^[ \t]*(\d+)[ \t\r\n]+([{_TOKEN_CHARS}]+)[ \t]*$", value, re.A)
    if not m:
        raise ParseError(f"invalid CSeq {value!r}")
    number = int(m.group(1))
    if number >= 2 ** 31:
        raise ParseError(f"CSeq number {number} is not below 2**31")
    return number, m.group(2)
