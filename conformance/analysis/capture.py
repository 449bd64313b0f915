"""Reading a capture file: records from pcap / pcapng, decoded down to UDP and TCP segments.

Records come one at a time, so memory stays bounded whatever the file size: classic pcap files
from a small ``struct`` reader (same records and bounds as Scapy's), pcapng and gzip-compressed
files from Scapy's raw readers (``RawPcapReader`` picks the pcapng reader by itself).  Link, IP and transport headers are
decoded with ``struct`` rather than by dissecting every packet with Scapy: a capture of a
hundred thousand messages must not take minutes.

Link types: Ethernet (with 802.1Q / QinQ tags), raw IP (101, 12, 14, 228, 229), Linux cooked
(SLL 113, SLL2 276), BSD loopback (0, 108).  IPv4 (fragments put back together) and IPv6
(extension headers skipped).  Problems are collected, never raised: a truncated file, an
unsupported link type or a file that is not a capture at all stop the reading where they are
met, and what was read before is still returned.
"""

from __future__ import annotations

import gzip
import logging
import os
import socket
import struct
from dataclasses import dataclass, field
from typing import Iterator

from .tlskeys import TlsKeys, pcapng_secrets

# Problem kinds (the command maps each to its own exit status).
NOT_A_CAPTURE = "not a capture"
TRUNCATED = "truncated"
LINK_TYPE = "unsupported link type"

MAX_RECORD = 256 * 1024
_FRAG_LIMIT = 1024  # IPv4 datagrams being put back together at a time


@dataclass(slots=True)
class Segment:
    """One UDP datagram or TCP segment."""

    number: int  # 1-based packet number in the file (as Wireshark counts)
    time: float  # seconds since the epoch
    transport: str  # "udp" | "tcp"
    src: tuple[str, int]
    dst: tuple[str, int]
    payload: bytes
    seq: int = 0
    flags: int = 0  # TCP flags byte

    @property
    def syn(self) -> bool:
        return bool(self.flags & 0x02)

    @property
    def fin(self) -> bool:
        return bool(self.flags & 0x01)

    @property
    def rst(self) -> bool:
        return bool(self.flags & 0x04)


@dataclass
class Problem:
    kind: str
    message: str
    packet: int | None = None


@dataclass
class CaptureStats:
    format: str = ""
    packets: int = 0
    segments: int = 0
    skipped: int = 0  # packets that were not IPv4/IPv6 UDP/TCP
    link_types: set[int] = field(default_factory=set)


def _ipv4(data: bytes, frags: dict) -> tuple[int, str, str, bytes] | None:
    if len(data) < 20 or data[0] >> 4 != 4:
        return None
    ihl = (data[0] & 0x0F) * 4
    total = struct.unpack_from("!H", data, 2)[0]
    ident, frag = struct.unpack_from("!HH", data, 4)
    proto = data[9]
    src, dst = socket.inet_ntop(socket.AF_INET, data[12:16]), socket.inet_ntop(socket.AF_INET, data[16:20])
    body = data[ihl:total] if total >= ihl else data[ihl:]
    more, offset = frag & 0x2000, (frag & 0x1FFF) * 8
    if more or offset:
        key = (src, dst, ident, proto)
        parts = frags.setdefault(key, {})
        if len(frags) > _FRAG_LIMIT:
            frags.pop(next(iter(frags)))
        parts[offset] = body
        if not more:
            parts["end"] = offset + len(body)
        end = parts.get("end")
        if end is None:
            return None
        buf, pos = bytearray(), 0
        for off in sorted(k for k in parts if k != "end"):
            if off > pos:
                return None  # a hole: wait for the missing fragment
            buf += parts[off][pos - off:]
            pos = max(pos, off + len(parts[off]))
        if pos < end:
            return None
        del frags[key]
        body = bytes(buf)
    return proto, src, dst, body


def _ipv6(data: bytes) -> tuple[int, str, str, bytes] | None:
    if len(data) < 40 or data[0] >> 4 != 6:
        return None
    plen = struct.unpack_from("!H", data, 4)[0]
    nxt = data[6]
    src, dst = socket.inet_ntop(socket.AF_INET6, data[8:24]), socket.inet_ntop(socket.AF_INET6, data[24:40])
    body = data[40:40 + plen] if plen else data[40:]
    while nxt in (0, 43, 60, 51, 44):
        if len(body) < 8:
            return None
        if nxt == 44:  # fragment: only a whole (offset 0, no more fragments) one is usable
            if struct.unpack_from("!H", body, 2)[0] & 0xFFF9:
                return None
            nxt, body = body[0], body[8:]
            continue
        hlen = (body[1] + 2) * 4 if nxt == 51 else (body[1] + 1) * 8
        nxt, body = body[0], body[hlen:]
    return nxt, src, dst, body


