"""The analysis's fast paths give what the full paths give, on real captures.

* classic pcap read in large chunks vs a record at a time (the reader pcapng files use);
* passes only counted once a rule keeps no more of them vs every check run;
* the analysis split by AOR over two processes (``-j 2``) vs one process: the same JSON document
  (but for timings and the process list), or the reason it ran in one process.
"""

from __future__ import annotations

import json
import struct
import subprocess
import sys
from dataclasses import astuple
from pathlib import Path

import pytest

import analysis_craft as craft

from conformance.analysis import rules
from conformance.analysis.analyzer import analyze
from conformance.analysis.capture import CaptureReader
from conformance.analysis.parallel import analyze_parallel, owner
from conformance.report.capture_analysis import to_dict

ROOT = Path(__file__).resolve().parents[2]
SAMPLES = sorted(p for p in (ROOT / "pcaps" / "samples").rglob("*") if p.suffix in (".pcap", ".pcapng"))
CLASSIC = [p for p in SAMPLES if p.read_bytes()[:4] in (b"\xd4\xc3\xb2\xa1", b"\xa1\xb2\xc3\xd4")]
VOLATILE = ("seconds", "messages_per_second", "processes", "serial_because")


def _generated(tmp_path: Path, n: int = 6000, aors: int = 300) -> Path:
    """A registration load (UDP and TCP, Reg2 then refreshes) from benchmarks/gen_capture.py."""
    sys.path.insert(0, str(ROOT / "benchmarks"))
    try:
        from gen_capture import generate
    finally:
        sys.path.pop(0)
    path = tmp_path / "load.pcap"
    generate(path, n, aors, 0.1, refresh=30.0, expires=60)
    return path


def _segments(path: Path, chunked: bool):
    r = CaptureReader(path, chunked=chunked)
    segs = [astuple(s) for s in r]
    return segs, r.stats, [astuple(p) if hasattr(p, "__dataclass_fields__") else p for p in r.problems]


def _cuts(tmp_path: Path) -> list[Path]:
    """Truncated copies of a sample: inside a record header, inside a packet, an oversized record."""
    data = CLASSIC[0].read_bytes()
    out = []
    for i, n in enumerate((24 + 7, 24 + 16 + 40, len(data) - 3)):
        p = tmp_path / f"cut{i}.pcap"
        p.write_bytes(data[:n])
        out.append(p)
    big = tmp_path / "big.pcap"
    big.write_bytes(data[:24] + struct.pack("<IIII", 1, 0, 300_000, 300_000) + b"\0" * 300_000 + data[24:])
    out.append(big)
    return out


def test_chunked_reader_reads_what_the_record_reader_reads(tmp_path):
    for path in CLASSIC + _cuts(tmp_path) + [_generated(tmp_path)]:
        assert _segments(path, True) == _segments(path, False), path.name


def test_the_udp_hook_takes_the_datagrams_the_reader_would_yield(tmp_path):
    # the split analysis's hook: each UDP datagram of a classic pcap as its fields, no Segment;
    # TCP segments, statistics and problems as without it
    for path in CLASSIC + _cuts(tmp_path) + [_generated(tmp_path)]:
        segs, stats, problems = _segments(path, True)
        taken = []
        r = CaptureReader(path)
        r.udp_hook = lambda data, n, t, src, sport, dst, dport: taken.append((n, t, "udp", (src, sport), (dst, dport),
                                                                               data, 0, 0))
        rest = [astuple(s) for s in r]
        assert sorted(taken + rest) == sorted(segs) and all(s[2] == "tcp" for s in rest), path.name
        assert (r.stats, [astuple(p) for p in r.problems]) == (stats, problems), path.name
    assert taken and rest


def _doc(path: Path) -> dict:
    doc = to_dict(analyze(str(path)))
    for k in VOLATILE:
        doc.pop(k, None)
    return doc


