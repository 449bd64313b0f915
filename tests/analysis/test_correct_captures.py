"""`conformance analyze` on captures of correct registrars it used to fail, and the wrong ones it
must still fail (issue 16): REGISTERs in flight at once, both legs of an edge, a registrar that
challenges first, a registrar without RFC 5626 (classified), keep-alives alone, and bindings
listed again after their removal."""

import json
import subprocess
import sys
from pathlib import Path

from analysis_craft import AOR, REGISTRAR, UE1, UE2, contact, ok, register, tcp, udp, write

from conformance.analysis.analyzer import analyze
from conformance.analysis.parallel import analyze_parallel
from conformance.report.capture_analysis import to_dict

ROOT = Path(__file__).resolve().parents[2]
EDGE = ("10.0.0.50", 5060)
PATH1 = "<sip:e1@edge.test;lr;ob>"
C1, C2 = contact(UE1, 1), contact(UE2, 2)


def _judged(path, outbound=None):
    a = analyze(str(path), outbound=outbound)
    fails = {rid: [(f.packets, f"expected {f.finding.expected}; observed {f.finding.observed}") for f in r.findings if f.finding.outcome == "fail"]
             for rid, r in a.judge.results.items() if r.counts.get("fail")}
    return a, fails


def _cli(*args):
    return subprocess.run([sys.executable, "-m", "conformance", "analyze", *map(str, args)], cwd=ROOT,
                          capture_output=True, text=True, timeout=120)


# -- a. concurrent transactions ---------------------------------------------------------------
def test_two_registers_in_flight_answered_in_either_order_pass(tmp_path):
    r1 = register(UE1, call_id="a", branch="z9hG4bK1", reg_id=1)
    r2 = register(UE2, call_id="b", branch="z9hG4bK2", reg_id=2)
    # The registrar processed r1, then r2; r2's 2xx (listing both) reaches the wire first.
    late = [udp(UE1, REGISTRAR, r1), udp(UE2, REGISTRAR, r2),
            udp(REGISTRAR, UE2, ok(r2, [C1, C2])), udp(REGISTRAR, UE1, ok(r1, [C1]))]
    a, fails = _judged(write(tmp_path / "late.pcap", late))
    assert not fails and str(a.judge.verdict()) == "pass"
    assert a.judge.results["R2-bindings"].counts == {"pass": 2}
    # ...and the two bindings are still there after the older 2xx
    assert sorted(b.reg_id for b in a.timeline.bindings(AOR)) == ["1", "2"]
    # In capture order: the same.
    early = [udp(UE1, REGISTRAR, r1), udp(UE2, REGISTRAR, r2),
             udp(REGISTRAR, UE1, ok(r1, [C1])), udp(REGISTRAR, UE2, ok(r2, [C1, C2]))]
    a, fails = _judged(write(tmp_path / "early.pcap", early))
    assert not fails and str(a.judge.verdict()) == "pass"


def test_a_registrar_that_dropped_a_binding_still_fails(tmp_path):
    r1 = register(UE1, call_id="a", branch="z9hG4bK1", reg_id=1)
    r2 = register(UE2, call_id="b", branch="z9hG4bK2", reg_id=2)
    # Sequential: r2's 2xx forgets r1's binding.
    seq = [udp(UE1, REGISTRAR, r1), udp(REGISTRAR, UE1, ok(r1, [C1])),
           udp(UE2, REGISTRAR, r2), udp(REGISTRAR, UE2, ok(r2, [C2]))]
    a, fails = _judged(write(tmp_path / "seq.pcap", seq))
    assert fails["R2-bindings"][0][0] == [3, 4] and fails["R3-add"][0][0] == [3, 4]
    # In flight at once, neither 2xx lists the other's binding: whichever the registrar took
    # second, its 2xx lost the first one.
    both = [udp(UE1, REGISTRAR, r1), udp(UE2, REGISTRAR, r2),
            udp(REGISTRAR, UE2, ok(r2, [C2])), udp(REGISTRAR, UE1, ok(r1, [C1]))]
    a, fails = _judged(write(tmp_path / "both.pcap", both))
    assert fails["R2-bindings"][0][0] == [1, 4]
    # r2 sent after r1's 2xx: r1's binding must be in r2's 2xx although r2's 2xx is the later one.
    late = [udp(UE1, REGISTRAR, r1), udp(UE2, REGISTRAR, r2), udp(REGISTRAR, UE1, ok(r1, [C1])),
            udp(REGISTRAR, UE2, ok(r2, [C2]))]
    a, fails = _judged(write(tmp_path / "late.pcap", late))
    assert fails["R2-bindings"][0][0] == [2, 4]


