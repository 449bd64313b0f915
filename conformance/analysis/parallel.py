"""The offline analysis on several processes, split by AOR, with the serial analysis's results.

Every process reads the capture itself (the same reader, the same TCP reassembly), so every
process sees every event in the same order and numbers them alike; nothing but the results
crosses between processes.  A cheap pre-scan of each SIP message's header section (start line
and Call-ID found with ``bytes.find``, no message object) routes it: a Call-ID seen before goes
where its first message went, a new one by ``crc32`` of its To's AOR through a table of buckets
(:func:`owner`).  Every process makes the same decision for every message, so exactly one parses
and judges it; the others only count it.  Keep-alives, STUN, closed connections and TCP framing
errors are judged in process 0.  Events are numbered in capture order, so the merge puts
findings, registrations and bindings back in the order the serial analysis gives them, and
keeps the same first ones.

The split is exact only when no state crosses AORs, so a process gives up (and the analysis runs
serially) as soon as the capture shows something that could cross them:

* a request other than REGISTER (terminating requests are matched against every AOR's bindings),
  seen by every process's pre-scan;
* a message whose parsed Call-ID is not the one the pre-scan read, or whose parsed To's AOR
  belongs to another process (a Call-ID with two AORs: a response must reach the process of its
  request), checked by the process that parses it;
* more open transactions in one process than ``MAX_OPEN / processes`` (the serial analysis
  forgets the oldest beyond ``MAX_OPEN``; below that bound neither forgets any);
* a header section the pre-scan cannot read (no empty line, no To or Call-ID, a folded one or
  bare LFs in the first message of a Call-ID, a Call-ID not in ASCII), more than
  ``MAX_CALL_IDS`` Call-IDs (the routing table must stay bounded).

Processes are forked (the command is single-threaded); process 0 is the calling process.  A
worker that gives up exits with its reason; process 0 sees it at its next look and stops the
others.  (``gc.freeze()`` before the fork was measured: no less memory, summed PSS or RSS.)
"""

from __future__ import annotations

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
from ..sip.framing import START_LINE, classify_datagram
from .reassembly import Reassembler, WireEvent
from .result import CACHE_MAX, MAX_LOG, Analysis, PackedLog, log_item, register_log
from ..sip.errors import ParseError
from ..sip.message import Response, parse_message
from .rules import KEEP_OTHERS, KEEP_PASSES, OfflineFinding, Judge
from .reading import aor_of_to, clear_memos
from .timeline import MAX_OPEN, SHOWN_BINDINGS, AorState, Counts, Exchange, KeepAlive, RegisterOutcome, Timeline
from .ue_judge import judge_the_ues
from .ue_observe import UeObserver, merge as merge_ues
from ..meaning.verdict import PASS

MAX_CALL_IDS = 200_000
_POLL_EVERY = 1 << 16  # events between two looks at the other processes' results
_BUCKETS = 1024  # crc32(AOR) % _BUCKETS -> process (see owner)
READER_WEIGHT = 1.0  # process 0's share of the AORs against another's 1.0 (it also judges keep-alives)
_TO = re.compile(rb"\r\n(?:to|t)[ \t]*:([^\r\n]*)", re.I)
_CALL_ID = re.compile(rb"\r\n(?:call-id|i)[ \t]*:([^\r\n]*)", re.I)
_WS = " \t\r\n\x0b\x0c"
_FOLD = (b"\r\n ", b"\r\n\t")
_TABLES: dict[int, bytes] = {}
_SKIP = object()  # another process's message (TCP): counted, not parsed


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


