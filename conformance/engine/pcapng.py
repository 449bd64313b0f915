"""pcapng with a Decryption Secrets Block: the case's packets and its TLS session keys in one
file, so that Wireshark decrypts the TLS (and the WebSocket over it) and shows the SIP inside
with no key typed in.

Blocks (pcapng, draft-ietf-opsawg-pcapng; little-endian): Section Header Block, one Interface
Description Block (LINKTYPE_ETHERNET, timestamps in microseconds, the default resolution), the
Decryption Secrets Block (type 0x0000000A, secrets type 0x544c534b "TLSK": an NSS key log) before
the first packet, then one Enhanced Packet Block per packet.  Packed with ``struct``: Scapy 2.8
reads DSBs but its writer makes none.
"""

from __future__ import annotations

import struct
from pathlib import Path

__all__ = ["pcapng_bytes", "write_pcapng", "BLOCK_DSB", "SECRETS_TLS_KEYLOG"]

BLOCK_SHB = 0x0A0D0D0A
BLOCK_IDB = 0x00000001
BLOCK_EPB = 0x00000006
BLOCK_DSB = 0x0000000A
SECRETS_TLS_KEYLOG = 0x544C534B   # "TLSK"
BYTE_ORDER_MAGIC = 0x1A2B3C4D
LINKTYPE_ETHERNET = 1
SNAPLEN = 262144


def _pad(data: bytes) -> bytes:
    return data + b"\0" * (-len(data) % 4)


def _block(kind: int, body: bytes) -> bytes:
    """type, total length, body (padded to 32 bits), total length again."""
    body = _pad(body)
    total = 12 + len(body)
    return struct.pack("<II", kind, total) + body + struct.pack("<I", total)


def shb() -> bytes:
    # byte-order magic, version 1.0, section length unknown (-1), no options
    return _block(BLOCK_SHB, struct.pack("<IHHq", BYTE_ORDER_MAGIC, 1, 0, -1))


def idb(linktype: int = LINKTYPE_ETHERNET) -> bytes:
    return _block(BLOCK_IDB, struct.pack("<HHI", linktype, 0, SNAPLEN))


def dsb(secrets: bytes, kind: int = SECRETS_TLS_KEYLOG) -> bytes:
    return _block(BLOCK_DSB, struct.pack("<II", kind, len(secrets)) + _pad(secrets))


def epb(when: float, frame: bytes, interface: int = 0) -> bytes:
    usec = int(round(when * 1_000_000))
    return _block(BLOCK_EPB, struct.pack("<IIIII", interface, usec >> 32, usec & 0xFFFFFFFF, len(frame), len(frame))
                  + _pad(frame))


def pcapng_bytes(packets, secrets: bytes = b"") -> bytes:
    """The whole file: ``packets`` as (time, Ethernet frame); ``secrets`` an NSS key log (no DSB
    when empty)."""
    out = [shb(), idb()]
    if secrets:
        out.append(dsb(secrets))
    out += [epb(when, frame) for when, frame in packets]
    return b"".join(out)


def write_pcapng(path: Path, packets, secrets: bytes = b"") -> Path:
    """Write atomically (a temporary file renamed), as engine/pcap.py does."""
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(path.name + ".tmp")
    tmp.write_bytes(pcapng_bytes(packets, secrets))
    tmp.replace(path)
    return path
