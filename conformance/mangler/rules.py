"""Mutation rules of the mangling proxy, sans-IO: bytes in, a plan of timed actions out.

The relay (``relay.py``) hands every SIP message the SUT sends towards a UE (and every message
a UE sends towards the SUT) to :meth:`Mangler.to_ue` / :meth:`Mangler.to_sut`; each returns a
list of :class:`Action` (send these bytes after this delay, close, reset, dribble).  The rules
never touch a socket or a clock, so they are tested on plain bytes.

Faults (``FAULTS``), each a way a SUT or the network can misbehave:

==================  ===============================================================================
no_answer           nothing the SUT sends reaches the UE
late_answer         everything from the SUT is delayed by ``delay`` s (default 30, beyond any bound)
delay               everything from the SUT is delayed by ``delay`` s (default 0.3, within the bound)
duplicate           every message from the SUT arrives twice
reorder             messages from the SUT are held back and released in reverse order of two
wrong_call_id       responses carry another Call-ID
wrong_cseq          responses carry another CSeq number
wrong_branch        responses carry another branch in the top Via
wrong_to_tag        final responses lose their To tag
truncate            each message from the SUT is cut to half its length
garbage             each message from the SUT is replaced by random bytes
cl_long             Content-Length claims 40 bytes more than the body has
cl_short            a 24-byte body is appended while Content-Length stays at its old value
big                 a ~100 KB header (UDP: ~60 KB, the datagram limit) is added to each response
close_mid           TCP: half of the first response, then the connection is closed (UDP: truncate)
reset               TCP: the connection is reset (RST) instead of the first response (UDP: no_answer)
dribble             TCP: responses arrive one byte every ``interval`` s (default 0.02)
port_unreachable    the UEs are given a UDP port where nothing listens (ICMP port unreachable)
unsolicited         ``count`` (default 300) stray responses and OPTIONS requests precede each response
close_without_close_notify
                    tls / wss: after the SUT's first message, the UE's connection is dropped with
                    no TLS close_notify (nor WebSocket Close); other transports: unchanged
ws_close            ws / wss: after the SUT's first message, the relay sends the UE a WebSocket
                    Close (1000) and ends the connection; other transports: unchanged
ws_fragment         ws / wss: every message from the SUT reaches the UE in WebSocket frames of 16
                    bytes (a fragmented message, legal per RFC 6455 §5.4); other transports: unchanged
==================  ===============================================================================

Over tls / ws / wss the relay terminates TLS and WebSocket on both sides (``conformance.wire``
stacks): the rules see SIP messages, as over TCP, and the stream faults act on the layers.
"""

from __future__ import annotations

import random
import re
from dataclasses import dataclass

FAULTS: dict[str, str] = {
    "no_answer": "nothing the SUT sends reaches the UE",
    "late_answer": "everything from the SUT is delayed beyond the case's bound",
    "delay": "everything from the SUT is delayed, within the bound",
    "duplicate": "every message from the SUT arrives twice",
    "reorder": "messages from the SUT are released in reverse order of two",
    "wrong_call_id": "responses carry another Call-ID",
    "wrong_cseq": "responses carry another CSeq number",
    "wrong_branch": "responses carry another Via branch",
    "wrong_to_tag": "final responses lose their To tag",
    "truncate": "each message from the SUT is cut to half its length",
    "garbage": "each message from the SUT is replaced by random bytes",
    "cl_long": "Content-Length claims more bytes than the body has",
    "cl_short": "Content-Length claims fewer bytes than the body has",
    "big": "a ~100 KB header is added to each response",
    "close_mid": "TCP: the connection closes in the middle of a response",
    "reset": "TCP: the connection is reset instead of answered",
    "dribble": "TCP: responses arrive one byte at a time",
    "port_unreachable": "the UEs are pointed at a closed UDP port",
    "unsolicited": "hundreds of unsolicited messages precede each response",
    "close_without_close_notify": "TLS: the UE's connection is dropped without close_notify after the first message",
    "ws_close": "WebSocket: the relay sends the UE a WebSocket Close after the first message",
    "ws_fragment": "WebSocket: the SUT's messages reach the UE in 16-byte frames",
}
STREAM_FAULTS = ("close_without_close_notify", "ws_close", "ws_fragment")
WS_FRAGMENT = 16  # bytes of payload per WebSocket frame (ws_fragment)


@dataclass
class FaultSpec:
    """What a target's ``mangle:`` says."""

    fault: str
    delay: float | None = None
    count: int = 300
    interval: float = 0.02
    host: str = "127.0.0.1"
    port: int = 0
    seed: int = 5626


