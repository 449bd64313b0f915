"""The limited STUN server every SIP UDP port of the reference runs (RFC 5626 section 8).

RFC 5626 section 8: "If a server compliant to this section receives SIP requests on a given
interface and UDP port, it MUST also provide a limited version of a STUN server on the same
interface and UDP port", answering "a valid Binding Request with a Binding Response that MUST
include the XOR-MAPPED-ADDRESS attribute".  Section 5.4 makes this a MUST for edge proxies and
section 6 for registrars with direct flows.

Sans-IO: :func:`stun_response` takes the datagram and its source and returns the bytes to send
back (to that source, from the socket it arrived on: RFC 5389 section 7.3.1.2), or ``None``.
It never raises.  Processing follows RFC 5389 section 7.3: a message that breaks section 6
(top bits, magic cookie, length) or is not a request of the Binding method is silently
discarded; a request with unknown comprehension-required attributes gets a 420 error response
with UNKNOWN-ATTRIBUTES (section 7.3.1); a request whose FINGERPRINT is wrong is discarded.
"""

from __future__ import annotations

import binascii
import ipaddress
import struct

MAGIC_COOKIE = 0x2112A442
HEADER = struct.Struct("!HHI12s")            # type, length, cookie, transaction id (section 6)
BINDING = 0x001
CLASS_REQUEST, CLASS_SUCCESS, CLASS_ERROR = 0b00, 0b10, 0b11

ATTR_MAPPED_ADDRESS = 0x0001
ATTR_USERNAME = 0x0006
ATTR_MESSAGE_INTEGRITY = 0x0008
ATTR_ERROR_CODE = 0x0009
ATTR_UNKNOWN_ATTRIBUTES = 0x000A
ATTR_REALM = 0x0014
ATTR_NONCE = 0x0015
ATTR_XOR_MAPPED_ADDRESS = 0x0020
ATTR_SOFTWARE = 0x8022
ATTR_FINGERPRINT = 0x8028
FINGERPRINT_XOR = 0x5354554E                  # section 15.5

#: Comprehension-required attributes (0x0000-0x7FFF) this server understands.  The
#: authentication ones are understood and ignored: the limited server of RFC 5626 section 8
#: needs none ("These Binding Requests do not require any STUN attributes").
KNOWN_REQUIRED = {ATTR_MAPPED_ADDRESS, ATTR_USERNAME, ATTR_MESSAGE_INTEGRITY, ATTR_ERROR_CODE,
                  ATTR_UNKNOWN_ATTRIBUTES, ATTR_REALM, ATTR_NONCE, ATTR_XOR_MAPPED_ADDRESS}
SOFTWARE = b"outbound-conformance reference"
MAX_STUN = 64 * 1024


def message_type(method: int, cls: int) -> int:
    """RFC 5389 section 6: the class bits C1 C0 sit at bits 8 and 4 of the method."""
    return ((method & 0x0F80) << 2) | ((method & 0x0070) << 1) | (method & 0x000F) \
        | ((cls & 0b10) << 7) | ((cls & 0b01) << 4)


def split_type(value: int) -> tuple[int, int]:
    """(method, class) of a message type."""
    cls = ((value >> 7) & 0b10) | ((value >> 4) & 0b01)
    method = (value & 0x000F) | ((value >> 1) & 0x0070) | ((value >> 2) & 0x0F80)
    return method, cls


def _attr(kind: int, value: bytes) -> bytes:
    pad = (-len(value)) % 4
    return struct.pack("!HH", kind, len(value)) + value + b"\x00" * pad


def xor_address(ip: str, port: int, transaction_id: bytes) -> bytes:
    """The value of XOR-MAPPED-ADDRESS (RFC 5389 section 15.2) for ``ip:port``."""
    addr = ipaddress.ip_address(ip.strip("[]").split("%")[0])
    xport = port ^ (MAGIC_COOKIE >> 16)
    key = struct.pack("!I", MAGIC_COOKIE) + (transaction_id if addr.version == 6 else b"")
    xaddr = bytes(a ^ b for a, b in zip(addr.packed, key))
    family = 0x01 if addr.version == 4 else 0x02
    return struct.pack("!BBH", 0, family, xport) + xaddr


def decode_xor_address(value: bytes, transaction_id: bytes) -> tuple[str, int]:
    """Inverse of :func:`xor_address`; raises ValueError on a bad value."""
    if len(value) < 8:
        raise ValueError("XOR-MAPPED-ADDRESS too short")
    _, family, xport = struct.unpack("!BBH", value[:4])
    size = {0x01: 4, 0x02: 16}.get(family)
    if size is None or len(value) != 4 + size:
        raise ValueError(f"bad address family {family} or length {len(value)}")
    key = struct.pack("!I", MAGIC_COOKIE) + transaction_id
    raw = bytes(a ^ b for a, b in zip(value[4:], key))
    return str(ipaddress.ip_address(raw)), xport ^ (MAGIC_COOKIE >> 16)


