#!/usr/bin/env python3
"""Offline analysis at scale: `conformance analyze` beside tshark on the same capture.

    python benchmarks/analyze.py [CAPTURE] [-n 1000000] [--json FILE]

Without CAPTURE, benchmarks/gen_capture.py makes one of ``-n`` SIP messages (default 1,000,000;
REGISTER/200 pairs over 10,000 AORs, UDP and 10 % TCP) under benchmarks/out/.  Each tool runs in
its own process; wall time, messages per second and the process's peak resident memory (from
``wait4``'s rusage; for an analysis split over processes, the sum of each one's peak over its whole
life: process 0's from ``wait4``, the others' from their VmHWM sampled until they end, or their own
report if larger; pages the forked processes share are counted in each) are printed, and beside it the peak over time of
the summed PSS of the process and its children, sampled every 0.2 s (shared pages counted once).  tshark runs as ``tshark -r FILE -Y sip -T fields -e
frame.number`` (its SIP dissection only; `conformance analyze` also reassembles, rebuilds the
bindings and judges every rule), right after each run of the analysis so that both see the same
machine; ``--pairs N`` makes N such pairs and keeps the one with the median rate ratio.  ``--half`` runs the analysis on the first half of the messages
too (``--half-capture`` names that capture when CAPTURE is given), to show that memory does not
grow with the file (streaming); the peak memory per AOR is printed (``--aors``: how many).  ``--tracemalloc`` adds the
peak of Python allocations of an in-process run (slower).
"""

from __future__ import annotations

import argparse
import os
import shutil
import subprocess
import sys
import threading
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))
sys.path.insert(0, str(ROOT / "benchmarks"))

from _machine import machine, print_machine, write_json  # noqa: E402


def _tree(pid: int) -> list[int]:
    """pid and its descendants (the forked processes of a split analysis)."""
    out, todo = [], [pid]
    while todo:
        p = todo.pop()
        out.append(p)
        try:
            with open(f"/proc/{p}/task/{p}/children") as f:
                todo += [int(c) for c in f.read().split()]
        except OSError:
            pass
    return out


def _rollup(pid: int) -> dict[str, int]:
    """Rss, Pss and private kB of one process (/proc/PID/smaps_rollup)."""
    got = {}
    try:
        with open(f"/proc/{pid}/smaps_rollup") as f:
            for line in f:
                name, _, rest = line.partition(":")
                if name in ("Rss", "Pss", "Private_Clean", "Private_Dirty"):
                    got[name] = int(rest.split()[0])
    except (OSError, ValueError):
        pass
    return got


def _hwm(pid: int) -> int:
    """VmHWM (kB) of one process: its peak RSS so far."""
    try:
        with open(f"/proc/{pid}/status") as f:
            for line in f:
                if line.startswith("VmHWM:"):
                    return int(line.split()[1])
    except (OSError, ValueError):
        pass
    return 0


class TreeMemory(threading.Thread):
    """Samples a process tree every ``every`` s: the peak over time of the summed PSS (each
    shared page counted once, split among the processes that map it) and of the summed RSS
    (shared pages counted in every process).  wait4's peak RSS, added over the processes, counts
    every process's peak even when they come at different times, and shared pages each time."""

    def __init__(self, pid: int, every: float = 0.2):
        super().__init__(daemon=True)
        self.pid, self.every = pid, every
        self.peak_pss = self.peak_rss = 0
        self.hwm: dict[int, int] = {}  # pid -> its VmHWM (kB) at the last sample: its peak so far
        self.done = threading.Event()

    def run(self) -> None:
        while not self.done.is_set():
            pids = _tree(self.pid)
            for p in pids:
                self.hwm[p] = max(self.hwm.get(p, 0), _hwm(p))
            rolls = [_rollup(p) for p in pids]
            self.peak_pss = max(self.peak_pss, sum(r.get("Pss", 0) for r in rolls))
            self.peak_rss = max(self.peak_rss, sum(r.get("Rss", 0) for r in rolls))
            self.done.wait(self.every)


