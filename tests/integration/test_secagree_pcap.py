"""A sec-agree case's pcap holds ESP as sent and received, and tshark decrypts it with the keys
the run writes beside it (needs root for raw ESP sockets, and tshark)."""

from __future__ import annotations

import os
import shutil
import subprocess

import pytest

from conformance.ims.espio import esp_available
from suite_runner import ROOT, run_suite

TSHARK = shutil.which("tshark")
REASON = esp_available()
pytestmark = [
    pytest.mark.skipif(TSHARK is None, reason="tshark not installed (scripts/install-tools.sh installs it)"),
    pytest.mark.skipif(REASON is not None, reason=f"raw ESP sockets unavailable: {REASON}"),
]


def _fields(pcap, config_dir=None, *fields):
    env = dict(os.environ)
    if config_dir is not None:
        env["WIRESHARK_CONFIG_DIR"] = str(config_dir)
    else:
        env["WIRESHARK_CONFIG_DIR"] = str(pcap.parent / "no-such-config")
    args = [TSHARK, "-r", str(pcap), "-T", "fields", "-E", "separator=|"]
    for f in fields:
        args += ["-e", f]
    proc = subprocess.run(args, capture_output=True, text=True, timeout=60, env=env)
    assert proc.returncode == 0, proc.stderr
    return [line.split("|") for line in proc.stdout.splitlines()]


def test_tshark_decrypts_the_esp_of_a_sec_agree_case(tmp_path):
    run = run_suite(tmp_path, "-k", "(AKA-001 or AKA-ALG-5) and udp", "testcases/secagree",
                    target=ROOT / "targets" / "reference-ims-rel8.yaml")
    assert run.results is not None, run.output
    assert run.verdicts() == {"AKA-001[udp]": "pass", "AKA-ALG-5[udp]": "pass"}, run.output
    for case in ("AKA-001-udp", "AKA-ALG-5-udp"):
        pcap = run.pcaps / f"{case}.pcap"
        keys = run.pcaps / f"{case}.wireshark"
        assert (keys / "esp_sa").is_file() and (keys / "decode_as_entries").is_file()
        clear = _fields(pcap, None, "ip.proto", "esp.spi", "sip.Method", "sip.Status-Code")
        assert [row[0] for row in clear] == ["17", "17", "50", "50"]      # 2 clear, 2 ESP
        assert not any(row[2] or row[3] for row in clear[2:])              # no keys: no SIP
        decrypted = _fields(pcap, keys, "esp.spi", "sip.Method", "sip.Status-Code",
                            "sip.Security-Verify", "_ws.expert")
        assert [(r[1], r[2]) for r in decrypted] == [("REGISTER", ""), ("", "401"),
                                                     ("REGISTER", ""), ("", "200")]
        assert decrypted[2][3].startswith("ipsec-3gpp")
        assert not any("Malformed" in r[4] for r in decrypted)