def parse(data: bytes) -> tuple[int, int, bytes, list[tuple[int, bytes, int]]] | None:
    """(method, class, transaction id, [(type, value, offset)]) or None when the message breaks
    RFC 5389 section 6 (top two bits zero, cookie, length a multiple of 4 that matches the
    datagram) or its attribute list does not add up."""
    if not isinstance(data, (bytes, bytearray)) or len(data) < 20 or len(data) > MAX_STUN:
        return None
    data = bytes(data)
    kind, length, cookie, tid = HEADER.unpack_from(data)
    if kind & 0xC000 or cookie != MAGIC_COOKIE or length % 4 or length + 20 != len(data):
        return None
    attrs: list[tuple[int, bytes, int]] = []
    pos = 20
    while pos < len(data):
        if pos + 4 > len(data):
            return None
        atype, alen = struct.unpack_from("!HH", data, pos)
        end = pos + 4 + alen
        if end > len(data):
            return None
        attrs.append((atype, data[pos + 4:end], pos))
        pos = end + (-alen) % 4
    if pos != len(data):
        return None
    method, cls = split_type(kind)
    return method, cls, tid, attrs


def _fingerprint(message: bytes) -> int:
    return (binascii.crc32(message) & 0xFFFFFFFF) ^ FINGERPRINT_XOR


def _build(cls: int, tid: bytes, attrs: list[bytes], fingerprint: bool) -> bytes:
    body = b"".join(attrs)
    kind = message_type(BINDING, cls)
    if fingerprint:
        # Section 15.5: the CRC covers the message up to the attribute, with a length that
        # already includes the FINGERPRINT attribute (8 bytes).
        head = HEADER.pack(kind, len(body) + 8, MAGIC_COOKIE, tid)
        crc = _fingerprint(head + body)
        return head + body + _attr(ATTR_FINGERPRINT, struct.pack("!I", crc))
    return HEADER.pack(kind, len(body), MAGIC_COOKIE, tid) + body


def stun_response(data: bytes, source: tuple[str, int]) -> bytes | None:
    """The answer to one datagram received from ``source`` (ip, port), or None to drop it."""
    try:
        return _respond(data, source)
    except Exception:  # noqa: BLE001 - the contract: malformed input never raises
        return None


def _respond(data: bytes, source: tuple[str, int]) -> bytes | None:
    parsed = parse(data)
    if parsed is None:
        return None
    method, cls, tid, attrs = parsed
    if method != BINDING or cls != CLASS_REQUEST:
        return None                   # indications and responses: nothing to answer (7.3)
    has_fp = False
    for i, (atype, value, offset) in enumerate(attrs):
        if atype == ATTR_FINGERPRINT:
            # Section 15.5: the last attribute; section 7.3: a wrong value discards the message.
            if i != len(attrs) - 1 or len(value) != 4:
                return None
            if struct.unpack("!I", value)[0] != _fingerprint(bytes(data[:offset])):
                return None
            has_fp = True
    unknown = [a for a, _, _ in attrs if a < 0x8000 and a not in KNOWN_REQUIRED]
    if unknown:
        # Section 7.3.1: 420 (Unknown Attribute) listing them (section 15.9; padded with a
        # repeat of the last one when the count is odd, as section 15.9 allows).
        listed = unknown[:16]
        values = b"".join(struct.pack("!H", a) for a in listed)
        error = struct.pack("!HBB", 0, 4, 20) + b"Unknown Attribute"
        return _build(CLASS_ERROR, tid, [_attr(ATTR_ERROR_CODE, error),
                                         _attr(ATTR_UNKNOWN_ATTRIBUTES, values)], has_fp)
    ip, port = source[0], int(source[1])
    return _build(CLASS_SUCCESS, tid, [_attr(ATTR_XOR_MAPPED_ADDRESS, xor_address(ip, port, tid)),
                                       _attr(ATTR_SOFTWARE, SOFTWARE)], has_fp)


def binding_request(transaction_id: bytes, attrs: list[tuple[int, bytes]] = (),
                    fingerprint: bool = False) -> bytes:
    """A Binding Request (for tests and tools)."""
    body = [_attr(t, v) for t, v in attrs]
    return _build(CLASS_REQUEST, transaction_id, body, fingerprint)


__all__ = ["MAGIC_COOKIE", "binding_request", "decode_xor_address", "message_type", "parse",
           "split_type", "stun_response", "xor_address"]
