"""Reg-event dialogs followed offline (analysis/regevent.py, rules REGEV-*): each NOTIFY's view
(RFC 3680 §5.2) judged against the bindings as they stood when it was sent.

The scenario: Reg1a (UE1, reg-id 1) and Reg2 (UE2, reg-id 2, same instance), a SUBSCRIBE from UE1
and the full NOTIFY, then UE2 de-registers (partial NOTIFY: its contact terminated/unregistered),
Reg1b from UE3 replaces reg-id 1 (old contact terminated, new active), and ``Contact: *`` ends
all (AOR terminated).  Each broken variant is what a reference fault sends (notify-only-newest,
notify-one-contact-per-instance, notify-drops-unregistered)."""

from __future__ import annotations

import json

import pytest
from analysis_craft import AOR, REGISTRAR, UE1, UE2, UE3, contact, ok, register, write
from regev_craft import Packets, answer, doc, notify, rc, subscribe

from conformance.analysis.analyzer import analyze
from conformance.analysis.result import plain
from conformance.catalogue.clauses import level_of_refs, load_clauses
from conformance.report.capture_analysis import console, to_dict, write_html

PUB = "sip:ue@ims.test;gr=urn:uuid:00000000-0000-1000-8000-00000000000a"


def _gruu(c: str, temp: str) -> str:
    return c + f';pub-gruu="{PUB}";temp-gruu="sip:tgruu.{temp}@ims.test;gr"'


def scenario(tmp_path, *, transport="udp", full0=None, partial1=None, skip_v1=False, retransmit=False,
             name="regev.pcap", crossing=False, reg1b=None):
    """Write the scenario's capture; the arguments swap in a broken NOTIFY."""
    p = Packets(transport)
    t = transport
    c1, c2, c3 = contact(UE1, 1, transport=t), contact(UE2, 2, transport=t), contact(UE3, 1, transport=t)

    def reg(addr, req, listed):
        p.send(addr, REGISTRAR, req)
        p.send(REGISTRAR, addr, ok(req, listed))

    def ntf(body, cseq, **kw):
        req = notify(UE1, body, cseq=cseq, transport=t, **kw)
        p.send(REGISTRAR, UE1, req)
        if retransmit and t == "udp":
            p.send(REGISTRAR, UE1, req)
        p.send(UE1, REGISTRAR, answer(req))
        if retransmit and t == "udp":
            p.send(REGISTRAR, UE1, req)  # a retransmission after the 200: the same NOTIFY

    reg(UE1, register(UE1, call_id="a", branch="z9hG4bKa1", transport=t), [_gruu(c1, "1")])
    reg(UE2, register(UE2, call_id="b", branch="z9hG4bKb1", reg_id=2, transport=t),
        [_gruu(c1, "1"), _gruu(c2, "2")])
    sub = subscribe(UE1, transport=t)
    p.send(UE1, REGISTRAR, sub)
    p.send(REGISTRAR, UE1, answer(sub, to_tag="ntf1", expires=600))
    ntf(full0 or doc(0, [rc("c1", UE1, 1, transport=t), rc("c2", UE2, 2, transport=t)]), 1)
    # UE2 de-registers
    dereg = register(UE2, call_id="b", cseq=2, branch="z9hG4bKb2", reg_id=2, expires=0, transport=t)
    if crossing:
        # the NOTIFY of the de-registration overtakes the REGISTER's 200 (the registrar processed it)
        p.send(UE2, REGISTRAR, dereg)
        ntf(doc(1, [rc("c2", UE2, 2, "terminated", "unregistered", transport=t)], state="partial",
                aor_state="active"), 2)
        p.send(REGISTRAR, UE2, ok(dereg, [_gruu(c1, "1")]))
    else:
        reg(UE2, dereg, [_gruu(c1, "1")])
        if not skip_v1:
            ntf(partial1 or doc(1, [rc("c2", UE2, 2, "terminated", "unregistered", transport=t)],
                                state="partial", aor_state="active"), 2)
    # Reg1b: UE3 replaces reg-id 1
    reg(UE3, register(UE3, call_id="c", branch="z9hG4bKc1", transport=t), [_gruu(c3, "3")])
    ntf(reg1b or doc(2, [rc("c1", UE1, 1, "terminated", "unregistered", transport=t),
                         rc("c3", UE3, 1, transport=t)], state="partial"), 3)
    # Contact: * ends them all
    star = register(UE3, call_id="c", cseq=2, branch="z9hG4bKc2", contacts=["*"], transport=t)
    p.send(UE3, REGISTRAR, star)
    p.send(REGISTRAR, UE3, ok(star, [], require=None))
    ntf(doc(3, [rc("c3", UE3, 1, "terminated", "unregistered", transport=t)], state="partial",
            aor_state="terminated"), 4)
    return write(tmp_path / name, p.packets)


