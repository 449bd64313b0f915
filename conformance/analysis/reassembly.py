"""From segments to SIP messages and keep-alives (sans-IO).

UDP: each datagram is sorted by :func:`conformance.sip.framing.classify_datagram` (SIP by its
start line on any port, STUN, CRLF keep-alive) and a SIP one parsed.

TCP: one :class:`StreamFramer` per direction, fed in sequence-number order.  A segment that
starts below the next expected byte is a retransmission (its new part, if any, is kept); one
above it waits, bounded, until the hole is filled; a hole that never fills is skipped over once
too much has queued behind it (the stream is re-synchronised on the next start line).  A
direction is SIP when its first bytes are a SIP start line or CRLFs; other TCP traffic is
ignored.  A lone CRLF ending a segment is taken as a pong (the framer alone would hold it
and read two consecutive pongs as one ping).  A message is dated and numbered by the segment that completed it, as Wireshark does.
"""

from __future__ import annotations

from dataclasses import dataclass, field

from ..sip.errors import ParseError
from ..sip.framing import Message, Ping, Pong, StreamFramer, classify_datagram
from ..sip.message import Request, Response, parse_message
from .capture import Segment
from .layers import LayerOut, StreamLayers, layer_kind

MAX_PENDING = 512 * 1024  # out-of-order bytes held per direction before a hole is given up
MAX_CONN_LOG = 4096  # TCP connections whose opening / closing packets are remembered (the UE flows')
_MOD = 1 << 32

Addr = tuple[str, int]


@dataclass(slots=True)
class WireEvent:
    """One thing seen on the wire: a SIP message, a keep-alive, a STUN message, garbage."""

    number: int
    time: float
    transport: str
    src: Addr
    dst: Addr
    kind: str  # "sip" | "ping" | "pong" | "keepalive" | "stun" | "unparseable" | "closed" (FIN/RST from src)
    data: bytes = b""
    message: Request | Response | None = None
    note: str = ""
    first: int = 0  # packet number of the first segment (TCP), else ``number``

    @property
    def conn(self) -> tuple:
        """The connection / flow 5-tuple, the same in both directions."""
        return (self.transport,) + tuple(sorted((self.src, self.dst)))


@dataclass
class _Direction:
    next_seq: int | None = None
    pending: dict[int, tuple[bytes, int]] = field(default_factory=dict)  # seq -> (data, packet)
    pending_bytes: int = 0
    framer: StreamFramer | None = None
    sip: bool | None = None  # None: not yet known
    sniff: bytes = b""
    first: int = 0  # first packet of the message being framed
    last: tuple[int, float] = (0, 0.0)  # packet number and time of the latest segment
    transport: str = "tcp"  # "tls" | "ws" | "wss" once the stream's layers are known
    layers: StreamLayers | None = None  # TLS / WebSocket under SIP on this connection
    from_client: bool = True  # which side of ``layers`` this direction is


@dataclass
class ReassemblyStats:
    retransmissions: int = 0
    out_of_order: int = 0
    holes: int = 0
    non_sip_streams: int = 0
    non_sip_datagrams: int = 0
    framing_errors: int = 0
    # TLS / WebSocket streams (layers.py): counts by transport, records that could not be
    # decrypted (not judged), WebSocket control frames, and a summary of the first streams.
    streams: dict = field(default_factory=dict)
    tls_not_read: int = 0
    tls_without_keys: int = 0
    ws_pings: int = 0
    ws_pongs: int = 0
    layered: list = field(default_factory=list)

    MAX_LAYERED = 200  # stream summaries kept

    def fold(self, layers: StreamLayers) -> None:
        """A TLS / WebSocket connection's figures, when it is over (or the capture is)."""
        if layers.not_sip:
            return
        t = layers.transport
        self.streams[t] = self.streams.get(t, 0) + 1
        if layers.tls is not None and not layers.tls.keyed:
            self.tls_without_keys += 1
        self.tls_not_read += layers.unread()
        if len(self.layered) < self.MAX_LAYERED:
            self.layered.append(layers.summary())


