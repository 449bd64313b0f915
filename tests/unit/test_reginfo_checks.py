"""The reg-event check kinds (conformance/meaning/checks/reginfo.py): each question's pass and
fail path on NOTIFYs absorbed by the subscriber's sans-IO side, and the level of each kind."""

from __future__ import annotations

import pytest

from conformance.meaning.checks import CHECKS, CheckContext, run_check
from conformance.meaning.checks.reginfo import notify_check, notify_ref, record_check, record_ref, reginfo_check
from conformance.sip.message import Request, Response
from conformance.sip.reginfo import Contact, RegInfo, Registration, render_reginfo
from conformance.ue.subscription import Subscription, absorb

AOR = "sip:alice@ims.test"
INSTANCE = "<urn:uuid:00000000-0000-0000-0000-000000000001>"
F1, F2, F3 = ("sip:alice@127.0.0.11:5070", "sip:alice@127.0.0.12:5071", "sip:alice@127.0.0.13:5072")


def contact(cid, uri, state="active", event="registered", reg_id=1, instance=INSTANCE):
    return Contact(id=cid, state=state, event=event, uri=uri, instance=instance, reg_id=reg_id)


def body(version, state, contacts, reg_state="active", reg_id="r1"):
    return render_reginfo(RegInfo(version, state, (Registration(AOR, reg_id, reg_state, tuple(contacts)),)))


def notify(cseq, data, *, headers=None):
    base = {"Event": "reg", "Subscription-State": "active;expires=600", "Content-Type": "application/reginfo+xml"}
    base.update(headers or {})
    hdrs = [("From", f"<{AOR}>;tag=nt"), ("To", f"<{AOR}>;tag=lt"), ("Call-ID", "c1"), ("CSeq", f"{cseq} NOTIFY")]
    hdrs += [(k, v) for k, v in base.items() if v is not None]
    return Request(method="NOTIFY", uri=F1, headers=hdrs, body=data)


def ctx_for(*notifies, earlier=0, response=None, request=None):
    """A context whose step saw the NOTIFYs after the first ``earlier`` ones."""
    sub = Subscription(name="reg", flow="f1", ue="a", aor=AOR, call_id="c1", local_tag="lt")
    for i, n in enumerate(notifies):
        absorb(sub, n, i, "f1")
    ctx = CheckContext(request=request, response=response, instance=INSTANCE,
                       flow_contacts={"f1": F1, "f2": F2, "f3": F3}, flow_reg_ids={"f1": 1, "f2": 2, "f3": 1})
    ctx.reg_event = {"subscription": "reg", "event": "reg", "aor": AOR, "notifies": sub.notifies[earlier:],
                     "all": list(sub.notifies), "view": sub.view, "waited": 2.0, "response": response}
    return ctx


def only(observations):
    assert len(observations) == 1, observations
    return observations[0]


TWO = body(0, "full", [contact("c1", F1), contact("c2", F2, reg_id=2)])


# -- notify -----------------------------------------------------------------------------------
def test_sent_pass_and_fail():
    assert only(notify_check({"sent": True}, ctx_for(notify(1, TWO)))).ok is True
    o = only(notify_check({"sent": True}, ctx_for()))
    assert o.ok is False and "no NOTIFY of subscription reg within 2 s" in o.observed


def test_sent_is_not_judged_when_the_subscribe_was_refused():
    refused = Response(status=403, reason="Forbidden", headers=[])
    assert only(notify_check({}, ctx_for(response=refused))).ok is None


def test_event_header():
    assert only(notify_check({"event": True}, ctx_for(notify(1, TWO)))).ok is True
    o = only(notify_check({"event": True}, ctx_for(notify(1, TWO, headers={"Event": "presence"}))))
    assert o.ok is False and "presence" in o.observed


@pytest.mark.parametrize("value, ok", [("active;expires=600", True), ("terminated;reason=timeout", True),
                                       ("active", False), ("gone", False), (None, False)])
def test_subscription_state_header(value, ok):
    o = only(notify_check({"subscription_state": True}, ctx_for(notify(1, TWO, headers={"Subscription-State": value}))))
    assert o.ok is ok


def test_content_type():
    assert only(notify_check({"content_type": True}, ctx_for(notify(1, TWO)))).ok is True
    bad = notify(1, TWO, headers={"Content-Type": "application/xml"})
    assert only(notify_check({"content_type": True}, ctx_for(bad))).ok is False


