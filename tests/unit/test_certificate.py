"""The certificate: verdicts per requirement, clause and test purpose, SUT identity, rendering."""

import json

import pytest

from conformance.report.certificate import (build_certificate, first_reason, group_ids, render_certificate_html,
                                            seen_headers, split_clause, write_certificate)

META = {"suite": "outbound-conformance", "version": "9.9", "finished": "2026-01-02T03:04:05+00:00",
        "complete": True, "command": "conformance run",
        "target": {"name": "my-cscf", "description": "A CSCF <b>", "role": "core", "path": "targets/x.yaml",
                   "capabilities": ["outbound", "path"], "strict": False}}


def case(id_, verdict, refs=(), reqs=(), tps=(), messages=(), reason="r"):
    return {"id": id_, "case_id": id_.split("[")[0], "title": f"title {id_}", "verdict": verdict, "reason": reason,
            "requirements": list(reqs), "references": list(refs), "test_purposes": list(tps),
            "messages": list(messages), "pcap": None}


def clause_verdicts(cert):
    return {c["clause"]: c["verdict"] for c in cert["clauses"]}


@pytest.mark.parametrize("verdicts, expected", [
    (["pass", "pass"], "pass"),
    (["pass", "fail", "inconclusive"], "fail"),
    (["pass", "inconclusive"], "inconclusive"),
    (["not applicable", "pass"], "pass"),
    (["not applicable", "not applicable"], "not applicable"),
    (["pass", "error"], "fail"),
    (["not applicable", "inconclusive"], "inconclusive"),
])
def test_clause_verdict_derives_from_the_cases_citing_it(verdicts, expected):
    results = [case(f"C{i}[udp]", v, refs=["RFC 5626 §6 ¶8"]) for i, v in enumerate(verdicts)]
    assert clause_verdicts(build_certificate(results, META)) == {"RFC 5626 §6 ¶8": expected}


def test_each_clause_only_from_its_own_cases():
    results = [case("A[udp]", "fail", refs=["RFC 5626 §6 ¶8", "RFC 3261 §10.3 step 8"]),
               case("B[udp]", "pass", refs=["RFC 3261 §10.3 step 7", "RFC 3261 §10.3 step 8"]),
               case("C[udp]", "not applicable", refs=["RFC 5626 §5.1"])]
    cert = build_certificate(results, META)
    assert clause_verdicts(cert) == {"RFC 3261 §10.3 step 7": "pass", "RFC 3261 §10.3 step 8": "fail",
                                     "RFC 5626 §5.1": "not applicable", "RFC 5626 §6 ¶8": "fail"}
    # ordered by document then section, naturally (RFC 3261 before RFC 5626, §5 before §6)
    assert [c["clause"] for c in cert["clauses"]][0].startswith("RFC 3261")
    step8 = next(c for c in cert["clauses"] if c["clause"] == "RFC 3261 §10.3 step 8")
    assert step8["cases"] == ["A[udp]", "B[udp]"] and step8["failed"] == ["A[udp]"]
    assert step8["document"] == "RFC 3261" and step8["section"] == "§10.3 step 8"


def test_requirement_verdicts_cover_all_five_and_say_not_tested():
    results = [case("A[udp]", "pass", reqs=["R1", "R2"]), case("B[udp]", "inconclusive", reqs=["R2"]),
               case("C[tcp]", "not applicable", reqs=["P2"]), case("D[udp]", "fail", reqs=["R3"])]
    cert = build_certificate(results, META)
    reqs = {q["id"]: q["verdict"] for q in cert["requirements"]}
    assert reqs == {"R1": "pass", "R2": "inconclusive", "R3": "fail", "P1": "not tested", "P2": "not applicable",
                    "REGEV": "not tested", "GRUU": "not tested"}
    r2 = cert["requirements"][1]
    assert r2["counts"]["pass"] == 1 and r2["counts"]["inconclusive"] == 1 and r2["cases"] == ["A[udp]", "B[udp]"]
    assert cert["overall"] == "fail"
    assert cert["counts"] == {"pass": 1, "fail": 1, "inconclusive": 1, "not applicable": 1, "error": 0}
    assert cert["applicable"] == 3


def test_reg_event_and_gruu_rows_are_fed_by_the_cases_that_list_them():
    """The REGEV and GRUU rows come from the cases naming them in requirements: (a case id that
    merely looks like one counts for nothing), beside the other requirements they list."""
    results = [case("GRUU-001[udp]", "pass", reqs=["GRUU"]), case("GRUU-006[tcp]", "fail", reqs=["R3", "GRUU"]),
               case("REGEV-001[udp]", "inconclusive", reqs=["R2", "REGEV"]), case("REG-004B[udp]", "pass", reqs=["R3"]),
               case("GRUU-099[udp]", "fail"), case("REGEVX[udp]", "fail")]
    cert = build_certificate(results, META)
    rows = {q["id"]: q for q in cert["requirements"]}
    assert rows["GRUU"]["verdict"] == "fail" and rows["GRUU"]["cases"] == ["GRUU-001[udp]", "GRUU-006[tcp]"]
    assert rows["GRUU"]["failed"] == ["GRUU-006[tcp]"] and rows["GRUU"]["meaning"].startswith("GRUUs (RFC 5627)")
    assert rows["REGEV"]["verdict"] == "inconclusive" and rows["REGEV"]["cases"] == ["REGEV-001[udp]"]
    assert rows["R3"]["cases"] == ["GRUU-006[tcp]", "REG-004B[udp]"]
    assert rows["R2"]["cases"] == ["REGEV-001[udp]"]
    assert [q["id"] for q in cert["requirements"]][-2:] == ["REGEV", "GRUU"]
    html = render_certificate_html(cert)
    assert 'data-requirement="GRUU"' in html and 'data-requirement="REGEV"' in html
    # only not-applicable GRUU cases (a target without the gruu capability): not applicable
    na = build_certificate([case("GRUU-001[udp]", "not applicable", reqs=["GRUU"])], META)
    assert {q["id"]: q["verdict"] for q in na["requirements"]}["GRUU"] == "not applicable"