def test_counted_passes_give_the_findings_of_every_check_run(tmp_path, monkeypatch):
    for path in SAMPLES + [_generated(tmp_path)]:
        fast = _doc(path)
        monkeypatch.setattr(rules.Judge, "count_passes", False)
        full = _doc(path)
        monkeypatch.undo()
        assert fast == full, path.name


def _cli(path: Path, out: Path, processes: int) -> dict:
    proc = subprocess.run([sys.executable, "-m", "conformance", "analyze", str(path), "-q", "-j", str(processes),
                           "--json", str(out)], capture_output=True, text=True, cwd=ROOT, timeout=120)
    assert "Traceback" not in proc.stderr, proc.stderr
    return json.loads(out.read_text())


@pytest.mark.parametrize("sample", SAMPLES + ["generated"], ids=lambda p: p if isinstance(p, str) else
                         f"{p.parent.name}/{p.name}")
def test_split_by_aor_gives_the_serial_result(sample, tmp_path):
    path = _generated(tmp_path) if sample == "generated" else sample
    one = _cli(path, tmp_path / "one.json", 1)
    two = _cli(path, tmp_path / "two.json", 2)
    assert one["processes"] == [] and "serial_because" not in one
    if two["processes"]:
        assert len(two["processes"]) == 2 and "serial_because" not in two
    else:  # it ran in one process, and says why
        assert two["serial_because"]
    split = bool(two["processes"])
    for d in (one, two):
        for k in VOLATILE:
            d.pop(k, None)
    assert one == two
    if sample == "generated":
        assert split and one["sip"]["messages"] == 6000 and one["verdict"] == "pass"


def test_split_by_aor_falls_back_on_a_request_other_than_register(tmp_path):
    term = [p for p in SAMPLES if p.name.startswith("TERM-")][0]
    doc = _cli(term, tmp_path / "t.json", 2)
    assert doc["processes"] == [] and "other than REGISTER" in doc["serial_because"]


def _serial_instead(path: Path, tmp_path: Path, reason: str, messages: int) -> None:
    """-j 2 ran in one process for ``reason``, with -j 1's result."""
    one = _cli(path, tmp_path / "one.json", 1)
    two = _cli(path, tmp_path / "two.json", 2)
    assert two["processes"] == [] and reason in two["serial_because"]
    for d in (one, two):
        for k in VOLATILE:
            d.pop(k, None)
    assert one == two and one["sip"]["messages"] == messages


def test_split_by_aor_falls_back_on_a_call_id_with_two_aors(tmp_path):
    from conformance.engine.pcap import PcapRecorder

    rec = PcapRecorder(1_700_000_000.0)
    t = 1_700_000_000.0
    aors = ("sip:alice@ims.test", "sip:dave@ims.test", "sip:carol@ims.test")
    assert [owner(a, 2) for a in aors] == [0, 1, 0]
    for i, aor in enumerate(aors):
        req = craft.register(craft.UE1, call_id="same", cseq=i + 1, branch=f"z9hG4bK{i}")
        req = req.replace(f"To: <{craft.AOR}>".encode(), f"To: <{aor}>".encode())
        rec.udp(t + i, craft.UE1, craft.REGISTRAR, req)
        rec.udp(t + i + 0.1, craft.REGISTRAR, craft.UE1, craft.ok(req, [craft.contact(craft.UE1)]))
    _serial_instead(rec.write(tmp_path / "calls.pcap"), tmp_path, "Call-ID with two AORs", 6)


def test_split_by_aor_falls_back_on_a_folded_to(tmp_path):
    from conformance.engine.pcap import PcapRecorder

    rec = PcapRecorder(1_700_000_000.0)
    req = craft.register(craft.UE1).replace(f"To: <{craft.AOR}>".encode(), f"To:\r\n <{craft.AOR}>".encode())
    rec.udp(1_700_000_000.0, craft.UE1, craft.REGISTRAR, req)
    rec.udp(1_700_000_000.1, craft.REGISTRAR, craft.UE1, craft.ok(req, [craft.contact(craft.UE1)]))
    _serial_instead(rec.write(tmp_path / "folded.pcap"), tmp_path, "folded", 2)


