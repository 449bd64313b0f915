"""The offline analysis on several processes, split by AOR, with the serial analysis's results.

Process 0 (the calling process) alone reads the capture and reassembles the TCP streams; a
pre-scan of each SIP message's header section (start line, To, Call-ID found with a regular
expression, no message object) gives its AOR, and ``crc32(AOR)`` picks the process by a table
of buckets (:func:`owner`; process 0, which also reads, gets a smaller share).  Process 0 parses
and judges its own share and sends the others theirs (the message bytes with packet number,
time, addresses and event index, pickled in batches down a pipe), so no process reads the file
or pre-scans a message twice.  Keep-alives, STUN, closed connections and TCP framing errors all
stay in process 0.  Events are numbered once, in capture order, so the merge puts findings,
registrations and bindings back in the order the serial analysis gives them, and keeps the same
first ones.

The split is exact only when no state crosses AORs, so a process gives up (and the analysis runs
serially) as soon as the capture shows something that could cross them:

* a request other than REGISTER (terminating requests are matched against every AOR's bindings);
* a Call-ID seen with two AORs (a response must reach the process of its request);
* more open transactions in one process than ``MAX_OPEN / processes`` (the serial analysis
  forgets the oldest beyond ``MAX_OPEN``; below that bound neither forgets any);
* a header section the pre-scan cannot read as the parser does (folded lines, bare LFs, no To or
  Call-ID), more than ``MAX_CALL_IDS`` Call-IDs (the check above must stay bounded).

Processes are forked (the command is single-threaded); process 0 is the calling process.  A
worker that gives up exits with its reason; process 0 sees it when a send fails or at its next
look, and stops the others.
"""

from __future__ import annotations

import fcntl
import gc
import os
import pickle
import re
import resource
import select
import time
import traceback
import zlib
from itertools import islice

from ..sip import headers
from .capture import CaptureReader
from ..sip.framing import classify_datagram
from .reassembly import Reassembler, WireEvent
from .result import CACHE_MAX, MAX_LOG, Analysis, PackedLog, log_item, register_log
from ..sip.errors import ParseError
from ..sip.message import parse_message
from .rules import KEEP_OTHERS, KEEP_PASSES, OfflineFinding, Judge
from .reading import aor_of_to
from .timeline import MAX_OPEN, SHOWN_BINDINGS, AorState, Counts, Exchange, KeepAlive, RegisterOutcome, Timeline
from .ue_judge import judge_the_ues
from .ue_observe import UeObserver, merge as merge_ues
from ..meaning.verdict import PASS

MAX_CALL_IDS = 200_000
_POLL_EVERY = 1 << 16  # events between two looks at the other processes' results
_BATCH = 128  # messages pickled together for a worker (a write of some 64 kB)
_PIPE_SIZE = 1 << 20  # bytes a worker's pipe holds: process 0 runs that far ahead
_BUCKETS = 1024  # crc32(AOR) % _BUCKETS -> process (see owner)
READER_WEIGHT = 0.44  # process 0's share of the AORs against another's 1.0: it also reads and routes
_TO = re.compile(rb"\r\n(?:to|t)[ \t]*:([^\r\n]*)", re.I)
_CALL_ID = re.compile(rb"\r\n(?:call-id|i)[ \t]*:([^\r\n]*)", re.I)
_WS = " \t\r\n\x0b\x0c"
_FOLD = (b"\r\n ", b"\r\n\t")
_TABLES: dict[int, bytes] = {}