def _edge_legs(inner_call_ids=("a", "b"), vias=2):
    """Two flows of one UE registered at once through an edge; the registrar answers the first
    before it sees the second, and the edge relays that 2xx after the second one's."""
    o1 = register(UE1, call_id="a", branch="z9hG4bK1", reg_id=1)
    o2 = register(UE2, call_id="b", branch="z9hG4bK2", reg_id=2)
    # the edge's copies: its Via on top, the UE's below, Path with ;ob (same or another Call-ID)
    b = "z9hG4bK" if vias > 1 else "z9hG4bKb2b"  # a B2BUA's own branch
    i1 = register(UE1, call_id=inner_call_ids[0], branch=b + "1", reg_id=1, vias=vias, path=PATH1)
    i2 = register(UE2, call_id=inner_call_ids[1], branch=b + "2", reg_id=2, vias=vias, path=PATH1)
    return [udp(UE1, EDGE, o1), udp(EDGE, REGISTRAR, i1), udp(UE2, EDGE, o2),
            udp(REGISTRAR, EDGE, ok(i1, [C1], path=PATH1)), udp(EDGE, REGISTRAR, i2),
            udp(REGISTRAR, EDGE, ok(i2, [C1, C2], path=PATH1)),
            udp(EDGE, UE1, ok(o1, [C1], path=PATH1)), udp(EDGE, UE2, ok(o2, [C1, C2], path=PATH1))]


def test_both_legs_of_an_edge_judged_once(tmp_path):
    # a proxy (same Call-ID, its Via on top), one that changes the Call-ID, and a B2BUA-like edge
    # (another Call-ID, its own single Via, Path added)
    for name, ids, vias in (("same-call-id", ("a", "b"), 2), ("other-call-id", ("x1", "x2"), 2),
                            ("b2bua", ("x1", "x2"), 1)):
        a, fails = _judged(write(tmp_path / f"{name}.pcap", _edge_legs(ids, vias)))
        assert not fails, (name, fails)
        assert str(a.judge.verdict()) == "pass"
        # each binding judged once, on the leg the registrar received: c1 in the first 2xx, c1
        # and c2 in the second (the edge's relayed copies are not judged again)
        assert a.judge.results["R2-bindings"].counts == {"pass": 3}, name
        changes = [c["kind"] for g in a.registrations for c in g["changes"]]
        assert changes == ["created", "created"], (name, changes)
        # the binding's flow is the UE's, not the edge's
        flows = sorted(b.flow[1] for b in a.timeline.bindings(AOR))
        assert flows == [UE1, UE2], name


def test_an_edge_that_drops_a_contact_from_the_relayed_2xx_fails(tmp_path):
    a, _ = _judged(write(tmp_path / "ok.pcap", _edge_legs()))
    assert a.judge.results["EDGE-relay"].counts == {"pass": 2}
    pk = _edge_legs()
    o2 = register(UE2, call_id="b", branch="z9hG4bK2", reg_id=2)
    pk[-1] = udp(EDGE, UE2, ok(o2, [C2], path=PATH1))  # the registrar listed C1 and C2
    a, fails = _judged(write(tmp_path / "lossy.pcap", pk))
    assert list(fails) == ["EDGE-relay"] and fails["EDGE-relay"][0][0] == [3, 8]
    assert "sip:ue@10.0.0.1:40001" in fails["EDGE-relay"][0][1]
    # not judged for a B2BUA-like edge (another Call-ID and Via: RFC 3261 §16.7 is a proxy's duty)
    a, _ = _judged(write(tmp_path / "b2b.pcap", _edge_legs(("x1", "x2"), 1)))
    assert not a.judge.results["EDGE-relay"].counts


def test_an_edge_leg_whose_registrar_answer_is_not_captured_is_judged_itself(tmp_path):
    pk = _edge_legs()
    del pk[3]  # the registrar's 2xx to the first forwarded REGISTER is missing from the capture
    a, fails = _judged(write(tmp_path / "partial.pcap", pk))
    assert not fails
    # the first binding is first seen listed by the second one's 2xx, then the edge's relayed
    # 2xx of its own REGISTER (judged, as nothing else answered it) puts it on the UE's flow
    assert [c["kind"] for g in a.registrations for c in g["changes"]] == ["appeared", "created", "refreshed"]
    assert a.judge.results["R2-bindings"].counts == {"pass": 2}
    assert sorted(b.flow[1] for b in a.timeline.bindings(AOR)) == [UE1, UE2]


