"""TLS session secrets for the offline analysis: NSS key log lines (the text of a pcapng
Decryption Secrets Block, or of a file given with ``--tls-keylog``), kept by label and client
random as Scapy's TLS layer looks them up (``tlsSession.nss_keys``).

A pcapng file's Decryption Secrets Blocks are read before its packets (:func:`pcapng_secrets`
walks the block headers only), so a block written after the packets it decrypts still counts.
"""

from __future__ import annotations

import struct
from collections import defaultdict

__all__ = ["TlsKeys", "pcapng_secrets", "TLS_KEY_LOG"]

TLS_KEY_LOG = 0x544C534B  # DSB secrets type "TLSK" (pcapng §4.7)
_SHB, _DSB = 0x0A0D0D0A, 0x0000000A


class TlsKeys:
    """Secrets by NSS label, then by client random: ``{"CLIENT_RANDOM": {random: secret}}``."""

    def __init__(self) -> None:
        self.nss: dict[str, dict[bytes, bytes]] = defaultdict(dict)
        self.sources: list[str] = []  # where the secrets came from (for the report)

    def add_text(self, text: str, source: str) -> int:
        from ..wire.keylog import keylog_lines  # (imports the wire package: only when there are secrets)

        lines = keylog_lines(text)
        for label, client_random, secret in lines:
            self.nss[label][client_random] = secret
        if lines:
            self.sources.append(f"{source} ({len(lines)} secrets)")
        return len(lines)

    def add_file(self, path: str) -> int:
        with open(path, encoding="ascii", errors="replace") as f:
            return self.add_text(f.read(), path)

    def has(self, client_random: bytes) -> bool:
        """Whether any secret of this session (TLS 1.2 master secret or TLS 1.3 traffic secret) is known."""
        return any(client_random in by_random for by_random in self.nss.values())

    def __bool__(self) -> bool:
        return any(self.nss.values())


def pcapng_secrets(path: str) -> list[str]:
    """The TLS key logs of every Decryption Secrets Block of a pcapng file, in file order (block
    headers are walked; packet data is skipped, not read).  A damaged file ends the walk quietly:
    the packet reader reports it."""
    out: list[str] = []
    try:
        f = open(path, "rb")
    except OSError:
        return out
    with f:
        endian = "<"
        while True:
            head = f.read(12)
            if len(head) < 12:
                break
            btype_le = struct.unpack_from("<I", head)[0]
            if btype_le == _SHB:  # section header: its byte-order magic sets the endianness
                endian = "<" if head[8:12] == b"\x4d\x3c\x2b\x1a" else ">"
            btype, blen = struct.unpack_from(endian + "II", head)
            if blen < 12 or blen % 4:
                break
            if btype == _DSB:
                body = head[8:] + f.read(blen - 12)
                if len(body) < blen - 8:
                    break
                stype, slen = struct.unpack_from(endian + "II", body)
                if stype == TLS_KEY_LOG and slen <= len(body) - 8:
                    out.append(body[8:8 + slen].decode("ascii", "replace"))
            else:
                f.seek(blen - 12, 1)
    return out
