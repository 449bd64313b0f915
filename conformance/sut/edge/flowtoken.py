"""Flow tokens of the reference edge proxy (RFC 5626 section 5.2).

Section 5.2: "A proxy can use any algorithm it wants as long as the flow token is unique to a
flow, the flow can be recovered from the token, and the token cannot be modified by attackers."
This is the section's example algorithm, extended by the connection id for TCP so that a new
connection from the same address and port gets a new token (section 3.4: a flow is not "a
subsequent flow with the same addresses"):

    S     = flags | local IP | local port | remote IP | remote port [| connection id]
    token = base64url( HMAC-SHA1-80(K, S) || S )          (no padding)

``flags`` holds the transport (0 UDP, 1 TCP, 2 TLS, 3 WS, 4 WSS) and bit 7 for IPv6; every
transport but UDP is a connection and carries its id.  HMAC-SHA1-80 is HMAC-SHA1
truncated to its first 80 bits (RFC 2104 section 5).  The URL-safe alphabet keeps the token a
valid SIP user part (RFC 3261 section 25.1: unreserved includes "-" and "_").  ``K`` is 20
random octets per start unless configured.

Sans-IO; decoding failures raise :class:`TokenError` (nothing else).
"""

from __future__ import annotations

import base64
import binascii
import hashlib
import hmac
import ipaddress
import secrets
import struct

from ..flow import FlowInfo

MAC_SIZE = 10                                  # 80 bits
_TRANSPORTS = {"udp": 0, "tcp": 1, "tls": 2, "ws": 3, "wss": 4}
_NAMES = {v: k for k, v in _TRANSPORTS.items()}
IPV6_FLAG = 0x80


class TokenError(Exception):
    """The token does not decode, or its HMAC does not verify (it was tampered with)."""

    def __init__(self, reason: str, tampered: bool = True):
        super().__init__(reason)
        self.reason = reason
        self.tampered = tampered


def _packed(ip: str) -> bytes:
    return ipaddress.ip_address(ip.strip("[]").split("%")[0]).packed


class FlowTokenCodec:
    """Encodes a :class:`FlowInfo` into a token and back, with key ``key`` (bytes or str)."""

    def __init__(self, key: bytes | str | None = None):
        if key is None:
            key = secrets.token_bytes(20)
        self.key = key.encode() if isinstance(key, str) else bytes(key)
        if not self.key:
            raise ValueError("the flow token key must not be empty")

    def mac(self, s: bytes) -> bytes:
        return hmac.new(self.key, s, hashlib.sha1).digest()[:MAC_SIZE]

    def encode(self, flow: FlowInfo) -> str:
        local, remote = _packed(flow.local[0]), _packed(flow.remote[0])
        if len(local) != len(remote):
            raise ValueError(f"mixed address families in {flow}")
        flags = _TRANSPORTS[flow.transport] | (IPV6_FLAG if len(local) == 16 else 0)
        s = bytes([flags]) + local + struct.pack("!H", flow.local[1]) + remote \
            + struct.pack("!H", flow.remote[1])
        if flow.transport != "udp":
            s += struct.pack("!Q", flow.conn_id or 0)
        return base64.urlsafe_b64encode(self.mac(s) + s).rstrip(b"=").decode("ascii")

    def decode(self, token: str, verify: bool = True) -> FlowInfo:
        """The flow a token names.  Raises :class:`TokenError` when it does not decode or its
        HMAC is wrong (RFC 5626 section 5.3.1: "If the HMAC is not correct, the request has been
        tampered with").  ``verify=False`` skips the HMAC (only the fault
        ``accept-forged-token`` uses it)."""
        if not isinstance(token, str) or not token or len(token) > 200:
            raise TokenError("empty or oversized token")
        try:
            raw = base64.urlsafe_b64decode(token + "=" * (-len(token) % 4))
        except (binascii.Error, ValueError):
            raise TokenError("token is not base64url") from None
        if base64.urlsafe_b64encode(raw).rstrip(b"=").decode("ascii") != token:
            raise TokenError("token is not canonical base64url")
        if len(raw) < MAC_SIZE + 1:
            raise TokenError("token too short")
        mac, s = raw[:MAC_SIZE], raw[MAC_SIZE:]
        if verify and not hmac.compare_digest(mac, self.mac(s)):
            raise TokenError("HMAC does not verify")
        flags = s[0]
        size = 16 if flags & IPV6_FLAG else 4
        transport = _NAMES.get(flags & 0x7F)
        if transport is None:
            raise TokenError(f"unknown transport code {flags & 0x7F}")
        need = 1 + 2 * (size + 2) + (8 if transport != "udp" else 0)
        if len(s) != need:
            raise TokenError(f"flow data of {len(s)} bytes, expected {need}")
        pos = 1
        lip = str(ipaddress.ip_address(s[pos:pos + size]))
        pos += size
        (lport,) = struct.unpack_from("!H", s, pos)
        pos += 2
        rip = str(ipaddress.ip_address(s[pos:pos + size]))
        pos += size
        (rport,) = struct.unpack_from("!H", s, pos)
        pos += 2
        conn = struct.unpack_from("!Q", s, pos)[0] if transport != "udp" else None
        return FlowInfo(transport, (lip, lport), (rip, rport), conn)


__all__ = ["FlowTokenCodec", "MAC_SIZE", "TokenError"]
