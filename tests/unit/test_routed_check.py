"""checks/routed.py: where a request sent through the SUT's edge went (RFC 3261 §16.4, RFC 5626 §5.3)."""

from conformance.meaning.checks import CheckContext, run_check
from conformance.sip.message import Request

ROUTE = "<sip:TOKEN1@127.0.0.1:5060;lr;ob>"


def req(method="BYE", routes=(), rr=()):
    headers = [("Via", "SIP/2.0/UDP 127.0.0.1:5060;branch=z9hG4bK1"), ("Call-ID", "c1"), ("CSeq", f"2 {method}")]
    headers += [("Route", r) for r in routes] + [("Record-Route", r) for r in rr]
    return Request(method=method, uri="sip:ue@127.0.0.11:5", headers=headers)


def ctx(deliveries=None, upstream=(), sender="peer", sent=None, callee=None, token_flow=None):
    c = CheckContext(sent or req(routes=[ROUTE]), None)
    c.deliveries = deliveries or {}
    c.dialog = {"sent": c.request, "sender": sender, "upstream": list(upstream), "sut": ("127.0.0.1", 5060),
                "callee_request": callee, "token_flow": token_flow}
    return c


def outcomes(args, c, level="MAY"):
    return [(f.check, f.outcome) for f in run_check("routed", args, c, level=level)]


def test_route_removed_fails_when_a_copy_keeps_the_sut_route():
    kept = ctx({"f1": [req(routes=[ROUTE])]})
    assert outcomes({"route_removed": True}, kept, "MUST") == [("SUT's Route value removed", "fail")]
    gone = ctx({"f1": [req(routes=["<sip:other@127.0.0.9;lr>"])]})
    assert outcomes({"route_removed": True}, gone, "MUST") == [("SUT's Route value removed", "pass")]
    upstream = ctx({}, upstream=[req(routes=[ROUTE])])
    assert outcomes({"route_removed": True}, upstream, "MUST") == [("SUT's Route value removed", "fail")]


def test_route_removed_judges_nothing_without_a_route_or_a_copy():
    assert outcomes({"route_removed": True}, ctx({})) == []
    assert outcomes({"route_removed": True}, ctx({"f1": [req()]}, sent=req())) == []


def test_reached_needs_the_flow_and_not_the_contact_address():
    ok = {o[0]: o[1] for o in outcomes({"reached": "f1"}, ctx({"f1": [req()]}), "MUST")}
    assert set(ok.values()) == {"pass"}
    by_contact = {o[0]: o[1] for o in outcomes({"reached": "f1"}, ctx({"contact-f1": [req()]}), "MUST")}
    assert by_contact == {"request reached flow f1": "fail", "nothing sent to flow f1's Contact address": "fail"}


def test_upstream_true_and_false():
    assert outcomes({"upstream": True}, ctx({}, upstream=[req()]), "MUST")[0][1] == "pass"
    assert outcomes({"upstream": True}, ctx({"fb": [req()]}, sender="f1"), "MUST")[0][1] == "pass"
    assert outcomes({"upstream": True}, ctx({"f1": [req()]}, sender="f1"), "MUST")[0][1] == "fail"
    assert outcomes({"upstream": False}, ctx({"f1": [req()]}, sender="fb"), "MUST")[0][1] == "fail"
    assert outcomes({"upstream": False}, ctx({}, sender="fb"), "MUST")[0][1] == "pass"
    # B sends with A's token: the copy over A's flow is the incoming treatment, not upstream
    assert outcomes({"upstream": False}, ctx({"f1": [req()]}, sender="fb", token_flow="f1"), "MUST")[0][1] == "pass"


def test_record_route_names_the_sut():
    with_rr = ctx(callee=req("INVITE", rr=["<sip:T@127.0.0.1:5060;lr>"]))
    assert outcomes({"record_route": True}, with_rr, "MUST")[0][1] == "pass"
    other = ctx(callee=req("INVITE", rr=["<sip:127.0.0.9:5060;lr>"]))
    assert outcomes({"record_route": True}, other, "MUST")[0][1] == "fail"
    assert outcomes({"record_route": True}, ctx(), "MUST")[0][1] == "inconclusive"
