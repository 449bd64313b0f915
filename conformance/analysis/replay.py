"""``conformance replay``: send the UE side of a capture to a SUT again and compare the answers.

The UE side is the set of addresses that send REGISTER (or the addresses given).  Each of its
flows (transport, address, port) gets a new local socket on the target's UE addresses; its
requests go out in capture order, rewritten (:mod:`rewrite`), each waiting, bounded, for its
final response (RFC 3261 §17.1.2 timers over UDP).  Every SUT answer is compared with the
captured one header by header.  The new exchange is written as a pcap beside the old one.

A flow captured over TLS, WebSocket or WebSocket over TLS (the analysis reads them, with the
capture's Decryption Secrets Block or a key log) is replayed over the same transport: a
:class:`~conformance.engine.streamflow.StreamEndpoint` to the SUT's port for it, with the
target's ``tls:`` / ``ws:`` settings; the new capture is then pcapng with the new sessions' keys.
"""

from __future__ import annotations

import os
import selectors
import tempfile
import time
from dataclasses import dataclass, field
from pathlib import Path

from ..engine.pcap import PcapRecorder
from ..ue.transaction import RETRANSMIT, TIMEOUT, ClientTransaction
from ..engine.transport import TcpEndpoint, TransportError, UdpEndpoint
from ..sip.errors import ParseError
from ..sip.message import Request, Response, parse_message
from ..targets.model import Target
from .capture import CaptureReader
from .reassembly import Reassembler, WireEvent
from .rewrite import HeaderDiff, Rewriter, compare

Addr = tuple[str, int]


@dataclass
class Exchange:
    number: int  # packet of the captured request
    time: float
    flow: tuple[str, Addr]  # (transport, captured UE address)
    request: Request
    captured: Response | None


@dataclass
class ReplayStep:
    exchange: Exchange
    sent: Request | None = None
    replayed: Response | None = None
    diffs: list[HeaderDiff] = field(default_factory=list)
    note: str = ""


def load_exchanges(path: str, ue: set[str] | None = None, tls_keylog: str | None = None,
                   on_progress=None) -> tuple[list[Exchange], list[str]]:
    """The UE-side requests of a capture with their captured final responses (TLS read with the
    capture's Decryption Secrets Blocks and ``tls_keylog``; ``on_progress(bytes_read, packets)``
    as it is read, progress.py)."""
    reader = CaptureReader(path, keylog=tls_keylog)
    reader.on_progress = on_progress
    reasm = Reassembler(keys=reader.keys)
    events: list[WireEvent] = []
    for seg in reader:
        events.extend(reasm.feed(seg))
    events.extend(reasm.finish())
    rs = reasm.stats
    notes = [p.message for p in reader.problems]
    if rs.tls_without_keys or rs.tls_not_read:
        notes.append(f"TLS without keys: {rs.tls_not_read} records not read (their requests are not replayed; "
                     f"give the key log with --tls-keylog)")
    sip = [e for e in events if e.kind == "sip" and e.message is not None]
    if ue is None:
        ue = {e.src[0] for e in sip if isinstance(e.message, Request) and e.message.method == "REGISTER"}
    pending: dict[tuple, Exchange] = {}
    out: list[Exchange] = []
    for e in sip:
        m = e.message
        if isinstance(m, Request) and e.src[0] in ue and m.method != "ACK":
            ex = Exchange(e.number, e.time, (e.transport, e.src), m, None)
            pending[(m.call_id, m.cseq, m.top_branch)] = ex
            out.append(ex)
        elif isinstance(m, Response) and m.status >= 200:
            ex = pending.get((m.call_id, m.cseq, m.top_branch))
            if ex is not None and ex.captured is None:
                ex.captured = m
    return out, notes