def _rules(a) -> dict:
    return {r["rule"]: r for r in to_dict(a)["rules"] if r["rule"].startswith("REGEV-")}


def _bad(rule: dict) -> list[dict]:
    return [f for f in rule["findings"] if f["outcome"] != "pass"]


@pytest.mark.parametrize("transport", ["udp", "tcp"])
def test_a_correct_sequence_gives_no_finding(tmp_path, transport):
    a = analyze(str(scenario(tmp_path, transport=transport)))
    rules = _rules(a)
    assert rules["REGEV-current"]["counts"] == {"pass": 1}
    assert rules["REGEV-change"]["counts"] == {"pass": 3}
    assert rules["REGEV-version"]["counts"] == {"pass": 4}
    assert rules["REGEV-event"]["counts"] == {"pass": 3}  # c2, then c2, then c2 and c3 shown ended
    assert rules["REGEV-params"]["counts"] == {"pass": 3}  # the NOTIFYs with a binding bound
    assert rules["REGEV-aor"]["counts"] == {"pass": 4} and rules["REGEV-body"]["counts"] == {"pass": 4}
    assert not any(_bad(r) for r in rules.values())
    assert to_dict(a)["verdict"] == "pass"


def test_retransmitted_notifies_count_once(tmp_path):
    a = analyze(str(scenario(tmp_path, retransmit=True)))
    rules = _rules(a)
    assert rules["REGEV-version"]["counts"] == {"pass": 4}
    assert rules["REGEV-current"]["counts"] == {"pass": 1} and rules["REGEV-change"]["counts"] == {"pass": 3}


def test_notify_only_newest_fails_naming_the_missing_contact(tmp_path):
    only_newest = doc(0, [rc("c2", UE2, 2)])
    rule = _rules(analyze(str(scenario(tmp_path, full0=only_newest))))["REGEV-current"]
    assert rule["verdict"] == "fail" and rule["level"] == "MUST" and rule["ref"] == "RFC 6665 §4.2.1.2"
    [f] = _bad(rule)
    assert f["outcome"] == "fail"
    assert "no active <contact> with <uri>sip:ue@10.0.0.1:40001</uri>" in f["observed"]
    assert "reg-id 1" in f["observed"]


def test_one_contact_per_instance_fails_naming_the_folded_flow(tmp_path):
    folded = doc(0, [rc("c1", UE1, 1)])  # both flows of the instance as one <contact>
    [f] = _bad(_rules(analyze(str(scenario(tmp_path, full0=folded))))["REGEV-current"])
    assert f["outcome"] == "fail" and "no active <contact> with <uri>sip:ue@10.0.0.2:40002</uri>" in f["observed"]


def test_a_contact_without_its_instance_and_reg_id_is_named(tmp_path):
    bare = doc(0, [rc("c1", UE1, None, instance=None), rc("c2", UE2, 2)])
    rules = _rules(analyze(str(scenario(tmp_path, full0=bare))))
    assert not _bad(rules["REGEV-current"])  # the contact is there; its parameters are recorded
    f, later = _bad(rules["REGEV-params"])  # the view keeps it so until Reg1b ends it
    assert later["packets"] == [11] and f["outcome"] == "info"
    assert rules["REGEV-params"]["ref"] == "RFC 3680 §5.1 (unknown-param)"
    assert '<contact id="c1"> <unknown-param name="+sip.instance"> is absent' in f["observed"]
    assert '<contact id="c1"> <unknown-param name="reg-id"> is absent' in f["observed"]