def _table(n: int) -> bytes:
    """Bucket -> process, process 0 with READER_WEIGHT of the others' share."""
    t = _TABLES.get(n)
    if t is None:
        total = READER_WEIGHT + (n - 1)
        first = round(_BUCKETS * READER_WEIGHT / total) if n > 1 else _BUCKETS
        rest = _BUCKETS - first
        t = _TABLES[n] = bytes([0] * first + [1 + (i * (n - 1)) // max(rest, 1) for i in range(rest)])
    return t


def owner(aor: str, n: int) -> int:
    """The process (of ``n``) that analyses this AOR's messages."""
    return _table(n)[zlib.crc32(aor.encode()) % _BUCKETS]


class Unsafe(Exception):
    """The capture holds something the split by AOR would judge differently."""


class _PartReassembler(Reassembler):
    """The reassembly, with the SIP messages of other processes left unparsed: kind "skip",
    the owning process in ``message``."""

    def __init__(self, k: int, n: int):
        super().__init__()
        self.k, self.n = k, n
        self._table = _table(n)
        self._calls: dict[bytes, int] = {}
        self._aors: dict[bytes, int] = {}  # To value as written -> process
        self.last_seen: tuple = (None, 0)  # (datagram, its process) from the loop's look at it

    def part(self, data: bytes) -> int:
        body = data.lstrip(b"\r\n")
        end = body.find(b"\r\n\r\n")  # the header section is body[:end] (looked at in place)
        if end < 0:
            raise Unsafe("a SIP message without an empty line after its header section")
        if body.count(b"\n", 0, end) != body.count(b"\r\n", 0, end):
            raise Unsafe("a header section with bare LFs")
        if not body.startswith(b"SIP/") and not body.startswith(b"REGISTER "):
            raise Unsafe(f"a request other than REGISTER ({body[:body.find(b' ')][:20].decode('ascii', 'replace')})")
        to = _TO.search(body, 0, end)
        cid = _CALL_ID.search(body, 0, end)
        if to is None or cid is None:
            raise Unsafe("a SIP message without To or Call-ID")
        # A folded line elsewhere never reads as To or Call-ID (it starts with SP/HTAB); one
        # continuing them would change their values.
        if body.startswith(_FOLD, to.end(), end) or body.startswith(_FOLD, cid.end(), end):
            raise Unsafe("a folded To or Call-ID")
        raw = to.group(1)
        p = self._aors.get(raw)
        if p is None:
            if len(self._aors) >= 65536:
                self._aors.clear()
            text = raw.decode("utf-8", "replace").strip(_WS)
            p = self._aors[raw] = self._table[zlib.crc32(aor_of_to(text).encode()) % _BUCKETS]
        call_id = cid.group(1).strip()
        seen = self._calls.get(call_id)
        if seen is None:
            if len(self._calls) >= MAX_CALL_IDS:
                raise Unsafe(f"more than {MAX_CALL_IDS} Call-IDs")
            self._calls[call_id] = p
        elif seen != p:
            raise Unsafe("a Call-ID with two AORs")
        return p

    def _message(self, base: dict, data: bytes) -> WireEvent:
        p = self.last_seen[1] if data is self.last_seen[0] else self.part(data)
        if p == self.k:
            return super()._message(base, data)
        return WireEvent(base["number"], base["time"], base["transport"], base["src"], base["dst"], "skip",
                         data, p, "", base["first"])


class _KeyedJudge(Judge):
    """The judge, remembering where (in the event order) each outcome first came and each kept
    finding was made."""

    def __init__(self, **kw):
        super().__init__(**kw)
        self.key: tuple = (0, 0)
        self._n = 0
        self.first: dict[str, dict[str, tuple]] = {rid: {} for rid in self.results}
        self.keys: dict[str, list[tuple]] = {rid: [] for rid in self.results}

    def _first(self, rule_id: str, outcome: str) -> None:
        self.first[rule_id][outcome] = self.key + (self._n,)
        self._n += 1

    def _kept(self, rule_id: str) -> None:
        self.keys[rule_id].append(self.key + (self._n,))
        self._n += 1


class _Logs:
    def __init__(self) -> None:
        self.registrations = PackedLog()
        self.deliveries = PackedLog()
        self.keepalives = PackedLog()


class _Share:
    """One process's analysis of its events, each with its index in the capture's event order."""

    def __init__(self, n: int, strict: bool, keepalive_bound: float, ue_by: str = "instance"):
        self.tl = Timeline(keepalive_bound=keepalive_bound)
        self.judge = _KeyedJudge(strict=strict, keepalive_bound=keepalive_bound)
        self.logs = _Logs()
        self.ue = UeObserver(by=ue_by)
        self.regs: list[tuple[tuple, dict]] = []
        self.aor_keys: dict[str, tuple] = {}
        self.limit = MAX_OPEN // n
        self.events = 0

    def event(self, idx: int, ev: WireEvent) -> None:
        tl, judge = self.tl, self.judge
        self.events += 1
        known = len(tl.aors)
        items = tl.feed(ev)
        if len(tl.open) > self.limit:
            raise Unsafe(f"more than {self.limit} open transactions in one process")
        if len(tl.aors) > known:
            for aor in islice(reversed(tl.aors), len(tl.aors) - known):
                self.aor_keys[aor] = (idx,)
        j = -1
        for item in items:
            j += 1
            if type(item) is Exchange:
                continue  # neither logged nor judged (its RegisterOutcome is)
            judge.key = (idx, j)
            if isinstance(item, RegisterOutcome):
                if len(self.regs) < MAX_LOG:
                    self.regs.append(((idx, j), PackedLog.pack(register_log(item))))
                self.ue.feed(item)
            else:
                log_item(self.logs, item)
                if type(item) is KeepAlive:
                    self.ue.feed(item)
            judge.feed(item)

    def finish(self, idx: int) -> None:
        for j, item in enumerate(self.tl.finish()):
            self.judge.key = (idx, j)
            log_item(self.logs, item)
            self.judge.feed(item)
            self.ue.feed(item)
        self.ue.finish(self.tl.open.values())

    def result(self, **extra) -> dict:
        ru = resource.getrusage(resource.RUSAGE_SELF)
        tl, judge = self.tl, self.judge
        results = {rid: (dict(r.counts), judge.first[rid], list(zip(judge.keys[rid], r.findings)))
                   for rid, r in judge.results.items()}
        bindings, total = [], 0
        for aor, st in tl.aors.items():
            if total >= SHOWN_BINDINGS:
                break
            bindings.append((self.aor_keys[aor], aor, list(st.bindings.values()), list(st.gone)))
            total += len(st.bindings) + len(st.gone)
        return {"unsafe": None, "counts": tl.counts, "results": results, "registrations": self.regs,
                "outbound": (judge.offered, judge.shown),
                "keepalives": self.logs.keepalives, "deliveries": self.logs.deliveries, "bindings": bindings,
                "events": self.events, "ue": self.ue.export(),
                "peak_rss_mb": round(ru.ru_maxrss / 1024, 1), "cpu_s": round(ru.ru_utime + ru.ru_stime, 2), **extra}


def _work(path: str, n: int, strict: bool, keepalive_bound: float, peers=(), ue_by: str = "instance",
          on_progress=None) -> dict:
    """Process 0: read, reassemble, route every other process's messages down its pipe
    (``peers``: ``fd`` the result pipe, ``out`` the message pipe), analyse its own share."""
    reader = CaptureReader(path)
    reader.on_progress = on_progress  # process 0 reads the whole file: its bytes are the progress
    reasm = _PartReassembler(0, n)
    reasm.keys = reader.keys  # a pcapng's Decryption Secrets Blocks (read when the file opens)
    share = _Share(n, strict, keepalive_bound, ue_by)
    tl = share.tl
    early: dict = {}
    batches: list[list] = [[] for _ in range(n)]
    outs = [None] + [p["out"] for p in peers]
    idx = 0

    def flush(p: int) -> None:
        try:
            view = memoryview(pickle.dumps(batches[p], protocol=pickle.HIGHEST_PROTOCOL))
            fd = outs[p]
            while view:
                view = view[os.write(fd, view):]
        except BrokenPipeError:  # the worker gave up (or died): its result says why
            _peer_gave_up(peers, early, wait=True)
            raise Unsafe(early.get("unsafe") or f"worker process {p} stopped")
        batches[p].clear()

    def send(p: int, item: tuple) -> None:
        b = batches[p]
        b.append(item)
        if len(b) >= _BATCH:
            flush(p)

    def handle(events) -> None:
        nonlocal idx
        for ev in events:
            idx += 1
            if idx % _POLL_EVERY == 0 and peers and _peer_gave_up(peers, early):
                raise Unsafe(early["unsafe"])
            if ev.kind == "skip":
                if ev.time > tl.last_time:
                    tl.last_time = ev.time
                send(ev.message, (idx, ev.number, ev.time, ev.transport, ev.src, ev.dst, ev.first, ev.data))
                continue
            share.event(idx, ev)

    part = reasm.part
    try:
        for seg in reader:
            if seg.transport == "udp":
                # Another process's SIP datagram: one event, sent as it is.
                data = seg.payload
                if classify_datagram(data) == "sip":
                    p = part(data)
                    if p:
                        idx += 1
                        if idx % _POLL_EVERY == 0 and peers and _peer_gave_up(peers, early):
                            raise Unsafe(early["unsafe"])
                        if seg.time > tl.last_time:
                            tl.last_time = seg.time
                        send(p, (idx, seg.number, seg.time, "udp", seg.src, seg.dst, seg.number, data))
                        continue
                    reasm.last_seen = (data, p)
            handle(reasm.feed(seg))
        handle(reasm.finish())
        for p in range(1, n):
            if batches[p]:
                flush(p)
        idx += 1
        share.finish(idx)
    except Unsafe as exc:
        return {"unsafe": str(exc), **early}
    return share.result(reader=reader, reasm_stats=reasm.stats, conn_log=reasm.conn_log, **early)


def _consume(fd: int, n: int, strict: bool, keepalive_bound: float, ue_by: str = "instance") -> dict:
    """Another process: parse and judge the messages process 0 sends."""
    share = _Share(n, strict, keepalive_bound, ue_by)
    event = share.event
    last = 0
    with os.fdopen(fd, "rb", buffering=1 << 16) as f:
        load = pickle.load
        try:
            while True:
                try:
                    batch = load(f)
                except EOFError:
                    break
                for idx, number, when, transport, src, dst, first, data in batch:
                    try:
                        msg = parse_message(data)
                    except ParseError as exc:
                        ev = WireEvent(number, when, transport, src, dst, "unparseable", data, None,
                                       f"not SIP: {exc}", first)
                    else:
                        ev = WireEvent(number, when, transport, src, dst, "sip", data, msg, "", first)
                    event(idx, ev)
                    last = idx
            share.finish(last + 1)
        except Unsafe as exc:
            return {"unsafe": str(exc)}
    return share.result()


def _peer_gave_up(peers, early: dict, wait: bool = False) -> bool:
    """A peer that finished early with ``unsafe`` set: read its result now (``wait``: those
    whose pipe to them broke, as long as it takes)."""
    for p in peers:
        if p.get("result") is None and (wait or select.select([p["fd"]], [], [], 0)[0]):
            if wait and p["out"] is not None:
                try:
                    os.close(p["out"])
                except OSError:
                    pass
                p["out"] = None
            p["result"] = _read(p)
            if p["result"].get("unsafe"):
                early["unsafe"] = p["result"]["unsafe"]
                return True
    return False


def _read(p: dict) -> dict:
    chunks = []
    while True:
        b = os.read(p["fd"], 1 << 20)
        if not b:
            break
        chunks.append(b)
    os.close(p["fd"])
    os.waitpid(p["pid"], 0)
    try:
        return pickle.loads(b"".join(chunks))
    except Exception as exc:  # the child died before writing its result
        return {"unsafe": f"worker process failed: {exc}"}


def analyze_parallel(path: str, processes: int, *, strict: bool = False,
                     keepalive_bound: float = 10.0, outbound: bool | None = None,
                     ue_by: str = "instance", ue_capabilities: list[str] | None = None,
                     on_progress=None) -> tuple[Analysis | None, str]:
    """(analysis, "") or (None, why the capture is analysed serially instead)."""
    t0 = time.perf_counter()
    thresholds = gc.get_threshold()
    gc.set_threshold(max(thresholds[0], 50_000), *thresholds[1:])
    caches = headers.NAME_ADDR_CACHE_MAX, headers.URI_CACHE_MAX
    headers.NAME_ADDR_CACHE_MAX = headers.URI_CACHE_MAX = max(caches[0], CACHE_MAX)
    peers: list[dict] = []
    try:
        for k in range(1, processes):
            mr, mw = os.pipe()  # messages to the worker
            r, w = os.pipe()  # its result back
            pid = os.fork()
            if pid == 0:  # the child: its share, its result down the pipe, and out
                code = 0
                try:
                    os.close(r)
                    os.close(mw)
                    for p in peers:  # the earlier workers' pipes: theirs alone
                        os.close(p["fd"])
                        os.close(p["wfd"])
                    try:
                        res = _consume(mr, processes, strict, keepalive_bound, ue_by)
                    except BaseException:
                        res = {"unsafe": "worker process failed: " + traceback.format_exc(limit=3)}
                    data = pickle.dumps(res, protocol=pickle.HIGHEST_PROTOCOL)
                    view = memoryview(data)
                    while view:
                        view = view[os.write(w, view):]
                except BaseException:
                    code = 1
                finally:
                    os._exit(code)
            os.close(w)
            os.close(mr)
            peers.append({"pid": pid, "fd": r, "wfd": mw, "result": None})
        for p in peers:
            p["out"] = p.pop("wfd")
            try:  # a larger pipe: process 0 reads on while the worker parses
                fcntl.fcntl(p["out"], getattr(fcntl, "F_SETPIPE_SZ", 1031), _PIPE_SIZE)
            except OSError:
                pass
        try:
            mine = _work(path, processes, strict, keepalive_bound, peers, ue_by, on_progress)
        except BaseException:
            for p in peers:
                if p["result"] is None:
                    os.kill(p["pid"], 9)
            raise
        results = [mine]
        for p in peers:
            if mine.get("unsafe") and p["result"] is None:
                os.kill(p["pid"], 9)
            if p["out"] is not None:
                try:
                    os.close(p["out"])  # the end of its messages
                except OSError:
                    pass
                p["out"] = None
            results.append(p["result"] if p["result"] is not None else _read(p))
    finally:
        gc.set_threshold(*thresholds)
        headers.NAME_ADDR_CACHE_MAX, headers.URI_CACHE_MAX = caches
    for res in results:
        if res.get("unsafe"):
            return None, res["unsafe"]
    a = _merge(path, results, strict, keepalive_bound, ue_by, ue_capabilities)
    a.judge.classify(outbound)
    a.seconds = time.perf_counter() - t0
    a.processes = [{"events": r["events"], "peak_rss_mb": r["peak_rss_mb"], "cpu_s": r["cpu_s"]} for r in results]
    return a, ""


def _ordered(pairs) -> dict:
    """Dict entries by the key of their first appearance."""
    return {name: value for _, name, value in sorted(pairs, key=lambda t: t[0])}


def _merge(path: str, results: list[dict], strict: bool, keepalive_bound: float, ue_by: str = "instance",
           ue_capabilities: list[str] | None = None) -> Analysis:
    head = results[0]
    reader: CaptureReader = head["reader"]
    reasm = Reassembler()
    reasm.stats = head["reasm_stats"]
    reasm.conn_log = head["conn_log"]
    tl = Timeline(keepalive_bound=keepalive_bound)
    c = Counts()
    for r in results:
        rc = r["counts"]
        for f in ("messages", "requests", "responses", "unparseable", "pings", "pongs", "stun", "keepalives"):
            setattr(c, f, getattr(c, f) + getattr(rc, f))
        for m, v in rc.methods.items():
            c.methods[m] = c.methods.get(m, 0) + v
    tl.counts = c
    for key, aor, active, gone in sorted((b for r in results for b in r["bindings"]), key=lambda t: t[0]):
        tl.aors[aor] = AorState({b.key: b for b in active}, gone)
    judge = Judge(strict=strict, keepalive_bound=keepalive_bound)
    judge.offered = sum(r["outbound"][0] for r in results)
    judge.shown = sum(r["outbound"][1] for r in results)
    for rid, res in judge.results.items():
        firsts = [(key, outcome, None) for r in results for outcome, key in r["results"][rid][1].items()]
        totals: dict[str, int] = {}
        for r in results:
            for outcome, v in r["results"][rid][0].items():
                totals[outcome] = totals.get(outcome, 0) + v
        named = list(_ordered(firsts))
        order = named + [o for o in totals if o not in named]
        res.counts = {outcome: totals[outcome] for outcome in order if outcome in totals}
        for key, f in sorted((kf for r in results for kf in r["results"][rid][2]), key=lambda t: t[0]):
            if f.finding.outcome == PASS:
                if res.passes_kept >= KEEP_PASSES:
                    continue
                res.passes_kept += 1
            else:
                if res.others_kept >= KEEP_OTHERS:
                    continue
                res.others_kept += 1
            res.findings.append(f)
    a = Analysis(path, reader.problems, judge, tl, reader, reasm, 0.0)
    a.registrations = PackedLog()  # packed texts, in the serial order
    a.registrations.extend([d for _, d in sorted((x for r in results for x in r["registrations"]),
                                                 key=lambda t: t[0])][:MAX_LOG])
    a.keepalives = head["keepalives"]
    a.deliveries = head["deliveries"]
    judge_the_ues(a, merge_ues([r["ue"] for r in results], by=ue_by), strict, ue_capabilities)
    return a


__all__ = ["Unsafe", "analyze_parallel", "OfflineFinding"]
