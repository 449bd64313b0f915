"""Reg-event NOTIFYs judged offline on captures of live runs against the reference S-CSCF's
notifier (pcaps/samples/: the REGEV cases (regev-tester c862104) run against reference-rel8 and
the three reg-event fault targets (regev-ref 79bc718)): the correct runs give no finding, each
fault a finding naming the XML element, at the level the live checks give it."""

from __future__ import annotations

from pathlib import Path

from conformance.analysis.analyzer import analyze
from conformance.report.capture_analysis import to_dict

SAMPLES = Path(__file__).resolve().parents[2] / "pcaps" / "samples"


def _bad(path: Path) -> dict[str, list[dict]]:
    d = to_dict(analyze(str(path)))
    return {r["rule"]: [f for f in r["findings"] if f["outcome"] != "pass"]
            for r in d["rules"] if r["rule"].startswith("REGEV-") and r["counts"]}


def test_the_reference_notifier_gives_no_finding():
    # REGEV-004 over TCP: the Reg1b NOTIFY is recorded before that REGISTER's 200 (another
    # connection): judged once the 200 is seen; REGEV-005: de-registering one flow
    for name in ("REGEV-004-tcp.pcap", "REGEV-005-udp.pcap"):
        bad = _bad(SAMPLES / "reference-rel8" / name)
        assert bad and not any(bad.values()), (name, bad)
        assert set(bad) >= {"REGEV-current", "REGEV-change", "REGEV-version"}


def test_notify_only_newest_fails_the_immediate_notify():
    bad = _bad(SAMPLES / "fault-notify-only-newest" / "REGEV-002-udp.pcap")
    [f] = bad["REGEV-current"]
    assert f["outcome"] == "fail" and "no active <contact> with <uri>" in f["observed"] and "reg-id 1" in f["observed"]


def test_one_contact_per_instance_fails_naming_the_folded_flow():
    bad = _bad(SAMPLES / "fault-notify-one-contact-per-instance" / "REGEV-002-tcp.pcap")
    assert bad["REGEV-current"][0]["outcome"] == "fail"
    assert "no active <contact> with <uri>" in bad["REGEV-current"][0]["observed"]


def test_drops_unregistered_leaves_the_contact_active_in_the_view():
    # Contact: * (REGEV-006) and Reg1b (REGEV-004, whose old contact the reference ends with
    # event unregistered): the dropped contact stays active in the view (SHOULD: a warning, a
    # fail with --strict as the fault target's strict run gives)
    for name, how in (("REGEV-006-udp.pcap", "removed"), ("REGEV-004-udp.pcap", "replaced")):
        path = SAMPLES / "fault-notify-drops-unregistered" / name
        [f] = _bad(path)["REGEV-change"]
        assert f["outcome"] == "warn" and 'state="active"> for <uri>' in f["observed"], name
        assert f", {how} in packet" in f["observed"], name
        assert analyze(str(path), strict=True).judge.verdict() == "fail"


def test_the_timeline_shows_each_bindings_gruus_from_a_live_capture():
    # GRUU-002 (branch gruu): two flows of one instance with Supported: gruu; the reference gives
    # one pub-gruu per AOR and instance, and the instance's latest temp-gruu in each Contact
    d = to_dict(analyze(str(SAMPLES / "reference-rel8" / "GRUU-002-udp.pcap")))
    flows = [b for b in d["bindings"] if b["state"] == "active"]
    assert len(flows) == 2 and all(b["pub_gruu"].endswith(";gr=urn:uuid:" + b["instance"][10:-1]) for b in flows)
    assert flows[0]["pub_gruu"] == flows[1]["pub_gruu"]
    assert all(b["temp_gruu"].endswith(";gr") for b in flows)