def test_a_live_capture_of_both_legs_through_the_reference_edge_passes():
    # `conformance sut --topology core` (edge on UDP, S-CSCF behind it over TCP), two REGISTERs of
    # one UE (reg-id 1 from 127.0.0.11, reg-id 2 from 127.0.0.12) sent before either answer; the
    # S-CSCF answers the first before it saw the second (its 2xx lists one Contact) and the edge
    # relays that 2xx after the second was processed: the analysis failed it (R2-bindings, R3-add
    # on packets 1/12) as if the legs were sequential registrations.
    a, fails = _judged(ROOT / "pcaps/samples/reference-core/two-flows-at-once.pcap")
    assert not fails and str(a.judge.verdict()) == "pass"
    assert [c["kind"] for g in a.registrations for c in g["changes"]] == ["created", "created"]
    assert sorted(b.flow[1][0] for b in a.timeline.bindings("sip:live@ims.test")) == ["127.0.0.11", "127.0.0.12"]


def test_the_split_analysis_gives_the_serial_result_on_an_edge_capture(tmp_path):
    path = write(tmp_path / "edge.pcap", _edge_legs())
    par, why = analyze_parallel(str(path), 2)
    assert par is not None and not why
    one, two = to_dict(analyze(str(path))), to_dict(par)
    for d in (one, two):
        for k in ("seconds", "messages_per_second", "processes", "serial_because"):
            d.pop(k, None)
    assert one == two


# -- b. a registrar that challenges first ----------------------------------------------------
def test_a_challenge_is_a_valid_first_answer_and_the_retry_is_judged(tmp_path):
    # Two Vias and no Path: the first hop has no outbound, so 439 is due (RFC 5626 §6 ¶3).
    r1 = register(UE1, call_id="a", branch="z9hG4bK1", vias=2)
    r2 = register(UE1, call_id="a", cseq=2, branch="z9hG4bK2", vias=2)
    good = [udp(UE1, REGISTRAR, r1), udp(REGISTRAR, UE1, ok(r1, [], require=None, status="401 Unauthorized")),
            udp(UE1, REGISTRAR, r2), udp(REGISTRAR, UE1, ok(r2, [], require=None, status="439 First Hop Lacks "
                                                                              "Outbound Support"))]
    a, fails = _judged(write(tmp_path / "good.pcap", good))
    assert not fails and a.judge.results["439-due"].counts == {"pass": 1}
    # 407 too; and a registrar that accepts the retry where 439 is due still fails, on the retry.
    bad = [udp(UE1, REGISTRAR, r1), udp(REGISTRAR, UE1, ok(r1, [], require=None,
                                                          status="407 Proxy Authentication Required")),
           udp(UE1, REGISTRAR, r2), udp(REGISTRAR, UE1, ok(r2, [C1]))]
    a, fails = _judged(write(tmp_path / "bad.pcap", bad))
    assert [p for p, _ in fails["439-due"]] == [[3, 4]]


# -- c. a registrar without RFC 5626 ----------------------------------------------------------
def _legacy_packets():
    """A Rel-7-like registrar: no Require: outbound ever, no 439; the instance's binding is
    overwritten by the next registration of the same instance."""
    r1 = register(UE1, call_id="a", branch="z9hG4bK1", reg_id=1)
    r2 = register(UE2, call_id="b", branch="z9hG4bK2", reg_id=2)
    r3 = register(UE1, call_id="c", branch="z9hG4bK3", reg_id=3, vias=2)  # 439 would be due
    c3 = contact(UE1, 3)
    return [udp(UE1, REGISTRAR, r1), udp(REGISTRAR, UE1, ok(r1, [C1], require=None)),
            udp(UE2, REGISTRAR, r2), udp(REGISTRAR, UE2, ok(r2, [C2], require=None)),
            udp(UE1, REGISTRAR, r3), udp(REGISTRAR, UE1, ok(r3, [c3], require=None))]


