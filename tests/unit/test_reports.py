"""Results as data and their renderings: summary, results.json, JUnit XML."""

import json
import xml.etree.ElementTree as ET

import pytest

from conformance.report.junit import write_junit
from conformance.report.summary import counts, requirement_verdicts, summary_lines, write_results
from conformance.meaning.results import CaseResult, MessageRecord, StepResult
from conformance.meaning.verdict import Finding, Verdict


def case(id_, verdict, reason="r", **kw):
    d = {"id": id_, "case_id": id_.split("[")[0], "title": f"title of {id_}", "verdict": verdict,
         "reason": reason, "requirements": [], "references": [], "test_purposes": [],
         "warnings": [], "duration": 0.5, "location": f"testcases/{id_[:3]}.yaml:7"}
    d.update(kw)
    return d


# -- summary.requirement_verdicts -------------------------------------------------------------
@pytest.mark.parametrize("verdicts, expected", [
    (["pass", "pass"], "pass"),
    (["pass", "fail"], "fail"),
    (["pass", "error"], "fail"),
    (["inconclusive", "fail"], "fail"),
    (["pass", "inconclusive"], "inconclusive"),
    (["not applicable", "pass"], "pass"),
    (["not applicable", "inconclusive"], "inconclusive"),
    (["not applicable"], "not applicable"),
    (["error", "not applicable"], "fail"),
])
def test_requirement_verdict_rules(verdicts, expected):
    results = [case(f"C{i}[udp]", v, requirements=["R1"]) for i, v in enumerate(verdicts)]
    assert requirement_verdicts(results) == {"R1": expected}


def test_requirement_verdicts_per_requirement_sorted():
    results = [case("A[udp]", "pass", requirements=["R2", "R1"]),
               case("B[udp]", "fail", requirements=["R2"]),
               case("C[udp]", "pass")]
    out = requirement_verdicts(results)
    assert out == {"R1": "pass", "R2": "fail"}
    assert list(out) == ["R1", "R2"]
    assert requirement_verdicts([case("C[udp]", "pass")]) == {}


def test_counts():
    c = counts([case("a", "pass"), case("b", "pass"), case("c", "not applicable"), case("d", "error")])
    assert c == {"pass": 2, "fail": 0, "inconclusive": 0, "not applicable": 1, "error": 1}


def test_summary_lines():
    long = "x" * 300
    results = [case("REG-001[udp]", "pass"),
               case("REG-002[udp]", "pass", warnings=["w1", "w2"]),
               case("REG-003[tcp]", "fail", reason=long, requirements=["R1"])]
    lines = summary_lines(results)
    assert lines[0] == "pass: 2  fail: 1  inconclusive: 0  not applicable: 0  error: 0"
    assert lines[1].startswith("requirements: ")
    assert lines[2].split() == ["requirement", "|", "pass", "|", "fail", "|", "inconc", "|", "n/a", "|",
                                "error", "|", "verdict"]
    assert set(lines[3].strip()) <= {"-", "+"}
    assert lines[4].split() == ["R1", "|", "0", "|", "1", "|", "0", "|", "0", "|", "0", "|", "FAIL"]
    assert lines[5] == "overall: FAIL"
    assert len(lines) == 8  # the clean pass is not listed
    assert "REG-002[udp]" in lines[6] and "PASS (2 warnings)" in lines[6] and lines[6].endswith("w1")
    assert "REG-003[tcp]" in lines[7] and "FAIL" in lines[7]
    assert lines[7].endswith("x" * 157 + "...")


def test_write_results_json(tmp_path):
    results = [case("B[udp]", "fail", requirements=["R1"]), case("A[udp]", "pass", requirements=["R1"])]
    path = tmp_path / "out" / "results.json"
    write_results(path, results, {"target": {"name": "t"}})
    doc = json.loads(path.read_text(encoding="utf-8"))
    assert [c["id"] for c in doc["cases"]] == ["A[udp]", "B[udp]"]
    assert doc["counts"]["fail"] == 1 and doc["counts"]["pass"] == 1
    assert doc["requirements"] == {"R1": "fail"}
    assert doc["meta"] == {"target": {"name": "t"}}


# -- results.CaseResult -------------------------------------------------------------------------
def _case_result(verdict=Verdict.FAIL):
    f = Finding(check="Require has outbound", level="MUST", ref="RFC 5626 §6 ¶8", outcome="fail",
                expected="Require: outbound", observed="no Require header", step="reg1")
    step = StepResult(name="reg1", action="register", flow="f1", request_index=0, response_index=1,
                      findings=[f], location="testcases/registrar/reg1a.yaml:18")
    msgs = [MessageRecord(0, 0.0, "sent", "f1", "udp", ("127.0.0.1", 5070), ("127.0.0.2", 5060),
                          "REGISTER sip:ims.test", "REGISTER sip:ims.test SIP/2.0\r\n\r\n", step="reg1"),
            MessageRecord(1, 0.1, "received", "f1", "udp", ("127.0.0.2", 5060), ("127.0.0.1", 5070),
                          "200 OK", "SIP/2.0 200 OK\r\nContact: <sip:ue@127.0.0.1:5070>\r\n\r\n", step="reg1")]
    return CaseResult(id="REG-001[udp]", case_id="REG-001", title="Reg1a", purpose="p", transport="udp",
                      verdict=verdict, reason=f.describe(), requirements=["R1"],
                      references=["RFC 5626 §6"], test_purposes=["TP-1"], steps=[step], messages=msgs,
                      location="testcases/registrar/reg1a.yaml:1", pcap="pcaps/REG-001.pcap")


