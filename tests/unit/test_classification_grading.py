"""Classification steps: the class is recorded; it fails only as the case grades it (REG-030:
Rel-7 or plain RFC 3261 behaviour fails only where the target declares outbound), and a check
with ``reading:`` is recorded with its note, never a fail."""

from __future__ import annotations

from pathlib import Path

import pytest

from conformance.cases.loader import load_case_file, load_case_text
from conformance.meaning.judging import StepJudge
from conformance.meaning.results import StepResult
from conformance.meaning.verdict import FAIL, INFO, combine

from conformance.meaning.checks import CheckContext
from conformance.sip.message import parse_message

ROOT = Path(__file__).resolve().parents[2]
INSTANCE = "<urn:uuid:00000000-0000-1000-8000-AABBCCDDEEFF>"


def response(*header_lines: str, status: int = 200, reason: str = "OK"):
    head = [f"SIP/2.0 {status} {reason}", "Via: SIP/2.0/UDP 127.0.0.1:5070;branch=z9hG4bKabc;rport=5070",
            "From: <sip:ue@ims.test>;tag=1", "To: <sip:ue@ims.test>;tag=2", "Call-ID: c1",
            "CSeq: 1 REGISTER", *header_lines, "Content-Length: 0"]
    return parse_message(("\r\n".join(head) + "\r\n\r\n").encode())


def ctx(resp, **kw) -> CheckContext:
    kw.setdefault("instance", INSTANCE)
    return CheckContext(request=None, response=resp, **kw)
F1, F2 = "sip:a@127.0.0.11:5060", "sip:a@127.0.0.12:5060"


def _reg030():
    [case] = load_case_file(ROOT / "testcases/registrar/rel7-peer.yaml")
    return case, case.steps[1]


def _judge(resp, caps):
    case, step = _reg030()
    result = StepResult(name=step.name, action=step.action, flow=step.flow)
    c = ctx(resp, flow_contacts={"f1": F1, "f2": F2}, flow_reg_ids={"f1": 1, "f2": 2})
    StepJudge(case, False, lambda n: INSTANCE, caps).judge(step, result, c, 0)
    return result


def _contact(uri, reg_id):
    return f'Contact: <{uri}>;expires=600;reg-id={reg_id};+sip.instance="{INSTANCE}"'


PLAIN_3261 = response(_contact(F1, 1), _contact(F2, 2))  # two bindings, no Require
REL7 = response(_contact(F2, 2))  # the old binding replaced, no Require
OUTBOUND = response("Require: outbound", _contact(F1, 1), _contact(F2, 2))


@pytest.mark.parametrize("resp, cls", [(PLAIN_3261, "plain-3261"), (REL7, "legacy"), (OUTBOUND, "outbound")])
def test_reg030_records_the_class_without_outbound_declared(resp, cls):
    r = _judge(resp, caps=["path"])
    assert r.classification == cls
    assert combine(r.findings).verdict.value == "pass", [f.describe() for f in r.findings]


@pytest.mark.parametrize("resp, cls", [(PLAIN_3261, "plain-3261"), (REL7, "legacy")])
def test_reg030_fails_declared_outbound_against_rel7_behaviour(resp, cls):
    r = _judge(resp, caps=["outbound", "path"])
    assert r.classification == cls
    [bad] = [f for f in r.findings if f.outcome == FAIL]
    assert bad.ref == "RFC 5626 §6 ¶8" and "declares outbound" in bad.expected
    assert "MUST include the outbound option-tag" in bad.quote  # the sentence it broke


def test_reg030_outbound_passes_declared_outbound():
    r = _judge(OUTBOUND, caps=["outbound"])
    assert r.classification == "outbound" and combine(r.findings).verdict.value == "pass"


def test_a_response_of_no_class_is_recorded_unless_outbound_is_declared():
    odd = response("Require: outbound", _contact(F2, 2))  # Require, but the old binding gone
    assert combine(_judge(odd, caps=[]).findings).verdict.value == "pass"
    assert combine(_judge(odd, caps=["outbound"]).findings).verdict.value == "fail"


READING = """\
id: RD-001
title: reading
purpose: A check kept stricter than its clause.
ues:
  a:
    flows:
      f1: {address: 1, reg_id: 1}
steps:
  - register: f1
    expect:
      checks:
        - require: {has: outbound}
          reading: "the suite expects Require: outbound even without Supported"
"""


def test_a_reading_check_is_recorded_with_its_note():
    [case] = load_case_text(READING)
    step = case.steps[0]
    result = StepResult(name=step.name, action=step.action, flow=step.flow)
    StepJudge(case, True, lambda n: INSTANCE).judge(step, result, ctx(response()), 0)
    [f] = result.findings
    assert f.outcome == INFO and f.level == "MAY"
    assert f.reading.startswith("the suite expects") and f.to_dict()["reading"] == f.reading


SEC037 = """\
id: CL-001
title: closed
purpose: An oversized request may be answered or the connection closed.
ues:
  a:
    flows:
      f1: {address: 1, reg_id: 1}
steps:
  - register: f1
    expect: {status: [400, 413, 513], status_level: MAY, status_ref: "RFC 3261 §21.5.7"%s}
"""


@pytest.mark.parametrize("or_closed, outcome", [(True, "pass"), (False, "inconclusive")])
def test_a_closed_connection_is_an_outcome_where_the_case_allows_it(or_closed, outcome):
    [case] = load_case_text(SEC037 % (", or_closed: true" if or_closed else ""))
    step = case.steps[0]
    result = StepResult(name=step.name, action=step.action, flow=step.flow)
    c = ctx(None, no_response_reason="TCP connection closed by the SUT before a final response")
    StepJudge(case, False, lambda n: INSTANCE).judge(step, result, c, None)
    [f] = result.findings
    assert f.outcome == outcome


def test_silence_is_still_inconclusive_with_or_closed():
    [case] = load_case_text(SEC037 % ", or_closed: true")
    step = case.steps[0]
    result = StepResult(name=step.name, action=step.action, flow=step.flow)
    StepJudge(case, False, lambda n: INSTANCE).judge(step, result, ctx(None, no_response_reason="no final response"), None)
    assert result.findings[0].outcome == "inconclusive"