def test_a_registrar_without_outbound_is_classified_not_failed(tmp_path):
    path = write(tmp_path / "legacy.pcap", _legacy_packets())
    a, fails = _judged(path)
    assert not fails and str(a.judge.verdict()) == "pass"
    cl = a.judge.classification
    assert cl["registrar"] == "legacy" and cl["outbound_offered"] == 3 and cl["outbound_shown"] == 0
    r1 = a.judge.results["R1-require"]
    assert str(r1.verdict()) == "not applicable" and r1.counts == {"info": 2} and r1.exempt
    assert a.judge.results["439-due"].counts == {"info": 1}
    # Declared outbound (--target): RFC 5626's duties apply, as before.
    a, fails = _judged(path, outbound=True)
    assert str(a.judge.verdict()) == "fail"
    assert [p for p, _ in fails["R1-require"]] == [[1, 2], [3, 4]] and [p for p, _ in fails["439-due"]] == [[5, 6]]
    assert a.judge.classification["effect"].startswith("the target declares outbound")


def test_the_classification_through_the_cli(tmp_path):
    path = write(tmp_path / "legacy.pcap", _legacy_packets())
    proc = _cli(path, "--json", tmp_path / "a.json", "--html", tmp_path / "a.html")
    assert proc.returncode == 0, proc.stdout + proc.stderr
    assert "registrar class: legacy" in proc.stdout and "verdict: PASS" in proc.stdout
    assert json.loads((tmp_path / "a.json").read_text())["classification"]["registrar"] == "legacy"
    assert "Registrar class: <b>legacy</b>" in (tmp_path / "a.html").read_text()
    proc = _cli(path, "--target", "tests/targets/fault-omit-require-outbound.yaml")  # declares outbound
    assert proc.returncode == 1 and "FAIL R1-require" in proc.stdout, proc.stdout + proc.stderr
    # A registrar that shows RFC 5626 once is held to it throughout.
    r1 = register(UE1, call_id="a", branch="z9hG4bK1", reg_id=1)
    r2 = register(UE2, call_id="b", branch="z9hG4bK2", reg_id=2)
    mixed = write(tmp_path / "mixed.pcap", [udp(UE1, REGISTRAR, r1), udp(REGISTRAR, UE1, ok(r1, [C1])),
                                            udp(UE2, REGISTRAR, r2),
                                            udp(REGISTRAR, UE2, ok(r2, [C1, C2], require=None))])
    proc = _cli(mixed)
    assert proc.returncode == 1 and "registrar class: outbound" in proc.stdout, proc.stdout


# -- d. keep-alives alone ---------------------------------------------------------------------
def test_a_capture_of_keepalives_alone_exits_on_what_was_judged(tmp_path):
    cs, ss = 1000, 5000
    pk = [tcp(UE1, REGISTRAR, cs, flags="S", ack=0), tcp(REGISTRAR, UE1, ss, flags="SA", ack=cs + 1),
          tcp(UE1, REGISTRAR, cs + 1, flags="A", ack=ss + 1),
          tcp(UE1, REGISTRAR, cs + 1, b"\r\n\r\n", ack=ss + 1), tcp(REGISTRAR, UE1, ss + 1, b"\r\n", ack=cs + 5)]
    proc = _cli(write(tmp_path / "ka.pcap", pk))
    assert proc.returncode == 0, proc.stdout + proc.stderr
    assert "no SIP message" not in proc.stderr and "verdict: PASS" in proc.stdout
    # without the pong: judged, and failed
    proc = _cli(write(tmp_path / "ka-lost.pcap", pk[:4] + [tcp(UE1, REGISTRAR, cs + 5, flags="FA", ack=ss + 1),
                                                           tcp(REGISTRAR, UE1, ss + 1, flags="FA", ack=cs + 6)]))
    assert proc.returncode == 1 and "KA-pong" in proc.stdout, proc.stdout + proc.stderr


# -- e. removed bindings ----------------------------------------------------------------------
def _star(addr, **kw) -> bytes:
    return register(addr, contacts=["*"], **kw).replace(b"Content-Length: 0", b"Expires: 0\r\nContent-Length: 0")


def _two_then(tmp_path, name, tail):
    r1 = register(UE1, call_id="a", branch="z9hG4bK1", reg_id=1)
    r2 = register(UE2, call_id="b", branch="z9hG4bK2", reg_id=2)
    pk = [udp(UE1, REGISTRAR, r1), udp(REGISTRAR, UE1, ok(r1, [C1])),
          udp(UE2, REGISTRAR, r2), udp(REGISTRAR, UE2, ok(r2, [C1, C2]))] + tail
    return _judged(write(tmp_path / f"{name}.pcap", pk))