def test_a_dropped_unregistered_contact_is_named_active(tmp_path):
    # notify-drops-unregistered: the partial NOTIFY after UE2's de-registration leaves its contact out
    dropped = doc(1, [], state="partial", aor_state="active")
    rule = _rules(analyze(str(scenario(tmp_path, partial1=dropped))))["REGEV-change"]
    bad = _bad(rule)
    # that NOTIFY and each later one leave the subscriber's view with the contact active
    assert rule["level"] == "SHOULD" and [f["outcome"] for f in bad] == ["warn"] * 3
    assert bad[0]["packets"] == [11] and rule["counts"] == {"warn": 3}
    for f in bad:
        assert '<contact id="c2" state="active"> for <uri>sip:ue@10.0.0.2:40002</uri>, removed in packet 10' in \
            f["observed"] and 'expected state="terminated" event="unregistered"' in f["observed"]
    assert analyze(str(scenario(tmp_path, partial1=dropped, name="s.pcap")), strict=True).judge.verdict() == "fail"


def test_a_wrong_event_for_an_unregistered_contact_is_recorded(tmp_path):
    expired = doc(1, [rc("c2", UE2, 2, "terminated", "expired")], state="partial", aor_state="active")
    rule = _rules(analyze(str(scenario(tmp_path, partial1=expired))))["REGEV-event"]
    f = _bad(rule)[0]
    assert f["packets"] == [11] and rule["counts"]["info"] == 3
    assert f["outcome"] == "info" and 'event="expired"' in f["observed"] and 'expected event="unregistered"' in \
        f["observed"]


def test_a_replaced_contact_left_active_is_named(tmp_path):
    # Reg1b: the NOTIFY adds the new contact and leaves the replaced one active (as the live count
    # of active contacts does, RFC 6665 §4.2.2: SHOULD); the event of a replaced contact is [M]
    kept = doc(2, [rc("c3", UE3, 1)], state="partial")
    rules = _rules(analyze(str(scenario(tmp_path, reg1b=kept))))
    f = _bad(rules["REGEV-change"])[0]
    assert f["outcome"] == "warn" and f["packets"] == [15]
    assert '<contact id="c1" state="active"> for <uri>sip:ue@10.0.0.1:40001</uri>, replaced in packet' in f["observed"]
    assert not _bad(rules["REGEV-current"]) and not _bad(rules["REGEV-event"])


def test_a_version_gap_is_a_finding_and_the_view_is_lost_until_a_full_document(tmp_path):
    a = analyze(str(scenario(tmp_path, skip_v1=True)))  # versions 0, 2, 3: version 1 never sent
    rules = _rules(a)
    [gap] = _bad(rules["REGEV-version"])
    assert gap["outcome"] == "info" and '<reginfo version="2"> after version 0' in gap["observed"]
    [lost] = _bad(rules["REGEV-change"])
    assert lost["outcome"] == "warn" and "partial version 2 cannot be applied after version 0" in lost["observed"]
    # version 3 is not judged: no view to apply it to (the loss is reported once)
    assert rules["REGEV-change"]["counts"] == {"warn": 1}


def test_a_partial_before_any_full_document_fails(tmp_path):
    first_partial = doc(0, [rc("c1", UE1, 1), rc("c2", UE2, 2)], state="partial")
    [f] = _bad(_rules(analyze(str(scenario(tmp_path, full0=first_partial))))["REGEV-current"])
    assert f["outcome"] == "fail" and '<reginfo state="partial"> (version 0) before any full document' in \
        f["observed"]


def test_a_notify_crossing_a_register_is_not_failed(tmp_path):
    a = analyze(str(scenario(tmp_path, crossing=True)))
    rules = _rules(a)
    # the de-registration's NOTIFY came while its REGISTER was in flight: it already shows the
    # outcome, so it is judged once that REGISTER is answered, against the bindings before or after
    assert rules["REGEV-change"]["counts"] == {"pass": 3}
    judged = [f for f in rules["REGEV-change"]["findings"] if f["packets"] == [10]]
    assert "judged against the bindings before it and after its answer, packet(s) 12" in judged[0]["expected"]
    assert to_dict(a)["verdict"] == "pass"


