"""The clause catalogue's rules: level from keyword and mark, verbatim matching, merging files."""

from __future__ import annotations

import textwrap

import pytest

from conformance.catalogue.clauses import (
    Clause, ClauseError, find_verbatim, level_of, level_of_refs, load_clauses, merge, parse_clauses,
    prepare_source, quote_of,
)


@pytest.mark.parametrize("keyword, mark, source, level", [
    ("MUST", "V", "rfc5626", "MUST"),
    ("MUST NOT", "V", "rfc5626", "MUST"),
    ("SHALL", "V", "rfc3261", "MUST"),
    ("REQUIRED", "V", "rfc3261", "MUST"),
    ("shall", "V-3gpp", "ts24229", "MUST"),
    ("SHOULD", "V", "rfc5626", "SHOULD"),
    ("SHOULD NOT", "V", "rfc5626", "SHOULD"),
    ("RECOMMENDED", "V", "rfc3261", "SHOULD"),
    ("NOT RECOMMENDED", "V", "rfc3261", "SHOULD"),
    ("MAY", "V", "rfc5626", "MAY"),
    ("OPTIONAL", "V", "rfc3261", "MAY"),
    ("none", "V", "rfc5626", "MAY"),  # descriptive text, examples
    ("MUST", "M", "rfc4303", "MAY"),  # unverified: recorded
    ("shall", "I", "ts33203", "MAY"),  # interpretation: recorded
    ("none", "V", "suite", "MUST"),  # the suite's robustness criteria
])
def test_level_rule(keyword, mark, source, level):
    assert level_of(keyword, mark, source) == level


def test_unknown_keyword_is_refused():
    with pytest.raises(ValueError):
        level_of("COULD", "V")


def _c(ref, keyword, mark="V", text="t", source="rfc5626", file="a.yaml"):
    return Clause(ref, source, text, keyword, mark, file)


def test_joined_refs_take_the_strongest():
    cl = {c.ref: c for c in (_c("A", "MAY"), _c("B", "MUST"), _c("C", "SHOULD"))}
    assert level_of_refs("A; C", cl) == "SHOULD"
    assert level_of_refs("A; B; C", cl) == "MUST"
    with pytest.raises(KeyError, match="D"):
        level_of_refs("A; D", cl)


def test_semicolons_inside_parentheses_do_not_split():
    from conformance.catalogue.clauses import split_refs

    assert split_refs("A (x; y); B") == ["A (x; y)", "B"]


def test_a_whole_ref_with_an_entry_is_not_split():
    cl = {c.ref: c for c in (_c("X; Y", "MAY"), _c("X", "MUST"))}
    assert level_of_refs("X; Y", cl) == "MAY"


PAGE_BREAK = textwrap.dedent("""\
   header field parameter parameter.  The registrar MUST store in the
   binding the Contact URI.  Provided that the UAC had included an outbound
   option-tag (defined in Section 11.4) in a Supported header field


Jennings, et al.            Standards Track                    [Page 24]
\f
RFC 5626          Client-Initiated Connections in SIP       October 2009


   value in the REGISTER request, the registrar MUST include the outbound
   option-tag in a Require header field value in its response to that
   REGISTER request.
""")


def test_a_sentence_broken_over_a_page_break_is_found():
    text = prepare_source(PAGE_BREAK, "rfc5626")
    assert find_verbatim("Provided that the UAC had included an outbound option-tag (defined in Section "
                         "11.4) in a Supported header field value in the REGISTER request, the registrar "
                         "MUST include the outbound option-tag in a Require header field value in its "
                         "response to that REGISTER request.", text)
    assert "Page 24" not in text and "October 2009" not in text


def test_a_changed_word_is_not_found():
    text = prepare_source(PAGE_BREAK, "rfc5626")
    assert not find_verbatim("the registrar SHOULD include the outbound option-tag", text)
    assert not find_verbatim("the registrar MUST include the outbound option-tag in a Supported", text)


def test_a_word_hyphenated_over_a_line_end_is_found():
    text = prepare_source("   for battery-\n   powered devices was selected\n", "rfc5626")
    assert find_verbatim("for battery-powered devices", text)


def test_3gpp_quotes_in_markdown_are_found():
    text = prepare_source("> the UE **shall** use the\n> protected server port", "ts24229")
    assert find_verbatim("the UE shall use the protected server port", text)


def test_same_ref_twice_with_different_text_names_both_files():
    a = parse_clauses({"clauses": [{"ref": "R", "source": "rfc5626", "text": "x MUST y", "keyword": "MUST",
                                     "mark": "V"}]}, "one.yaml")
    b = parse_clauses({"clauses": [{"ref": "R", "source": "rfc5626", "text": "x MAY y", "keyword": "MAY",
                                     "mark": "V"}]}, "two.yaml")
    with pytest.raises(ClauseError, match="one.yaml.*two.yaml"):
        merge(a + b)
    same = parse_clauses({"clauses": [{"ref": "R", "source": "rfc5626", "text": "x  MUST\n y",
                                        "keyword": "MUST", "mark": "V"}]}, "three.yaml")
    assert merge(a + same)["R"].file == "one.yaml"  # the same entry twice is fine


@pytest.mark.parametrize("entry, message", [
    ({"ref": "R", "source": "rfc5626", "text": "t", "keyword": "COULD", "mark": "V"}, "keyword"),
    ({"ref": "R", "source": "rfc5626", "text": "t", "keyword": "MUST", "mark": "X"}, "mark"),
    ({"ref": "R", "source": "web", "text": "t", "keyword": "MUST", "mark": "V"}, "source"),
    ({"ref": "R", "source": "rfc5626", "keyword": "MUST", "mark": "V"}, "'text' is required"),
    ({"ref": "R", "source": "rfc5626", "text": "t", "keyword": "MUST", "mark": "V", "lvl": 1}, "unknown key"),
])
def test_bad_entries_are_refused_with_the_file(entry, message):
    with pytest.raises(ClauseError, match=message) as e:
        parse_clauses({"clauses": [entry]}, "f.yaml")
    assert "f.yaml" in str(e.value)


def test_files_are_merged(tmp_path):
    (tmp_path / "a.yaml").write_text('clauses:\n  - {ref: A, source: rfc5626, text: "x MUST", keyword: MUST, mark: V}\n')
    (tmp_path / "b.yaml").write_text('clauses:\n  - {ref: B, source: ts24229, text: "y shall", keyword: shall, mark: V-3gpp}\n')
    cl = load_clauses(tmp_path)
    assert set(cl) == {"A", "B"} and cl["B"].level == "MUST"
    assert quote_of("A; B", cl).count("\u201c") == 2
    assert quote_of("A", cl) == "x MUST"
