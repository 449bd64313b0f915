"""Many small pcaps read by one tshark: tshark costs about 0.4 s of CPU to start and next to
nothing per frame, so the suite's ~300 case pcaps are concatenated (mergecap -a) into a few
batches and each batch read once; every frame is traced back to its pcap by the packet counts.

A batch never holds two pcaps that share a conversation (the same pair of endpoints) or a
port only they use: each pcap's TCP streams and SIP dialogs are then dissected as when read
alone.  Ports most pcaps share (the SUT's own) join any batch.
"""

from __future__ import annotations

import struct
import subprocess
from collections import Counter
from pathlib import Path


def packet_count(path: str | Path) -> int:
    """Packets in a pcap (classic, any byte order or resolution) or pcapng file."""
    data = Path(path).read_bytes()
    magic = data[:4]
    if magic in (b"\xd4\xc3\xb2\xa1", b"\x4d\x3c\xb2\xa1"):
        order = "<"
    elif magic in (b"\xa1\xb2\xc3\xd4", b"\xa1\xb2\x3c\x4d"):
        order = ">"
    elif magic == b"\x0a\x0d\x0d\x0a":
        return _pcapng_packets(data)
    else:
        raise ValueError(f"{path}: not a pcap or pcapng file")
    count, offset = 0, 24
    while offset + 16 <= len(data):
        (caplen,) = struct.unpack_from(order + "I", data, offset + 8)
        offset += 16 + caplen
        count += 1
    return count


def _pcapng_packets(data: bytes) -> int:
    count, offset, order = 0, 0, "<"
    while offset + 12 <= len(data):
        if data[offset:offset + 4] == b"\x0a\x0d\x0d\x0a":  # section header: its byte-order magic
            order = "<" if data[offset + 8:offset + 12] == b"\x4d\x3c\x2b\x1a" else ">"
        btype, blen = struct.unpack_from(order + "II", data, offset)
        if btype in (2, 3, 6):  # (obsolete) packet, simple packet, enhanced packet block
            count += 1
        if blen < 12:
            raise ValueError("pcapng: bad block length")
        offset += blen
    return count


def _endpoints(case: dict) -> tuple[set, set]:
    convs, ports = set(), set()
    for m in case["messages"]:
        src, dst = m.get("src"), m.get("dst")
        for ep in (src, dst):
            if ep:
                ports.add(int(ep[1]))
        if src and dst:
            convs.add(frozenset({(str(src[0]), int(src[1])), (str(dst[0]), int(dst[1]))}))
    return convs, ports


def batches(cases: list[dict], size: int = 60) -> list[list[dict]]:
    """``cases`` in batches of at most ``size``, no two in a batch sharing a conversation or a
    port outside the ones most cases share; each batch keeps the cases' order."""
    keys = [_endpoints(c) for c in cases]
    seen = Counter(p for _, ports in keys for p in ports)
    common = {p for p, n in seen.items() if n > len(cases) // 2}
    out: list[tuple[list[dict], set, set]] = []
    for case, (convs, ports) in zip(cases, keys):
        own = ports - common
        for batch, bconvs, bports in out:
            if len(batch) < size and not (convs & bconvs) and not (own & bports):
                batch.append(case)
                bconvs |= convs
                bports |= own
                break
        else:
            out.append(([case], set(convs), set(own)))
    return [b for b, _, _ in out]


def merged(pcaps: list[str], out: Path) -> list[tuple[int, int]]:
    """``pcaps`` concatenated into ``out`` in order; each one's (first, last) frame number there."""
    proc = subprocess.run(["mergecap", "-a", "-w", str(out), *pcaps], capture_output=True, text=True, timeout=60)
    assert proc.returncode == 0, proc.stderr
    ranges, first = [], 1
    for p in pcaps:
        n = packet_count(p)
        ranges.append((first, first + n - 1))
        first += n
    assert packet_count(out) == first - 1, (out, first - 1)
    return ranges


def owner(ranges: list[tuple[int, int]], frame: int) -> int:
    """The index of the pcap whose frame range holds ``frame``."""
    for i, (a, b) in enumerate(ranges):
        if a <= frame <= b:
            return i
    raise AssertionError(f"frame {frame} outside every pcap's range {ranges}")
