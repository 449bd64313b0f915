"""The case result's dicts (results.json, the HTML extras, the ladder) are written field by field
for speed (from the classes' field lists): they must hold what dataclasses.asdict gives, every field
included."""

from __future__ import annotations

from dataclasses import asdict

from conformance.meaning.results import CaseResult, MessageRecord, StepResult
from conformance.meaning.verdict import Finding, Verdict


def _result() -> CaseResult:
    f = Finding(check="Require has outbound", level="MUST", ref="RFC 5626 §6", outcome="fail",
                expected="outbound", observed="absent", step="register", message_index=1,
                location="x.yaml:3", reading="r", quote="q")
    m = MessageRecord(index=0, time=0.25, direction="sent", flow="ue1", transport="udp",
                      src=("127.0.0.1", 5060), dst=("127.0.0.1", 5070), summary="REGISTER sip:x",
                      text="REGISTER sip:x SIP/2.0\r\n\r\n", step="register", note="n")
    s = StepResult(name="register", action="register", flow="ue1", request_index=0, response_index=1,
                   findings=[f], classification="c", note="n", location="x.yaml:2")
    return CaseResult(id="REG-001[udp]", case_id="REG-001", title="t", purpose="p", transport="udp",
                      verdict=Verdict.FAIL, reason="r", requirements=["R1"], steps=[s], messages=[m])


def test_finding_and_message_dicts_are_what_asdict_gives():
    r = _result()
    f, m = r.steps[0].findings[0], r.messages[0]
    assert f.to_dict() == asdict(f)
    assert m.to_dict() == dict(asdict(m), src=["127.0.0.1", 5060], dst=["127.0.0.1", 5070])
    assert list(m.to_dict()) == list(asdict(m))


def test_step_dict_is_what_asdict_gives_with_its_findings():
    s = _result().steps[0]
    assert s.to_dict() == asdict(s)
    assert list(s.to_dict()) == list(asdict(s))


def test_case_dict_holds_steps_and_messages():
    r = _result()
    d = r.to_dict()
    assert d["steps"] == [asdict(r.steps[0])] and d["messages"][0]["src"] == ["127.0.0.1", 5060]
    assert "messages" not in r.to_dict(with_messages=False)
