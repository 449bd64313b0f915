"""Header surgery shared by the reference's proxies (RFC 3261 section 16, RFC 3327).

Sans-IO helpers on :class:`~conformance.sip.message.Request`/``Response`` objects: copying a
message, replacing a list header (Route, Path, Via) while keeping its place, pushing and
popping the top value, finding where a URI points to (RFC 3263 reduced to literal addresses:
the reference never resolves names), and where a UDP response goes (RFC 3261 section 18.2.2,
RFC 3581 section 4).
"""

from __future__ import annotations

import hashlib
import ipaddress
from urllib.parse import unquote

from ...sip.errors import ParseError
from ...sip.headers import SipUri, parse_name_addr, parse_uri, parse_via
from ...sip.message import Request, Response, SipMessage, canonical_name
from ..flow import FlowInfo

DEFAULT_PORT = 5060
MAGIC_COOKIE = "z9hG4bK"


def copy_message(msg: SipMessage) -> SipMessage:
    """A modifiable copy (headers list copied, raw bytes dropped)."""
    if isinstance(msg, Request):
        return Request(method=msg.method, uri=msg.uri, headers=list(msg.headers), body=msg.body,
                       version=msg.version)
    return Response(status=msg.status, reason=msg.reason, headers=list(msg.headers),
                    body=msg.body, version=msg.version)


def set_values(msg: SipMessage, name: str, values: list[str]) -> None:
    """Replace every line of ``name`` by one line per value, at the place of the first line
    (or after the last Via when there was none)."""
    wanted = canonical_name(name).lower()
    index = None
    kept = []
    for n, v in msg.headers:
        if canonical_name(n).lower() == wanted:
            if index is None:
                index = len(kept)
            continue
        kept.append((n, v))
    if index is None:
        vias = [i for i, (n, _) in enumerate(kept) if canonical_name(n) == "Via"]
        index = vias[-1] + 1 if vias else 0
    msg.headers = kept[:index] + [(canonical_name(name), v) for v in values] + kept[index:]
    msg.raw = None


def push_value(msg: SipMessage, name: str, value: str) -> None:
    """Insert ``value`` as the topmost value of a list header (Via, Path, Record-Route)."""
    set_values(msg, name, [value] + msg.values(name))


def pop_value(msg: SipMessage, name: str) -> str | None:
    """Remove and return the topmost value of a list header."""
    values = msg.values(name)
    if not values:
        return None
    set_values(msg, name, values[1:])
    return values[0]


def bracket(host: str) -> str:
    host = host.strip("[]")
    return f"[{host}]" if ":" in host else host


def same_host(a: str, b: str) -> bool:
    a, b = a.strip("[]").lower(), b.strip("[]").lower()
    try:
        return ipaddress.ip_address(a) == ipaddress.ip_address(b)
    except ValueError:
        return a == b


def uri_transport(uri: SipUri, default: str) -> str:
    """The URI's transport parameter (udp, tcp, tls, ws; RFC 7118 section 5.2 uses ws for both
    WebSocket transports), tls for a sips: URI without one (RFC 3261 section 26.2), else
    ``default``."""
    t = (uri.param("transport") or "").lower()
    if t in ("udp", "tcp", "tls", "ws", "wss"):
        return t
    return "tls" if uri.scheme == "sips" and not t else default


def hop_of_uri(uri: SipUri, default_transport: str = "udp") -> tuple[str, tuple[str, int]]:
    """(transport, (host, port)) of a URI used as next hop; only literal addresses and names
    are taken as given (no DNS, RFC 3263 is out of scope)."""
    transport = uri_transport(uri, default_transport)
    return transport, (uri.host.strip("[]"), uri.port or (5061 if transport == "tls" else DEFAULT_PORT))


