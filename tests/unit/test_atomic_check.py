"""The atomic check (conformance/meaning/checks/atomic.py): a REGISTER answered with an error changes no
binding, judged on a later 2xx from the flow's history of answers."""

from types import SimpleNamespace

import pytest

from conformance.meaning.checks import CheckContext, run_check
from conformance.meaning.checks.atomic import expected_listed, note_answer
from conformance.sip.message import Response

F2 = "sip:ue@127.0.0.12:5062"


def fetch_answer(*contacts: str) -> Response:
    headers = [("Via", "SIP/2.0/UDP 127.0.0.11:5061;branch=z9hG4bK1"), ("From", "<sip:ue@ims.test>;tag=1"),
               ("To", "<sip:ue@ims.test>;tag=2"), ("Call-ID", "c"), ("CSeq", "2 REGISTER")]
    headers += [("Contact", f"<{c}>;expires=60") for c in contacts]
    return Response(status=200, reason="OK", headers=headers)


def history(*answers):
    h: dict = {}
    for action, status, options in answers:
        note_answer(h, SimpleNamespace(action=action, options=options), "f2", ["f1", "f2"],
                    None if status is None else SimpleNamespace(status=status))
    return h


def judge(hist, response):
    ctx = CheckContext(None, response, flow_contacts={"f2": F2}, register_answers=hist)
    [f] = run_check("atomic", {"flow": "f2"}, ctx)
    return f


@pytest.mark.parametrize("answers, listed", [
    ([("register", 423, {})], False),                                  # refused: never bound
    ([("register", 200, {})], True),
    ([("register", 200, {}), ("refresh", 420, {})], True),             # an error keeps the binding
    ([("register", 200, {}), ("deregister", 200, {})], False),
    ([("register", 200, {}), ("register", 200, {"expires": 0})], False),
    ([("register", 200, {}), ("deregister_all", 200, {})], False),
    ([("register", None, {})], False),                                 # no answer: nothing known bound
])
def test_expected_binding_follows_the_latest_accepted_register(answers, listed):
    assert expected_listed(history(*answers)["f2"])[0] is listed


def test_a_refused_register_that_bound_anyway_fails():
    hist = history(("register", 420, {}))
    assert judge(hist, fetch_answer("sip:ue@127.0.0.11:5061")).outcome == "pass"
    bad = judge(hist, fetch_answer("sip:ue@127.0.0.11:5061", F2))
    assert bad.outcome == "fail" and bad.level == "MUST"
    assert bad.ref == "RFC 3261 §10.3 (processed atomically)"
    assert "420" in bad.expected


def test_an_accepted_register_must_still_be_listed():
    hist = history(("register", 200, {}))
    assert judge(hist, fetch_answer(F2)).outcome == "pass"
    assert judge(hist, fetch_answer("sip:ue@127.0.0.11:5061")).outcome == "fail"
    assert judge(hist, None).outcome == "inconclusive"


def test_a_send_step_counts_when_it_sent_a_register_with_a_contact():
    from conformance.sip.message import Request

    def req(contact, expires=None):
        headers = [("Contact", contact)] + ([("Expires", expires)] if expires is not None else [])
        return Request(method="REGISTER", uri="sip:ims.test", headers=headers)

    send = SimpleNamespace(action="send", options={})
    h: dict = {}
    note_answer(h, send, "tp", ["tp"], SimpleNamespace(status=403), req("<sip:b@127.0.0.12>;reg-id=1"))
    assert h["tp"] == [("register", 403, False)]
    note_answer(h, send, "tp", ["tp"], SimpleNamespace(status=200), req("<sip:b@127.0.0.12>;expires=0"))
    assert h["tp"][-1] == ("register", 200, True)
    note_answer(h, send, "tp", ["tp"], SimpleNamespace(status=200), req("*", "0"))
    assert len(h["tp"]) == 2                     # Contact: * is not one flow's registration
