"""A flow's Contact elsewhere than its socket (engine/nat_contact.py) and the by_flow check:
a registrar that routes terminating requests by Contact fails on plain loopback."""

from __future__ import annotations

from conformance.meaning.checks import run_check
from conformance.meaning.checks.context import CheckContext
from conformance.engine.nat_contact import alt_ip, owner_flow
from conformance.ue.model import UE, FlowState
from conformance.cases.model import FlowSpec
from conformance.sip.message import parse_message

MESSAGE = (b"MESSAGE sip:ue@127.0.2.11:4000 SIP/2.0\r\nVia: SIP/2.0/UDP 127.0.0.1;branch=z9hG4bKx\r\n"
           b"Route: <sip:tok@127.0.0.11:4001;lr>\r\nFrom: <sip:p@d>;tag=1\r\nTo: <sip:ue@d>\r\n"
           b"Call-ID: c\r\nCSeq: 1 MESSAGE\r\nContent-Length: 0\r\n\r\n")


def test_the_contact_address_is_another_loopback_address_never_a_routable_one():
    assert alt_ip("127.0.0.11") == "127.0.2.11"
    assert alt_ip("::1") == "::1"                  # one IPv6 loopback address: another port
    assert alt_ip("192.0.2.1") is None and alt_ip("ue.test") is None
    assert owner_flow("f1@contact#7") == "f1" and owner_flow("f2") == "f2"


def test_the_contact_names_the_advertised_address():
    ue = UE(name="a", user="ue", impu="sip:ue@d", impi="ue@d", domain="d", instance=None)
    flow = FlowState(spec=FlowSpec(name="f1", address=1), local_ip="127.0.0.11", transport="tcp", local_port=4001)
    assert ue.contact_uri(flow) == "sip:ue@127.0.0.11:4001;transport=tcp"
    flow.contact_addr = ("127.0.2.11", 4000)
    assert ue.contact_uri(flow) == "sip:ue@127.0.2.11:4000;transport=tcp"


def _findings(deliveries, elsewhere):
    ctx = CheckContext(request=None, response=None, deliveries=deliveries, contact_elsewhere=elsewhere)
    return run_check("by_flow", {}, ctx)


def test_by_flow_fails_a_request_at_the_contact_address():
    req = parse_message(MESSAGE)
    [f] = _findings({"f1@contact": [req]}, {"f1": ("127.0.2.11", 4000)})
    assert f.outcome == "fail" and f.level == "MUST" and f.ref == "RFC 5626 §7 ¶2"
    assert "at the Contact address of flow f1" in f.observed
    [f] = _findings({"f1": [req]}, {"f1": ("127.0.2.11", 4000)})
    assert f.outcome == "pass"
    assert _findings({"f1": [req]}, {}) == []       # no Contact elsewhere (e.g. behind a NAT)


def test_route_token_is_not_graded_where_the_target_may_transform_the_path():
    req = parse_message(MESSAGE)
    ctx = CheckContext(request=None, response=None, deliveries={"f1": [req]}, flow_tokens={"f1": "other"})
    [f] = run_check("delivered", {"route_token": True}, ctx)
    assert f.outcome == "fail"
    ctx.path_transform = True
    assert run_check("delivered", {"route_token": True}, ctx) == []


CASE = """
id: X-1
title: t
purpose: p
references: ["RFC 5626 §7"]
requirements: [R3]
test_purposes: []
applies_to: []
ues:
  a:
    flows: {f1: {address: 1, contact: own}}
  b:
    aor_of: {other}
    flows: {f2: {address: 2}}
steps:
  - register: f1
"""


def test_a_second_instance_of_an_aor_names_a_ue_declared_before():
    import pytest

    from conformance.yamlio.errors import CaseError
    from conformance.cases.loader import load_case_text

    [case] = load_case_text(CASE.replace("{other}", "a"))
    assert case.ues["b"].aor_of == "a" and case.ues["a"].flows["f1"].contact == "own"
    for bad in ("b", "zz"):
        with pytest.raises(CaseError, match="aor_of"):
            load_case_text(CASE.replace("{other}", bad))


def test_the_step_chooses_the_ue_answer_per_flow_or_for_the_first_flow_reached():

    from conformance.engine.api import RunStates
    from conformance.engine.ue_answers import UeAnswers, ue_answer

    req = parse_message(MESSAGE)
    run = RunStates()
    run.deliveries, run.step_marks = [("x", req, 0)], (0, 1)
    assert ue_answer(run, "f1", req) == (200, "OK")                   # the default (engine/uas.py)
    run.state(UeAnswers).answers = {"first": 486}
    run.deliveries += [("f2@contact", req, 1)]
    assert ue_answer(run, "f2@contact", req)[0] == 486                # the first flow reached
    run.deliveries += [("f1", req, 2)]
    assert ue_answer(run, "f1", req)[0] == 200                        # the next flow: default
    run.deliveries += [("f2", req, 3)]
    assert ue_answer(run, "f2", req)[0] == 486                        # the first flow again
    run.state(UeAnswers).answers = {"f1": 430}
    assert ue_answer(run, "f1", req) == (430, "Flow Failed")