def test_case_result_to_dict_and_json(tmp_path):
    r = _case_result()
    assert [f.check for f in r.findings] == ["Require has outbound"]
    d = r.to_dict()
    assert d["verdict"] == "fail"
    assert d["messages"][0]["src"] == ["127.0.0.1", 5070]
    assert d["steps"][0]["findings"][0]["outcome"] == "fail"
    assert "messages" not in r.to_dict(with_messages=False)
    path = tmp_path / "results.json"
    write_results(path, [r.to_dict()], {"m": 1})
    doc = json.loads(path.read_text(encoding="utf-8"))
    assert doc["counts"] == {"pass": 0, "fail": 1, "inconclusive": 0, "not applicable": 0, "error": 0}
    assert doc["cases"][0]["id"] == "REG-001[udp]"


# -- junit --------------------------------------------------------------------------------------
def _junit(tmp_path, results, meta=None):
    path = tmp_path / "junit.xml"
    if meta is None:
        meta = {"target": {"name": "ref-cscf"}, "finished": "2024-01-01T00:00:00"}
    write_junit(path, results, meta)
    root = ET.parse(path).getroot()
    assert root.tag == "testsuites"
    [suite] = root
    return suite, {tc.get("name"): tc for tc in suite.iter("testcase")}


def test_junit_elements_per_verdict(tmp_path):
    results = [case("P[udp]", "pass"), case("F[udp]", "fail", reason="Require missing"),
               case("I[udp]", "inconclusive", reason="no response"),
               case("E[udp]", "error", reason="bug in tester"),
               case("N[udp]", "not applicable", reason="target lacks tcp")]
    suite, tcs = _junit(tmp_path, results)
    assert [c.tag for c in tcs["P[udp]"] if c.tag != "properties"] == []
    [fail] = tcs["F[udp]"].findall("failure")
    assert fail.get("type") == "fail" and fail.text == "Require missing"
    assert fail.get("message") == "Require missing"
    [err] = tcs["I[udp]"].findall("error")
    assert err.get("type") == "inconclusive" and err.get("message") == "inconclusive: no response"
    assert not tcs["I[udp]"].findall("failure")
    [err] = tcs["E[udp]"].findall("error")
    assert err.get("type") == "error" and err.text == "bug in tester"
    [skip] = tcs["N[udp]"].findall("skipped")
    assert skip.get("message") == "not applicable: target lacks tcp"
    assert suite.get("tests") == "5"
    assert suite.get("failures") == "1"
    assert suite.get("errors") == "2"
    assert suite.get("skipped") == "1"
    assert suite.get("name") == "outbound-conformance (ref-cscf)"
    assert suite.get("timestamp") == "2024-01-01T00:00:00"
    assert suite.get("time") == "2.500"


def test_junit_properties(tmp_path):
    r = case("REG-001[udp]", "pass", requirements=["R1", "R2"], references=["RFC 5626 §6", "RFC 3327"],
             test_purposes=["TP_REG_1"], pcap="pcaps/x.pcap", classification="outbound",
             location="testcases/registrar/reg1a.yaml:12")
    _, tcs = _junit(tmp_path, [r])
    tc = tcs["REG-001[udp]"]
    props = {p.get("name"): p.get("value") for p in tc.find("properties")}
    assert props == {"verdict": "pass", "title": "title of REG-001[udp]", "test_purposes": "TP_REG_1",
                     "references": "RFC 5626 §6; RFC 3327", "requirements": "R1, R2",
                     "classification": "outbound", "pcap": "pcaps/x.pcap"}
    assert tc.get("classname") == "testcases.REG-001"
    assert tc.get("file") == "testcases/registrar/reg1a.yaml"
    assert tc.get("time") == "0.500"


def test_junit_empty_properties_omitted_and_warnings(tmp_path):
    _, tcs = _junit(tmp_path, [case("A[udp]", "pass", warnings=["w-one", "w-two"])])
    tc = tcs["A[udp]"]
    names = {p.get("name") for p in tc.find("properties")}
    assert names == {"verdict", "title"}
    assert tc.find("system-out").text == "warnings:\nw-one\nw-two"


def test_junit_long_reason_truncated_in_message(tmp_path):
    reason = "y" * 900
    _, tcs = _junit(tmp_path, [case("F[udp]", "fail", reason=reason)])
    fail = tcs["F[udp]"].find("failure")
    assert len(fail.get("message")) == 500
    assert fail.text == reason


def test_junit_sorted_and_no_target_name(tmp_path):
    suite, _ = _junit(tmp_path, [case("B[udp]", "pass"), case("A[udp]", "pass")], meta={})
    assert [tc.get("name") for tc in suite.iter("testcase")] == ["A[udp]", "B[udp]"]
    assert suite.get("name") == "outbound-conformance (?)"


def test_a_failing_finding_shows_the_sentence_it_broke(tmp_path):
    """results.json and the HTML report carry the clause's sentence of a failing finding, and a
    reading note beside a recorded one (quote_findings fills the quote from the catalogue)."""
    from conformance.meaning.judging import quote_findings
    from conformance.report.case_extras import findings_html

    r = _case_result()
    recorded = Finding(check="Flow-Timer", level="MAY", ref="RFC 5626 §10", outcome="info", expected="e",
                       observed="o", step="reg1", reading="the suite reads the grammar strictly")
    r.steps[0].findings.append(recorded)
    quote_findings(r.findings)
    f = r.findings[0]
    assert "MUST include the outbound option-tag in a Require header field" in f.quote
    assert recorded.quote == ""  # only failing and warning findings are quoted
    d = r.to_dict()
    assert d["steps"][0]["findings"][0]["quote"] == f.quote
    assert d["steps"][0]["findings"][1]["reading"] == "the suite reads the grammar strictly"
    html = findings_html(r)
    assert "MUST include the outbound option-tag" in html and "reading kept by the suite" in html