def test_split_by_aor_falls_back_when_the_pre_scan_reads_another_call_id(tmp_path):
    """The pre-scan routes by the first "Call-ID:" line; the parser takes the first Call-ID
    header, here a compact "i:" before it: the process that parses the message sees the two
    differ and gives up, and the serial result stands."""
    from conformance.engine.pcap import PcapRecorder

    rec = PcapRecorder(1_700_000_000.0)
    t = 1_700_000_000.0
    for i in range(4):
        req = craft.register(craft.UE1, call_id="c1", cseq=i + 1, branch=f"z9hG4bK{i}")
        if i == 2:
            req = req.replace(b"Call-ID: c1", b"i: other\r\nCall-ID: c1")
        rec.udp(t + i, craft.UE1, craft.REGISTRAR, req)
        rec.udp(t + i + 0.1, craft.REGISTRAR, craft.UE1, craft.ok(req, [craft.contact(craft.UE1)]))
    _serial_instead(rec.write(tmp_path / "cid.pcap"), tmp_path, "Call-ID the pre-scan reads otherwise", 8)


def test_every_process_judges_its_own_share_of_udp_and_tcp(tmp_path):
    """Each process reads the whole capture and parses only the messages routed to it: the events
    they analyse add up to the capture's messages and its closed connections (process 0's), none
    twice."""
    from conformance.analysis.parallel import analyze_parallel

    path = _generated(tmp_path)
    a, why = analyze_parallel(str(path), 2)
    assert a is not None and not why
    events = [p["events"] for p in a.processes]
    closes = sum(1 for log in a.reassembler.conn_log.values() for kind, *_ in log if kind in ("FIN", "RST"))
    assert closes > 0 and sum(events) == 6000 + closes and min(events) > 1000


def test_split_over_three_processes_gives_the_serial_result(tmp_path):
    from conformance.analysis.parallel import analyze_parallel

    path = _generated(tmp_path)
    a, why = analyze_parallel(str(path), 3)
    assert a is not None and not why and len(a.processes) == 3
    assert sum(p["events"] for p in a.processes) >= 6000
    doc = to_dict(a)
    for k in VOLATILE:
        doc.pop(k, None)
    assert doc == _doc(path)


def test_a_worker_giving_up_stops_the_split(tmp_path, monkeypatch):
    """A worker past its bound of open transactions exits with its reason while process 0 still
    sends (its pipe breaks): the analysis runs serially, with the serial result."""
    from conformance.analysis import parallel
    from conformance.engine.pcap import PcapRecorder

    monkeypatch.setattr(parallel, "MAX_OPEN", 20)
    rec = PcapRecorder(1_700_000_000.0)
    t = 1_700_000_000.0
    aors = [a for a in (f"sip:u{i}@ims.test" for i in range(400)) if parallel.owner(a, 2) == 1][:150]
    for i, aor in enumerate(aors * 20):  # unanswered REGISTERs, all process 1's
        req = craft.register(craft.UE1, call_id=f"c{aor}", cseq=i + 1, branch=f"z9hG4bK{i}")
        req = req.replace(f"To: <{craft.AOR}>".encode(), f"To: <{aor}>".encode())
        rec.udp(t + i * 0.001, craft.UE1, craft.REGISTRAR, req)
    path = rec.write(tmp_path / "open.pcap")
    a, why = parallel.analyze_parallel(str(path), 2)
    assert a is None and "open transactions in one process" in why
    doc = to_dict(analyze(str(path), processes=2))
    assert "open transactions" in doc["serial_because"]
    assert doc["sip"]["messages"] == 3000


def test_a_split_analysis_keeps_none_of_its_shares_state(tmp_path):
    """Process 0's reader (in the Analysis) no longer holds the hook that fed its share: the share's
    timeline, judge and router are freed before the others' results are read and merged."""
    a, why = analyze_parallel(str(_generated(tmp_path, n=2000, aors=100)), 2)
    assert why == "" and a.reader.udp_hook is None and len(a.processes) == 2