def is_own_uri(uri: SipUri, address: tuple[str, int], names: tuple[str, ...] = ()) -> bool:
    """True when the URI names this element: its address and port (5060 when absent), or one
    of ``names`` (host only)."""
    if not uri.is_sip:
        return False
    if any(uri.host.lower() == n.lower() for n in names) and uri.port in (None, address[1]):
        return True
    return same_host(uri.host, address[0]) and (uri.port or DEFAULT_PORT) == address[1]


def names_listener(uri: SipUri, listeners: dict[str, tuple[str, int]]) -> bool:
    """True when the URI names one of an element's TLS / WS / WSS listeners (``listeners``:
    transport -> (host, port)); an absent port is 5061 for sips: or transport=tls (RFC 3261
    section 19.1.2), else 5060."""
    if not uri.is_sip or not listeners:
        return False
    tls = uri.scheme == "sips" or (uri.param("transport") or "").lower() == "tls"
    port = uri.port or (5061 if tls else DEFAULT_PORT)
    return any(same_host(uri.host, host) and port == p for host, p in listeners.values())


def sent_by(address: tuple[str, int], transport: str,
            listeners: dict[str, tuple[str, int]]) -> tuple[str, int]:
    """Our Via sent-by for a request sent over ``transport``: the TLS / WS / WSS listener's
    address for those (RFC 3261 section 18.1.1: where a response is sent if the connection is
    gone), else the UDP/TCP ``address``."""
    return listeners.get(transport.lower(), address)


def top_route(msg: Request) -> SipUri | None:
    routes = msg.values("Route")
    if not routes:
        return None
    try:
        return parse_name_addr(routes[0]).uri
    except ParseError:
        return None


def via_value(transport: str, address: tuple[str, int], branch: str) -> str:
    return f"SIP/2.0/{transport.upper()} {bracket(address[0])}:{address[1]};branch={branch};rport"


def derived_branch(secret: bytes, *parts: object) -> str:
    """A branch computed from the request (RFC 3261 section 16.11: a retransmission, and a
    CANCEL, get the same branch as the original)."""
    seed = "|".join(str(p) for p in parts).encode("utf-8", "replace")
    return MAGIC_COOKIE + "-" + hashlib.sha256(secret + seed).hexdigest()[:20]


def udp_destination(response: Response, flow: FlowInfo) -> tuple[str, int]:
    """Where a UDP response goes: RFC 3581 section 4 (received + rport), else RFC 3261 section
    18.2.2 (received or sent-by, with the sent-by port or 5060).  The reference always stamps
    ``received`` when sent-by is not the source address, so no DNS lookup is ever needed."""
    try:
        via = parse_via(response.values("Via")[0])
    except (ParseError, IndexError):
        return flow.remote
    host = (via.received or via.host).strip("[]")
    rport = via.params.get("rport")
    if via.received and rport and rport.isdigit():
        return host, int(rport)
    return host, via.port or DEFAULT_PORT


def max_forwards(msg: Request) -> int | None:
    """The Max-Forwards value, 70 when absent (RFC 3261 section 16.6 step 3), None if invalid."""
    value = msg.get("Max-Forwards")
    if value is None:
        return 70
    value = value.strip()
    return int(value) if value.isdigit() and len(value) <= 3 else None


def safe_uri(text: str) -> SipUri | None:
    try:
        return parse_uri(text)
    except ParseError:
        return None


def canonical_aor(uri: SipUri) -> str:
    """RFC 3261 section 10.3 step 5: drop URI parameters, unescape, and (our choice, hosts being
    case-insensitive) lower-case the host: ``sip:user@host``."""
    user = unquote(uri.user) if uri.user is not None else None
    host = uri.host.lower()
    return f"{uri.scheme}:{user}@{host}" if user is not None else f"{uri.scheme}:{host}"


__all__ = ["bracket", "canonical_aor", "copy_message", "derived_branch", "hop_of_uri", "is_own_uri",
           "max_forwards", "names_listener", "pop_value", "push_value", "safe_uri", "same_host", "sent_by",
           "set_values", "top_route", "udp_destination", "uri_transport", "via_value"]