@dataclass
class Action:
    """One thing for the relay to do, ``delay`` seconds from now.

    kind: ``send`` (data), ``close`` (FIN), ``reset`` (RST), ``dribble`` (data, one byte every
    ``interval`` s); over tls / ws / wss also ``abort`` (the connection dropped with no TLS
    close_notify nor WebSocket Close), ``ws_close`` (a WebSocket Close, then the end) and
    ``fragments`` (data as WebSocket frames of ``size`` bytes).
    """

    kind: str
    data: bytes = b""
    delay: float = 0.0
    interval: float = 0.0
    size: int = 0


_HEADER = re.compile(rb"^([A-Za-z-]+)[ \t]*:[ \t]*(.*)$")


def _head_body(data: bytes) -> tuple[list[bytes], bytes]:
    i = data.find(b"\r\n\r\n")
    if i < 0:
        return data.split(b"\r\n"), b""
    return data[:i].split(b"\r\n"), data[i + 4:]


def _join(lines: list[bytes], body: bytes) -> bytes:
    return b"\r\n".join(lines) + b"\r\n\r\n" + body


def _is_response(data: bytes) -> bool:
    return data.startswith(b"SIP/2.0 ")


def _status(data: bytes) -> int:
    try:
        return int(data[8:11])
    except ValueError:
        return 0


def _edit(data: bytes, names: tuple[bytes, ...], fn, first_only: bool = True) -> bytes:
    lines, body = _head_body(data)
    done = False
    for i, line in enumerate(lines[1:], 1):
        m = _HEADER.match(line)
        if m and m.group(1).lower() in names and not (first_only and done):
            lines[i] = m.group(1) + b": " + fn(m.group(2))
            done = True
    return _join(lines, body)


def _set_content_length(data: bytes, value: int) -> bytes:
    return _edit(data, (b"content-length", b"l"), lambda v: str(value).encode())


