"""Offline analysis and replay on captures of a real SUT: two case pcaps recorded against the
Kamailio 5.6 registrar profile (pcaps/samples/kamailio-registrar/)."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

from conformance.baseline import load_table

ROOT = Path(__file__).resolve().parents[2]
SAMPLES = ROOT / "pcaps/samples/kamailio-registrar"


def _run(*args: str) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-m", "conformance", *args], cwd=ROOT, capture_output=True,
                          text=True, timeout=120)


def test_rejudged_kamailio_captures_give_the_table_verdicts():
    table = load_table(ROOT / "expected/kamailio-registrar.yaml")
    for pcap in sorted(SAMPLES.glob("*.pcap")):
        case_id, transport = pcap.stem.rsplit("-", 1)
        expected = table.cases[f"{case_id}[{transport}]"].verdict
        proc = _run("analyze", str(pcap), "--case", "testcases/", "--target", "targets/kamailio-registrar.yaml", "-q")
        assert f"verdict: {expected.upper()}" in proc.stdout, (pcap.name, proc.stdout, proc.stderr)


def test_generic_analysis_finds_the_reg1b_deviation():
    # Kamailio drops the reg-id 2 binding on Reg1b with a new Call-ID (expected/kamailio-registrar.yaml)
    proc = _run("analyze", str(SAMPLES / "REG-004B-udp.pcap"))
    assert proc.returncode == 1, proc.stdout + proc.stderr
    assert "R2-bindings" in proc.stdout or "R3" in proc.stdout


def test_replaying_a_kamailio_capture_against_the_reference_shows_the_difference(tmp_path):
    proc = _run("replay", str(SAMPLES / "REG-004B-udp.pcap"), "--target", "targets/reference-rel8.yaml",
                "--output", str(tmp_path / "replay.pcap"))
    assert proc.returncode == 1, proc.stdout + proc.stderr
    assert "DIFFERENT" in proc.stdout and "Contact" in proc.stdout
