"""The NAT and IPv6 cases against the embedded reference inside its topology, through the CLI:
verdicts, the NAT's view in the pcap and the ladder notes, and no namespace left behind, also
after Ctrl-C.  Needs root; skipped with the reason otherwise.  (The full tables of
reference-nat and reference-ipv6 are checked by tests/integration/test_expected_verdicts.py.)"""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

from conformance.topology.netns import leftovers, unavailable_reason

ROOT = Path(__file__).resolve().parents[2]
REASON = unavailable_reason()
pytestmark = pytest.mark.skipif(REASON is not None, reason=REASON or "")


def _run(tmp: Path, target: str, *args: str) -> subprocess.Popen:
    return subprocess.Popen([sys.executable, "-m", "conformance", "run", "-q", f"--target={ROOT / target}",
                             f"--reports-dir={tmp}", f"--pcap-dir={tmp}/pcaps", *args, str(ROOT / "testcases" / "nat")],
                            cwd=ROOT, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)


def _mine(pid: int) -> list[str]:
    return [n for n in leftovers() if n.startswith(f"cft{pid}x")]


def test_reg1a_through_the_nat_shows_the_translation(tmp_path):
    proc = _run(tmp_path, "targets/reference-nat.yaml", "-k", "NAT-001 or NAT-004")
    out, _ = proc.communicate(timeout=120)
    assert proc.returncode == 0, out[-3000:]
    assert _mine(proc.pid) == []
    cases = {c["id"]: c for c in json.loads((tmp_path / "results.json").read_text())["cases"]}
    assert cases["NAT-001[udp]"]["verdict"] == "pass" and cases["NAT-004[udp]"]["verdict"] == "pass"
    notes = [m["note"] for m in cases["NAT-001[udp]"]["messages"]]
    assert any("NAT: leaves as 198.18.2." in n for n in notes)
    from scapy.layers.inet import IP
    from scapy.utils import rdpcap

    pkts = rdpcap(str(tmp_path / "pcaps" / "NAT-001-udp.pcap"))
    sources = {p[IP].src for p in pkts if p.haslayer(IP)}
    assert {"198.18.1.2", "198.18.2.1"} <= sources          # before and after the NAT


def test_ipv6_only(tmp_path):
    proc = _run(tmp_path, "targets/reference-ipv6.yaml", "-k", "IP6")
    out, _ = proc.communicate(timeout=120)
    assert proc.returncode == 0, out[-3000:]
    verdicts = {c["id"]: c["verdict"] for c in json.loads((tmp_path / "results.json").read_text())["cases"]}
    assert verdicts == {"IP6-001[udp]": "pass", "IP6-001[tcp]": "pass", "IP6-002[udp]": "pass",
                        "IP6-002[tcp]": "pass"}


def test_ctrl_c_leaves_nothing_behind(tmp_path):
    proc = _run(tmp_path, "targets/reference-nat.yaml", "-k", "NAT-003")
    deadline = time.monotonic() + 30
    while not _mine(proc.pid) and time.monotonic() < deadline and proc.poll() is None:
        time.sleep(0.1)
    assert _mine(proc.pid), "the run did not create its topology"
    time.sleep(1.0)
    os.kill(proc.pid, signal.SIGINT)
    proc.communicate(timeout=60)
    assert _mine(proc.pid) == []