@pytest.mark.parametrize("answered, outcome", [(True, "warn"), (False, "inconclusive")])
def test_a_notify_crossing_a_register_at_odds_with_both_states(tmp_path, answered, outcome):
    # UE2 refreshes; the NOTIFY sent meanwhile shows its contact unregistered: true neither
    # before the refresh nor after it.  Unanswered at the end of the capture: inconclusive.
    p = Packets()
    _two_flows_subscribed(p)
    refresh = register(UE2, call_id="b", cseq=2, branch="z9hG4bKb2", reg_id=2)
    p.send(UE2, REGISTRAR, refresh)
    n = notify(UE1, doc(1, [rc("c2", UE2, 2, "terminated", "unregistered")], state="partial", aor_state="active"),
               cseq=2)
    p.send(REGISTRAR, UE1, n)
    p.send(UE1, REGISTRAR, answer(n))
    if answered:
        p.send(REGISTRAR, UE2, ok(refresh, [contact(UE1, 1), contact(UE2, 2)]))
    rules = _rules(analyze(str(write(tmp_path / "t.pcap", p.packets))))
    [f] = _bad(rules["REGEV-change"])
    assert f["outcome"] == outcome and "no active <contact> with <uri>sip:ue@10.0.0.2:40002</uri>" in f["observed"]


def test_a_notify_showing_a_register_in_flight_is_judged_after_it(tmp_path):
    # Reg1b from UE3 in flight; the NOTIFY shows UE3's new contact (so the notifier had processed
    # the REGISTER) but leaves UE1's replaced contact active: judged against the bindings after it
    p = Packets()
    _two_flows_subscribed(p)
    reg1b = register(UE3, call_id="c", branch="z9hG4bKc1")
    p.send(UE3, REGISTRAR, reg1b)
    n = notify(UE1, doc(1, [rc("c3", UE3, 1)], state="partial", aor_state="active"), cseq=2)
    p.send(REGISTRAR, UE1, n)
    p.send(UE1, REGISTRAR, answer(n))
    p.send(REGISTRAR, UE3, ok(reg1b, [contact(UE3, 1), contact(UE2, 2)]))
    rules = _rules(analyze(str(write(tmp_path / "t.pcap", p.packets))))
    [f] = _bad(rules["REGEV-change"])
    assert f["outcome"] == "warn" and '<contact id="c1" state="active"> for <uri>sip:ue@10.0.0.1:40001</uri>' in \
        f["observed"]


def test_the_notify_is_judged_against_the_bindings_when_it_was_sent(tmp_path):
    # The same full NOTIFY after Reg1a only: one contact is right then, though Reg2 comes later.
    p = Packets()
    r1 = register(UE1, call_id="a", branch="z9hG4bKa1")
    p.send(UE1, REGISTRAR, r1)
    p.send(REGISTRAR, UE1, ok(r1, [contact(UE1, 1)]))
    sub = subscribe(UE1)
    p.send(UE1, REGISTRAR, sub)
    p.send(REGISTRAR, UE1, answer(sub, to_tag="ntf1", expires=600))
    n = notify(UE1, doc(0, [rc("c1", UE1, 1)]))
    p.send(REGISTRAR, UE1, n)
    p.send(UE1, REGISTRAR, answer(n))
    r2 = register(UE2, call_id="b", branch="z9hG4bKb1", reg_id=2)
    p.send(UE2, REGISTRAR, r2)
    p.send(REGISTRAR, UE2, ok(r2, [contact(UE1, 1), contact(UE2, 2)]))
    rules = _rules(analyze(str(write(tmp_path / "t.pcap", p.packets))))
    assert rules["REGEV-current"]["counts"] == {"pass": 1}


def test_the_timeline_shows_gruus_and_reg_event_state_per_binding(tmp_path):
    a = analyze(str(scenario(tmp_path)))
    d = to_dict(a)
    by_uri = {b["uri"]: b for b in d["bindings"]}
    b1, b3 = by_uri["sip:ue@10.0.0.1:40001"], by_uri["sip:ue@10.0.0.3:40003"]
    assert b1["pub_gruu"] == PUB and b1["temp_gruu"] == "sip:tgruu.1@ims.test;gr"
    assert b3["temp_gruu"] == "sip:tgruu.3@ims.test;gr"
    assert b1["reg_event"].startswith("terminated event=unregistered (NOTIFY packet")
    assert b3["reg_event"].startswith("terminated event=unregistered")
    assert any("reg-event: contact active, event registered (version 0)" in h["what"] for h in b1["history"])
    [s] = d["reg_event"]
    assert s["aor"] == AOR and s["version"] == 3 and s["registration_state"] == "terminated"
    html_path = tmp_path / "a.html"
    write_html(html_path, d)
    page = html_path.read_text()
    assert PUB in page and "sip:tgruu.3@ims.test;gr" in page and "terminated event=unregistered" in page
    text = console(d)
    assert "pub-gruu " + PUB in text and "reg-event: terminated event=unregistered" in text


