"""The pytest-html report and the items' user properties, from a few made-up case results.

Cases run through the plugin in-process (pytester) with ``RunState.run_case`` replaced by made-up
results, so no SUT starts: what is checked is how a verdict reaches the report, the rows' order
and folding, a not-applicable row's reason, and the properties other plugins read.
"""

from __future__ import annotations

import html
import json
import re
import xml.etree.ElementTree as ET

import pytest

from conformance.meaning.results import CaseResult, MessageRecord, StepResult
from conformance.meaning.verdict import Finding, Verdict
from conformance.plugin.state import RunState
from conformance.report.html_report import (PYTEST_HTML_OPTIONS, ROW_REASON_MAX, not_applicable_log, row_cells,
                                            row_reason)

pytest_plugins = ["pytester"]

CASE = """id: {id}
title: "{id} title"
purpose: the purpose of {id}
test_purposes: [TP_REG_001]
references: ["RFC 5626 §6"]
requirements: [R1]
ues:
  a:
    flows:
      f1: {{address: 1, reg_id: 1}}
steps:
  - register: f1
    expect:
      status: 200
      status_ref: "RFC 5626 §6 ¶8 (binding)"
"""
VERDICTS = {"N-ONE": Verdict.NOT_APPLICABLE, "P-ONE": Verdict.PASS, "F-ONE": Verdict.FAIL,
            "N-TWO": Verdict.NOT_APPLICABLE, "I-ONE": Verdict.INCONCLUSIVE}
NA_REASON = "target 'x' does not declare capability 'sec-agree' required by {id}"


def made_up(case, transport: str) -> CaseResult:
    v = VERDICTS[case.id]
    r = CaseResult(id=f"{case.id}[{transport}]", case_id=case.id, title=case.title, purpose=case.purpose,
                   transport=transport, verdict=v, reason="all checks passed", test_purposes=case.test_purposes,
                   requirements=case.requirements, references=case.references)
    if v == Verdict.NOT_APPLICABLE:
        r.reason = NA_REASON.format(id=case.id)
        return r
    outcome = {Verdict.PASS: "pass", Verdict.FAIL: "fail", Verdict.INCONCLUSIVE: "inconclusive"}[v]
    finding = Finding(check="Require has outbound", level="MUST", ref="RFC 5626 §6 ¶8", outcome=outcome,
                      expected="Require: outbound", observed="Require: outbound" if outcome == "pass" else "none",
                      step="reg1")
    r.steps = [StepResult(name="reg1", action="register", flow="f1", request_index=0, response_index=1,
                          findings=[finding])]
    r.messages = [MessageRecord(0, 0.0, "sent", "f1", transport, ("127.0.0.1", 5070), ("127.0.0.2", 5060),
                                "REGISTER sip:ims.test", "REGISTER sip:ims.test SIP/2.0\r\n\r\n", step="reg1"),
                  MessageRecord(1, 0.01, "received", "f1", transport, ("127.0.0.2", 5060), ("127.0.0.1", 5070),
                                "200 OK", "SIP/2.0 200 OK\r\n\r\n", step="reg1")]
    r.pcap = f"pcaps/{case.id}-{transport}.pcap"
    if v != Verdict.PASS:
        r.reason = f"{case.id}: Require has outbound: {outcome}"
    if case.id == "P-ONE":
        r.classification = "uuid-equality"
    return r


@pytest.fixture
def report_run(pytester, monkeypatch):
    monkeypatch.setattr(RunState, "run_case", lambda self, case, transport: made_up(case, transport))
    folder = pytester.mkdir("testcases")
    for case_id in VERDICTS:
        (folder / f"{case_id.lower()}.yaml").write_text(CASE.format(id=case_id), encoding="utf-8")
    options = [arg for option in PYTEST_HTML_OPTIONS for arg in ("-o", option)]
    result = pytester.runpytest_inprocess(
        "testcases", "-p", "no:cacheprovider", "--html=report.html", "--self-contained-html", *options,
        "--junitxml=pytest-junit.xml", f"--reports-dir={pytester.path / 'reports'}",
        f"--pcap-dir={pytester.path / 'pcaps'}")
    blob = re.search(r'data-jsonblob="([^"]*)"', (pytester.path / "report.html").read_text(encoding="utf-8"))
    return result, json.loads(html.unescape(blob.group(1))), ET.parse(pytester.path / "pytest-junit.xml")


def _case_id(node_id: str) -> str:
    return node_id.split("::")[-1].split("[")[0]


