"""The UE part of `conformance analyze` on pcaps the suite itself wrote (pcaps/samples: live runs
against the embedded reference and Kamailio), and the bounds of the UE observation."""

from __future__ import annotations

import sys
from pathlib import Path

import pytest

from conformance.analysis import ue_observe
from conformance.analysis.analyzer import analyze
from conformance.report.capture_analysis import console, to_dict
from conformance.uecert import checks as C

sys.path.insert(0, str(Path(__file__).parent))
from ue_craft import UE1, UeCapture  # noqa: E402

SAMPLES = Path(__file__).resolve().parents[2] / "pcaps" / "samples"


def test_a_suite_keepalive_case_gives_a_timeline_with_reg_id_and_pings():
    path = SAMPLES / "reference-rel8" / "KA-001-tcp.pcap"
    doc = to_dict(analyze(str(path)))
    [ue] = doc["ue"]
    assert ue["instance"].startswith("<urn:uuid:") and ue["capabilities"] == ["outbound"]
    [flow] = ue["flows"]
    assert flow["transport"] == "tcp" and flow["reg_ids"] == ["1"] and flow["created"] is not None
    assert flow["keepalives"]["kind"] == "crlf" and flow["keepalives"]["count"] >= 2
    assert flow["opened"] is not None and flow["closed"][1] == "UE"
    text = console(doc)
    assert f"  flows of {ue['aor']} {ue['instance']}:" in text
    assert f"crlf ({flow['keepalives']['answered']} answered)" in text


def test_a_suite_replacement_case_shows_the_replaced_flow():
    # REG-004A: reg-id 1 from a first address, reg-id 2 from a second, reg-id 1 again from a third
    doc = to_dict(analyze(str(SAMPLES / "reference-rel8" / "REG-004A-tcp.pcap")))
    [ue] = doc["ue"]
    f1, f2, f3 = ue["flows"]
    assert [f["reg_ids"] for f in (f1, f2, f3)] == [["1"], ["2"], ["1"]]
    assert f1["replaced"] == f3["created"] and f1["replaced_by"] == f3["flow"]
    assert f2["replaced"] is None and f3["replaced"] is None
    row = next(line for line in console(doc).splitlines() if line.startswith("    1 "))
    assert f"{f3['created']} (by flow 3)" in row


@pytest.mark.parametrize("sample", sorted(p.relative_to(SAMPLES).as_posix() for p in SAMPLES.rglob("*.pcap*")))
def test_every_sample_capture_is_analysed_with_its_ues(sample):
    doc = to_dict(analyze(str(SAMPLES / sample)))
    assert isinstance(doc["ue"], list)
    for ue in doc["ue"]:
        assert ue["flows"] and all(f["transport"] in ("udp", "tcp", "tls", "ws", "wss") for f in ue["flows"])
    console(doc)


def test_a_check_that_raises_is_inconclusive_and_the_analysis_goes_on(tmp_path):
    @C.ue_check("plumb_raises", level="MUST", ref="RFC 5626 §4.1", summary="raises")
    def raises(obs, args, ctx):
        raise KeyError("boom")

    try:
        c = UeCapture()
        c.register(0, UE1, transport="udp")
        [ue] = to_dict(analyze(str(c.write(tmp_path / "a.pcap"))))["ue"]
    finally:
        C.UE_CHECKS.pop("plumb_raises")
    [f] = [f for f in ue["findings"] if f["step"] == "plumb_raises"]
    assert f["outcome"] == "inconclusive" and "KeyError" in f["observed"]


def test_the_bounds_truncate_a_ue_where_its_history_stops(tmp_path, monkeypatch):
    monkeypatch.setattr(ue_observe, "MAX_EXCHANGES", 3)
    monkeypatch.setattr(ue_observe, "MAX_UES", 1)
    c = UeCapture()
    answers = [c.register(10 * k, UE1, transport="udp")[1] for k in range(2)]
    c.register(15, ("127.0.0.12", 40002), transport="udp", instance="<urn:uuid:00000000-0000-1000-8000-0000000000c3>")
    answers += [c.register(10 * k, UE1, transport="udp")[1] for k in range(2, 5)]
    doc = to_dict(analyze(str(c.write(tmp_path / "a.pcap"))))
    [ue] = doc["ue"]
    assert ue["flows"][0]["created"] == answers[0] and ue["flows"][0]["refreshed"] == answers[1:3]
    assert ue["truncated"] == f"history bound reached at packet {answers[3]}"
    assert doc["ue_note"] == "only the first 1 UEs are observed; only the first 3 REGISTER transactions of UEs are kept"
