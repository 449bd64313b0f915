#!/usr/bin/env python3
"""`conformance load` over TCP, TLS, WS and WSS against the embedded reference: REGISTER/s, CPU
per REGISTER transaction, and the cost of each flow's connection set-up (TLS handshake,
WebSocket upgrade, both for WSS), side by side, repeated.

    python benchmarks/load_streams.py [--flows 90] [--registers 100] [--reps 3] [--transports tcp,tls,ws,wss]

Each run is its own process: the embedded reference (its listener for the transport, the suite's
test CA for TLS) and the load generator in it, ``--flows`` UEs each with one flow (one
connection per flow: below the reference's 256 connections), every flow re-registering as soon as
its 2xx arrives (``--refresh-interval 0``) until it has sent ``--registers`` REGISTERs, so the rate
is what the two ends sustain together, not an offered rate.  Figures of a run:

* ``register_per_s``: 2xx'd REGISTER transactions per second from the first request to the
  last 2xx;
* ``cpu_us_per_register``: the process's CPU time (user + system: the generator and the reference,
  both in the process, sharing its interpreter lock) over the run, less the connection set-ups,
  per transaction;
* ``load_cpu_us_per_register``: the generator's thread alone (its set-ups included), per
  transaction: what `conformance load` itself spends;
* ``set_up_cpu_ms`` / ``set_up_wall_ms``: per connection, the process's CPU and the wall time while
  its TCP connect, TLS handshake and WebSocket upgrade ran (both ends' work: the reference answers
  in the same process).

The transports run interleaved (tcp, tls, ws, wss, then again) so that each repetition sees the
same machine; the table gives every run, the median and the spread (max - min).  SIPp's TLS
figures are printed beside them when the installed SIPp was built with TLS (``sipp -v`` names
it); Debian's sip-tester is not (``SIPp v3.6.1-SCTP-PCAP-RTPSTREAM``), and then the script says so
and compares nothing.  Writes JSON with the machine (--json, default benchmarks/out/load_streams.json).
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import statistics
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))
sys.path.insert(0, str(ROOT / "benchmarks"))

from _machine import machine, print_machine, write_json  # noqa: E402


def child(transport: str, flows: int, registers: int) -> dict:
    """One run in this process (``--child``): the figures as a dict."""
    import time

    from conformance.load.generator import LoadGenerator
    from conformance.load.scenario import LoadScenario
    from conformance.sut.config import SutConfig
    from conformance.sut.server.reference import ReferenceCscf
    from conformance.wire.testca import ensure_test_ca

    sc = LoadScenario(transport=transport, ues=flows, rate=max(flows * 10.0, 100.0), refreshes=registers - 1,
                      refresh_interval=0.0, max_outstanding=flows + 1, timeout=8.0)
    streams = {f"{transport}_port": 0} if transport != "tcp" else {}
    ref = ReferenceCscf(SutConfig(max_bindings=10_000, **streams), host=sc.host, port=0)
    ref.start()
    try:
        sc.port = ref.ports[transport]
        sc.tls_ca, sc.tls_server_name = str(ensure_test_ca().ca_cert), "ims.test"
        cpu0, own0 = time.process_time(), time.thread_time()  # the run only: not the imports nor the start
        stats = LoadGenerator(sc).run()
        cpu, own = time.process_time() - cpu0, time.thread_time() - own0
    finally:
        ref.stop()
    s = stats.summary()
    c = s.get("connections", {"set_ups": 0, "cpu_s": 0.0, "cpu_ms_mean": None, "wall_ms_mean": None})
    return {"transport": transport, "transactions": s["transactions"], "ok": s["ok"], "failed": s["failed"],
            "register_per_s": s["rate_per_s"], "elapsed_s": s["elapsed_s"],
            "cpu_s": round(cpu, 3),
            "cpu_us_per_register": round((cpu - c["cpu_s"]) / max(s["ok"], 1) * 1e6, 1),
            # the generator's thread alone (the rest of the process's CPU is the reference's)
            "load_cpu_us_per_register": round(own / max(s["ok"], 1) * 1e6, 1),
            "set_ups": c["set_ups"], "set_up_cpu_ms": c["cpu_ms_mean"], "set_up_wall_ms": c["wall_ms_mean"],
            "latency_p50_ms": s["latency_ms"]["p50"], "failures": s["failures"]}


def sipp_tls() -> tuple[bool, str]:
    """Whether the installed SIPp has TLS, and its version line."""
    exe = shutil.which("sipp")
    if exe is None:
        return False, "SIPp is not installed"
    out = subprocess.run([exe, "-v"], capture_output=True, text=True, timeout=10)
    line = next((ln.strip() for ln in (out.stdout + out.stderr).splitlines() if "SIPp v" in ln), "SIPp ?")
    return "TLS" in line.upper(), line


def _spread(values: list[float]) -> str:
    vals = [v for v in values if v is not None]
    if not vals:
        return "-"
    med = statistics.median(vals)
    return f"{med:,.1f} (spread {max(vals) - min(vals):,.1f}, {100 * (max(vals) - min(vals)) / med:.0f} %)" if med else "-"


def main() -> int:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--flows", type=int, default=90)
    p.add_argument("--registers", type=int, default=100, help="REGISTERs per flow (the first one included)")
    p.add_argument("--reps", type=int, default=3)
    p.add_argument("--transports", default="tcp,tls,ws,wss")
    p.add_argument("--json", default=str(ROOT / "benchmarks/out/load_streams.json"))
    p.add_argument("--child", help=argparse.SUPPRESS)
    args = p.parse_args()
    if args.child:
        print(json.dumps(child(args.child, args.flows, args.registers)))
        return 0
    m = machine()
    print_machine(m)
    transports = args.transports.split(",")
    runs: dict[str, list[dict]] = {t: [] for t in transports}
    env = dict(os.environ, PYTHONPATH=str(ROOT))
    for rep in range(args.reps):
        for t in transports:
            proc = subprocess.run([sys.executable, __file__, "--child", t, "--flows", str(args.flows),
                                   "--registers", str(args.registers)], cwd=ROOT, env=env,
                                  capture_output=True, text=True, timeout=600)
            if proc.returncode != 0:
                print(proc.stdout[-2000:], proc.stderr[-2000:], file=sys.stderr)
                return 1
            r = json.loads(proc.stdout.strip().splitlines()[-1])
            runs[t].append(r)
            print(f"rep {rep + 1} {t:<4} {r['ok']}/{r['transactions']} 2xx, {r['register_per_s']:>8,.1f} REGISTER/s, "
                  f"{r['cpu_us_per_register']:>6.1f} µs CPU/REGISTER (load's own {r['load_cpu_us_per_register']:.1f}), set-up "
                  f"{r['set_up_cpu_ms'] if r['set_up_cpu_ms'] is not None else '-'} ms CPU / "
                  f"{r['set_up_wall_ms'] if r['set_up_wall_ms'] is not None else '-'} ms wall x {r['set_ups']}"
                  + (f"  failures {r['failures']}" if r["failures"] else ""), flush=True)
    print()
    print(f"{'':<5} {'REGISTER/s (median, spread)':<32} {'µs CPU per REGISTER':<28} {'of which load':<26} "
          f"{'set-up ms CPU per connection':<30}")
    table = {}
    for t in transports:
        rs = runs[t]
        table[t] = {"register_per_s": [r["register_per_s"] for r in rs],
                    "cpu_us_per_register": [r["cpu_us_per_register"] for r in rs],
                    "load_cpu_us_per_register": [r["load_cpu_us_per_register"] for r in rs],
                    "set_up_cpu_ms": [r["set_up_cpu_ms"] for r in rs],
                    "set_up_wall_ms": [r["set_up_wall_ms"] for r in rs]}
        print(f"{t:<5} {_spread(table[t]['register_per_s']):<32} {_spread(table[t]['cpu_us_per_register']):<28} "
              f"{_spread(table[t]['load_cpu_us_per_register']):<26} "
              f"{_spread(table[t]['set_up_cpu_ms']) if t != 'tcp' else '(connect only, not measured)':<30}")
    has_tls, line = sipp_tls()
    if has_tls:
        print(f"\nSIPp with TLS ({line}): run benchmarks/load_vs_sipp.py style -t l1 against the same registrar "
              f"for its figures (not automated here)")
        sipp = {"tls": True, "version": line}
    else:
        print(f"\nSIPp: the installed build has no TLS ({line}); no SIPp figures over TLS to compare with, "
              f"and none is made up. SIPp has no WebSocket transport at all.")
        sipp = {"tls": False, "version": line}
    write_json(args.json, {"benchmark": "load_streams", "machine": m, "flows": args.flows,
                           "registers_per_flow": args.registers, "runs": runs, "table": table, "sipp": sipp})
    return 0


if __name__ == "__main__":
    sys.exit(main())
