"""Each benchmark under benchmarks/ run briefly: it runs, prints figures and writes its JSON with
the machine it ran on.  How fast is not asserted (figures are for benchmarks/, not for tests)."""

from __future__ import annotations

import json
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
BENCH = ROOT / "benchmarks"


def _run(script: str, *args: str, timeout: float = 120) -> str:
    p = subprocess.run([sys.executable, str(BENCH / script), *args], cwd=ROOT, capture_output=True,
                       text=True, timeout=timeout)
    assert p.returncode == 0, p.stdout[-2000:] + p.stderr[-2000:]
    return p.stdout


def _machine_ok(doc: dict) -> None:
    m = doc["machine"]
    assert m["platform"] and m["cpu_count"] and m["python"]


def test_gen_capture_and_analyze(tmp_path):
    cap = tmp_path / "c.pcap"
    out = _run("gen_capture.py", "-n", "2000", "--aors", "100", "-o", str(cap))
    assert "2000 messages" in out and cap.stat().st_size > 0
    half = tmp_path / "h.pcap"
    _run("gen_capture.py", "-n", "1000", "--aors", "100", "-o", str(half))
    out = _run("analyze.py", str(cap), "--half-capture", str(half), "--aors", "100",
               "--json", str(tmp_path / "a.json"))
    doc = json.loads((tmp_path / "a.json").read_text())
    _machine_ok(doc)
    r = doc["conformance_analyze"]
    assert r["messages"] == 2000 and r["verdict"] == "pass"
    assert r["messages_per_s"] > 0 and r["peak_rss_mb"] > 0 and r["sampled_peak_pss_mb"] > 0
    assert doc["conformance_analyze_half"]["messages"] == 1000 and doc["idle_rss_mb"] > 0
    assert "kb_per_aor_at_most" in doc and "peak memory per AOR" in out
    if shutil.which("tshark"):
        assert doc["tshark"]["messages"] == 2000 and doc["rate_ratio_analyze_over_tshark"] > 0
    assert "messages in" in out


def test_suite_benchmark(tmp_path):
    out = _run("suite.py", "-k", "REG-001", "--workers", "2", "--json", str(tmp_path / "s.json"))
    doc = json.loads((tmp_path / "s.json").read_text())
    _machine_ok(doc)
    assert doc["startup_s"] > 0 and doc["import_s"] > 0
    assert doc["serial"]["cases"] == 2 and doc["serial"]["exit"] == 0
    assert doc["serial"]["harness_ms_per_case"] is not None
    assert doc["parallel"]["2"]["same_verdicts"] is True
    assert "serial:" in out


@pytest.mark.skipif(shutil.which("sipp") is None, reason="SIPp (Debian package sip-tester) is not installed: "
                    "scripts/install-tools.sh installs it")
def test_load_vs_sipp_against_the_reference(tmp_path):
    out = _run("load_vs_sipp.py", "--sut", "reference", "--rates", "20", "--step", "1", "--reps", "1",
               "--yardstick", "300", "--json", str(tmp_path / "l.json"))
    doc = json.loads((tmp_path / "l.json").read_text())
    _machine_ok(doc)
    for transport in ("udp", "tcp"):
        r = doc["results"][transport]
        [rep] = r["repetitions"]
        for tool in ("conformance load", "sipp"):
            [step] = rep[tool]["steps"]
            assert step["ok"] == 40, step
            assert step["cpu_us_per_txn"] > 0 and step["sut"]["cpu_s"] is not None, step
            assert step["sut"]["udp_drops"] is not None and len(step["load_average_before"]) == 3, step
        s = r["summary"]
        assert s["conformance_load"]["median"] > 0 and s["sipp"]["median"] > 0
        assert s["ratio_load_over_sipp"]["median"] is not None and None not in s["ratio_spread_cross"]
        assert set(s["per_rate"]["20"]) == {"conformance load", "sipp"}
    if shutil.which("tshark"):
        assert doc["tshark_yardstick"]["median_s"] > 0 and len(doc["tshark_yardstick"]["runs_s"]) == 3
    assert "ratio" in out and "us/txn" in out


@pytest.mark.skipif(shutil.which("sipp") is None, reason="SIPp (Debian package sip-tester) is not installed")
def test_load_vs_sipp_with_load_variants(tmp_path):
    """--load-args twice: two variants of load climb the ladder beside SIPp, each run with its arguments."""
    out = _run("load_vs_sipp.py", "--sut", "reference", "--rates", "20", "--step", "1", "--reps", "2",
               "--transports", "udp", "--yardstick", "0", "--load-args", "--turn-ms 1",
               "--load-args", "--turn-ms 30", "--json", str(tmp_path / "l.json"))
    doc = json.loads((tmp_path / "l.json").read_text())
    assert doc["load_args"] == ["--turn-ms 1", "--turn-ms 30"]
    r = doc["results"]["udp"]
    names = ["conformance load", "conformance load [--turn-ms 30]", "sipp"]
    for rep in r["repetitions"]:
        assert list(rep) == names
        for n in names:
            [step] = rep[n]["steps"]
            assert step["ok"] == 40, step
        assert [rep[n]["steps"][0]["turn_ms"] for n in names[:2]] == [1.0, 30.0]
    assert list(r["summary"]["variants"]) == names
    assert r["summary"]["variants"]["conformance load [--turn-ms 30]"]["kept_up_steps"] == 2
    assert "conformance load [--turn-ms 30]" in out


def test_load_streams_against_the_reference(tmp_path):
    out = _run("load_streams.py", "--reps", "1", "--flows", "5", "--registers", "3", "--json", str(tmp_path / "s.json"))
    doc = json.loads((tmp_path / "s.json").read_text())
    _machine_ok(doc)
    for t in ("tcp", "tls", "ws", "wss"):
        [r] = doc["runs"][t]
        assert r["ok"] == r["transactions"] == 15 and r["register_per_s"] > 0
        assert r["set_ups"] == (0 if t == "tcp" else 5)
    assert doc["sipp"]["version"] and ("no TLS" in out) == (not doc["sipp"]["tls"])


def test_sipp_sends_load_s_contact_form_on_each_transport():
    """SIPp's scenario as the benchmark runs it: over UDP the Contact has no transport parameter,
    as the suite's UE model builds load's; over TCP it names the transport, as load's does."""
    import importlib.util

    spec = importlib.util.spec_from_file_location("load_vs_sipp", BENCH / "load_vs_sipp.py")
    mod = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(mod)
    for transport, form in (("udp", "[local_port]>;reg-id=1;"), ("tcp", "[local_port];transport=[transport]>;reg-id=1;")):
        contacts = [line.strip() for line in mod.sipp_scenario(transport).splitlines()
                    if line.strip().startswith("Contact:")]
        assert len(contacts) == 2 and all(form in c for c in contacts), (transport, contacts)
