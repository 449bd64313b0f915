#!/usr/bin/env python3
"""`conformance load` beside SIPp, same machine, same Kamailio registrar, same scenario.

    python benchmarks/load_vs_sipp.py [--rates 500,1000,2000,4000] [--step 4] [--transports udp,tcp]

Scenario (benchmarks/sipp/register_refresh.xml, over UDP without the Contact's
``;transport=UDP`` as load's, and `conformance load --refreshes 1 --refresh-interval 1`): R new UEs per second, each one flow (reg-id 1, +sip.instance) with an
initial REGISTER and, 1 s after its 2xx, a refresh: 2R REGISTER transactions per second once
running.  Each tool climbs the ladder of rates R for ``--step`` seconds each; a step is kept up
when every transaction got a 2xx and the run ended within ``--step`` + 1 s (the refresh pause)
+ ``--slack`` s.  The sustained rate of a tool is its best measured rate (2xx per second of its
run: load's elapsed_s, SIPp's from its statistics file, both from the start of the traffic) over the
steps it kept up; the ratio is conformance load / SIPp.  The two tools climb the ladder together,
step by step, so that they see the same machine, and the whole ladder is climbed ``--reps``
times (the order of each step pair alternating from one repetition to the next): each tool's
sustained rate is given as the median and the spread (min..max) over the repetitions, the ratio
as the median of the paired ratios (load / SIPp of the same repetition) with their spread.  At
every step: the tool's CPU per completed transaction (user + system of its process, start-up
included, from RUSAGE_CHILDREN around it; load's bytecode compiled once before the first step,
as an installed package's is), the SUT's (its processes' CPU from /proc/<pid>/stat
over the step, divided by the tool's completed transactions), the datagrams the SUT's UDP socket
dropped over the step (the drops column of /proc/net/udp and udp6 for its port) and the load
averages before and after.  The machine's tshark yardstick (``--yardstick N``: tshark -Y sip on a
generated capture of N messages, median of 3) lets readers compare machines.  UDP: one socket each
(SIPp -t u1); TCP: one shared connection each (SIPp -t t1, load --tcp-connections 1).  The same
bound on transactions in progress for both: SIPp ``-l calls + 1`` (a call has one transaction at a
time), load ``--max-outstanding calls + 1``.

Kamailio is started with suts/kamailio/kamailioctl.sh (registrar profile, 127.0.0.1:5071, with
KAMAILIO_SHM_MB=512: the suite's 32 MB hold about ten thousand bindings) and restarted before
every step (an empty location table for each), unless ``--no-start``; the script refuses to start
when something already uses ports 5071-5074.  SIPp
is the Debian package sip-tester (scripts/install-tools.sh installs it).  Writes JSON with the
machine it ran on (--json, default benchmarks/out/load_vs_sipp.json).

An A/B of load's options: ``--load-args '--turn-ms 1' --load-args '--turn-ms 2'`` runs each variant of
load up the same ladder beside SIPp (the order of the steps rotating), each with its own figures.
"""

from __future__ import annotations

import argparse
import csv
import json
import os
import shlex
import shutil
import statistics
import socket
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))
sys.path.insert(0, str(ROOT / "benchmarks"))

from _machine import machine, print_machine, write_json  # noqa: E402
from _sut_probe import (SutProbe, children_cpu, kamailio_pid, local_port, proc_net_rows,  # noqa: E402
                        tshark_yardstick)

KCTL = ROOT / "suts" / "kamailio" / "kamailioctl.sh"
SIPP_XML = ROOT / "benchmarks" / "sipp" / "register_refresh.xml"
HOST = "127.0.0.1"
PORT = 5071  # Kamailio's registrar profile; --sut reference picks a free port
PAUSE = 1.0
# The environment `conformance load` runs in: its bytecode compiled once before the first step
# (``compile_bytecode``), as a pip install does, so that no step pays for compiling the
# package's sources (about 0.1 s of CPU each run where PYTHONDONTWRITEBYTECODE is set).
LOAD_ENV: dict | None = None