def timed(cmd: list[str], count_lines: bool = False) -> dict:
    """Run cmd; wall time, peak RSS (MB) and, for tshark, the lines it printed; also the sampled
    peak of the summed PSS and RSS of the process and its children (TreeMemory)."""
    t0 = time.perf_counter()
    proc = subprocess.Popen(cmd, cwd=ROOT, stdout=subprocess.PIPE, stderr=subprocess.PIPE)
    mem = TreeMemory(proc.pid)
    mem.start()
    lines = 0
    tail = b""
    assert proc.stdout is not None
    while True:
        chunk = proc.stdout.read(1 << 20)
        if not chunk:
            break
        lines += chunk.count(b"\n")
        tail = (tail + chunk)[-2000:]
    err = proc.stderr.read() if proc.stderr else b""
    mem.done.set()  # (sampled up to here: the children have finished, the report is written)
    mem.join()
    _, status, ru = os.wait4(proc.pid, 0)
    proc.returncode = os.waitstatus_to_exitcode(status)
    wall = time.perf_counter() - t0
    out = {"wall_s": round(wall, 3), "peak_rss_mb": round(ru.ru_maxrss / 1024, 1), "exit": proc.returncode,
           "user_s": round(ru.ru_utime, 3), "sys_s": round(ru.ru_stime, 3),
           "sampled_peak_pss_mb": round(mem.peak_pss / 1024, 1), "sampled_peak_rss_mb": round(mem.peak_rss / 1024, 1),
           "sampled_hwm_mb_children": round(sum(v for p, v in mem.hwm.items() if p != proc.pid) / 1024, 1)}
    if count_lines:
        out["lines"] = lines
    out["tail"] = tail.decode("utf-8", "replace").strip().splitlines()[-1:] or err.decode()[-300:]
    return out


def analyze(capture: Path, messages: int | None, json_out: Path | None = None, processes: str = "auto") -> dict:
    cmd = [sys.executable, "-m", "conformance", "analyze", str(capture), "-q", "-j", processes]
    if json_out is not None:
        cmd += ["--json", str(json_out)]
    r = timed(cmd)
    if json_out is not None and json_out.exists():
        doc = report_summary(json_out)
        counts = doc.get("sip") or {}
        messages = counts.get("messages", messages)
        r["verdict"] = doc.get("verdict")
        # Split by AOR over forked processes: wait4's peak RSS is the largest process's; the
        # figure compared is the sum of every process's peak (an upper bound: pages shared).
        procs = doc.get("processes") or []
        r["processes"] = max(1, len(procs))
        if procs:
            # Each process reports its peak when its share is done: process 0 then still reads
            # the others' results, merges and writes the report, and the others still send.
            # Process 0's whole life is wait4's figure (its peak, or a child's if larger: an
            # upper bound); the others' is the larger of their reports' sum and the sum of their
            # VmHWM as last sampled (0.2 s apart) before they ended.
            each = [p["peak_rss_mb"] for p in procs]
            r["peak_rss_mb_reported"] = round(sum(each), 1)
            first = max(each[0], r["peak_rss_mb"])
            rest = max(round(sum(each[1:]), 1), r["sampled_hwm_mb_children"])
            r["peak_rss_mb_each"] = [first, rest]  # process 0, the others together
            r["peak_rss_mb"] = round(first + rest, 1)
            # process 0 reads, reassembles and routes every message, and analyses its share
            r["events_each"] = [p.get("events") for p in procs]
            r["cpu_s_each"] = [p.get("cpu_s") for p in procs]
        if doc.get("serial_because"):
            r["serial_because"] = doc["serial_because"]
    r["messages"] = messages
    r["messages_per_s"] = round(messages / r["wall_s"]) if messages and r["wall_s"] else None
    return r


def report_summary(path: Path) -> dict:
    """The few fields of a report that are printed, read in a child process.  The benchmark's own
    process must stay small: on Linux a child's peak RSS (wait4's, and the report's per-process
    figure of process 0) starts at its parent's peak, kept across exec; loading a report of a
    million messages here (some 100 MB) raised every later run's figure to that."""
    import json

    code = ("import json, sys; d = json.load(open(sys.argv[1])); print(json.dumps({k: d.get(k) for k in "
            "('sip', 'verdict', 'processes', 'serial_because')}))")
    out = subprocess.run([sys.executable, "-c", code, str(path)], capture_output=True, text=True, check=True)
    return json.loads(out.stdout)


