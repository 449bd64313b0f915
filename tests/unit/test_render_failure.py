"""The pytest failure text of a case (conformance/report/failure.py: render_failure)."""

from conformance.report.failure import render_failure
from conformance.meaning.results import CaseResult, MessageRecord, StepResult
from conformance.meaning.verdict import Finding, Verdict


def _finding(outcome="fail", check="Require has outbound", **kw):
    d = dict(check=check, level="MUST", ref="RFC 5626 §6 ¶8", outcome=outcome, expected="Require: outbound",
             observed="no Require header", step="reg1", location="testcases/registrar/reg1a.yaml:22")
    d.update(kw)
    return Finding(**d)


def _result(findings, verdict=Verdict.FAIL, note="", response_index=1, pcap="pcaps/REG-001-udp.pcap",
            reason="the reason"):
    step = StepResult(name="reg1", action="register", flow="f1", request_index=0,
                      response_index=response_index, findings=findings, note=note,
                      location="testcases/registrar/reg1a.yaml:18")
    msgs = [MessageRecord(0, 0.0, "sent", "f1", "udp", ("127.0.0.1", 5070), ("127.0.0.2", 5060),
                          "REGISTER sip:ims.test", "REGISTER sip:ims.test SIP/2.0\r\n\r\n"),
            MessageRecord(1, 0.1, "received", "f1", "udp", ("127.0.0.2", 5060), ("127.0.0.1", 5070),
                          "200 OK", "SIP/2.0 200 OK\r\nSupported: path\r\n\r\n")]
    return CaseResult(id="REG-001[udp]", case_id="REG-001", title="Reg1a accepted", purpose="p",
                      transport="udp", verdict=verdict, reason=reason, test_purposes=["TP_REG_1"],
                      steps=[step], messages=msgs, location="testcases/registrar/reg1a.yaml:1", pcap=pcap)


def test_failure_text_has_step_expected_observed_clause():
    text = render_failure(_result([_finding(), _finding("pass", check="status")]))
    lines = text.splitlines()
    assert lines[0] == "REG-001[udp] FAIL: Reg1a accepted"
    assert "  case: testcases/registrar/reg1a.yaml:1" in lines
    assert "  test purposes: TP_REG_1" in lines
    assert "  step reg1 (testcases/registrar/reg1a.yaml:18)" in lines
    assert "    FAIL Require has outbound [MUST, RFC 5626 §6 ¶8]" in lines
    assert "      expected: Require: outbound" in lines
    assert "      observed: no Require header" in lines
    assert "      check written at testcases/registrar/reg1a.yaml:22" in lines
    assert "        | SIP/2.0 200 OK" in lines  # the response that was judged
    assert "        | Supported: path" in lines
    assert "  pcap: pcaps/REG-001-udp.pcap" in lines
    assert "status" not in text  # passing findings are not shown
    assert "reason:" not in text


def test_inconclusive_findings_shown():
    f = _finding("inconclusive", observed="timeout after 4 s")
    text = render_failure(_result([f], verdict=Verdict.INCONCLUSIVE))
    assert "REG-001[udp] INCONCLUSIVE" in text
    assert "    INCONCLUSIVE Require has outbound [MUST, RFC 5626 §6 ¶8]" in text
    assert "observed: timeout after 4 s" in text


def test_warnings_alone_fall_back_to_reason():
    f = _finding("warn", level="SHOULD")
    text = render_failure(_result([f], verdict=Verdict.ERROR, reason="tester crashed", pcap=None))
    assert "  reason: tester crashed" in text
    assert "step reg1" not in text
    assert "pcap:" not in text


def test_inconclusive_step_note_shown_without_findings():
    text = render_failure(_result([], verdict=Verdict.INCONCLUSIVE, note="SUT unreachable",
                                  reason="preamble did not reach the state under test"))
    assert "  step reg1 (testcases/registrar/reg1a.yaml:18): SUT unreachable" in text
    assert "  reason: preamble did not reach the state under test" in text
    assert "| SIP/2.0" not in text  # no failing finding, no response dump


def test_no_response_index_no_dump():
    text = render_failure(_result([_finding()], response_index=None))
    assert "FAIL Require has outbound" in text
    assert "response:" not in text


def test_long_response_truncated_to_25_lines():
    r = _result([_finding()])
    r.messages[1].text = "SIP/2.0 200 OK\r\n" + "".join(f"X-H{i}: v\r\n" for i in range(40))
    text = render_failure(r)
    dumped = [ln for ln in text.splitlines() if ln.startswith("        | ")]
    assert len(dumped) == 25
    assert dumped[-1] == "        | X-H23: v"