def _l3(linktype: int, data: bytes) -> bytes | None:
    """The IP packet inside a link-layer frame; None when the frame carries something else."""
    if linktype == 1:  # Ethernet
        off, etype = 14, struct.unpack_from("!H", data, 12)[0] if len(data) >= 14 else 0
        while etype in (0x8100, 0x88A8, 0x9100) and len(data) >= off + 4:
            etype = struct.unpack_from("!H", data, off + 2)[0]
            off += 4
        return data[off:] if etype in (0x0800, 0x86DD) else None
    if linktype in (101, 12, 14, 228, 229):  # raw IP
        return data
    if linktype == 113:  # Linux cooked v1: 16-byte header, protocol at 14
        if len(data) >= 16 and struct.unpack_from("!H", data, 14)[0] in (0x0800, 0x86DD):
            return data[16:]
        return None
    if linktype == 276:  # Linux cooked v2: 20-byte header, protocol first
        if len(data) >= 20 and struct.unpack_from("!H", data, 0)[0] in (0x0800, 0x86DD):
            return data[20:]
        return None
    if linktype in (0, 108):  # BSD loopback: 4-byte address family, either byte order
        if len(data) < 4:
            return None
        fam = struct.unpack_from("<I", data)[0]
        if fam > 0xFFFF:
            fam = struct.unpack_from(">I", data)[0]
        return data[4:] if fam in (2, 24, 28, 30) else None
    raise LookupError(linktype)


SUPPORTED_LINK_TYPES = (0, 1, 12, 14, 101, 108, 113, 228, 229, 276)


def decode(linktype: int, number: int, when: float, data: bytes, frags: dict) -> Segment | None:
    """One record to a :class:`Segment` (None: not UDP/TCP over IP).  LookupError: unknown link type."""
    l3 = _l3(linktype, data)
    if not l3:
        return None
    ip = _ipv4(l3, frags) if l3[0] >> 4 == 4 else _ipv6(l3) if l3[0] >> 4 == 6 else None
    if ip is None:
        return None
    proto, src, dst, body = ip
    if proto == 17 and len(body) >= 8:
        sport, dport, ulen = struct.unpack_from("!HHH", body)
        payload = body[8:ulen] if 8 <= ulen <= len(body) else body[8:]
        return Segment(number, when, "udp", (src, sport), (dst, dport), payload)
    if proto == 6 and len(body) >= 20:
        sport, dport, seq = struct.unpack_from("!HHI", body)
        doff = (body[12] >> 4) * 4
        return Segment(number, when, "tcp", (src, sport), (dst, dport), body[doff:], seq, body[13])
    return None


_PCAP_MAGIC = {b"\xa1\xb2\xc3\xd4": (">", False), b"\xd4\xc3\xb2\xa1": ("<", False),
               b"\xa1\xb2\x3c\x4d": (">", True), b"\x4d\x3c\xb2\xa1": ("<", True)}
_SCAPY_READ_BOUND = 0xFFFF * 4  # what Scapy's reader reads of one record at most (MTU * 4)


class _RecordMeta:
    __slots__ = ("sec", "usec", "caplen", "wirelen")

    def __init__(self, sec, usec, caplen, wirelen):
        self.sec, self.usec, self.caplen, self.wirelen = sec, usec, caplen, wirelen


