"""The number of SIP messages found equals what tshark decodes in the same sample files."""

import shutil
import subprocess
from pathlib import Path

import pytest

from conformance.analysis.analyzer import analyze

TSHARK = shutil.which("tshark")
SAMPLES = sorted(p for p in (Path(__file__).resolve().parents[2] / "pcaps" / "samples").rglob("*")
                 if p.suffix in (".pcap", ".pcapng"))


@pytest.mark.skipif(TSHARK is None, reason="tshark not installed")
@pytest.mark.parametrize("sample", SAMPLES, ids=lambda p: f"{p.parent.name}/{p.name}")
def test_message_count_matches_tshark(sample):
    # the Kamailio profiles listen on 5071-5074 (not SIP's registered ports): decoded as SIP too
    proc = subprocess.run([TSHARK, "-r", str(sample), "-o", "tcp.reassemble_out_of_order:TRUE",
                           "-d", "udp.port==5071-5074,sip", "-d", "tcp.port==5071-5074,sip", "-Y", "sip",
                           "-T", "fields", "-e", "sip.CSeq.seq", "-E", "occurrence=a", "-E", "aggregator=,"],
                          capture_output=True, text=True, timeout=60)
    assert proc.returncode == 0, proc.stderr
    tshark = sum(1 for line in proc.stdout.splitlines() for v in line.split(",") if v)
    if "no-keys" in sample.name:  # TLS without its secrets: neither reads a message
        assert analyze(str(sample)).messages == tshark == 0
        return
    assert analyze(str(sample)).messages == tshark > 0