def test_not_applicable_rows_come_last_folded_with_their_reason(report_run):
    result, data, _ = report_run
    assert result.ret == 1  # a fail and an inconclusive among the cases
    tests = [t for rows in data["tests"].values() for t in rows]
    assert len(tests) == 2 * len(VERDICTS)
    # pytest-html sorts on the initial column by its cells' markup (JS genericSort: ascending)
    assert data["initialSort"] == "verdict" and set(data["renderCollapsed"]) == {"passed", "skipped"}
    order = [_case_id(t["testId"]) for t in sorted(tests, key=lambda t: t["verdict"])]
    assert [VERDICTS[c] for c in order] == sorted((VERDICTS[c] for c in order),
                                                  key=lambda v: ["fail", "inconclusive", "pass",
                                                                 "not applicable"].index(str(v)))
    assert set(order[-4:]) == {"N-ONE", "N-TWO"}
    for t in tests:
        case_id = _case_id(t["testId"])
        if VERDICTS[case_id] != Verdict.NOT_APPLICABLE:
            assert "not applicable" not in t["log"]
            continue
        reason = NA_REASON.format(id=case_id)
        assert t["result"] == "Skipped"  # folded by render_collapsed=skipped
        assert t["log"] == html.escape(f"not applicable: {reason}")  # no (file, line, message) tuple
        assert "items.py" not in json.dumps(t) and "('" not in t["log"]
        row = "".join(t["resultsTableRow"])
        assert f'<td class="col-reason">{html.escape(reason)}</td>' in row
        assert [e["format_type"] for e in t["extras"]] == ["html"]  # the header alone: nothing ran
        assert html.escape(reason) in t["extras"][0]["content"]


def test_a_case_detail_is_pytest_html_extras(report_run):
    _, data, _ = report_run
    fail = data["tests"]["testcases/f-one.yaml::F-ONE[udp]"][0]
    kinds = [(e["format_type"], e["name"]) for e in fail["extras"]]
    assert kinds == [("html", None)] * 4 + [("json", "verdict"), ("url", "pcap")]
    header, ladder, findings, messages = (e["content"] for e in fail["extras"][:4])
    assert 'data-verdict="fail"' in header and "F-ONE[udp]" in header
    assert 'class="ladder-svg"' in ladder
    assert "Require has outbound" in findings and "FAIL" in findings
    assert "REGISTER sip:ims.test" in messages
    assert fail["extras"][-1]["content"].endswith("pcaps/F-ONE-udp.pcap")
    assert "F-ONE: Require has outbound: fail" in "".join(fail["resultsTableRow"])


def test_the_verdict_is_in_each_items_user_properties(report_run):
    _, _, junit = report_run  # pytest's own --junitxml writes the items' user_properties
    cases = {tc.get("name"): tc for tc in junit.iter("testcase")}
    assert len(cases) == 2 * len(VERDICTS)

    def props(name):
        return {p.get("name"): p.get("value") for p in cases[name].iter("property")}

    p = props("P-ONE[udp]")
    assert p["verdict"] == "pass" and p["reason"] == "all checks passed"
    assert p["classification"] == "uuid-equality" and p["pcap"] == "pcaps/P-ONE-udp.pcap"
    assert props("F-ONE[tcp]")["verdict"] == "fail"
    assert props("I-ONE[udp]")["verdict"] == "inconclusive"
    n = props("N-TWO[udp]")
    assert n["verdict"] == "not applicable" and n["reason"] == NA_REASON.format(id="N-TWO")
    skipped = cases["N-TWO[udp]"].find("skipped")
    assert skipped.get("message") == f"not applicable: {NA_REASON.format(id='N-TWO')}"


def test_rows_that_are_no_case_rank_by_pytests_outcome():
    """A file that could not be loaded (pytest: failed) comes first; a pass case before n/a."""
    cells = {name: dict(row_cells(case, outcome))[0] for name, case, outcome in (
        ("broken file", None, "failed"), ("pass", {"verdict": "pass"}, "passed"),
        ("n/a", {"verdict": "not applicable", "reason": "r"}, "skipped"),
        ("error", {"verdict": "error", "reason": "r"}, "failed"))}
    ranked = sorted(cells, key=cells.get)
    assert set(ranked[:2]) == {"broken file", "error"} and ranked[2:] == ["pass", "n/a"]
    assert not_applicable_log({"verdict": "not applicable", "reason": "a <b>"}) == ["not applicable: a &lt;b&gt;"]


def test_a_rows_reason_is_short_and_a_plain_pass_has_none():
    long = "register f2: " + "x" * 400
    assert len(row_reason({"verdict": "fail", "reason": long})) == ROW_REASON_MAX
    assert row_reason({"verdict": "pass", "reason": "all checks passed"}) == ""
    assert row_reason({"verdict": "pass", "reason": "all checks passed", "warnings": ["w1", "w2"]}) == "2 warnings: w1"