class _FastPcapReader:
    """Classic (libpcap) files without Scapy: the same records, bounds and errors as Scapy's
    ``RawPcapReader`` (which stays in use for pcapng and gzip), at a fraction of the cost
    per record and without importing Scapy at all."""

    def __init__(self, f, endian: str, nano: bool):
        self.f, self.nano = f, nano
        hdr = f.read(20)
        if len(hdr) < 20:
            raise ValueError("Invalid pcap file (too short)")
        self.linktype = struct.unpack(endian + "HHIIII", hdr)[5]
        self.record_struct = struct.Struct(endian + "IIII")

    def _read_packet(self, size: int):   # the name of Scapy's RawPcapReader method it stands in for
        f = self.f
        hdr = f.read(16)
        if len(hdr) < 16:
            raise EOFError
        sec, usec, caplen, wirelen = self.record_struct.unpack(hdr)
        read = f.read(min(caplen, _SCAPY_READ_BOUND))
        remaining = caplen - len(read)
        while remaining > 0:
            skipped = f.read(min(remaining, _SCAPY_READ_BOUND))
            if not skipped:
                break
            remaining -= len(skipped)
        return read[:size], _RecordMeta(sec, usec, caplen, wirelen)

    def close(self) -> None:
        self.f.close()


def _whole_blocks(path: str, start: int, size: int) -> bool:
    """True when the bytes of a pcapng after its last packet are whole blocks (dumpcap ends every
    file with an Interface Statistics Block): not a truncation."""
    with open(path, "rb") as f:
        f.seek(start)
        rest = f.read(size - start)
    for endian in ("<", ">"):
        pos = 0
        while pos + 12 <= len(rest):
            _, length = struct.unpack_from(endian + "II", rest, pos)
            if length < 12 or length % 4 or pos + length > len(rest):
                break
            if struct.unpack_from(endian + "I", rest, pos + length - 4)[0] != length:
                break
            pos += length
        if pos == len(rest):
            return True
    return False


