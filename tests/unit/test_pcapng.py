"""engine/pcapng.py: the blocks of a case's pcapng (SHB, IDB, the Decryption Secrets Block before
the first packet, EPBs), read back with struct and with Scapy's own pcapng reader."""

from __future__ import annotations

import struct

from conformance.engine.pcapng import (BLOCK_DSB, SECRETS_TLS_KEYLOG, pcapng_bytes, write_pcapng)

KEYLOG = (b"CLIENT_HANDSHAKE_TRAFFIC_SECRET " + b"ab" * 32 + b" " + b"cd" * 48 + b"\n"
          b"CLIENT_TRAFFIC_SECRET_0 " + b"ab" * 32 + b" " + b"ef" * 47 + b"\n")   # odd length: padded
FRAMES = [(1_700_000_000.25, b"\x02" * 14 + b"abc"), (1_700_000_001.5, b"\x03" * 60)]


def blocks(data: bytes):
    out, i = [], 0
    while i < len(data):
        kind, total = struct.unpack_from("<II", data, i)
        assert total % 4 == 0 and struct.unpack_from("<I", data, i + total - 4)[0] == total
        out.append((kind, data[i + 8:i + total - 4]))
        i += total
    assert i == len(data)
    return out


def test_block_order_and_the_secrets_block():
    got = blocks(pcapng_bytes(FRAMES, KEYLOG))
    assert [k for k, _ in got] == [0x0A0D0D0A, 1, BLOCK_DSB, 6, 6]
    magic, major, minor = struct.unpack_from("<IHH", got[0][1])
    assert (magic, major, minor) == (0x1A2B3C4D, 1, 0)
    assert struct.unpack_from("<H", got[1][1])[0] == 1            # LINKTYPE_ETHERNET
    kind, length = struct.unpack_from("<II", got[2][1])
    assert kind == SECRETS_TLS_KEYLOG == 0x544C534B and length == len(KEYLOG)
    assert got[2][1][8:8 + length] == KEYLOG and len(got[2][1]) % 4 == 0


def test_packets_keep_their_time_and_bytes():
    epbs = [b for k, b in blocks(pcapng_bytes(FRAMES)) if k == 6]
    for (when, frame), body in zip(FRAMES, epbs):
        _, hi, lo, cap, orig = struct.unpack_from("<IIIII", body)
        assert ((hi << 32) | lo) == int(round(when * 1_000_000))
        assert cap == orig == len(frame) and body[20:20 + cap] == frame


def test_no_secrets_no_dsb():
    assert BLOCK_DSB not in [k for k, _ in blocks(pcapng_bytes(FRAMES))]


def test_scapy_reads_the_file(tmp_path):
    from scapy.utils import RawPcapNgReader   # the analysis reader of pcapng files
    path = write_pcapng(tmp_path / "x.pcap", FRAMES, KEYLOG)
    with RawPcapNgReader(str(path)) as reader:
        got = [bytes(pkt) for pkt, _ in reader]
    assert got == [f for _, f in FRAMES]
    assert not list(tmp_path.glob("*.tmp"))