def test_every_reg_event_and_gruu_case_names_its_row():
    """The rows are fed by requirements:, so a REGEV/GRUU case that forgot it would vanish from them."""
    from conformance.cases.loader import load_case_file
    from pathlib import Path
    root = Path(__file__).resolve().parents[2] / "testcases"
    for folder, req in (("regevent", "REGEV"), ("gruu", "GRUU")):
        cases = [c for f in sorted((root / folder).glob("*.yaml")) for c in load_case_file(f)]
        assert cases and all(req in c.requirements for c in cases), folder


@pytest.mark.parametrize("verdicts, overall", [
    (["pass", "not applicable"], "pass"), (["pass", "inconclusive"], "inconclusive"),
    (["not applicable"], "not applicable"), (["pass", "error"], "fail")])
def test_overall_verdict(verdicts, overall):
    cert = build_certificate([case(f"C{i}[udp]", v) for i, v in enumerate(verdicts)], META)
    assert cert["overall"] == overall


def test_sut_identity_from_the_profile_and_the_sut_headers():
    sent = {"direction": "sent", "text": "REGISTER x SIP/2.0\r\nUser-Agent: outbound-conformance/0.1\r\n\r\n"}
    got = {"direction": "received",
           "text": "SIP/2.0 200 OK\r\nServer: Kamailio 5.6\r\nUser-Agent: outbound-conformance/0.1\r\n\r\n"}
    fwd = {"direction": "received", "text": "MESSAGE x SIP/2.0\r\nUser-Agent: IMS-core 1.0\r\n\r\nbody: User-Agent: no\r\n"}
    assert seen_headers([case("A[udp]", "pass", messages=[sent, got, fwd])]) == \
        {"Server": ["Kamailio 5.6"], "User-Agent": ["IMS-core 1.0"]}
    cert = build_certificate([case("A[udp]", "pass", messages=[sent, got])], META)
    assert cert["sut"]["profile"] == "my-cscf" and cert["sut"]["role"] == "core"
    assert cert["sut"]["server"] == ["Kamailio 5.6"]
    assert cert["declared_capabilities"] == ["outbound", "path"]
    assert cert["suite_version"] == "9.9" and cert["date"].startswith("2026-01-02")


def test_test_purposes_with_catalogue_titles():
    results = [case("A[udp]", "pass", tps=["TP_REG_003", "TP_IMS_002"]), case("A[tcp]", "fail", tps=["TP_REG_003"])]
    cert = build_certificate(results, META, {"TP_REG_003": {"title": "Reg2 adds"}, "TP_X": {}})
    tps = {t["id"]: (t["verdict"], t["title"]) for t in cert["test_purposes"]}
    assert tps == {"TP_IMS_002": ("pass", ""), "TP_REG_003": ("fail", "Reg2 adds")}
    assert cert["catalogue_size"] == 2


def test_helpers():
    assert split_clause("RFC 5626 §6 ¶8") == ("RFC 5626", "§6 ¶8")
    assert split_clause("TS 24.229 5.1.1.2.1") == ("TS 24.229", "5.1.1.2.1")
    assert split_clause("somewhere") == ("somewhere", "")
    assert group_ids(["REG-003[udp]", "REG-003[tcp]", "REG-10[udp]", "REG-9[udp]"]) == \
        "REG-003 [tcp, udp], REG-9 [udp], REG-10 [udp]"
    assert first_reason("a [MUST, RFC 1; RFC 2]: x; b") == "a [MUST, RFC 1; RFC 2]: x"


def test_html_says_fail_at_the_top_and_escapes(tmp_path):
    results = [case("REG-003[udp]", "fail", reqs=["R2"], refs=["RFC 3261 §10.3 step 8"],
                    reason="register f2: <script>alert(1)</script>"),
               case("REG-001[udp]", "pass", reqs=["R1"], refs=["RFC 5626 §6 ¶8"])]
    cert = write_certificate(tmp_path, results, META)
    html = (tmp_path / "certificate.html").read_text(encoding="utf-8")
    assert json.loads((tmp_path / "certificate.json").read_text(encoding="utf-8")) == cert
    banner = html.index('id="overall"')
    assert banner < html.index('id="sut"') < html.index('id="requirements"') < html.index('id="clauses"')
    assert 'data-verdict="fail"' in html[banner:banner + 200] and "OVERALL: FAIL" in html
    assert "This run has failures: 1 of 2 applicable cases failed" in html
    assert "<script>" not in html and "&lt;script&gt;" in html and "A CSCF &lt;b&gt;" in html
    assert 'data-requirement="R2"' in html and 'data-clause="RFC 3261 §10.3 step 8"' in html


def test_html_for_a_passing_run():
    html = render_certificate_html(build_certificate([case("A[udp]", "pass", reqs=["R1"])], META))
    assert "OVERALL: PASS" in html and "This run has failures" not in html
    assert "Every one of the 1 applicable cases passed" in html
