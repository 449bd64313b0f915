#!/usr/bin/env python3
"""How much memory the reference CSCF's registrar needs for 10,000 bindings, and whether it
stays bounded when the bindings are refreshed, replaced and expire.

    python benchmarks/reference_memory.py [N]

Prints the figures (tracemalloc, Python allocations of the sans-IO registrar).  The project's
tests (tests/robustness/test_reference_robustness.py) assert only the qualitative property:
the table holds at most its configured maximum and memory does not grow over refresh rounds.
"""

from __future__ import annotations

import sys
import time
import tracemalloc
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from conformance.sip.message import make_request  # noqa: E402
from conformance.sut.config import SutConfig  # noqa: E402
from conformance.sut.flow import FlowInfo  # noqa: E402
from conformance.sut.registrar.registrar import Registrar  # noqa: E402


def register(i: int, cseq: int, expires: int = 600):
    aor = f"sip:ue{i}@ims.test"
    return make_request("REGISTER", "sip:ims.test", [
        ("Via", f"SIP/2.0/TCP 10.{i >> 16 & 255}.{i >> 8 & 255}.{i & 255}:5060;branch=z9hG4bK-{i}-{cseq}"),
        ("Max-Forwards", "70"), ("From", f"<{aor}>;tag=t{i}"), ("To", f"<{aor}>"),
        ("Call-ID", f"c{i}@bench"), ("CSeq", f"{cseq} REGISTER"), ("Supported", "path, outbound"),
        ("Contact", f'<sip:ue{i}@10.0.0.1:5060;transport=tcp>;reg-id=1;expires={expires};'
                    f'+sip.instance="<urn:uuid:00000000-0000-1000-8000-{i:012d}>"')])


def fill(reg: Registrar, n: int, cseq: int, now: float, expires: int = 600) -> int:
    ok = 0
    for i in range(n):
        flow = FlowInfo("tcp", ("127.0.0.1", 5060), ("10.0.0.1", 10000 + i % 50000), conn_id=i)
        r = reg.handle(register(i, cseq, expires), flow, now)
        ok += r is not None and r.status == 200
    return ok


def measure(n: int = 10_000, rounds: int = 3, transaction_cache: int = 4096) -> dict:
    """``transaction_cache``: the registrar's bounded cache of answered transactions (RFC 3261
    §17.2.3); memory plateaus once it is full."""
    reg = Registrar(SutConfig(max_bindings=n, transaction_cache_size=transaction_cache), tag_secret="bench",
                    log_size=1000)
    tracemalloc.start()
    base = tracemalloc.get_traced_memory()[0]
    t0 = time.perf_counter()
    ok = fill(reg, n, 1, 1000.0)
    elapsed = time.perf_counter() - t0
    after_fill = tracemalloc.get_traced_memory()[0] - base
    per_round = []
    for r in range(rounds):  # refreshes: the same bindings, new CSeq; memory must not grow
        fill(reg, n, 2 + r, 1000.0 + r)
        per_round.append(tracemalloc.get_traced_memory()[0] - base)
    over = fill(reg, n + 1000, 10, 1010.0)  # 1000 more AORs than the table takes
    stored = len(reg.table)
    reg.table.purge(1000.0 + 10_000)
    left = len(reg.table)
    after_expiry = tracemalloc.get_traced_memory()[0] - base
    tracemalloc.stop()
    return {"n": n, "accepted": ok, "fill_seconds": elapsed, "bytes_after_fill": after_fill,
            "bytes_per_binding": after_fill / max(1, n), "bytes_after_refresh_rounds": per_round,
            "accepted_with_overflow": over, "stored_at_most": stored, "bytes_after_expiry": after_expiry,
            "stored_after_expiry": left}


if __name__ == "__main__":
    n = int(sys.argv[1]) if len(sys.argv) > 1 else 10_000
    m = measure(n)
    print(f"reference registrar, {m['n']} bindings (one AOR each, outbound, reg-id 1):")
    print(f"  registered {m['accepted']} in {m['fill_seconds']:.2f} s "
          f"({m['n'] / m['fill_seconds']:.0f} REGISTER/s, sans-IO)")
    print(f"  memory after fill: {m['bytes_after_fill'] / 1e6:.1f} MB ({m['bytes_per_binding']:.0f} B per binding, "
          f"transaction cache and log included)")
    print("  after refresh rounds: " + ", ".join(f"{b / 1e6:.1f} MB" for b in m["bytes_after_refresh_rounds"]))
    print(f"  {m['n'] + 1000} AORs offered: {m['accepted_with_overflow']} accepted, table holds {m['stored_at_most']}")
    print(f"  after every binding expired: {m['bytes_after_expiry'] / 1e6:.1f} MB")
