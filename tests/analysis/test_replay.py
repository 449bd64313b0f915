"""conformance replay: the UE side of a capture sent again, answers compared header by header."""

from __future__ import annotations

import json
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

from conformance.analysis.rewrite import Rewriter, compare
from conformance.cases.loader import load_case_file
from conformance.sip.message import parse_message

ROOT = Path(__file__).resolve().parents[2]
SAMPLE = ROOT / "pcaps/samples/reference-rel8/REG-004A-tcp.pcap"


def _replay(*args: str, cwd=ROOT) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-m", "conformance", "replay", *args], cwd=cwd,
                          capture_output=True, text=True, timeout=120)


def test_rewriter_maps_call_ids_tags_branches_and_addresses():
    req = parse_message(
        b"REGISTER sip:ims.test SIP/2.0\r\nVia: SIP/2.0/UDP 10.9.9.9:5060;branch=z9hG4bKold;rport=5060;received=1.2.3.4\r\n"
        b"From: <sip:a@ims.test>;tag=oldtag\r\nTo: <sip:a@ims.test>\r\nCall-ID: c1\r\nCSeq: 1 REGISTER\r\n"
        b"Contact: <sip:a@10.9.9.9:5060>;reg-id=1\r\nContent-Length: 0\r\n\r\n")
    rw = Rewriter(addresses={("10.9.9.9", 5060): ("127.0.0.11", 40000)})
    a, b = rw.request(req), rw.request(req)
    assert a.call_id == b.call_id != "c1"  # the same old Call-ID always maps to the same new one
    assert a.top_branch != "z9hG4bKold" and a.top_branch != b.top_branch  # a new transaction each time
    assert "127.0.0.11:40000" in a.get("Contact") and "10.9.9.9" not in a.get("Via")
    assert "received=" not in a.get("Via") and a.get("From").endswith(f";tag={rw.tags['oldtag']}")
    assert rw.back("<sip:a@127.0.0.11:40000>") == "<sip:a@10.9.9.9:5060>"


def test_compare_ignores_what_must_differ_and_shows_what_matters():
    rw = Rewriter(addresses={("10.9.9.9", 5060): ("127.0.0.11", 40000)})
    captured = parse_message(b"SIP/2.0 200 OK\r\nVia: SIP/2.0/UDP x;branch=z9hG4bK1\r\nTo: <sip:a@t>;tag=1\r\n"
                             b"Call-ID: c1\r\nCSeq: 1 REGISTER\r\nRequire: outbound\r\n"
                             b"Contact: <sip:a@10.9.9.9:5060>;reg-id=1;expires=600\r\nContent-Length: 0\r\n\r\n")
    same = parse_message(b"SIP/2.0 200 OK\r\nVia: SIP/2.0/UDP y;branch=z9hG4bK2\r\nTo: <sip:a@t>;tag=2\r\n"
                         b"Call-ID: c9\r\nCSeq: 1 REGISTER\r\nRequire: outbound\r\n"
                         b"Contact: <sip:a@127.0.0.11:40000>;reg-id=1;expires=599\r\nContent-Length: 0\r\n\r\n")
    assert compare(captured, same, rw) == []
    worse = parse_message(b"SIP/2.0 200 OK\r\nVia: SIP/2.0/UDP y;branch=z9hG4bK2\r\nTo: <sip:a@t>;tag=2\r\n"
                          b"Call-ID: c9\r\nCSeq: 1 REGISTER\r\nContent-Length: 0\r\n\r\n")
    diffs = {d.header for d in compare(captured, worse, rw)}
    assert diffs == {"Require", "Contact"}


def test_replay_against_the_same_reference_matches(tmp_path):
    out = tmp_path / "new.pcap"
    proc = _replay(str(SAMPLE), "--target", "targets/reference-rel8.yaml", "--output", str(out),
                   "--json", str(tmp_path / "r.json"))
    assert proc.returncode == 0, proc.stdout + proc.stderr
    doc = json.loads((tmp_path / "r.json").read_text())
    assert len(doc["steps"]) == 3 and all(not s["diffs"] and s["replayed"] == "200" for s in doc["steps"])
    assert out.stat().st_size > 24
    if shutil.which("tshark"):
        lines = subprocess.run(["tshark", "-r", str(out), "-Y", "sip"], capture_output=True, text=True).stdout
        assert len(lines.strip().splitlines()) == 6  # three REGISTERs and their 200s


def test_replay_against_a_faulty_registrar_shows_the_difference(tmp_path):
    proc = _replay(str(SAMPLE), "--target", "tests/targets/fault-list-only-newest.yaml",
                   "--output", str(tmp_path / "new.pcap"))
    assert proc.returncode == 1
    assert "DIFFERENT" in proc.stdout and "Contact: captured" in proc.stdout


def test_as_case_writes_a_loadable_skeleton(tmp_path):
    case = tmp_path / "replayed.yaml"
    proc = _replay(str(SAMPLE), "--target", "targets/reference-rel8.yaml", "--output", str(tmp_path / "n.pcap"),
                   "--as-case", str(case))
    assert proc.returncode == 0
    [spec] = load_case_file(case)
    assert [s.action for s in spec.steps] == ["register", "register", "register"]
    assert spec.steps[2].options.get("call_id") == "f1"  # Reg1b reused flow 1's Call-ID


@pytest.mark.parametrize("args,code", [(["nope.pcap"], 2)])
def test_bad_input(args, code, tmp_path):
    proc = _replay(*args, "--target", "targets/reference-rel8.yaml")
    assert proc.returncode == code and "no such file" in proc.stderr


def test_capture_without_ue_requests(tmp_path):
    empty = tmp_path / "empty.pcap"
    from conformance.engine.pcap import PcapRecorder

    PcapRecorder(0.0).write(empty)
    proc = _replay(str(empty), "--target", "targets/reference-rel8.yaml")
    assert proc.returncode == 3 and "no request from the UE side" in proc.stderr


@pytest.mark.parametrize("transport", ["tls", "ws", "wss"])
def test_stream_capture_replays_over_the_same_transport(tmp_path, transport):
    """A flow captured over TLS / WS / WSS goes to the SUT's listener for that transport; the new
    capture holds it over the same transport (pcapng with the new keys for TLS), and --as-case
    writes a case that runs as that transport's item only."""
    from conformance.analysis.analyzer import analyze

    sample = ROOT / f"pcaps/samples/streams/register-{transport}.pcapng"
    out = tmp_path / f"new-{transport}.pcapng"
    case = tmp_path / "replayed.yaml"
    proc = _replay(str(sample), "--target", "targets/reference-tls-ws.yaml", "--output", str(out),
                   "--json", str(tmp_path / "r.json"), "--as-case", str(case))
    assert proc.returncode == 0, proc.stdout + proc.stderr
    steps = json.loads((tmp_path / "r.json").read_text())["steps"]
    assert [s["replayed"] for s in steps] == ["200", "200"] and not any(s["diffs"] for s in steps)
    a = analyze(str(out), keep_events=True)
    assert {e.transport for e in a.events if e.kind == "sip"} == {transport} and a.messages == 4
    assert str(a.judge.verdict()) == "pass"
    assert out.read_bytes()[:4] == (b"\x0a\x0d\x0d\x0a" if transport != "ws" else b"\xd4\xc3\xb2\xa1")
    [spec] = load_case_file(case)
    assert spec.transports == [transport] and spec.ues["a"].flows["f1"].transport == transport