def test_body_names_the_broken_element():
    assert only(notify_check({"body": True}, ctx_for(notify(1, TWO)))).ok is True
    broken = notify(1, b'<reginfo xmlns="urn:ietf:params:xml:ns:reginfo" version="0" state="full">'
                       b'<registration aor="sip:alice@ims.test" id="r1" state="active">'
                       b'<contact id="c1" state="active"><uri>sip:a@b</uri></contact></registration></reginfo>')
    o = only(notify_check({"body": True}, ctx_for(broken)))
    assert o.ok is False and 'contact id="c1"' in o.observed and "event" in o.observed


def test_ids_a_contact_id_reused_for_another_uri_fails():
    first = notify(1, body(0, "full", [contact("c1", F1)]))
    same = notify(2, body(1, "partial", [contact("c1", F1, event="refreshed")]))
    assert only(notify_check({"ids": True}, ctx_for(first, same))).ok is True
    folded = notify(2, body(1, "partial", [contact("c1", F2, event="refreshed", reg_id=2)]))
    o = only(notify_check({"ids": True}, ctx_for(first, folded)))
    assert o.ok is False and '<contact id="c1">' in o.observed


def test_ids_a_registration_id_changed_fails():
    first = notify(1, body(0, "full", [contact("c1", F1)]))
    moved = notify(2, body(1, "full", [contact("c1", F1)], reg_id="r2"))
    o = only(notify_check({"ids": True}, ctx_for(first, moved)))
    assert o.ok is False and "<registration" in o.observed


def test_expires_header_of_the_2xx():
    req = Request(method="SUBSCRIBE", uri=AOR, headers=[("Expires", "300")])
    good = Response(status=200, reason="OK", headers=[("Expires", "300")])
    longer = Response(status=200, reason="OK", headers=[("Expires", "600")])
    none = Response(status=200, reason="OK", headers=[])
    assert only(notify_check({"expires_header": True}, ctx_for(request=req, response=good))).ok is True
    assert only(notify_check({"expires_header": True}, ctx_for(request=req, response=longer))).ok is False
    assert only(notify_check({"expires_header": True}, ctx_for(request=req, response=none))).ok is False


# -- reginfo ------------------------------------------------------------------------------------
def test_flows_one_active_contact_each():
    o = reginfo_check({"flows": ["f1", "f2"], "count": 2}, ctx_for(notify(1, TWO)))
    assert [x.ok for x in o] == [True, True, True]


def test_only_the_newest_listed_fails_the_other_flow():
    newest = body(0, "full", [contact("c2", F2, reg_id=2)])
    o = reginfo_check({"flows": ["f1", "f2"], "count": 2}, ctx_for(notify(1, newest)))
    assert [x.ok for x in o] == [False, True, False]
    assert "<contact" in o[0].observed and F2 in o[0].observed


def test_flows_of_an_instance_folded_into_one_contact_fail():
    folded = body(0, "full", [contact("ci", F2, reg_id=2)])
    ok = [x.ok for x in reginfo_check({"flows": ["f1", "f2"]}, ctx_for(notify(1, folded)))]
    assert ok == [False, True]


def test_unbound_passes_when_terminated_or_gone_and_fails_while_active():
    dereg = notify(2, body(1, "partial", [contact("c2", F2, "terminated", "unregistered", 2)]))
    assert only(reginfo_check({"unbound": ["f2"]}, ctx_for(notify(1, TWO), dereg))).ok is True
    gone = notify(2, body(1, "full", [contact("c1", F1)]))
    assert only(reginfo_check({"unbound": ["f2"]}, ctx_for(notify(1, TWO), gone))).ok is True
    dropped = notify(2, body(1, "partial", []))     # the removed contact left out of the partial
    o = only(reginfo_check({"unbound": ["f2"]}, ctx_for(notify(1, TWO), dropped)))
    assert o.ok is False and 'state="active"' in o.observed


def test_no_notify_at_all_is_no_evidence():
    assert only(reginfo_check({"flows": ["f1"]}, ctx_for())).ok is None


# -- reginfo_record ------------------------------------------------------------------------------
def test_params_instance_and_reg_id():
    assert only(record_check({"params": ["f2"]}, ctx_for(notify(1, TWO)))).ok is True
    wrong = body(0, "full", [contact("c2", F2, reg_id=7)])
    o = only(record_check({"params": ["f2"]}, ctx_for(notify(1, wrong))))
    assert o.ok is False and 'name="reg-id"' in o.observed