class _Router:
    """Which process parses and judges a SIP message: decided alike in every process, from the
    message's bytes and the messages before it; the process that parses it checks the decision
    against the parsed message (:meth:`parsed`)."""

    def __init__(self, k: int, n: int):
        self.k = k
        self._table = _table(n)
        self._calls: dict[bytes, int] = {}  # Call-ID -> process
        self._aors: dict[str, int] = {}  # AOR -> process (a To's AOR: reading.aor_of_to, remembered there)
        self.cid = b""  # the Call-ID of the message routed last

    def route(self, data: bytes) -> int:
        s = 0
        if data[0] in (13, 10):
            s = len(data) - len(data.lstrip(b"\r\n"))
        end = data.find(b"\r\n\r\n", s)
        if end < 0:
            raise Unsafe("a SIP message without an empty line after its header section")
        if not data.startswith(b"SIP/", s) and not data.startswith(b"REGISTER ", s):
            raise Unsafe(f"a request other than REGISTER ({data[s:data.find(b' ', s)][:20].decode('ascii', 'replace')})")
        i = data.find(b"\r\nCall-ID:", s, end)
        if i >= 0:
            cid = data[i + 10:data.find(b"\r\n", i + 10, end + 2)].strip()
        else:
            m = _CALL_ID.search(data, s, end)
            if m is None:
                raise Unsafe("a SIP message without To or Call-ID")
            cid = m.group(1).strip()
        self.cid = cid
        p = self._calls.get(cid)
        if p is None:
            p = self._first(data, s, end, cid)
        return p

    def _first(self, data: bytes, s: int, end: int, cid: bytes) -> int:
        """The process of a new Call-ID: its To's AOR's."""
        if data.count(b"\n", s, end) != data.count(b"\r\n", s, end):
            raise Unsafe("a header section with bare LFs")
        to = _TO.search(data, s, end)
        if to is None:
            raise Unsafe("a SIP message without To or Call-ID")
        if data.startswith(_FOLD, to.end(), end):
            raise Unsafe("a folded To or Call-ID")
        if not cid.isascii():
            raise Unsafe("a Call-ID not in ASCII")
        if len(self._calls) >= MAX_CALL_IDS:
            raise Unsafe(f"more than {MAX_CALL_IDS} Call-IDs")
        p = self._calls[cid] = self._owner(aor_of_to(to.group(1).decode("utf-8", "replace").strip(_WS)))
        return p

    def _owner(self, aor: str) -> int:
        p = self._aors.get(aor)
        if p is None:
            if len(self._aors) >= 65536:
                self._aors.clear()
            p = self._aors[aor] = self._table[zlib.crc32(aor.encode()) % _BUCKETS]
        return p

    def parsed(self, number: int, when: float, transport: str, src, dst, data: bytes, first: int) -> WireEvent:
        """This process's message (the one routed last), parsed and checked against its route."""
        try:
            msg = parse_message(data)
        except ParseError as exc:
            return WireEvent(number, when, transport, src, dst, "unparseable", data, None, f"not SIP: {exc}", first)
        if type(msg) is not Response and msg.method != "REGISTER":
            raise Unsafe(f"a request other than REGISTER ({msg.method[:20]})")
        index = msg.header_index()
        cid = index.get("call-id")
        if cid is None or cid[0] != self.cid.decode("ascii"):
            raise Unsafe("a Call-ID the pre-scan reads otherwise")
        to = index.get("to")
        to = to[0] if to else ""
        if self._owner(aor_of_to(to)) != self.k:
            raise Unsafe("a Call-ID with two AORs (or a To the pre-scan reads otherwise)")
        return WireEvent(number, when, transport, src, dst, "sip", data, msg, "", first)


class _PartReassembler(Reassembler):
    """The reassembly, with the SIP messages of other processes left unparsed (``_SKIP``); in a
    process other than 0 its own messages come as 1-tuples (all else is process 0's)."""

    def __init__(self, router: _Router):
        super().__init__()
        self.router = router
        self.last_time = 0.0  # of the messages skipped

    def _message(self, base: dict, data: bytes):
        r = self.router
        if r.route(data) != r.k:
            if base["time"] > self.last_time:
                self.last_time = base["time"]
            return _SKIP
        ev = r.parsed(base["number"], base["time"], base["transport"], base["src"], base["dst"], data, base["first"])
        return (ev,) if r.k else ev


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