class Reassembler:
    """Feed :class:`Segment` s in file order; get :class:`WireEvent` s back."""

    def __init__(self, keys=None) -> None:
        self._dirs: dict[tuple[Addr, Addr], _Direction] = {}
        self._plain = type(self)._message is Reassembler._message  # every message parsed (see _datagram)
        self._conns: dict[tuple[Addr, Addr], StreamLayers] = {}  # TLS / WebSocket, by sorted addresses
        self.stats = ReassemblyStats()
        self.keys = keys  # tlskeys.TlsKeys (None: no secrets)
        # Per TCP connection (its sorted address pair): the packets that opened and closed it,
        # [(kind "open" | "FIN" | "RST", packet, time, sender)], at most 4, for the first
        # MAX_CONN_LOG connections (ue_observe.py dates a UE's flows with them).
        self.conn_log: dict[tuple[Addr, Addr], list[tuple]] = {}

    def _message(self, base: dict, data: bytes) -> WireEvent:
        """A SIP message's event (a subclass may leave some messages unparsed)."""
        return _message_event(base, data)

    # -- UDP ----------------------------------------------------------------------------------
    def _datagram(self, seg: Segment) -> list[WireEvent]:
        kind = classify_datagram(seg.payload)
        if kind == "sip" and self._plain:  # _message_event without the dict of its fields
            data = seg.payload
            try:
                msg = parse_message(data)
            except ParseError:
                pass  # made below, with its note
            else:
                return [WireEvent(seg.number, seg.time, "udp", seg.src, seg.dst, "sip", data, msg, "", seg.number)]
        base = dict(number=seg.number, time=seg.time, transport="udp", src=seg.src, dst=seg.dst,
                    data=seg.payload, first=seg.number)
        if kind == "sip":
            return [self._message(base, seg.payload)]
        if kind == "stun":
            return [WireEvent(kind="stun", **base)]
        if kind == "keepalive":  # CRLFs over UDP: no pong is due (RFC 5626 uses STUN there)
            return [WireEvent(kind="keepalive", **base)]
        self.stats.non_sip_datagrams += 1
        return []

    # -- TCP ----------------------------------------------------------------------------------
    def feed(self, seg: Segment) -> list[WireEvent]:
        if seg.transport == "udp":
            return self._datagram(seg)
        key = (seg.src, seg.dst)
        d = self._dirs.get(key)
        if seg.syn:
            if not seg.flags & 0x10:  # the client's SYN (not the SYN-ACK)
                self._log_conn(seg, "open")
            d = self._dirs[key] = _Direction(next_seq=(seg.seq + 1) % _MOD)
            old = self._conns.get(_ckey(seg))
            if old is not None and old.client == seg.src:  # a new connection on the same ports
                self.stats.fold(self._conns.pop(_ckey(seg)))
            return []
        if d is None:
            d = self._dirs[key] = _Direction()
        out: list[WireEvent] = []
        d.last = (seg.number, seg.time)
        if seg.payload:
            out += self._segment(d, seg)
        if seg.fin or seg.rst:
            self._log_conn(seg, "RST" if seg.rst else "FIN")
            out += self._close(d, seg)
            self._dirs.pop(key, None)
            out.append(WireEvent(seg.number, seg.time, d.transport, seg.src, seg.dst, "closed",
                                 note="RST" if seg.rst else "FIN", first=seg.number))
        return out

    def _log_conn(self, seg: Segment, kind: str) -> None:
        log = self.conn_log.get(_ckey(seg))
        if log is None:
            if len(self.conn_log) >= MAX_CONN_LOG:
                return
            log = self.conn_log[_ckey(seg)] = []
        if len(log) < 4:
            log.append((kind, seg.number, seg.time, seg.src))

    def _segment(self, d: _Direction, seg: Segment) -> list[WireEvent]:
        data, seq = seg.payload, seg.seq
        if d.next_seq is None:
            d.next_seq = seq
        ahead = (seq - d.next_seq) % _MOD
        if ahead >= _MOD // 2:  # starts before the next expected byte
            overlap = (d.next_seq - seq) % _MOD
            if overlap >= len(data):
                self.stats.retransmissions += 1
                return []
            data, seq, ahead = data[overlap:], d.next_seq, 0
        if ahead > 0:
            self.stats.out_of_order += 1
            if seq not in d.pending or len(d.pending[seq][0]) < len(data):
                d.pending[seq] = (data, seg.number)
                d.pending_bytes += len(data)
            if d.pending_bytes <= MAX_PENDING:
                return []
            # Give the hole up: continue from the lowest queued segment.
            self.stats.holes += 1
            low = min(d.pending, key=lambda s: (s - d.next_seq) % _MOD)
            d.next_seq = low
            self._resync(d)
            return self._drain(d, seg)
        out = self._deliver(d, data, seg)
        d.next_seq = (seq + len(data)) % _MOD
        return out + self._drain(d, seg)

    def _drain(self, d: _Direction, seg: Segment) -> list[WireEvent]:
        """Deliver queued segments that the stream has now reached."""
        out: list[WireEvent] = []
        while d.pending:
            reached = [s for s in d.pending if (d.next_seq - s) % _MOD < _MOD // 2]
            if not reached:
                return out
            s = reached[0]
            data, _ = d.pending.pop(s)
            d.pending_bytes -= len(data)
            rel = (d.next_seq - s) % _MOD
            if rel < len(data):  # else wholly delivered already
                out += self._deliver(d, data[rel:], seg)
                d.next_seq = (d.next_seq + len(data) - rel) % _MOD
        return out

    def _resync(self, d: _Direction) -> None:
        d.framer, d.sip, d.sniff = None, None, b""

    def _deliver(self, d: _Direction, data: bytes, seg: Segment) -> list[WireEvent]:
        if d.layers is not None:
            return self._layered(d, data, seg)
        if d.sip is None:
            head = d.sniff + data
            conn = self._conns.get(_ckey(seg))
            kind = "server" if conn is not None and conn.client != seg.src else layer_kind(head)
            if kind == "wait":
                d.sniff = head
                return []
            if kind is not None:
                d.sniff = b""
                if conn is None or kind != "server":
                    if conn is not None:
                        self.stats.fold(conn)
                    conn = self._conns[_ckey(seg)] = StreamLayers(seg.src, seg.dst, kind, self.keys)
                d.layers, d.from_client, d.transport = conn, conn.client == seg.src, conn.transport
                return self._layered(d, head, seg)
        return self._stream(d, data, seg)

    def _layered(self, d: _Direction, data: bytes, seg: Segment) -> list[WireEvent]:
        """Bytes of a TLS / WebSocket connection: what they carry, framed as SIP."""
        if d.sip is False:
            return []
        lo: LayerOut = d.layers.feed(d.from_client, data)
        d.transport = d.layers.transport
        if d.layers.not_sip:
            d.sip = False
            self.stats.non_sip_streams += d.from_client  # once per connection
            return []
        self.stats.ws_pings += lo.ws_pings
        self.stats.ws_pongs += lo.ws_pongs
        out: list[WireEvent] = []
        for note in lo.notes:
            if "lost" in note or "not a" in note:  # the layer cannot be followed further
                self.stats.framing_errors += 1
                out.append(WireEvent(seg.number, seg.time, d.transport, seg.src, seg.dst, "unparseable",
                                     b"", note=f"{d.transport.upper()} {note}", first=seg.number))
        if lo.stream:
            out += self._stream(d, lo.stream, seg)
        if lo.frames:
            d.first = d.first or seg.number
            out += self._frames(d, lo.frames, seg)
        return out

    def _stream(self, d: _Direction, data: bytes, seg: Segment) -> list[WireEvent]:
        """SIP stream bytes (TCP payload, or TLS plaintext): sniffed, then framed."""
        if d.sip is False:
            return []
        if d.sip is None:
            d.sniff += data
            body = d.sniff.lstrip(b"\r\n")
            if body and b"\n" not in body and len(body) < 512:
                return []  # the start line is not complete yet
            data, d.sniff = d.sniff, b""
            if body and classify_datagram(body.split(b"\n", 1)[0] + b"\n") != "sip":
                d.sip = False
                self.stats.non_sip_streams += 1
                return []
            d.sip, d.framer, d.first = True, StreamFramer(), seg.number
        if not d.framer.pending():
            d.first = seg.number
        try:
            frames = d.framer.feed(data)
        except ParseError as exc:
            self.stats.framing_errors += 1
            bad = WireEvent(seg.number, seg.time, d.transport, seg.src, seg.dst, "unparseable",
                            b"", note=f"TCP framing lost: {exc.reason}", first=d.first)
            self._resync(d)
            return [bad]
        # A lone CRLF at the end of a segment is a pong: a ping is sent whole, and two pongs
        # in a row (as two segments) would otherwise read as one ping.
        frames += d.framer.flush()
        return self._frames(d, frames, seg)

    def _frames(self, d: _Direction, frames, seg: Segment) -> list[WireEvent]:
        out = []
        for fr in frames:
            base = dict(number=seg.number, time=seg.time, transport=d.transport, src=seg.src, dst=seg.dst,
                        first=d.first)
            if isinstance(fr, Message):
                out.append(self._message(base, fr.data))
            elif isinstance(fr, Ping):
                out.append(WireEvent(kind="ping", data=b"\r\n\r\n", **base))
            elif isinstance(fr, Pong):
                out.append(WireEvent(kind="pong", data=b"\r\n", **base))
            d.first = seg.number
        return out

    def _close(self, d: _Direction, seg: Segment) -> list[WireEvent]:
        if d.framer is None:
            return []
        out = self._frames(d, d.framer.flush(), seg)
        if d.framer.pending():
            out.append(WireEvent(seg.number, seg.time, d.transport, seg.src, seg.dst, "unparseable", b"",
                                 note=f"connection closed with {d.framer.pending()} byte(s) of an "
                                      f"incomplete message", first=d.first))
        return out

    def finish(self) -> list[WireEvent]:
        """End of capture: resolve held CRLFs and report incomplete messages."""
        out: list[WireEvent] = []
        for (src, dst), d in list(self._dirs.items()):
            if d.framer is not None:
                last = Segment(d.last[0], d.last[1], "tcp", src, dst, b"")
                out += self._frames(d, d.framer.flush(), last)
        self._dirs.clear()
        for conn in self._conns.values():
            self.stats.fold(conn)
        self._conns.clear()
        return out


def _ckey(seg: Segment) -> tuple:
    """A connection's key, the same in both directions."""
    return (seg.src, seg.dst) if seg.src <= seg.dst else (seg.dst, seg.src)


def _message_event(base: dict, data: bytes) -> WireEvent:
    try:
        msg = parse_message(data)
    except ParseError as exc:
        return WireEvent(kind="unparseable", note=f"not SIP: {exc}", **dict(base, data=data))
    b = base
    return WireEvent(b["number"], b["time"], b["transport"], b["src"], b["dst"], "sip", data, msg, "", b["first"])