def test_a_capture_without_reg_event_has_no_gruu_or_reg_event_keys(tmp_path):
    p = Packets()
    r1 = register(UE1, call_id="a", branch="z9hG4bKa1")
    p.send(UE1, REGISTRAR, r1)
    p.send(REGISTRAR, UE1, ok(r1, [contact(UE1, 1)]))
    d = to_dict(analyze(str(write(tmp_path / "plain.pcap", p.packets))))
    assert set(d["bindings"][0]) == {"aor", "uri", "instance", "reg_id", "expires", "state", "created", "updated",
                                     "ended", "flow", "path", "history"}
    assert "reg_event" not in d
    assert all(r["verdict"] == "not applicable" for r in _rules_doc(d).values())


def _rules_doc(d: dict) -> dict:
    return {r["rule"]: r for r in d["rules"] if r["rule"].startswith("REGEV-")}


def test_one_and_two_processes_give_the_same_findings(tmp_path):
    path = scenario(tmp_path, partial1=doc(1, [], state="partial", aor_state="active"))
    one, two = to_dict(analyze(str(path), processes=1)), to_dict(analyze(str(path), processes=2))
    for d in (one, two):
        for k in ("seconds", "messages_per_second", "processes", "serial_because"):
            d.pop(k, None)
    assert json.dumps(one, sort_keys=True, default=plain) == json.dumps(two, sort_keys=True, default=plain)
    assert any(_bad(r) for r in _rules_doc(one).values())


def test_the_rules_levels_follow_their_clauses():
    from conformance.analysis.rules import RULES

    clauses = load_clauses()
    for rid, rule in RULES.items():
        if rid.startswith("REGEV-"):
            assert level_of_refs(rule.ref, clauses) == rule.level, rid


def test_a_body_that_is_no_reginfo_document_fails_and_the_view_waits_for_a_full_one(tmp_path):
    broken = b"<reginfo xmlns='urn:ietf:params:xml:ns:reginfo' version='0' state='full'><registration"
    rules = _rules(analyze(str(scenario(tmp_path, full0=broken))))
    [f] = _bad(rules["REGEV-body"])
    assert f["outcome"] == "fail" and rules["REGEV-body"]["ref"] == "RFC 3680 §5.1 (well-formed)"
    assert "not well-formed XML" in f["observed"]
    # the partials after it have no view to apply to: not judged, and not reported again
    assert rules["REGEV-change"]["counts"] == {}


def test_a_duplicate_contact_for_one_binding_is_named(tmp_path):
    twice = doc(0, [rc("c1", UE1, 1), rc("c1b", UE1, 1), rc("c2", UE2, 2)])
    [f] = _bad(_rules(analyze(str(scenario(tmp_path, full0=twice))))["REGEV-current"])
    assert f["outcome"] == "fail" and "2 active <contact> elements with <uri>sip:ue@10.0.0.1:40001</uri>" in \
        f["observed"]


def test_a_registration_state_at_odds_with_the_bindings_is_recorded(tmp_path):
    wrong = doc(0, [rc("c1", UE1, 1), rc("c2", UE2, 2)], aor_state="init")
    rules = _rules(analyze(str(scenario(tmp_path, full0=wrong))))
    [f] = _bad(rules["REGEV-aor"])
    assert f["outcome"] == "info" and '<registration aor="sip:ue@ims.test" state="init">' in f["observed"]
    assert not _bad(rules["REGEV-current"])