def compile_bytecode(folder: str) -> dict:
    """Compile the package into ``folder`` (PYTHONPYCACHEPREFIX) and return the environment that
    reads it there."""
    env = {k: v for k, v in os.environ.items() if k != "PYTHONDONTWRITEBYTECODE"}
    env["PYTHONPYCACHEPREFIX"] = folder
    subprocess.run([sys.executable, "-m", "compileall", "-q", str(ROOT / "conformance")], env=env, cwd=ROOT,
                   stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, timeout=300)
    return env


def ports_busy() -> list[str]:
    """Sockets bound on 127.0.0.1:5071-5074 (UDP, or TCP listening), read from /proc/net."""
    busy = []
    for proto, f in proc_net_rows("udp", "tcp"):
        port = local_port(f)
        if 5071 <= port <= 5074 and (proto == "udp" or f[3] == "0A"):
            busy.append(f"{proto}/{port}")
    return busy


def ensure_sipp() -> str | None:
    if shutil.which("sipp") is None:
        subprocess.run([str(ROOT / "scripts" / "install-tools.sh")], check=False)
    return shutil.which("sipp")


def free_port() -> int:
    """A port free for both UDP and TCP on 127.0.0.1."""
    for _ in range(50):
        with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as t:
            t.bind((HOST, 0))
            port = t.getsockname()[1]
            with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as u:
                try:
                    u.bind((HOST, port))
                except OSError:
                    continue
            return port
    raise RuntimeError("no free port")


