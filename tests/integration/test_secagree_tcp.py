"""sec-agree over TCP: kernel TCP inside ESP through the TUN gateway, end to end against the
reference P-CSCF (root, /dev/net/tun, tshark; skipped with the reason otherwise).

* the pcap holds the protected connection as ESP only, and tshark decrypts it with the keys
  written beside it (SIP over TCP reassembled inside ESP);
* each IMS fault of the reference is caught over TCP too, with a reason naming what was seen.
"""

from __future__ import annotations

import os
import re
import shutil
import subprocess
from pathlib import Path

import pytest

from conformance.ims.tungw import tun_available
from suite_runner import ROOT, run_suite

TSHARK = shutil.which("tshark")
REASON = tun_available()
pytestmark = pytest.mark.skipif(REASON is not None, reason=f"TUN gateway unavailable: {REASON}")
REL8 = ROOT / "targets" / "reference-ims-rel8.yaml"
FAULTS = ROOT / "tests" / "targets"


def _orphan_devices() -> list[str]:
    """TUN devices of the suite whose process is gone (there must be none: non-persistent)."""
    out = []
    for dev in Path("/sys/class/net").glob("cftun*"):
        m = re.match(r"cftun(\d+)n\d+$", dev.name)
        if m and not Path(f"/proc/{m.group(1)}").exists():
            out.append(dev.name)
    return out


def _fields(pcap, config_dir, *fields):
    env = dict(os.environ, WIRESHARK_CONFIG_DIR=str(config_dir))
    args = [TSHARK, "-r", str(pcap), "-T", "fields", "-E", "separator=|"]
    for f in fields:
        args += ["-e", f]
    proc = subprocess.run(args, capture_output=True, text=True, timeout=60, env=env)
    assert proc.returncode == 0, proc.stderr
    return [line.split("|") for line in proc.stdout.splitlines()]


@pytest.mark.skipif(TSHARK is None, reason="tshark not installed (scripts/install-tools.sh installs it)")
def test_tcp_over_esp_pcap_is_esp_only_and_tshark_decrypts_it(tmp_path):
    run = run_suite(tmp_path, "-k", "(AKA-001 or AKA-005) and tcp", "testcases/secagree", target=REL8)
    assert run.results is not None, run.output
    assert run.verdicts() == {"AKA-001[tcp]": "pass", "AKA-005[tcp]": "pass",
                              "AKA-005N[tcp]": "pass"}, run.output[-3000:]
    # with outbound the MESSAGE comes on the UE's connection (SA 2), without on one the
    # P-CSCF opens from port_pc to port_us (SA 3)
    for item, sa in (("AKA-005[tcp]", "ESP SA 2"), ("AKA-005N[tcp]", "ESP SA 3")):
        delivered = [m for m in run.case(item)["messages"] if m["summary"].startswith("MESSAGE")
                     and m["direction"] == "received"]
        assert len(delivered) == 1 and sa in delivered[0]["note"], (item, delivered)
    pc_us = _fields(run.pcaps / "AKA-005N-tcp.pcap", run.pcaps / "AKA-005N-tcp.wireshark",
                    "esp.spi", "sip.Method", "sip.Status-Code")
    assert {(r[1], r[2]) for r in pc_us if r[1] or r[2]} >= {("MESSAGE", ""), ("", "200")}
    pcap, keys = run.pcaps / "AKA-001-tcp.pcap", run.pcaps / "AKA-001-tcp.wireshark"
    rows = _fields(pcap, tmp_path / "no-such-config", "ip.proto", "tcp.srcport", "tcp.dstport",
                   "sip.Method")
    clear_tcp = [r for r in rows if r[0] == "6"]
    esp = [r for r in rows if r[0] == "50"]
    # the unprotected REGISTER and its 401: clear TCP to the ordinary port; the rest is ESP
    assert len(esp) >= 6 and {r[3] for r in clear_tcp} >= {"REGISTER"}
    assert not any(r[3] for r in esp)                              # no keys: nothing inside
    clear_ports = {p for r in clear_tcp for p in r[1:3]}   # the unprotected connection
    decrypted = _fields(pcap, keys, "esp.spi", "tcp.srcport", "tcp.dstport", "sip.Method",
                        "sip.Status-Code", "_ws.expert")
    inside = [r for r in decrypted if r[0]]
    assert len(inside) == len(esp)
    assert [r[3] or r[4] for r in inside if r[3] or r[4]] == ["REGISTER", "200"]
    assert not ({r[1] for r in inside} | {r[2] for r in inside}) & clear_ports
    assert not any("Malformed" in r[5] or "checksum" in r[5].lower() for r in decrypted)
    assert _orphan_devices() == []          # the run's TUN device went with its process


