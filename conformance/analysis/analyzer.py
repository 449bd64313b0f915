"""One pass over a capture: read, reassemble, rebuild the timeline, judge the rules."""

from __future__ import annotations

import gc
import time
from functools import partial

from ..sip import headers
from .capture import CaptureReader
from .parallel import analyze_parallel
from .reassembly import Reassembler
from .result import CACHE_MAX, Analysis, log_item
from .rules import Judge
from .timeline import Exchange, KeepAlive, RegisterOutcome, Timeline
from .ue_judge import judge_the_ues
from .ue_observe import UeObserver


def analyze(path: str, *, strict: bool = False, keepalive_bound: float = 10.0, keep_events: bool = False,
            processes: int = 1, outbound: bool | None = None, tls_keylog: str | None = None,
            ue_by: str = "instance", ue_capabilities: list[str] | None = None, on_progress=None) -> Analysis:
    """Analyse a capture.  ``processes`` > 1 splits the work by AOR over forked processes
    (parallel.py) when the capture allows it (same results), else runs serially.  ``outbound``:
    whether the target profile declares the capability (None: no target); a registrar that shows
    no RFC 5626 is held to its duties only when it does (Judge.classify).  ``tls_keylog``: an NSS
    key log file with the TLS sessions' secrets (beside a pcapng's Decryption Secrets Blocks).
    ``ue_by``: what makes a UE (ue_observe.py): its AOR and instance ("instance"), or its AOR
    alone ("aor": one device per AOR, so that an instance that changes is seen by one UE).
    ``ue_capabilities``: what a UE target profile declares (None: read from each UE's traffic,
    ue_judge.py).  ``on_progress(bytes_read, packets, processes=)``: called as the capture is read
    (progress.py)."""
    serial_because = ""
    if processes > 1 and tls_keylog:
        serial_because = "a TLS key log file was given (the split reads only the capture's own secrets)"
    elif processes > 1 and not keep_events:
        split_progress = None if on_progress is None else partial(on_progress, processes=processes)
        try:
            a, serial_because = analyze_parallel(path, processes, strict=strict, keepalive_bound=keepalive_bound,
                                                 outbound=outbound, ue_by=ue_by, ue_capabilities=ue_capabilities,
                                                 on_progress=split_progress)
        except OSError as exc:  # no fork, no pipe: one process it is
            a, serial_because = None, f"could not start the processes: {exc}"
        if a is not None:
            return a
    a = _analyze(path, strict=strict, keepalive_bound=keepalive_bound, keep_events=keep_events,
                 tls_keylog=tls_keylog, ue_by=ue_by, ue_capabilities=ue_capabilities, on_progress=on_progress)
    a.serial_because = serial_because
    a.judge.classify(outbound)
    return a



def _analyze(path: str, *, strict: bool, keepalive_bound: float, keep_events: bool,
             tls_keylog: str | None = None, ue_by: str = "instance",
             ue_capabilities: list[str] | None = None, on_progress=None) -> Analysis:
    reader = CaptureReader(path, keylog=tls_keylog)
    reader.on_progress = on_progress
    reasm = Reassembler(keys=reader.keys)
    timeline = Timeline(keepalive_bound=keepalive_bound)
    judge = Judge(strict=strict, keepalive_bound=keepalive_bound)
    ue = UeObserver(by=ue_by)
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
                t = type(item)
                if t is Exchange:
                    continue  # neither logged nor judged (its RegisterOutcome is)
                log_item(a, item)
                judge.feed(item)
                if t is RegisterOutcome or t is KeepAlive:
                    ue.feed(item)  # the UE side of the same items (kept, bounded)

    try:
        for seg in reader:
            handle(reasm.feed(seg))
        handle(reasm.finish())
        for item in timeline.finish():
            log_item(a, item)
            judge.feed(item)
            ue.feed(item)
        ue.finish(timeline.open.values())
        judge_the_ues(a, ue, strict, ue_capabilities)
    finally:
        gc.set_threshold(*thresholds)
        headers.NAME_ADDR_CACHE_MAX, headers.URI_CACHE_MAX = caches
    a.seconds = time.perf_counter() - t0
    return a
