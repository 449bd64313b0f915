"""Catalogue coverage: the checked-in data file, docs/coverage.md, and the catalogue parser."""

import importlib.util
from pathlib import Path

from conformance.catalogue import load_catalogue
from conformance.report.coverage import (COVERAGE_DOC, REGENERATE, case_index, coverage_rows, render_markdown,
                                         render_text)

ROOT = Path(__file__).resolve().parents[2]


def _script():
    spec = importlib.util.spec_from_file_location("update_catalogue", ROOT / "scripts" / "update-catalogue.py")
    mod = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(mod)
    return mod


def test_catalogue_data_file_is_well_formed():
    cat = load_catalogue()
    assert len(cat) >= 100
    ids = [tp["id"] for tp in cat]
    assert len(ids) == len(set(ids))
    for tp in cat:
        assert tp["id"].startswith("TP_") and tp["title"] and tp["role"] and tp["level"] and tp["section"], tp
    families = {tp["id"].rsplit("_", 1)[0] for tp in cat if not tp.get("quote")}
    assert families == {"TP_REG", "TP_TERM", "TP_EDGE", "TP_SEC", "TP_IMS", "TP_ROB"}
    # test purposes the catalogue lacks are added by hand with the sentence they rest on
    for tp in cat:
        if tp.get("quote"):
            assert tp.get("source") and len(tp["quote"]) > 20, tp


def test_every_uncovered_test_purpose_has_a_reason_and_cases_cite_known_ones():
    index, errors = case_index([ROOT / "testcases"])
    assert not errors
    cat = load_catalogue()
    known = {tp["id"] for tp in cat}
    assert set(index) <= known, sorted(set(index) - known)
    for tp in cat:
        if tp["id"] not in index:
            assert tp.get("reason"), f"{tp['id']} is covered by no case and has no reason in the data file"


def test_docs_coverage_md_is_up_to_date():
    index, _ = case_index([ROOT / "testcases"])
    assert COVERAGE_DOC.read_text(encoding="utf-8") == render_markdown(index), \
        f"docs/coverage.md is out of date: run `{REGENERATE}`"


def test_rows_text_and_markdown():
    cat = [{"id": "TP_REG_001", "title": "Reg1a", "role": "REG", "level": "MUST", "section": "Registrar"},
           {"id": "TP_SEC_001", "title": "AKA", "role": "EDGE", "level": "MUST", "section": "Sec",
            "reason": "needs IMS AKA (issue 6)"}]
    index = {"TP_REG_001": ["REG-001", "TERM-001"], "TP_NEW_001": ["X-1"]}
    rows = coverage_rows(index, cat)
    assert rows[0]["cases"] == ["REG-001", "TERM-001"] and rows[0]["reason"] == ""
    assert rows[1]["cases"] == [] and rows[1]["reason"] == "needs IMS AKA (issue 6)"
    text = "\n".join(render_text(index, cat))
    assert "TP_REG_001" in text and "covered by REG-001, TERM-001" in text
    assert "TP_SEC_001" in text and "NOT YET — needs IMS AKA (issue 6)" in text
    assert "TP_NEW_001 (cited by X-1) is not in the catalogue" in text
    assert text.endswith("coverage: 1 of 2 test purposes covered (50%), 1 not yet")
    assert "NOT YET" not in "\n".join(l for l in render_text(index, cat, uncovered_only=True) if "TP_REG" in l)
    md = render_markdown(index, cat)
    assert "**1 of 2 test purposes covered (50%).**" in md
    assert "| TP_SEC_001 | AKA | EDGE | MUST | *not yet* — needs IMS AKA (issue 6) |" in md


CATALOGUE = """\
# Catalogue
## 2. Registrar / S-CSCF test purposes (TP_REG_*)
Intro.
#### TP_REG_001 Reg1a accepted
- Role REG · Level MUST (Require) / no keyword (reg-id) · [V]
- Source: RFC 5626 §6 ¶8.
#### TP_REG_002 Storage
- Role REG (S-CSCF) · Level: none in RFC · [M]
## 6. Combined IMS core scenarios (TP_IMS_*): end to end
#### TP_IMS_001 Reg1a
- Role CORE · Level SHOULD / MAY · [V]
### 6.1 Not a test purpose
#### TP_IMS_002 Reg2
"""


def test_update_catalogue_parses_headings_and_keeps_reasons():
    mod = _script()
    parsed = mod.parse_catalogue(CATALOGUE)
    assert [(t["id"], t["title"], t["role"], t["level"], t["section"]) for t in parsed] == [
        ("TP_REG_001", "Reg1a accepted", "REG", "MUST", "Registrar / S-CSCF"),
        ("TP_REG_002", "Storage", "REG (S-CSCF)", "none stated", "Registrar / S-CSCF"),
        ("TP_IMS_001", "Reg1a", "CORE", "SHOULD / MAY", "Combined IMS core scenarios"),
        ("TP_IMS_002", "Reg2", "", "", "Combined IMS core scenarios")]
    merged = mod.merge(parsed, [{"id": "TP_REG_002", "reason": "hand-written"}], covered={"TP_REG_001"})
    reasons = {t["id"]: t.get("reason") for t in merged}
    assert reasons == {"TP_REG_001": None, "TP_REG_002": "hand-written", "TP_IMS_001": "to write",
                       "TP_IMS_002": "to write"}
    assert mod.dump(merged).startswith("# The test-purpose catalogue as data")


def test_update_catalogue_keeps_hand_added_test_purposes_with_their_quote():
    """A test purpose the catalogue lacks (added by hand with its sentence) survives a regeneration,
    after the catalogue's; one without a quote, or one the catalogue now has, is not doubled."""
    mod = _script()
    parsed = mod.parse_catalogue(CATALOGUE)
    old = [{"id": "TP_GRUU_001", "title": "pub-gruu", "role": "REG", "level": "MUST", "section": "GRUU",
            "source": "RFC 5627 §5.2", "quote": "the registrar MUST add a \"pub-gruu\""},
           {"id": "TP_OLD_001", "title": "gone from the catalogue", "reason": "x"},
           {"id": "TP_REG_001", "title": "stale copy", "quote": "q"}]
    merged = mod.merge(parsed, old, covered=set())
    ids = [t["id"] for t in merged]
    assert ids == ["TP_REG_001", "TP_REG_002", "TP_IMS_001", "TP_IMS_002", "TP_GRUU_001"]
    assert merged[-1]["quote"] == old[0]["quote"] and merged[0]["title"] == "Reg1a accepted"
