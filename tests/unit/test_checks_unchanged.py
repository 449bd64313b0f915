"""unchanged: a REGISTER answered with an error changes no binding (conformance/meaning/checks/unchanged.py)."""

from conformance.meaning.checks import CheckContext
from conformance.meaning.checks.unchanged import remember, unchanged_check

A = "<sip:ue@127.0.0.1:5070>;reg-id=1;+sip.instance=\"<urn:uuid:0000>\";expires=600"
B = "<sip:ue@127.0.0.2:5071>;reg-id=2;+sip.instance=\"<urn:uuid:0000>\";expires=600"


def history(make_response, *answers):
    """answers: (status, [Contact values]) or None (no response), oldest first."""
    out: list = []
    for a in answers:
        remember(out, None if a is None else make_response(*(f"Contact: {c}" for c in a[1]), status=a[0]))
    return out


def run(make_response, hist, *now, status=200):
    ctx = CheckContext(request=None, response=make_response(*(f"Contact: {c}" for c in now), status=status),
                       register_history=hist)
    return unchanged_check({}, ctx)


def test_same_bindings_after_the_error_pass(make_response):
    hist = history(make_response, (200, [A]), (200, [A, B]), (400, []))
    [o] = run(make_response, hist, B.replace("600", "598"), A)   # order and expires do not matter
    assert o.ok is True


def test_a_binding_removed_or_added_by_the_rejected_request_fails(make_response):
    hist = history(make_response, (200, [A, B]), (400, []))
    [o] = run(make_response, hist, A)
    assert o.ok is False and "removed" in o.observed and "127.0.0.2" in o.observed
    [o] = run(make_response, hist, A, B, "<sip:ue-other@127.0.0.1:5070>;expires=600")
    assert o.ok is False and "added" in o.observed


def test_without_an_earlier_2xx_the_ue_had_no_binding(make_response):
    hist = history(make_response, (420, []))
    assert run(make_response, hist)[0].ok is True
    assert run(make_response, hist, A)[0].ok is False


def test_nothing_to_judge_when_the_previous_register_was_not_rejected(make_response):
    assert run(make_response, history(make_response, (200, [A]), (200, [A, B])), A) == []
    assert run(make_response, history(make_response, (200, [A]), None), A) == []
    assert run(make_response, [], A) == []


def test_no_binding_list_is_inconclusive(make_response):
    hist = history(make_response, (200, [A]), (400, []))
    [o] = run(make_response, hist, status=500)
    assert o.ok is None