def tracemalloc_peak(capture: Path) -> float:
    import tracemalloc

    from conformance.analysis.analyzer import analyze as run

    tracemalloc.start()
    run(str(capture))
    peak = tracemalloc.get_traced_memory()[1]
    tracemalloc.stop()
    return round(peak / 1e6, 1)


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("capture", nargs="?")
    ap.add_argument("-n", "--messages", type=int, default=1_000_000)
    ap.add_argument("--half", action="store_true", help="also analyse a capture of half the messages")
    ap.add_argument("--tracemalloc", action="store_true")
    ap.add_argument("-j", "--processes", default="auto", help="conformance analyze -j (default auto)")
    ap.add_argument("--serial", action="store_true", help="also run conformance analyze in one process (-j 1)")
    ap.add_argument("--pairs", type=int, default=1,
                    help="runs of conformance analyze, each followed by tshark's; the median ratio is kept")
    ap.add_argument("--half-capture", help="with CAPTURE: a capture of half its messages over the same AORs "
                                           "(memory must not grow with the messages)")
    ap.add_argument("--aors", type=int, default=None,
                    help="AORs in CAPTURE (default: 10,000 for a generated one): peak memory per AOR")
    ap.add_argument("--json", default=str(ROOT / "benchmarks" / "out" / "analyze.json"))
    a = ap.parse_args(argv)
    from gen_capture import generate

    m = machine()
    print_machine(m)
    out_dir = ROOT / "benchmarks" / "out"
    gen = None
    if a.capture:
        capture = Path(a.capture)
        n = None
    else:
        capture = out_dir / f"capture-{a.messages}.pcap"
        n = a.messages
        if not capture.exists():
            gen = generate(capture, a.messages, min(10_000, max(1, a.messages // 4)), 0.1)
            print(f"generated {capture}: {gen['messages']} messages in {gen['seconds']} s")
    doc = {"benchmark": "analyze", "machine": m, "capture": str(capture),
           "capture_bytes": capture.stat().st_size, "generated": gen}
    tshark = shutil.which("tshark")
    # Each run of the analysis is followed at once by tshark's on the same file (a pair sees the
    # same machine, which may be shared); with --pairs N, N such pairs, the median ratio kept.
    pairs = []
    for i in range(max(1, a.pairs)):
        load = [round(x, 2) for x in os.getloadavg()]
        res = analyze(capture, n, out_dir / "analyze-report.json", a.processes)
        res["load_average_before"] = load
        print(f"conformance analyze: {res['messages']} messages in {res['wall_s']} s = {res['messages_per_s']}/s, "
              f"{res['processes']} process(es), CPU {res['user_s'] + res['sys_s']:.1f} s, "
              f"peak RSS {res['peak_rss_mb']} MB{' (' + ' + '.join(map(str, res['peak_rss_mb_each'])) + ')' if res.get('peak_rss_mb_each') else ''}, "
              f"sampled peak of the summed PSS {res['sampled_peak_pss_mb']} MB (RSS {res['sampled_peak_rss_mb']} MB), "
              f"verdict {res.get('verdict')} (load average before {load})")
        if res.get("cpu_s_each"):
            print("  per process: " + ", ".join(f"{e} events analysed, CPU {c} s"
                                                for e, c in zip(res["events_each"], res["cpu_s_each"])))
        t = None
        if tshark:
            t = timed([tshark, "-r", str(capture), "-Y", "sip", "-T", "fields", "-e", "frame.number"], count_lines=True)
            t["messages"] = t.pop("lines")
            t["messages_per_s"] = round(t["messages"] / t["wall_s"]) if t["wall_s"] else None
            t["load_average_before"] = [round(x, 2) for x in os.getloadavg()]
            print(f"tshark -Y sip:       {t['messages']} messages in {t['wall_s']} s = {t['messages_per_s']}/s, "
                  f"CPU {t['user_s'] + t['sys_s']:.1f} s, peak RSS {t['peak_rss_mb']} MB (sampled PSS {t['sampled_peak_pss_mb']} MB)")
        ratio = round(res["messages_per_s"] / t["messages_per_s"], 3) if t and res["messages_per_s"] and \
            t["messages_per_s"] else None
        pairs.append((ratio if ratio is not None else 0.0, i, res, t))
        if ratio is not None and a.pairs > 1:
            print(f"  pair {i + 1}: rate ratio {ratio}")
    ratio, _, res, t = sorted(pairs, key=lambda p: (p[0], p[1]))[len(pairs) // 2]  # the median pair
    doc["conformance_analyze"] = res
    if len(pairs) > 1:
        doc["pairs"] = [{"analyze_messages_per_s": r["messages_per_s"], "analyze_wall_s": r["wall_s"],
                         "tshark_messages_per_s": tt["messages_per_s"] if tt else None, "rate_ratio": q,
                         "load_average_before": r["load_average_before"]} for q, _, r, tt in pairs]
    if a.serial and res["processes"] > 1:
        one = analyze(capture, n, out_dir / "analyze-report-1.json", "1")
        doc["conformance_analyze_one_process"] = one
        print(f"  in one process:    {one['messages']} messages in {one['wall_s']} s = {one['messages_per_s']}/s, "
              f"CPU {one['user_s'] + one['sys_s']:.1f} s, peak RSS {one['peak_rss_mb']} MB")
    half = Path(a.half_capture) if a.half_capture else None
    if a.half and n and half is None:
        half = out_dir / f"capture-{n // 2}.pcap"
        if not half.exists():
            generate(half, n // 2, min(10_000, max(1, n // 8)), 0.1)
    if half is not None:
        h = analyze(half, n // 2 if n else None, out_dir / "analyze-report-half.json", a.processes)
        doc["conformance_analyze_half"] = h
        print(f"  half the messages: {h['messages']} in {h['wall_s']} s, peak RSS {h['peak_rss_mb']} MB, summed PSS "
              f"{h['sampled_peak_pss_mb']} MB (all of them: {res['peak_rss_mb']} MB, {res['sampled_peak_pss_mb']} MB)")
    aors = a.aors or (min(10_000, max(1, n // 4)) if n else None)
    if aors:
        # What the state of the AORs costs at most: the peak (every process's) less what the
        # interpreter and the modules take before any packet is read (each process has that).
        idle = timed([sys.executable, "-c", "import conformance.analysis.analyzer, conformance.report.capture_analysis"])
        base = idle["peak_rss_mb"] * res["processes"]
        doc["idle_rss_mb"] = idle["peak_rss_mb"]
        doc["kb_per_aor_at_most"] = round((res["peak_rss_mb"] - base) * 1024 / aors, 2)
        print(f"  peak memory per AOR: at most {doc['kb_per_aor_at_most']} kB ({res['peak_rss_mb']} MB less "
              f"{res['processes']} x {idle['peak_rss_mb']} MB of modules, over {aors} AORs)")
    if a.tracemalloc:
        doc["tracemalloc_peak_mb"] = tracemalloc_peak(capture)
        print(f"  Python allocations at peak (tracemalloc): {doc['tracemalloc_peak_mb']} MB")
    if t is not None:
        doc["tshark"] = t
        if ratio:
            doc["rate_ratio_analyze_over_tshark"] = ratio
            doc["memory_ratio_analyze_over_tshark"] = round(res["peak_rss_mb"] / t["peak_rss_mb"], 3)
            ratios = sorted(q for q, *_ in pairs)
            doc["rate_ratios"] = ratios
            print(f"ratio analyze/tshark with {res['processes']} process(es)"
                  f"{' (median pair; pairs ' + ' to '.join(map(str, ratios[::max(1, len(ratios) - 1)])) + ')' if len(pairs) > 1 else ''}: rate "
                  f"{doc['rate_ratio_analyze_over_tshark']}, peak memory {doc['memory_ratio_analyze_over_tshark']} "
                  f"({res['peak_rss_mb']} MB, every process's peak added, against {t['peak_rss_mb']} MB)")
    else:
        print("tshark not installed: conformance analyze figures only")
    write_json(a.json, doc)
    return 0


if __name__ == "__main__":
    sys.exit(main())
