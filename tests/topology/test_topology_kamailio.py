"""Kamailio as a managed SUT inside the SUT namespace of a topology (targets/kamailio-nat.yaml):
started there by the suite and stopped before the namespace goes, also after Ctrl-C; nothing is
left (namespaces, Kamailio processes, run dirs).  Needs root, nftables and Kamailio; skipped
with the reason otherwise.  (The verdicts are checked by tests/integration/test_kamailio.py.)"""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

from conformance.topology.netns import leftovers, unavailable_reason

ROOT = Path(__file__).resolve().parents[2]
KCTL = ROOT / "suts" / "kamailio" / "kamailioctl.sh"
REASON = unavailable_reason() or (
    None if subprocess.run([str(KCTL), "installed"], capture_output=True, timeout=30).returncode == 0
    else "Kamailio with its outbound module is not installed (suts/kamailio/kamailioctl.sh install)")
pytestmark = pytest.mark.skipif(REASON is not None, reason=REASON or "")


def _kamailios(tag: str) -> list[int]:
    """Kamailio processes of the run whose namespaces start with ``tag``."""
    out = []
    for p in Path("/proc").iterdir():
        if not p.name.isdigit():
            continue
        try:
            cmd = (p / "cmdline").read_bytes().replace(b"\0", b" ").decode("utf-8", "replace")
        except OSError:
            continue
        if cmd.startswith("kamailio ") and f"/run/netns/{tag}" in cmd:
            out.append(int(p.name))
    return out


def test_ctrl_c_stops_kamailio_in_its_namespace(tmp_path):
    proc = subprocess.Popen([sys.executable, "-m", "conformance", "run", "-q",
                             f"--target={ROOT / 'targets/kamailio-nat.yaml'}", f"--reports-dir={tmp_path}",
                             f"--pcap-dir={tmp_path}/pcaps", "-k", "NAT-003 and udp", str(ROOT / "testcases" / "nat")],
                            cwd=ROOT, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
    tag = f"cft{proc.pid}x"
    deadline = time.monotonic() + 40
    while not _kamailios(tag) and time.monotonic() < deadline and proc.poll() is None:
        time.sleep(0.1)
    assert _kamailios(tag), "Kamailio did not start inside the run's namespace"
    assert (KCTL.parent / "run" / "netns").exists()
    time.sleep(1.0)
    os.kill(proc.pid, signal.SIGINT)
    out, _ = proc.communicate(timeout=60)
    assert [n for n in leftovers() if n.startswith(tag)] == []
    deadline = time.monotonic() + 5
    while _kamailios(tag) and time.monotonic() < deadline:
        time.sleep(0.1)
    assert _kamailios(tag) == [], out[-2000:]
    assert not [d for d in (KCTL.parent / "run" / "netns").glob(f"{tag}*")]