def test_event_of_a_flows_contact():
    dereg = notify(2, body(1, "partial", [contact("c2", F2, "terminated", "unregistered", 2)]))
    assert only(record_check({"event": {"f2": "unregistered"}}, ctx_for(notify(1, TWO), dereg))).ok is True
    expired = notify(2, body(1, "partial", [contact("c2", F2, "terminated", "expired", 2)]))
    o = only(record_check({"event": {"f2": "unregistered"}}, ctx_for(notify(1, TWO), expired)))
    assert o.ok is False and 'event="expired"' in o.observed


def test_registration_state():
    assert only(record_check({"registration": "active"}, ctx_for(notify(1, TWO)))).ok is True
    ended = notify(2, body(1, "partial", [], reg_state="terminated"))
    assert only(record_check({"registration": "active"}, ctx_for(notify(1, TWO), ended))).ok is False


def test_full_state_of_the_first_document():
    assert only(record_check({"full": True}, ctx_for(notify(1, TWO)))).ok is True
    partial = body(0, "partial", [contact("c1", F1)])
    assert only(record_check({"full": True}, ctx_for(notify(1, partial)))).ok is False


def test_versions_from_zero_by_one():
    two = ctx_for(notify(1, TWO), notify(2, body(1, "partial", [contact("c1", F1, event="refreshed")])))
    assert only(record_check({"version": True}, two)).ok is True
    gap = ctx_for(notify(1, TWO), notify(2, body(5, "partial", [contact("c1", F1, event="refreshed")])))
    o = only(record_check({"version": True}, gap))
    assert o.ok is False and "gap" in o.observed
    late_start = ctx_for(notify(1, body(3, "full", [contact("c1", F1)])))
    assert only(record_check({"version": True}, late_start)).ok is False


def test_replacement_is_recorded_either_way():
    start = notify(1, body(0, "full", [contact("c1", F1), contact("c2", F2, reg_id=2)]))
    shown = notify(2, body(1, "partial", [contact("c1", F1, "terminated", "unregistered"), contact("c3", F3)]))
    o = only(record_check({"replaced": {"old": "f1", "new": "f3"}}, ctx_for(start, shown)))
    assert o.ok is True and "unregistered" in o.observed
    kept = notify(2, body(1, "partial", [contact("c3", F3)]))
    assert only(record_check({"replaced": {"old": "f1", "new": "f3"}}, ctx_for(start, kept))).ok is False


def test_subscription_state_value():
    final = notify(2, TWO, headers={"Subscription-State": "terminated;reason=timeout"})
    args = {"subscription_state": {"is": "terminated", "reason": "timeout"}}
    assert only(record_check(args, ctx_for(final))).ok is True
    assert only(record_check(args, ctx_for(notify(2, TWO)))).ok is False


# -- levels and clauses --------------------------------------------------------------------------
def test_levels_follow_the_sentences():
    assert CHECKS["notify"].level == "MUST" and CHECKS["reginfo"].level == "MUST"
    assert CHECKS["reginfo_record"].level == "MAY"
    assert notify_ref({}) == "RFC 6665 §4.2.1.2"
    assert record_ref({"replaced": {"old": "f1", "new": "f3"}}).endswith("[M]")


def test_a_failed_reginfo_check_fails_and_quotes_nothing_it_has_not():
    found = run_check("reginfo", {"flows": ["f1"]}, ctx_for(notify(1, body(0, "full", []))))
    assert [f.outcome for f in found] == ["fail"] and found[0].ref == "RFC 6665 §4.2.1.2"
    recorded = run_check("reginfo_record", {"full": True}, ctx_for(notify(1, body(0, "partial", []))))
    assert [f.outcome for f in recorded] != ["fail"]


def test_params_of_a_flow_without_a_contact_is_recorded_not_inconclusive():
    newest = body(0, "full", [contact("c2", F2, reg_id=2)])
    o = only(record_check({"params": ["f1"]}, ctx_for(notify(1, newest))))
    assert o.ok is False and "no <contact>" in o.observed


def test_a_notifier_repeating_version_0_is_recorded_while_its_full_state_is_judged():
    one = notify(1, body(0, "full", [contact("c1", F1)]))
    both = notify(2, TWO)                                   # version 0 again, full state
    ctx = ctx_for(one, both, earlier=1)
    assert [o.ok for o in reginfo_check({"flows": ["f1", "f2"], "count": 2}, ctx)] == [True, True, True]
    o = only(record_check({"version": True}, ctx))
    assert o.ok is False and "below 1" in o.observed