def start_reference() -> subprocess.Popen:
    """The embedded reference CSCF in its own process (`conformance sut`), for a run without Kamailio."""
    global PORT
    PORT = free_port()
    proc = subprocess.Popen([sys.executable, "-m", "conformance", "sut", "--mode", "rel8", "--listen",
                             f"{HOST}:{PORT}"], cwd=ROOT, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    deadline = time.monotonic() + 15
    while time.monotonic() < deadline:
        with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as c:
            c.settimeout(0.2)
            if c.connect_ex((HOST, PORT)) == 0:
                return proc
        time.sleep(0.1)
    proc.kill()
    raise RuntimeError("the reference did not start")


def run_load(transport: str, rate: int, step: float, run: str, extra: tuple = ()) -> dict:
    with tempfile.TemporaryDirectory() as tmp:
        out = Path(tmp) / "load.json"
        cmd = [sys.executable, "-m", "conformance", "load", "--host", HOST, "--port", str(PORT),
               "--transport", transport, "--ues", str(int(rate * step)), "--rate", str(rate),
               "--refreshes", "1", "--refresh-interval", str(PAUSE), "--ue-address", "127.0.0.11",
               "--max-outstanding", str(int(rate * step) + 1), "--timeout", "8", "--json", str(out), "-q"]
        if transport == "tcp":
            cmd += ["--tcp-connections", "1"]
        cmd += list(extra)
        t0 = time.perf_counter()
        p = subprocess.run(cmd, cwd=ROOT, capture_output=True, text=True, timeout=step + 60, env=LOAD_ENV)
        wall = time.perf_counter() - t0
        if not out.exists():
            return {"error": (p.stderr or p.stdout)[-400:], "wall_s": wall}
        doc = json.loads(out.read_text())
        s = doc["summary"]
    elapsed = s["elapsed_s"]
    return {"transactions": s["transactions"], "ok": s["ok"], "failed": s["failed"], "failures": s["failures"],
            "retransmissions": s["retransmissions"], "elapsed_s": elapsed, "wall_s": round(wall, 3),
            "run_cpu_s": s.get("cpu_s"),  # the generator's process while it ran (start-up excluded)
            "rate_per_s": round(s["ok"] / elapsed, 1) if elapsed else None,
            "latency_ms": s["latency_ms"], "turn_ms": doc["scenario"].get("turn_ms")}


def sipp_scenario(transport: str) -> str:
    """The SIPp scenario's text for a transport: over UDP the Contact without
    ``;transport=[transport]``, as `conformance load`'s (the suite's UE model names only a
    transport other than UDP), so that Kamailio parses and stores the same REGISTER from both."""
    text = SIPP_XML.read_text()
    return text.replace(";transport=[transport]>", ">") if transport == "udp" else text


def run_sipp(sipp: str, transport: str, rate: int, step: float, run: str) -> dict:
    calls = int(rate * step)
    with tempfile.TemporaryDirectory() as tmp:
        stf = Path(tmp) / "stats.csv"
        xml = Path(tmp) / "scenario.xml"
        xml.write_text(sipp_scenario(transport))
        cmd = [sipp, f"{HOST}:{PORT}", "-sf", str(xml), "-t", "u1" if transport == "udp" else "t1",
               "-i", "127.0.0.21", "-p", "0", "-r", str(rate), "-m", str(calls), "-l", str(calls + 1),
               "-key", "run", run, "-nostdin", "-trace_stat", "-stf", str(stf), "-fd", "1",
               "-timeout", f"{int(step + 60)}s", "-timeout_error", "-max_recv_loops", "10000"]
        t0 = time.perf_counter()
        p = subprocess.run(cmd, cwd=tmp, capture_output=True, text=True, timeout=step + 90)
        wall = time.perf_counter() - t0
        rows = list(csv.reader(stf.read_text().splitlines(), delimiter=";")) if stf.exists() else []
    if len(rows) < 2:
        return {"error": f"sipp exit {p.returncode}: {(p.stderr or p.stdout)[-400:]}", "wall_s": wall}
    head, last = rows[0], rows[-1]
    col = {name: i for i, name in enumerate(head)}
    # SIPp's own clock, from its start to its last statistics line (the counterpart of load's
    # elapsed_s, which also leaves the process's start-up out); the wall time is kept beside it.
    try:
        elapsed = float(last[col["CurrentTime"]].split("\t")[-1]) - float(last[col["StartTime"]].split("\t")[-1])
    except (KeyError, ValueError, IndexError):
        elapsed = wall
    ok_calls = int(last[col["SuccessfulCall(C)"]])
    failed_calls = int(last[col["FailedCall(C)"]])
    retrans = int(last[col["Retransmissions(C)"]]) if "Retransmissions(C)" in col else 0
    ok = 2 * ok_calls  # two REGISTER transactions per call
    return {"transactions": 2 * calls, "ok": ok, "failed": 2 * calls - ok, "failed_calls": failed_calls,
            "retransmissions": retrans, "elapsed_s": round(elapsed, 3), "wall_s": round(wall, 3),
            "rate_per_s": round(ok / elapsed, 1) if elapsed else None, "exit": p.returncode}


def kept_up(r: dict, step: float, slack: float) -> bool:
    return ("error" not in r and r["failed"] == 0 and r["ok"] == r["transactions"]
            and r["elapsed_s"] <= step + PAUSE + slack)


def kamailio(action: str) -> None:
    env = dict(os.environ, KAMAILIO_SHM_MB=os.environ.get("KAMAILIO_SHM_MB", "512"))
    subprocess.run([str(KCTL), action, "registrar"], check=action == "start", env=env,
                   stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)


def _step(name, fn, transport, rate, step, slack, probe: SutProbe | None) -> dict:
    """One step of one tool, with the tool's CPU (its process, start-up included: RUSAGE_CHILDREN
    around it), the SUT's CPU and UDP drops over it, and the load averages before and after."""
    la0 = [round(x, 2) for x in os.getloadavg()]
    s0 = probe.read() if probe else None
    c0 = children_cpu()
    r = fn(transport, rate, step, f"{name[:4]}{transport}{rate}x{int(time.time()) % 100000}")
    cpu = children_cpu() - c0
    sut = SutProbe.delta(s0, probe.read()) if probe else {"cpu_s": None, "udp_drops": None, "pids": 0}
    ok = r.get("ok") or 0
    per = lambda v: round(v / ok * 1e6, 2) if v is not None and ok else None  # noqa: E731
    r.update(calls_per_s=rate, offered_per_s=2 * rate, kept_up=kept_up(r, step, slack),
             cpu_s=round(cpu, 3), cpu_us_per_txn=per(cpu), run_cpu_us_per_txn=per(r.get("run_cpu_s")),
             sut={**sut, "cpu_us_per_txn": per(sut["cpu_s"])},
             load_average_before=la0, load_average=[round(x, 2) for x in os.getloadavg()])
    return r


def ladders(tools, rates, step, slack, transport, restart: bool, rep: int = 0, probe: SutProbe | None = None) -> dict:
    """The tools up the same ladder, step by step (R for one, then R for the other, the order
    rotating from one R to the next and from one repetition to the next: with two tools it
    alternates), so that each step of each tool sees the machine as the other's does; a tool
    stops climbing at its first step not kept up."""
    out = {name: {"steps": [], "best": None, "stopped": False} for name, _ in tools}
    for i, rate in enumerate(rates):
        k = (i + rep) % len(tools)
        for name, fn in tools[k:] + tools[:k]:
            st = out[name]
            if st["stopped"]:
                continue
            if restart:  # every step against an empty location table
                kamailio("stop")
                kamailio("start")
            r = _step(name, fn, transport, rate, step, slack, probe)
            st["steps"].append(r)
            print(f"  {name:16} {transport} R={rate:6}/s offered {2 * rate:6} REGISTER/s: "
                  + (f"error {r['error']}" if "error" in r else
                     f"{r['ok']}/{r['transactions']} 2xx in {r['elapsed_s']} s = {r['rate_per_s']}/s, "
                     f"{r['failed']} failed, {r['retransmissions']} retr., CPU {r['cpu_us_per_txn']} us/txn, "
                     f"SUT {r['sut']['cpu_us_per_txn']} us/txn, SUT drops {r['sut']['udp_drops']}"
                     + ("" if r["kept_up"] else "  (did not keep up)"))
                  + f"  [load {r['load_average_before'][0]} -> {r['load_average'][0]}]", flush=True)
            if not r["kept_up"]:
                st["stopped"] = True
                continue
            best = st["best"]
            st["best"] = r if best is None or r["rate_per_s"] > best["rate_per_s"] else best
            if not restart:
                time.sleep(1.0)  # let the registrar drain
    return {name: {"steps": st["steps"], "sustained_per_s": st["best"]["rate_per_s"] if st["best"] else 0.0,
                   "sustained_calls_per_s": st["best"]["calls_per_s"] if st["best"] else 0}
            for name, st in out.items()}


def _spread(values) -> dict:
    v = [x for x in values if x is not None]
    return {"median": round(statistics.median(v), 2) if v else None, "min": min(v) if v else None,
            "max": max(v) if v else None, "values": list(values)}


def summarize(reps: list[dict], rates) -> dict:
    """Medians and spreads over the repetitions: each tool's sustained rate, the paired ratios
    (load / SIPp of the same repetition), and per offered rate each tool's CPU per transaction,
    the SUT's CPU per transaction behind it and the SUT's UDP drops (the steps each tool ran).
    With more than one load variant (``--load-args`` given more than once) the first is
    "conformance load" and every variant's rate and paired ratio is under "variants"."""
    names = list(reps[0])
    sus = {n: [r[n]["sustained_per_s"] for r in reps] for n in names}
    ratio = lambda n: [round(a / b, 3) if b else None for a, b in zip(sus[n], sus["sipp"])]  # noqa: E731
    ratios = ratio("conformance load")
    per_rate = {}
    for rate in rates:
        row = {}
        for n in names:
            steps = [s for r in reps for s in r[n]["steps"] if s["calls_per_s"] == rate and "error" not in s]
            if steps:
                row[n] = {"cpu_us_per_txn": _spread([s["cpu_us_per_txn"] for s in steps]),
                          # load only: its process while the generator ran (start-up excluded)
                          "run_cpu_us_per_txn": _spread([s["run_cpu_us_per_txn"] for s in steps]),
                          "sut_cpu_us_per_txn": _spread([s["sut"]["cpu_us_per_txn"] for s in steps]),
                          "sut_udp_drops": _spread([s["sut"]["udp_drops"] for s in steps]),
                          "retransmissions": _spread([s["retransmissions"] for s in steps]),
                          "kept_up": [s["kept_up"] for s in steps]}
        if row:
            per_rate[str(rate)] = row
    lo, hi = min(sus["conformance load"]), max(sus["conformance load"])
    slo, shi = min(sus["sipp"]), max(sus["sipp"])
    return {"conformance_load": _spread(sus["conformance load"]), "sipp": _spread(sus["sipp"]),
            "ratio_load_over_sipp": _spread(ratios),
            # the worst and best ratio the two spreads allow (any load rep against any SIPp rep)
            "ratio_spread_cross": [round(lo / shi, 3) if shi else None, round(hi / slo, 3) if slo else None],
            "per_rate": per_rate,
            "variants": {n: {"sustained_per_s": _spread(sus[n]), "ratio_load_over_sipp": _spread(ratio(n)),
                             "kept_up_steps": sum(s["kept_up"] for r in reps for s in r[n]["steps"])}
                         for n in names}}


def _print_summary(transport: str, s: dict) -> None:
    L, S, Q = s["conformance_load"], s["sipp"], s["ratio_load_over_sipp"]
    if len(s["variants"]) > 2:
        for n, v in s["variants"].items():
            r = v["sustained_per_s"]
            print(f"  {transport.upper()} {n}: {r['median']}/s ({r['min']}..{r['max']}), ratio "
                  f"{v['ratio_load_over_sipp']['median']}, {v['kept_up_steps']} steps kept up")
    print(f"  {transport.upper()}: conformance load {L['median']}/s ({L['min']}..{L['max']}), SIPp {S['median']}/s "
          f"({S['min']}..{S['max']}), ratio {Q['median']} (paired {Q['min']}..{Q['max']}, "
          f"cross {s['ratio_spread_cross'][0]}..{s['ratio_spread_cross'][1]})")
    for rate, row in s["per_rate"].items():
        parts = []
        for n, r in row.items():
            parts.append(f"{n}: CPU {r['cpu_us_per_txn']['median']} us/txn ({r['cpu_us_per_txn']['min']}.."
                         f"{r['cpu_us_per_txn']['max']}), SUT {r['sut_cpu_us_per_txn']['median']} us/txn, "
                         f"SUT drops {r['sut_udp_drops']['median']}, retr. {r['retransmissions']['median']}")
        print(f"    R={rate}: " + "; ".join(parts))


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--rates", default="500,1000,2000,3000,4000,6000",
                    help="ladder of new UEs (SIPp calls) per second; 2 REGISTER each")
    ap.add_argument("--step", type=float, default=4.0, help="seconds of new UEs per step")
    ap.add_argument("--slack", type=float, default=1.5, help="seconds a step may overrun and still count")
    ap.add_argument("--transports", default="udp,tcp")
    ap.add_argument("--no-start", action="store_true", help="Kamailio's registrar profile is already running")
    ap.add_argument("--sut", choices=("kamailio", "reference"), default="kamailio",
                    help="reference: the embedded reference CSCF in its own process on a free port "
                         "(no Kamailio needed; the smoke test uses it)")
    ap.add_argument("--reps", type=int, default=3, help="repetitions of the ladder (the order of each "
                    "step pair alternating); medians and spreads over them")
    ap.add_argument("--yardstick", type=int, default=200_000, metavar="N",
                    help="messages of the tshark yardstick capture (0: none)")
    ap.add_argument("--load-args", action="append", metavar="ARGS",
                    help="extra arguments for `conformance load` (one string, e.g. '--turn-ms 2'); given more "
                         "than once, each is a variant climbing the same ladder beside the others and SIPp, "
                         "the first named 'conformance load', the others by their arguments (an A/B)")
    ap.add_argument("--json", default=str(ROOT / "benchmarks" / "out" / "load_vs_sipp.json"))
    a = ap.parse_args(argv)
    m = machine()
    print_machine(m)
    sipp = ensure_sipp()
    if sipp is None:
        print("load_vs_sipp: sipp (Debian package sip-tester) is not installed and could not be installed")
        return 2
    global LOAD_ENV
    started = False
    ref = None
    yardstick = tshark_yardstick(a.yardstick, ROOT) if a.yardstick > 0 else None
    if yardstick:
        print(f"tshark yardstick: {yardstick['messages']} messages in {yardstick['median_s']} s "
              f"(median of {yardstick['runs_s']})")
    if a.sut == "reference":
        ref = start_reference()
        probe = SutProbe(lambda: ref.pid, PORT)
    else:
        run_dir = Path(os.environ.get("KAMAILIO_RUN_DIR") or KCTL.parent / "run") / "registrar"
        probe = SutProbe(kamailio_pid(run_dir), PORT)
    if a.sut == "kamailio" and not a.no_start:
        busy = ports_busy()
        if busy:
            print(f"load_vs_sipp: ports in use ({', '.join(busy)}): another Kamailio run? not starting")
            return 2
        kamailio("start")
        started = True
    rates = [int(x) for x in a.rates.split(",")]
    doc = {"benchmark": "load_vs_sipp", "machine": m, "sut": a.sut, "sipp_version": subprocess.run(
        [sipp, "-v"], capture_output=True, text=True).stdout.strip().splitlines()[-1:],
        "scenario": "initial REGISTER + refresh after 1 s, reg-id 1, one UE per call", "step_s": a.step,
        "slack_s": a.slack, "rates": rates, "reps": a.reps, "load_args": a.load_args or [""], "tshark_yardstick": yardstick, "results": {}}
    load_tools = [(f"conformance load [{args}]" if i else "conformance load",
                   lambda t, r, s, run, x=tuple(shlex.split(args)): run_load(t, r, s, run, x))
                  for i, args in enumerate(a.load_args or [""])]
    pycache = tempfile.mkdtemp(prefix="load-vs-sipp-pyc-")
    try:
        LOAD_ENV = compile_bytecode(pycache)
        for transport in a.transports.split(","):
            reps = []
            for rep in range(a.reps):
                print(f"{transport.upper()} (repetition {rep + 1} of {a.reps}):")
                reps.append(ladders(load_tools + [("sipp", lambda t, r, s, run: run_sipp(sipp, t, r, s, run))],
                                    rates, a.step, a.slack, transport, started, rep, probe))
            doc["results"][transport] = {"summary": summarize(reps, rates), "repetitions": reps}
    finally:
        shutil.rmtree(pycache, ignore_errors=True)
        if started:
            kamailio("stop")
        if ref is not None:
            ref.terminate()
            try:
                ref.wait(5)
            except subprocess.TimeoutExpired:
                ref.kill()
    doc["load_average_at_end"] = [round(x, 2) for x in os.getloadavg()]
    print(f"\nsustained REGISTER rate with zero failures (2xx/s), median (min..max) of {a.reps} repetition(s); "
          "CPU per completed transaction (user + system) of each tool and of the SUT behind it:")
    for transport, r in doc["results"].items():
        _print_summary(transport, r["summary"])
    write_json(a.json, doc)
    return 0


if __name__ == "__main__":
    sys.exit(main())
