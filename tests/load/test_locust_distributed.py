"""Locust beyond one machine, locally: a headless master and two workers run the RegisterUser of
conformance/load/locust_user.py against the embedded reference for a few seconds; the master's
aggregated request count is the sum of what the two workers fired, with no failure."""

from __future__ import annotations

import csv
import importlib.util
import os
import shutil
import socket
import subprocess
import sys
from pathlib import Path

import pytest

# Never import locust in the pytest process: importing it monkey-patches with gevent, which
# deadlocks the threads other tests start.  Locust runs in its own processes below.
pytestmark = pytest.mark.skipif(importlib.util.find_spec("locust") is None,
                                reason="Locust is the optional extra 'load' (pip install '.[load]')")

ROOT = Path(__file__).resolve().parents[2]
LOCUSTFILE = ROOT / "conformance" / "load" / "locust_user.py"


def _free_tcp_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def _locust() -> list[str]:
    exe = shutil.which("locust", path=str(Path(sys.executable).parent)) or shutil.which("locust")
    return [exe] if exe else [sys.executable, "-m", "locust"]


def test_master_and_two_workers_aggregate_counts(tmp_path):
    from conformance.sut.config import SutConfig
    from conformance.sut.server.reference import ReferenceCscf

    ref = ReferenceCscf(SutConfig())
    ref.start()
    master_port = _free_tcp_port()
    counts = tmp_path / "counts.txt"
    env = dict(os.environ, LOAD_COUNT_FILE=str(counts), LOAD_REFRESH="0.2", LOAD_FLOWS="2",
               PYTHONPATH=str(ROOT) + os.pathsep + os.environ.get("PYTHONPATH", ""))
    common = ["-f", str(LOCUSTFILE), "--host", f"127.0.0.1:{ref.port}"]
    procs = []
    try:
        master = subprocess.Popen(
            _locust() + common + ["--master", "--headless", "--master-bind-host", "127.0.0.1",
                                  "--master-bind-port", str(master_port), "--expect-workers", "2",
                                  "--expect-workers-max-wait", "30", "-u", "6", "-r", "6", "-t", "4s",
                                  "--csv", str(tmp_path / "run"), "--only-summary", "--stop-timeout", "2"],
            cwd=tmp_path, env=env, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
        procs.append(master)
        for _ in range(2):
            procs.append(subprocess.Popen(
                _locust() + common + ["--worker", "--master-host", "127.0.0.1", "--master-port", str(master_port)],
                cwd=tmp_path, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL))
        out, _ = master.communicate(timeout=60)
        for w in procs[1:]:
            w.wait(timeout=20)
    finally:
        for p in procs:
            if p.poll() is None:
                p.kill()
                p.wait()
        ref.stop()
    rows = list(csv.DictReader((tmp_path / "run_stats.csv").read_text().splitlines()))
    agg = next(r for r in rows if r["Name"] == "Aggregated")
    by_name = {r["Name"]: r for r in rows if r["Type"] == "REGISTER"}
    assert int(agg["Failure Count"]) == 0, out[-2000:]
    assert int(by_name["initial"]["Request Count"]) == 12  # 6 users x 2 flows, spread over the workers
    assert int(by_name["refresh"]["Request Count"]) > 0
    per_worker = [int(line.split()[1]) for line in counts.read_text().splitlines()]
    assert len(per_worker) == 2, per_worker
    assert sum(per_worker) == int(agg["Request Count"]), (per_worker, agg)