def _work(k: int, path: str, n: int, strict: bool, keepalive_bound: float, ue_by: str = "instance",
          peers=(), on_progress=None) -> dict:
    """Process ``k``: read the whole capture, parse and judge its own share.  Process 0 also
    judges what is not a SIP message, and looks at the ``peers`` (workers) now and then."""
    reader = CaptureReader(path)
    if k == 0:
        reader.on_progress = on_progress  # every process reads the whole file: process 0's bytes are the progress
    router = _Router(k, n)
    reasm = _PartReassembler(router)
    reasm.keys = reader.keys  # a pcapng's Decryption Secrets Blocks (read when the file opens)
    share = _Share(n, strict, keepalive_bound, ue_by)
    event = share.event
    route, parsed = router.route, router.parsed
    start_line = START_LINE.match
    early: dict = {}
    idx = 0
    last = 0.0  # time of the latest UDP message skipped

    def look() -> None:
        if peers and _peer_gave_up(peers, early):
            raise Unsafe(early["unsafe"])

    def udp(data: bytes, number: int, when: float, src: str, sport: int, dst: str, dport: int) -> None:
        """A datagram (the reader's udp_hook): another process's SIP message costs its route only."""
        nonlocal idx, last
        if data and data[0] & 0xC0:  # neither STUN nor CRLFs: classify_datagram's start-line test, inline
            nl = data.find(b"\n")
            kind = "sip" if start_line(data, 0, nl if nl >= 0 else len(data)) else "unknown"
        else:
            kind = classify_datagram(data)
        if kind == "sip":
            idx += 1
            if k == 0 and idx % _POLL_EVERY == 0:
                look()
            if route(data) == k:
                event(idx, parsed(number, when, "udp", (src, sport), (dst, dport), data, number))
            elif when > last:
                last = when
        elif kind == "stun" or kind == "keepalive":
            idx += 1
            if k == 0:
                event(idx, WireEvent(number, when, "udp", (src, sport), (dst, dport), kind, data, None, "", number))
        elif k == 0:
            reasm.stats.non_sip_datagrams += 1

    reader.udp_hook = udp
    try:
        for seg in reader:
            if seg.transport == "udp":  # not taken by the hook (a pcapng, another link type)
                udp(seg.payload, seg.number, seg.time, *seg.src, *seg.dst)
                continue
            for ev in reasm.feed(seg):
                idx += 1
                if k == 0:
                    if idx % _POLL_EVERY == 0:
                        look()
                    if ev is not _SKIP:
                        event(idx, ev)
                elif type(ev) is tuple:
                    event(idx, ev[0])
        for ev in reasm.finish():
            idx += 1
            if k == 0:
                if ev is not _SKIP:
                    event(idx, ev)
            elif type(ev) is tuple:
                event(idx, ev[0])
        idx += 1
        tl = share.tl
        tl.last_time = max(tl.last_time, last, reasm.last_time)
        share.finish(idx)
    except Unsafe as exc:
        return {"unsafe": str(exc), **early}
    finally:
        reader.udp_hook = None  # its closure holds this share's state, which the result must not keep
    if k:
        return share.result()
    return share.result(reader=reader, reasm_stats=reasm.stats, conn_log=reasm.conn_log, **early)


def release() -> None:
    """Free what a process's analysis kept for reading further messages (the parse caches and
    reading memos) and its dropped state, and give the freed memory back to the system (glibc's
    ``malloc_trim``; elsewhere the memory stays the process's, for what comes next)."""
    headers.clear_caches()
    clear_memos()
    gc.collect()
    try:
        import ctypes

        ctypes.CDLL(None).malloc_trim(0)
    except (OSError, AttributeError, ImportError):
        pass


def _peer_gave_up(peers, early: dict) -> bool:
    """A peer that finished early with ``unsafe`` set: its first word (the rest, its result, is
    read after this process's own work)."""
    for p in peers:
        if p["file"] is None and select.select([p["fd"]], [], [], 0)[0]:
            why = _why(p)
            if why:
                p["result"] = {"unsafe": why}
                early["unsafe"] = why
                return True
    return False


def _why(p: dict) -> str | None:
    """A worker's first word: why it gave up (None: its result follows)."""
    p["file"] = f = os.fdopen(p["fd"], "rb", buffering=1 << 16)
    try:
        return pickle.load(f)
    except Exception as exc:  # the child died before writing its result
        return f"worker process failed: {exc}"


def _read(p: dict) -> dict:
    """A worker's result, unpickled as it comes (never whole as bytes in either process)."""
    if p["result"] is None:
        why = _why(p) if p["file"] is None else None
        try:
            p["result"] = {"unsafe": why} if why else pickle.load(p["file"])
        except Exception as exc:
            p["result"] = {"unsafe": f"worker process failed: {exc}"}
    p["file"].close()
    os.waitpid(p["pid"], 0)
    return p["result"]


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
            r, w = os.pipe()  # its result back
            pid = os.fork()
            if pid == 0:  # the child: its share, its result down the pipe, and out
                code = 0
                try:
                    os.close(r)
                    for p in peers:  # the earlier workers' pipes: theirs alone
                        os.close(p["fd"])
                    try:
                        res = _work(k, path, processes, strict, keepalive_bound, ue_by)
                    except BaseException:
                        res = {"unsafe": "worker process failed: " + traceback.format_exc(limit=3)}
                    release()  # before pickling: its memo and the pipe's buffer reuse what they held
                    with os.fdopen(w, "wb", buffering=1 << 16) as f:  # why it gave up, then all
                        pickle.dump(res.get("unsafe"), f)
                        pickle.dump(res, f, protocol=pickle.HIGHEST_PROTOCOL)
                except BaseException:
                    code = 1
                finally:
                    os._exit(code)
            os.close(w)
            peers.append({"pid": pid, "fd": r, "file": None, "result": None})
        try:
            mine = _work(0, path, processes, strict, keepalive_bound, ue_by, peers, on_progress)
        except BaseException:
            for p in peers:
                if p["result"] is None:
                    os.kill(p["pid"], 9)
            raise
        release()  # this process's share and the parse caches, before the others' results come
        results = [mine]
        for p in peers:
            if mine.get("unsafe") and p["result"] is None:
                os.kill(p["pid"], 9)
            results.append(_read(p))
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