def _two_flows_subscribed(p: Packets) -> None:
    r1 = register(UE1, call_id="a", branch="z9hG4bKa1")
    p.send(UE1, REGISTRAR, r1)
    p.send(REGISTRAR, UE1, ok(r1, [contact(UE1, 1)]))
    r2 = register(UE2, call_id="b", branch="z9hG4bKb1", reg_id=2)
    p.send(UE2, REGISTRAR, r2)
    p.send(REGISTRAR, UE2, ok(r2, [contact(UE1, 1), contact(UE2, 2)]))
    sub = subscribe(UE1)
    p.send(UE1, REGISTRAR, sub)
    p.send(REGISTRAR, UE1, answer(sub, to_tag="ntf1", expires=600))
    n = notify(UE1, doc(0, [rc("c1", UE1, 1), rc("c2", UE2, 2)]))
    p.send(REGISTRAR, UE1, n)
    p.send(UE1, REGISTRAR, answer(n))


@pytest.mark.parametrize("event, outcome", [("deactivated", "inconclusive"), ("unregistered", "warn")])
def test_an_ending_the_capture_cannot_see_is_inconclusive(tmp_path, event, outcome):
    # the registrar ends UE2's binding without a REGISTER (a flow failure: deactivated); an
    # "unregistered" contact needs a REGISTER with expiry 0, which the capture would show
    p = Packets()
    _two_flows_subscribed(p)
    n = notify(UE1, doc(1, [rc("c2", UE2, 2, "terminated", event)], state="partial", aor_state="active"), cseq=2)
    p.send(REGISTRAR, UE1, n)
    p.send(UE1, REGISTRAR, answer(n))
    rules = _rules(analyze(str(write(tmp_path / "t.pcap", p.packets))))
    [f] = _bad(rules["REGEV-change"])
    assert f["outcome"] == outcome and f'event="{event}"' in f["observed"]


def test_notifies_waiting_for_an_answer_are_bounded(tmp_path, monkeypatch):
    # a REGISTER never answered: with room for one waiting NOTIFY, the older is judged when the
    # next one comes, as it stands (inconclusive), and none is lost
    import conformance.analysis.regevent as regevent

    monkeypatch.setattr(regevent, "MAX_DEFERRED", 1)
    p = Packets()
    _two_flows_subscribed(p)
    refresh = register(UE2, call_id="b", cseq=2, branch="z9hG4bKb2", reg_id=2, expires=0)
    p.send(UE2, REGISTRAR, refresh)
    for v in (1, 2):
        n = notify(UE1, doc(v, [rc("c2", UE2, 2, "terminated", "unregistered")], state="partial",
                            aor_state="active"), cseq=v + 1)
        p.send(REGISTRAR, UE1, n)
        p.send(UE1, REGISTRAR, answer(n))
    rules = _rules(analyze(str(write(tmp_path / "t.pcap", p.packets))))
    assert rules["REGEV-change"]["counts"] == {"inconclusive": 2}
    assert [f["packets"] for f in rules["REGEV-change"]["findings"]] == [[10], [12]]


def test_a_p_cscf_subscription_is_followed_like_the_ues(tmp_path):
    # TS 24.229 5.2.3: the P-CSCF subscribes to the UE's AOR from its own address and URI
    pcscf = ("10.0.0.50", 5060)
    p = Packets()
    r1 = register(UE1, call_id="a", branch="z9hG4bKa1")
    p.send(UE1, REGISTRAR, r1)
    p.send(REGISTRAR, UE1, ok(r1, [contact(UE1, 1)]))
    sub = subscribe(pcscf, frm="sip:pcscf.ims.test")
    p.send(pcscf, REGISTRAR, sub)
    p.send(REGISTRAR, pcscf, answer(sub, to_tag="ntf1", expires=600))
    n = notify(pcscf, doc(0, []), to="sip:pcscf.ims.test")  # no contact: UE1's binding missing
    p.send(REGISTRAR, pcscf, n)
    p.send(pcscf, REGISTRAR, answer(n))
    d = to_dict(analyze(str(write(tmp_path / "t.pcap", p.packets))))
    [f] = _bad(_rules_doc(d)["REGEV-current"])
    assert f["outcome"] == "fail" and "no active <contact> with <uri>sip:ue@10.0.0.1:40001</uri>" in f["observed"]
    assert d["reg_event"][0]["aor"] == AOR and d["terminating"] == []  # the NOTIFY is no terminating request
