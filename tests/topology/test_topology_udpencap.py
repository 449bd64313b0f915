"""IMS AKA and sec-agree through the kernel NAT with ESP in UDP (mod=UDP-enc-tun, RFC 3948): the
NAT-IMS cases against targets/reference-ims-nat.yaml through the CLI, the pcap as tshark reads it
with the written keys, and nothing left behind.  Needs root; skipped with the reason otherwise."""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

from conformance.topology.netns import leftovers, unavailable_reason

ROOT = Path(__file__).resolve().parents[2]
REASON = unavailable_reason()
pytestmark = pytest.mark.skipif(REASON is not None, reason=REASON or "")


def test_sec_agree_through_the_nat_in_udp(tmp_path):
    proc = subprocess.Popen([sys.executable, "-m", "conformance", "run", "-q",
                             f"--target={ROOT / 'targets/reference-ims-nat.yaml'}", f"--reports-dir={tmp_path}",
                             f"--pcap-dir={tmp_path}/pcaps", "-k", "NAT-IMS", str(ROOT / "testcases" / "nat")],
                            cwd=ROOT, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
    output, _ = proc.communicate(timeout=120)
    assert proc.returncode == 0, output[-3000:]
    assert [n for n in leftovers() if n.startswith(f"cft{proc.pid}x")] == []
    cases = {c["id"]: c for c in json.loads((tmp_path / "results.json").read_text())["cases"]}
    assert {k: c["verdict"] for k, c in cases.items()} == {
        "NAT-IMS-001[udp]": "pass", "NAT-IMS-002[udp]": "pass", "NAT-IMS-003[udp]": "pass"}
    # after the rebinding the P-CSCF answered at the new mappings, noted per message
    three = [m["note"] for m in cases["NAT-IMS-003[udp]"]["messages"] if m["flow"] == "f1"]
    assert any("mapped to 198.18.2.1:" in n for n in three) and any("mapped to 198.18.2.3:" in n for n in three)
    one = cases["NAT-IMS-001[udp]"]
    received = [m for m in one["messages"] if m["direction"] == "received" and m["flow"] == "f1"]
    # the 2xx and the MESSAGE came as ESP in UDP through the NAT (the P-CSCF learned the mapping)
    assert sum("ESP-in-UDP from 198.18.2.2" in m["note"] for m in received) == 3
    assert all("mapped to 198.18.2.1:" in m["note"] for m in received[1:])
    keepalive_step = next(s for s in one["steps"] if s["action"] == "esp_keepalive")
    assert keepalive_step["note"].startswith("5 round(s) of NAT-keepalives")

    pcap = tmp_path / "pcaps" / "NAT-IMS-001-udp.pcap"
    keys = pcap.with_suffix(".wireshark")
    assert "UDPENCAP" in (keys / "decode_as_entries").read_text()
    assert '"*","*"' in (keys / "esp_sa").read_text()              # outer addresses change at the NAT
    if shutil.which("tshark") is None:
        pytest.skip("tshark is not installed: the pcap is not decoded")
    out = subprocess.run(["tshark", "-r", str(pcap), "-Y", "udpencap", "-T", "fields", "-E", "separator=;",
                          "-e", "ip.src", "-e", "udpencap.nat_keepalive", "-e", "esp.spi"],
                         env=dict(os.environ, WIRESHARK_CONFIG_DIR=str(keys)), capture_output=True,
                         text=True, timeout=60).stdout.splitlines()
    keepalives = [line for line in out if line.split(";")[1]]
    assert len(keepalives) >= 2 * 6 * 2                              # both ports, 6 rounds, both NAT sides
    assert any(line.startswith("198.18.2.1;") for line in keepalives)  # after translation
    # ESP decrypted: the inner packet from the UE's private address, also in frames the NAT
    # translated (outer 198.18.2.1)
    decrypted = [line.split(";")[0].split(",") for line in out if not line.split(";")[1]]
    assert ["198.18.2.1", "198.18.1.2"] in [srcs[:2] for srcs in decrypted]