@pytest.mark.parametrize("fault, item, seen", [
    # RFC 4303 is not in rfc/ ([M]): TP_SEC_015 records the tampered packet's answer
    ("fault-accept-bad-icv", "AKA-012[tcp]", "info 200 OK: the stimulus was accepted"),
    ("fault-ignore-security-verify", "AKA-009[tcp]", "observed 200 OK: the stimulus was accepted"),
    # P2 is a classification (TS 24.229 5.1.1.2.1 "will have no impact": no keyword), and over
    # TCP a request from port_pc to port_us is the seed paper's reading (TP_IMS_013 is [M])
    ("fault-one-sa-set-per-ue", "AKA-002[tcp]", "class one-sa-set-per-ue"),
    ("fault-wrong-terminating-port", "AKA-005[tcp]", "class ports"),
])
def test_each_ims_fault_is_caught_over_tcp(tmp_path, fault, item, seen):
    run = run_suite(tmp_path, "-k", f"{item.split('[')[0]} and tcp", "testcases/secagree",
                    target=FAULTS / f"{fault}.yaml")
    assert run.results is not None, run.output
    result = run.case(item)
    if seen.startswith("info "):
        found = [f for s in result["steps"] for f in s["findings"] if f["outcome"] == "info"]
        assert result["verdict"] == "pass" and any(seen[5:] in f["observed"] for f in found), found
        return
    if seen.startswith("class "):
        assert (result["verdict"], result["classification"]) == ("pass", seen[6:]), result["reason"]
        return
    assert result["verdict"] == "fail", result["reason"]
    assert seen in result["reason"], result["reason"]


def test_one_sa_set_per_ue_is_classified_and_recorded_over_tcp(tmp_path):
    """P2 under outbound: TS 24.229 5.1.1.2.1 says the new SA set "will have no impact" (no
    "shall"), so the fault is found and recorded with the catalogue's stricter reading, not failed."""
    run = run_suite(tmp_path, "-k", "AKA-002 and tcp", "testcases/secagree",
                    target=FAULTS / "fault-one-sa-set-per-ue.yaml")
    assert run.results is not None, run.output
    result = run.case("AKA-002[tcp]")
    assert result["verdict"] == "pass" and result["classification"] == "one-sa-set-per-ue", result["reason"]
    [rec] = [f for s in result["steps"] for f in s["findings"] if f["check"] == "classification"]
    assert rec["outcome"] == "info" and "TP_IMS_002" in rec["reading"]


def test_resync_over_tcp_renews_port_uc_and_connects_from_it(tmp_path):
    """AKA-008 (SQN failure, resync) run over TCP from a copy of its case file: the new
    Security-Client has a new port_uc (TS 24.229 5.1.1.5.1) and the protected REGISTER's
    connection leaves from it (engine/esptcp.py renew_port_uc)."""
    from conformance.ims.secagree import parse_ipsec
    from conformance.sip.message import parse_message

    cases = tmp_path / "testcases"
    cases.mkdir()
    text = (ROOT / "testcases" / "secagree" / "aka-failures.yaml").read_text()
    (cases / "aka-failures.yaml").write_text(text.replace("transports: [udp]", "transports: [tcp]"))
    run = run_suite(tmp_path, "-k", "AKA-008", str(cases), target=REL8)
    assert run.results is not None, run.output[-3000:]
    assert run.verdicts() == {"AKA-008[tcp]": "pass"}, run.output[-3000:]
    regs = []
    for m in run.case("AKA-008[tcp]")["messages"]:
        if m["direction"] == "sent" and m["summary"].startswith("REGISTER"):
            msg = parse_message(m["text"].encode())
            regs.append((tuple(m["src"]), parse_ipsec(msg.values("Security-Client"))[0]))
    (_, first), (_, second), (src, third) = regs
    assert second.port_c != first.port_c and second.port_s == first.port_s
    assert third == second and src[1] == second.port_c      # the protected connection's port