class Mangler:
    """The rules of one fault; one instance per relay (it keeps a little state: held messages)."""

    def __init__(self, spec: FaultSpec):
        if spec.fault not in FAULTS:
            raise ValueError(f"unknown fault {spec.fault!r}; known: {', '.join(FAULTS)}")
        self.spec = spec
        self.rng = random.Random(spec.seed)
        self._held: dict[object, bytes] = {}  # reorder: the message held back, per channel
        self._flooded: set[bytes] = set()  # unsolicited: responses already preceded by a flood
        self._ended: set = set()  # close_without_close_notify / ws_close: channels already ended
        self.injected_call_ids: set[bytes] = set()
        self.counts: dict[str, int] = {}

    # -- towards the SUT -------------------------------------------------------------------------
    def to_sut(self, data: bytes, transport: str) -> list[Action]:
        """What a UE sends: passed on, except answers to the requests the proxy made up."""
        if _is_response(data) and self._call_id(data) in self.injected_call_ids:
            return []
        return [Action("send", data)]

    # -- towards the UE --------------------------------------------------------------------------
    def to_ue(self, data: bytes, transport: str, channel: object = None) -> list[Action]:
        """``channel`` names the UE connection or address (reorder holds one message per channel)."""
        f = self.spec.fault
        self.counts[f] = self.counts.get(f, 0) + 1
        if f in STREAM_FAULTS:
            return self._stream_fault(f, data, transport, channel)
        tcp = transport != "udp"  # tls / ws / wss: a connection, as TCP
        if f == "no_answer" or (f == "reset" and not tcp):
            return []
        if f == "late_answer":
            return [Action("send", data, delay=self.spec.delay if self.spec.delay is not None else 30.0)]
        if f == "delay":
            return [Action("send", data, delay=self.spec.delay if self.spec.delay is not None else 0.3)]
        if f == "duplicate":
            return [Action("send", data), Action("send", data)]
        if f == "reorder":
            held = self._held.pop(channel, None)
            if held is None:
                self._held[channel] = data
                return [Action("hold", data, delay=self.spec.delay if self.spec.delay is not None else 0.5)]
            return [Action("send", data), Action("send", held)]
        if not _is_response(data) and f in ("wrong_call_id", "wrong_cseq", "wrong_branch", "wrong_to_tag", "big",
                                            "cl_short", "cl_long", "unsolicited"):
            return [Action("send", data)]
        if f == "wrong_call_id":
            return [Action("send", _edit(data, (b"call-id", b"i"), lambda v: b"mangled-" + v))]
        if f == "wrong_cseq":
            def bump(v: bytes) -> bytes:
                num, _, method = v.partition(b" ")
                return str(int(num) + 1000 if num.isdigit() else 1000).encode() + b" " + method
            return [Action("send", _edit(data, (b"cseq",), bump))]
        if f == "wrong_branch":
            return [Action("send", _edit(data, (b"via", b"v"),
                                         lambda v: re.sub(rb"branch=([^;,\s]+)", rb"branch=\1mangled", v)))]
        if f == "wrong_to_tag":
            if _status(data) < 200:
                return [Action("send", data)]
            return [Action("send", _edit(data, (b"to", b"t"), lambda v: re.sub(rb";\s*tag=[^;,\s]*", b"", v)))]
        if f == "truncate" or (f == "close_mid" and not tcp):
            return [Action("send", data[: max(1, len(data) // 2)])]
        if f == "garbage":
            n = max(16, len(data))
            junk = bytes(self.rng.randrange(256) for _ in range(n))
            # never a plausible start line, a keep-alive or STUN (first two bits 00)
            return [Action("send", b"\xff\xfe" + junk[2:])]
        if f == "cl_long":
            _, body = _head_body(data)
            return [Action("send", _set_content_length(data, len(body) + 40))]
        if f == "cl_short":
            lines, body = _head_body(data)
            return [Action("send", _join(lines, body) + b"X" * 24)]
        if f == "big":
            size = 100 * 1024 if tcp else 60 * 1024
            lines, body = _head_body(data)
            lines.insert(1, b"X-Padding: " + b"a" * size)
            return [Action("send", _join(lines, body))]
        if f == "close_mid":
            return [Action("send", data[: max(1, len(data) // 2)]), Action("close")]
        if f == "reset":
            return [Action("reset")]
        if f == "dribble":
            if not tcp:
                return [Action("send", data)]
            return [Action("dribble", data, interval=self.spec.interval)]
        if f == "unsolicited":
            key = self._call_id(data) + b"|" + self._cseq(data)
            if key in self._flooded:  # a retransmitted response: the flood came before the first copy
                return [Action("send", data)]
            self._flooded.add(key)
            return [Action("send", m) for m in self._noise(data)] + [Action("send", data)]
        return [Action("send", data)]  # port_unreachable: the relay is not used

    def _stream_fault(self, f: str, data: bytes, transport: str, channel: object) -> list[Action]:
        tls, ws = transport in ("tls", "wss"), transport in ("ws", "wss")
        if f == "ws_fragment":
            return [Action("fragments", data, size=WS_FRAGMENT)] if ws else [Action("send", data)]
        applies = tls if f == "close_without_close_notify" else ws
        if not applies or channel in self._ended:
            return [Action("send", data)]
        self._ended.add(channel)
        return [Action("send", data), Action("abort" if f == "close_without_close_notify" else "ws_close")]

    def release_held(self, channel: object = None) -> bytes | None:
        """The message ``reorder`` held back on ``channel``, when nothing followed it in time."""
        return self._held.pop(channel, None)

    def _header(self, data: bytes, names: tuple[bytes, ...]) -> bytes:
        lines, _ = _head_body(data)
        for line in lines[1:]:
            m = _HEADER.match(line)
            if m and m.group(1).lower() in names:
                return m.group(2).strip()
        return b""

    def _call_id(self, data: bytes) -> bytes:
        return self._header(data, (b"call-id", b"i"))

    def _cseq(self, data: bytes) -> bytes:
        return self._header(data, (b"cseq",))

    def _noise(self, response: bytes) -> list[bytes]:
        """Stray responses (to nothing the UE sent) and OPTIONS requests the UE may answer."""
        lines, _ = _head_body(response)
        to = next((m.group(2) for m in map(_HEADER.match, lines[1:]) if m and m.group(1).lower() in (b"to", b"t")),
                  b"<sip:ue@invalid>")
        out = []
        for i in range(self.spec.count):
            cid = f"unsolicited-{self.rng.getrandbits(48):012x}".encode()
            self.injected_call_ids.add(cid)
            if i % 2:
                out.append(b"SIP/2.0 200 OK\r\nVia: SIP/2.0/UDP 192.0.2.1;branch=z9hG4bKstray%d\r\n" % i
                           + b"From: <sip:stray@invalid>;tag=s\r\nTo: " + to + b";tag=x\r\nCall-ID: " + cid
                           + b"\r\nCSeq: %d REGISTER\r\nContent-Length: 0\r\n\r\n" % (i + 1))
            else:
                out.append(b"OPTIONS sip:ue@invalid SIP/2.0\r\nVia: SIP/2.0/UDP 192.0.2.1;branch=z9hG4bKnoise%d\r\n" % i
                           + b"Max-Forwards: 70\r\nFrom: <sip:noise@invalid>;tag=n\r\nTo: " + to
                           + b"\r\nCall-ID: " + cid + b"\r\nCSeq: 1 OPTIONS\r\nContent-Length: 0\r\n\r\n")
        return out
