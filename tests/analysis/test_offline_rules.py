"""The offline rules on sample captures of a good and of faulty registrars, and on crafted ones."""

import json
import subprocess
import sys
from pathlib import Path

import pytest
from analysis_craft import REGISTRAR, UE1, UE2, contact, ok, register, udp, write

from conformance.analysis.analyzer import analyze

ROOT = Path(__file__).resolve().parents[2]
SAMPLES = ROOT / "pcaps" / "samples"


def _rules(path, outbound=None):
    a = analyze(str(path), outbound=outbound)
    return {rid: r for rid, r in a.judge.results.items()}, a


@pytest.mark.parametrize("name", ["REG-004A-udp.pcap", "REG-004A-tcp.pcap", "KA-001-tcp.pcap", "TERM-001-udp.pcap"])
def test_reference_registrar_passes(name):
    rules, a = _rules(SAMPLES / "reference-rel8" / name)
    assert str(a.judge.verdict()) == "pass", {k: r.counts for k, r in rules.items() if r.counts.get("fail")}
    if name.startswith("REG-004A"):
        assert rules["R1-require"].counts == {"pass": 3}
        assert rules["R3-replace"].counts == {"pass": 1} and rules["R3-add"].counts == {"pass": 2}
    if name.startswith("KA"):
        assert rules["KA-pong"].counts == {"pass": 2}


@pytest.mark.parametrize("sample, rule, packets", [
    ("fault-omit-require-outbound/REG-003-udp.pcap", "R1-require", [1, 2]),
    ("fault-route-to-replaced-flow/TERM-002-udp.pcap", "TERM-binding", [6]),
    ("fault-no-crlf-pong/KA-001-tcp.pcap", "KA-pong", [7]),
])
def test_faulty_registrar_fails_with_packets(sample, rule, packets):
    # The fault registrars' profiles declare outbound (tests/targets/fault-*.yaml): a registrar that
    # omits Require: outbound is held to RFC 5626 only where its target says it implements it.
    rules, a = _rules(SAMPLES / sample, outbound=True)
    assert str(a.judge.verdict()) == "fail"
    fails = [f for f in rules[rule].findings if f.finding.outcome == "fail"]
    assert fails and fails[0].packets == packets
    assert fails[0].finding.level == "MUST" and fails[0].finding.ref == rules[rule].rule.ref


def test_crafted_rule_violations(tmp_path):
    r1 = register(UE1, call_id="a", branch="z9hG4bK1")
    r2 = register(UE2, call_id="b", branch="z9hG4bK2", reg_id=2)
    r3 = register(UE2, call_id="c", branch="z9hG4bK3", supported="path", reg_id=3)
    r4 = register(UE1, call_id="d", branch="z9hG4bK4", vias=2, reg_id=4)  # 2 Vias, no Path
    pk = [udp(UE1, REGISTRAR, r1), udp(REGISTRAR, UE1, ok(r1, [contact(UE1, 1)])),
          # Reg2 answered with the newest binding only (R2, R3-add), without expires (R2-expires)
          udp(UE2, REGISTRAR, r2), udp(REGISTRAR, UE2, ok(r2, [contact(UE2, 2, expires=None)])),
          # Require: outbound without Supported: outbound
          udp(UE2, REGISTRAR, r3), udp(REGISTRAR, UE2, ok(r3, [contact(UE2, 3)])),
          # 2xx where a 439 is due
          udp(UE1, REGISTRAR, r4), udp(REGISTRAR, UE1, ok(r4, [contact(UE1, 4)]))]
    rules, a = _rules(write(tmp_path / "bad.pcap", pk))
    failing = {k for k, r in rules.items() if r.counts.get("fail")}
    assert {"R2-bindings", "R2-expires", "R3-add", "R1-no-supported", "439-due", "R1-no-reg-id"} <= failing
    assert rules["R1-require"].counts == {"pass": 2}


def test_cli_outputs_json_html_and_console(tmp_path):
    out_json, out_html = tmp_path / "a.json", tmp_path / "a.html"
    proc = subprocess.run([sys.executable, "-m", "conformance", "analyze",
                           str(SAMPLES / "fault-omit-require-outbound" / "REG-003-udp.pcap"),
                           "--target", "tests/targets/fault-omit-require-outbound.yaml",
                           "--json", str(out_json), "--html", str(out_html)],
                          capture_output=True, text=True, cwd=ROOT, timeout=60)
    assert proc.returncode == 1, proc.stderr
    assert "R1-require" in proc.stdout and "FAIL" in proc.stdout and "Traceback" not in proc.stderr
    doc = json.loads(out_json.read_text())
    assert doc["verdict"] == "fail" and doc["sip"]["messages"] == 4
    assert [c["kind"] for g in doc["registrations"] for c in g["changes"]] == ["created", "created"]
    assert "R1-require" in out_html.read_text()


@pytest.mark.parametrize("mapped, verdict", [(("198.51.100.7", 61000), "pass"), (UE1, "fail")])
def test_stun_behind_a_nat_is_judged_against_what_the_sut_saw(tmp_path, mapped, verdict):
    """A capture taken at the UE behind a NAT: the 2xx's Via says received=198.51.100.7;rport=61000,
    so the STUN Binding response must map the flow there (RFC 5626 §8), not to the UE's socket."""
    from conformance.sip.stun import binding_request, stun_response

    r1 = register(UE1, call_id="n", branch="z9hG4bKn")
    answer = ok(r1, [contact(UE1, 1)]).replace(b";rport\r\n", b";rport=61000;received=198.51.100.7\r\n")
    tid = bytes(range(12))
    stun = binding_request(tid)
    pk = [udp(UE1, REGISTRAR, r1), udp(REGISTRAR, UE1, answer),
          udp(UE1, REGISTRAR, stun), udp(REGISTRAR, UE1, stun_response(stun, mapped))]
    rules, _ = _rules(write(tmp_path / "nat.pcap", pk))
    assert rules["KA-stun"].counts == {verdict: 1}


def test_live_only_steps_and_keepalive_loops_are_named():
    from conformance.analysis.rejudge import live_only
    from conformance.cases.loader import load_case_file

    cases = {c.id: c for c in load_case_file(ROOT / "testcases/keepalive/edge-cases.yaml")}
    assert "crlf" in live_only(cases["KA-009"]) and "loop" in live_only(cases["KA-006"])
    assert live_only(cases["KA-011"]) is None