def test_a_binding_listed_again_after_its_removal_fails(tmp_path):
    star = _star(UE1, call_id="a", cseq=2, branch="z9hG4bK3", supported="path")
    fetch = register(UE1, call_id="a", cseq=3, branch="z9hG4bK4", contacts=[])
    # REG-009-type: the 2xx to Contact: * lists nothing, the next fetch lists both again.
    a, fails = _two_then(tmp_path, "relisted", [
        udp(UE1, REGISTRAR, star), udp(REGISTRAR, UE1, ok(star, [], require=None)),
        udp(UE1, REGISTRAR, fetch), udp(REGISTRAR, UE1, ok(fetch, [C1, C2], require=None))])
    assert [p for p, _ in fails["R2-removed"]] == [[7, 8], [7, 8]], fails
    assert "removed by the 2xx in packet 6" in fails["R2-removed"][0][1]
    # the 2xx to Contact: * itself still lists a binding
    a, fails = _two_then(tmp_path, "kept", [
        udp(UE1, REGISTRAR, star), udp(REGISTRAR, UE1, ok(star, [C2], require=None))])
    assert [p for p, _ in fails["R2-removed"]] == [[5, 6]] and "sip:ue@10.0.0.2:40002" in fails["R2-removed"][0][1]
    # expires=0 on one binding: it is gone from this 2xx and the next
    r0 = register(UE1, call_id="a", cseq=2, branch="z9hG4bK5", reg_id=1, expires=0)
    fetch2 = register(UE2, call_id="b", cseq=2, branch="z9hG4bK6", contacts=[])
    a, fails = _two_then(tmp_path, "one", [
        udp(UE1, REGISTRAR, r0), udp(REGISTRAR, UE1, ok(r0, [C2])),
        udp(UE2, REGISTRAR, fetch2), udp(REGISTRAR, UE2, ok(fetch2, [C1, C2], require=None))])
    assert [p for p, _ in fails["R2-removed"]] == [[7, 8]], fails


def test_the_reg009_defect_of_kamailio_behind_an_edge_is_found_in_its_capture():
    # A live run of REG-009 against targets/kamailio-edge.yaml (expected/kamailio-edge.yaml: the
    # registrar answers Contact: * with a 200 that removes nothing): the 2xx to Contact: * lists
    # no Contact, the fetch after it lists both bindings again.
    a, fails = _judged(ROOT / "pcaps/samples/kamailio-edge/REG-009-udp.pcap")
    assert [p for p, _ in fails["R2-removed"]] == [[7, 8], [7, 8]]
    assert all("removed by the 2xx in packet 6" in why for _, why in fails["R2-removed"])


def test_a_correct_removal_and_a_new_registration_pass(tmp_path):
    star = _star(UE1, call_id="a", cseq=2, branch="z9hG4bK3", supported="path")
    fetch = register(UE1, call_id="a", cseq=3, branch="z9hG4bK4", contacts=[])
    again = register(UE1, call_id="a", cseq=4, branch="z9hG4bK5", reg_id=1)
    a, fails = _two_then(tmp_path, "good", [
        udp(UE1, REGISTRAR, star), udp(REGISTRAR, UE1, ok(star, [], require=None)),
        udp(UE1, REGISTRAR, fetch), udp(REGISTRAR, UE1, ok(fetch, [], require=None)),
        udp(UE1, REGISTRAR, again), udp(REGISTRAR, UE1, ok(again, [C1]))])
    assert not fails and a.judge.results["R2-removed"].counts == {"pass": 1}
    assert [b.reg_id for b in a.timeline.bindings(AOR)] == ["1"]


def test_a_contact_listed_after_two_removals_is_one_finding(tmp_path):
    r1 = register(UE1, call_id="a", branch="z9hG4bK1", reg_id=1)
    d1 = register(UE1, call_id="a", cseq=2, branch="z9hG4bK2", reg_id=1, expires=0)
    d2 = register(UE1, call_id="a", cseq=3, branch="z9hG4bK3", reg_id=1, expires=0)
    a, fails = _judged(write(tmp_path / "twice.pcap", [
        udp(UE1, REGISTRAR, r1), udp(REGISTRAR, UE1, ok(r1, [C1])),
        udp(UE1, REGISTRAR, d1), udp(REGISTRAR, UE1, ok(d1, [])),
        udp(UE1, REGISTRAR, d2), udp(REGISTRAR, UE1, ok(d2, [C1]))]))
    assert [p for p, _ in fails["R2-removed"]] == [[5, 6]], fails
