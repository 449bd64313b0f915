"""One pass over a capture: read, reassemble, rebuild the timeline, judge the rules."""

from __future__ import annotations

import gc
import time
from dataclasses import dataclass, field

from ..sip import headers
from .capture import CaptureReader, Problem
from .reassembly import Reassembler, WireEvent
from .rules import Judge
from .timeline import Delivery, Exchange, KeepAlive, RegisterOutcome, Timeline

MAX_LOG = 2000  # registrations / deliveries / keep-alives listed in the report
CACHE_MAX = 65536  # parsed name-addrs and URIs kept by text while analysing


@dataclass
class Analysis:
    path: str
    problems: list[Problem]
    judge: Judge
    timeline: Timeline
    reader: CaptureReader
    reassembler: Reassembler
    seconds: float
    registrations: list[dict] = field(default_factory=list)
    deliveries: list[dict] = field(default_factory=list)
    keepalives: list[dict] = field(default_factory=list)
    events: list[WireEvent] | None = None  # kept only when asked (``--case``)
    processes: list[dict] | None = None  # per process (events seen, peak RSS) when split by AOR
    serial_because: str = ""  # why a split analysis was not used


    @property
    def messages(self) -> int:
        return self.timeline.counts.messages


def _register_log(out: RegisterOutcome) -> dict:
    ex = out.exchange
    resp = ex.response
    return {"packets": ex.packets, "time": round(ex.req_event.time, 6), "aor": out.aor,
            "flow": [ex.req_event.transport, list(ex.req_event.src), list(ex.req_event.dst)],
            "call_id": ex.request.call_id, "cseq": ex.request.get("CSeq"),
            "status": f"{resp.status} {resp.reason}" if resp is not None else None,
            "contacts": [str(c) for c in out.contacts] + (["*"] if out.star else []),
            "supported": ex.request.values("Supported"), "require": resp.values("Require") if resp else [],
            "path": ex.request.values("Path"), "response_path": resp.values("Path") if resp else [],
            "changes": [{"kind": c.kind, "binding": c.binding.label(), "reg_id": c.binding.reg_id,
                         "instance": c.binding.instance} for c in out.changes]}


def analyze(path: str, *, strict: bool = False, keepalive_bound: float = 10.0, keep_events: bool = False,
            processes: int = 1, outbound: bool | None = None) -> Analysis:
    """Analyse a capture.  ``processes`` > 1 splits the work by AOR over forked processes
    (parallel.py) when the capture allows it (same results), else runs serially.  ``outbound``:
    whether the target profile declares the capability (None: no target); a registrar that shows
    no RFC 5626 is held to its duties only when it does (Judge.classify)."""
    serial_because = ""
    if processes > 1 and not keep_events:
        from .parallel import analyze_parallel

        try:
            a, serial_because = analyze_parallel(path, processes, strict=strict, keepalive_bound=keepalive_bound,
                                                 outbound=outbound)
        except OSError as exc:  # no fork, no pipe: one process it is
            a, serial_because = None, f"could not start the processes: {exc}"
        if a is not None:
            return a
    a = _analyze(path, strict=strict, keepalive_bound=keepalive_bound, keep_events=keep_events)
    a.serial_because = serial_because
    a.judge.classify(outbound)
    return a


def _analyze(path: str, *, strict: bool, keepalive_bound: float, keep_events: bool) -> Analysis:
    reader = CaptureReader(path)
    reasm = Reassembler()
    timeline = Timeline(keepalive_bound=keepalive_bound)
    judge = Judge(strict=strict, keepalive_bound=keepalive_bound)
    a = Analysis(path, reader.problems, judge, timeline, reader, reasm, 0.0)
    if keep_events:
        a.events = []
    t0 = time.perf_counter()
    # The analysis allocates many short-lived objects and keeps a bounded, mostly acyclic state:
    # collect less often than the interpreter's default (7 % of the time on a 100k-message capture).
    thresholds = gc.get_threshold()
    gc.set_threshold(max(thresholds[0], 50_000), *thresholds[1:])
    # Parsed Contact / URI texts are cached by text; a registration load repeats each binding's
    # text at every refresh, so the cache must hold a capture's bindings (tens of thousands) or it
    # is cleared before any text comes back.  Still bounded (cleared when full), restored after.
    caches = headers.NAME_ADDR_CACHE_MAX, headers.URI_CACHE_MAX
    headers.NAME_ADDR_CACHE_MAX = headers.URI_CACHE_MAX = max(caches[0], CACHE_MAX)

    def handle(events):
        for ev in events:
            if a.events is not None:
                a.events.append(ev)
            for item in timeline.feed(ev):
                if type(item) is Exchange:
                    continue  # neither logged nor judged (its RegisterOutcome is)
                _log(a, item)
                judge.feed(item)

    try:
        for seg in reader:
            handle(reasm.feed(seg))
        handle(reasm.finish())
        for item in timeline.finish():
            _log(a, item)
            judge.feed(item)
    finally:
        gc.set_threshold(*thresholds)
        headers.NAME_ADDR_CACHE_MAX, headers.URI_CACHE_MAX = caches
    a.seconds = time.perf_counter() - t0
    return a


def _log(a: Analysis, item) -> None:
    if isinstance(item, RegisterOutcome):
        if len(a.registrations) < MAX_LOG:
            a.registrations.append(_register_log(item))
    elif isinstance(item, Delivery):
        if len(a.deliveries) < MAX_LOG:
            b = item.binding
            ev = item.event
            a.deliveries.append({"packet": ev.number, "method": item.request.method, "aor": b.aor,
                                 "binding": b.label(), "binding_state": b.state, "by_request_uri": item.by_uri,
                                 "on_registered_flow": item.on_flow,
                                 "flow": [ev.transport, list(ev.src), list(ev.dst)]})
    elif isinstance(item, KeepAlive):
        if len(a.keepalives) < MAX_LOG:
            r = item.request
            a.keepalives.append({"kind": "CRLF ping" if item.kind == "pong" else "STUN Binding",
                                 "packets": [r.number] + ([item.answer.number] if item.answer else []),
                                 "flow": [r.transport, list(r.src), list(r.dst)],
                                 "delay_ms": round(item.delay * 1000, 3) if item.delay is not None else None,
                                 "mapped": list(item.mapped) if item.mapped else None, "note": item.note})