class CaptureReader:
    """Iterate the UDP/TCP segments of a capture; ``problems`` says what stopped or spoiled it."""

    def __init__(self, path: str | os.PathLike, *, chunked: bool = True, keylog: str | None = None):
        self.path = os.fspath(path)
        self.problems: list[Problem] = []
        self.stats = CaptureStats()
        # TLS secrets: a key log file given by the user, and a pcapng's Decryption Secrets Blocks
        # (read when the file is opened)
        self.keys = TlsKeys()
        if keylog:
            self.keys.add_file(keylog)
        self.chunked = chunked  # classic pcap in large chunks (False: a record at a time, as pcapng)
        self.chunk = 1 << 19  # bytes read at a time from a classic pcap (4 MB cost 15 MB of peak RSS, no speed)
        # progress.py: on_progress(bytes_read, packets), called at each 4 MB chunk of a classic
        # pcap, every 4,096 records of the others (bytes_read None for a gzip file)
        self.on_progress = None
        # udp_hook(payload, number, time, src, sport, dst, dport): takes the UDP datagrams of a
        # classic pcap decoded inline instead of a Segment each (the split analysis's, which
        # leaves most of them to other processes); counted as segments all the same
        self.udp_hook = None

    def _open(self):
        try:
            f = open(self.path, "rb", buffering=1 << 20)
        except OSError as exc:
            self.problems.append(Problem(NOT_A_CAPTURE, f"{self.path}: cannot be read ({exc.strerror})"))
            return None
        kind = _PCAP_MAGIC.get(f.read(4))
        if kind is not None:
            try:
                reader = _FastPcapReader(f, *kind)
            except (ValueError, struct.error) as exc:
                f.close()
                self.problems.append(Problem(NOT_A_CAPTURE, f"{self.path}: not a pcap or pcapng file ({exc})"))
                return None
            self.stats.format = "pcap"
            return reader
        f.close()
        from scapy.error import Scapy_Exception
        from scapy.utils import RawPcapReader

        logging.getLogger("scapy.runtime").setLevel(logging.ERROR)
        try:
            reader = RawPcapReader(self.path)
        except (Scapy_Exception, EOFError, ValueError, struct.error) as exc:
            self.problems.append(Problem(NOT_A_CAPTURE, f"{self.path}: not a pcap or pcapng file ({exc})"))
            return None
        self.stats.format = "pcapng" if type(reader).__name__.startswith("RawPcapNg") else "pcap"
        if self.stats.format == "pcapng" and not isinstance(reader.f, gzip.GzipFile):
            for n, text in enumerate(pcapng_secrets(self.path), 1):
                self.keys.add_text(text, f"Decryption Secrets Block {n}")
        return reader

    def __iter__(self) -> Iterator[Segment]:
        reader = self._open()
        if reader is None:
            return
        if isinstance(reader, _FastPcapReader) and self.chunked:
            yield from self._classic(reader)
            return
        frags: dict = {}
        size = None if isinstance(reader.f, gzip.GzipFile) else os.path.getsize(self.path)
        unknown: set[int] = set()
        number = 0
        last_end = self._tell(reader)
        try:
            while True:
                try:
                    rec = reader._read_packet(size=MAX_RECORD)
                except EOFError:
                    break
                except Exception as exc:  # a corrupt block: stop here, keep what was read
                    self.problems.append(Problem(TRUNCATED, f"unreadable record after packet {number}: {exc}",
                                                 number + 1))
                    return
                last_end = self._tell(reader)
                if rec is None:
                    continue
                data, meta = rec
                number += 1
                if not number & 4095 and self.on_progress is not None:
                    self.on_progress(last_end if size is not None else None, number)
                self.stats.packets = number
                if self.stats.format == "pcapng":
                    linktype = meta.linktype
                    res = meta.tsresol or 1_000_000
                    when = ((meta.tshigh << 32) | meta.tslow) / res
                    caplen = None
                else:
                    linktype = reader.linktype
                    res = 1_000_000_000 if getattr(reader, "nano", False) else 1_000_000
                    when = meta.sec + meta.usec / res
                    caplen = meta.caplen
                self.stats.link_types.add(linktype)
                if caplen is not None and len(data) < min(caplen, MAX_RECORD):
                    self.problems.append(Problem(
                        TRUNCATED, f"the file ends inside packet {number} ({len(data)} of {caplen} bytes)", number))
                    return
                try:
                    seg = decode(linktype, number, when, data, frags)
                except LookupError:
                    if linktype not in unknown:
                        unknown.add(linktype)
                        self.problems.append(Problem(
                            LINK_TYPE, f"link type {linktype} is not supported (supported: "
                                       f"{', '.join(map(str, SUPPORTED_LINK_TYPES))}); its packets are skipped",
                            number))
                    self.stats.skipped += 1
                    continue
                except (struct.error, ValueError, IndexError):
                    seg = None
                if seg is None:
                    self.stats.skipped += 1
                    continue
                self.stats.segments += 1
                yield seg
            if (size is not None and last_end is not None and last_end < size
                    and not (self.stats.format == "pcapng" and _whole_blocks(self.path, last_end, size))):
                self.problems.append(Problem(
                    TRUNCATED, f"the file ends inside a record after packet {number} "
                               f"({size - last_end} byte(s) left over)", number + 1))
        finally:
            try:
                reader.close()
            except Exception:
                pass

    def _classic(self, reader: "_FastPcapReader") -> Iterator[Segment]:
        """Classic pcap read in large chunks: records sliced out of a buffer with one
        ``unpack_from`` each, Ethernet / raw IPv4 UDP and TCP decoded inline (addresses cached),
        anything else through :func:`decode`.  Same segments, statistics and problems as the
        record-at-a-time loop (which pcapng and gzip files still take)."""
        f = reader.f
        stats = self.stats
        linktype = reader.linktype
        res = 1_000_000_000 if reader.nano else 1_000_000
        rec = reader.record_struct
        unpack_rec = rec.unpack_from
        size = os.path.getsize(self.path)
        frags: dict = {}
        names: dict[bytes, str] = {}
        ntop = socket.inet_ntop
        AF_INET = socket.AF_INET
        u_hhh = struct.Struct("!HHH").unpack_from
        u_hhi = struct.Struct("!HHI").unpack_from
        u_ip = struct.Struct("!BxH2xHxB2x4s4s").unpack_from  # version/IHL, length, fragment, protocol, addresses
        eth_ip = linktype == 1
        raw_ip = linktype in (101, 12, 14, 228, 229)
        supported = linktype in SUPPORTED_LINK_TYPES
        buf = b""
        pos = 0
        base = f.tell()  # file offset of buf[0]
        chunk = self.chunk
        number = 0
        eof = False
        reported = False
        progress = self.on_progress
        hook = self.udp_hook
        hooked = False
        try:
            while True:
                if len(buf) - pos < 16 and not eof:
                    more = f.read(chunk)
                    if not more:
                        eof = True
                    base += pos
                    if progress is not None:
                        progress(base, number)
                    buf = buf[pos:] + more
                    pos = 0
                if len(buf) - pos < 16:
                    break
                sec, usec, caplen, _wirelen = unpack_rec(buf, pos)
                want = caplen if caplen < _SCAPY_READ_BOUND else _SCAPY_READ_BOUND  # read as Scapy reads
                need = caplen if caplen < MAX_RECORD else MAX_RECORD
                if len(buf) - pos - 16 < want and not eof:
                    while len(buf) - pos - 16 < want:
                        more = f.read(max(chunk, want + 16))
                        if not more:
                            eof = True
                            break
                        base += pos
                        if progress is not None:
                            progress(base, number)
                        buf = buf[pos:] + more
                        pos = 0
                start = pos + 16
                rec_end = start + want  # the record is rec[start:rec_end] (not copied out of the buffer)
                if rec_end > len(buf):
                    rec_end = len(buf)
                number += 1
                stats.packets = number
                if number == 1:
                    stats.link_types.add(linktype)
                when = sec + usec / res
                if rec_end - start < need:
                    self.problems.append(Problem(
                        TRUNCATED, f"the file ends inside packet {number} ({rec_end - start} of {caplen} bytes)", number))
                    return
                rec = buf
                if caplen <= want:
                    pos = start + caplen
                else:  # skip what is beyond the bound (without holding it)
                    rec, start, rec_end = buf[start:rec_end], 0, rec_end - start
                    end = base + pos + 16 + caplen
                    if end >= base + len(buf):
                        f.seek(min(end, size))
                        base, buf, pos = min(end, size), b"", 0
                        eof = end >= size
                    else:
                        pos = pos + 16 + caplen
                seg = None
                try:
                    if ((eth_ip and rec_end - start >= 34 and rec[start + 12] == 8 and rec[start + 13] == 0)
                            or (raw_ip and rec_end - start >= 20)):
                        o = start + 14 if eth_ip else start
                        vihl, total, frag, proto, sa, da = u_ip(rec, o)
                        if vihl == 0x45 and not frag & 0x3FFF:  # IPv4, no options, whole
                            end = o + total if total >= 20 else rec_end
                            src = names.get(sa)
                            if src is None:
                                src = names[sa] = ntop(AF_INET, sa)
                            dst = names.get(da)
                            if dst is None:
                                dst = names[da] = ntop(AF_INET, da)
                            t = o + 20
                            if end > rec_end:
                                end = rec_end
                            if proto == 17 and end - t >= 8:
                                sport, dport, ulen = u_hhh(rec, t)
                                payload = rec[t + 8:t + ulen] if 8 <= ulen <= end - t else rec[t + 8:end]
                                if hook is None:
                                    seg = Segment(number, when, "udp", (src, sport), (dst, dport), payload)
                                else:
                                    hooked = True
                            elif proto == 6 and end - t >= 20:
                                sport, dport, seq = u_hhi(rec, t)
                                doff = (rec[t + 12] >> 4) * 4
                                seg = Segment(number, when, "tcp", (src, sport), (dst, dport),
                                              rec[t + doff:end], seq, rec[t + 13])
                            if seg is None and not hooked:
                                stats.skipped += 1
                                continue
                        else:
                            seg = decode(linktype, number, when, rec[start:rec_end], frags)
                    elif supported:
                        seg = decode(linktype, number, when, rec[start:rec_end], frags)
                    else:
                        raise LookupError(linktype)
                except LookupError:
                    if not reported:
                        reported = True
                        self.problems.append(Problem(
                            LINK_TYPE, f"link type {linktype} is not supported (supported: "
                                       f"{', '.join(map(str, SUPPORTED_LINK_TYPES))}); its packets are skipped",
                            number))
                    stats.skipped += 1
                    continue
                except (struct.error, ValueError, IndexError):
                    seg = None
                if hooked:  # outside the try: what the hook raises is its caller's
                    hooked = False
                    stats.segments += 1
                    hook(payload, number, when, src, sport, dst, dport)
                    continue
                if seg is None:
                    stats.skipped += 1
                    continue
                stats.segments += 1
                yield seg
            left = len(buf) - pos
            if left:
                self.problems.append(Problem(
                    TRUNCATED, f"the file ends inside a record after packet {number} "
                               f"({left} byte(s) left over)", number + 1))
        finally:
            try:
                reader.close()
            except Exception:
                pass

    @staticmethod
    def _tell(reader) -> int | None:
        try:
            return reader.f.tell()
        except (OSError, ValueError, AttributeError):
            return None