class Replayer:
    def __init__(self, target: Target, sut: Addr, *, timeout: float | None = None, keep_timing: bool = False):
        self.target, self.sut = target, sut
        self.timeout = timeout or target.timers.response
        self.keep_timing = keep_timing
        self.rw = Rewriter()
        self.endpoints: dict[tuple[str, Addr], UdpEndpoint | TcpEndpoint] = {}
        self.pcap = PcapRecorder(time.time())
        self._t0 = time.monotonic()
        self._ips: dict[str, str] = {}
        self._keylog: str | None = None  # the new TLS sessions' secrets (for the new capture's DSB)

    def _wire(self, direction, transport, src, dst, data, event):
        when = self.pcap.start_time + (time.monotonic() - self._t0)
        if transport == "udp":
            self.pcap.udp(when, src, dst, data)
        elif event == "open":
            self.pcap.tcp_open(when, src, dst)
        elif event in ("close", "closed"):
            self.pcap.tcp_close(when, src, dst)
        elif data:
            self.pcap.tcp_data(when, src, dst, data)

    def _endpoint(self, flow: tuple[str, Addr]):
        ep = self.endpoints.get(flow)
        if ep is not None and not ep.closed:
            return ep
        old_ip = flow[1][0]
        if old_ip not in self._ips:
            pool = self.target.ue_addresses
            self._ips[old_ip] = pool[len(self._ips) % len(pool)]
        ip = self._ips[old_ip]
        if flow[0] == "udp":
            ep = UdpEndpoint(ip, self._wire)
        elif flow[0] == "tcp":
            ep = TcpEndpoint(ip, self.sut, self._wire, self.target.timers.connect)
        else:
            ep = self._stream(ip, flow[0])
        self.endpoints[flow] = ep
        self.rw.addresses[flow[1]] = ep.local
        return ep

    def _stream(self, ip: str, transport: str):
        """A tls / ws / wss flow to the SUT's port for it, as the tester opens one."""
        from ..engine.streamflow import StreamEndpoint
        from ..engine.streamsetup import tls_client, ws_client

        port = self.target.port_of(transport)
        if not port:
            raise TransportError(f"target '{self.target.name}' gives no port for transport {transport}")
        tls = None
        if transport in ("tls", "wss"):
            if self._keylog is None:
                fd, self._keylog = tempfile.mkstemp(prefix="conformance-replay-keylog-", suffix=".txt")
                os.close(fd)
            tls = tls_client(self.target, self._keylog)
        ws = ws_client(self.target) if transport in ("ws", "wss") else None
        return StreamEndpoint(ip, (self.sut[0], port), transport, self._wire, self.target.timers.connect,
                              tls=tls, ws=ws)

    def write(self, path: Path) -> Path:
        """The new capture: pcap, or pcapng with the TLS sessions' keys when a flow used TLS."""
        if self._keylog is None:
            return self.pcap.write(path)
        from ..engine.pcapng import write_pcapng
        from ..wire.keylog import read_keylog

        try:
            return write_pcapng(path, self.pcap.packets(), read_keylog(self._keylog))
        finally:
            os.unlink(self._keylog)
            self._keylog = None

    def _exchange(self, ep, request: Request) -> tuple[Response | None, str]:
        data = request.to_bytes()
        ep.send(data, self.sut)
        t = self.target.timers
        tx = ClientTransaction(reliable=ep.transport != "udp", t1=t.t1, t2=t.t2, timeout=self.timeout,
                               started=time.monotonic())
        with selectors.DefaultSelector() as sel:
            sel.register(ep, selectors.EVENT_READ)
            while True:
                deadline = tx.next_deadline()
                wait = max(0.0, (deadline or 0) - time.monotonic())
                if sel.select(wait):
                    for inc in ep.read():
                        if inc.kind == "closed":
                            return None, inc.note
                        if inc.kind != "message":
                            continue
                        try:
                            msg = parse_message(inc.data)
                        except ParseError:
                            continue
                        if (isinstance(msg, Response) and msg.call_id == request.call_id
                                and msg.cseq == request.cseq and tx.on_response(msg.status)):
                            return msg, ""
                    continue
                event = tx.on_timer(time.monotonic())
                if event == RETRANSMIT:
                    ep.send(data, self.sut)
                elif event == TIMEOUT:
                    return None, f"no final response within {self.timeout:g} s"

    def run(self, exchanges: list[Exchange], on_step=None) -> list[ReplayStep]:
        """Each exchange in turn; ``on_step(done, total)`` before the first and after each."""
        steps: list[ReplayStep] = []
        start = time.monotonic()
        try:
            for ex in exchanges:
                if on_step is not None:
                    on_step(len(steps), len(exchanges))
                if self.keep_timing and exchanges:
                    # the captured gap since the first request, each wait bounded (30 s)
                    due = start + (ex.time - exchanges[0].time)
                    time.sleep(min(max(0.0, due - time.monotonic()), 30.0))
                step = ReplayStep(ex)
                steps.append(step)
                try:
                    ep = self._endpoint(ex.flow)
                    step.sent = self.rw.request(ex.request)
                    step.replayed, step.note = self._exchange(ep, step.sent)
                except TransportError as exc:
                    step.note = str(exc)
                step.diffs = compare(ex.captured, step.replayed, self.rw)
            if on_step is not None:
                on_step(len(steps), len(exchanges))
        finally:
            for ep in self.endpoints.values():
                ep.close()
        return steps

