"""The source-mapping YAML loader: lines on everything, duplicate keys refused."""

from __future__ import annotations

import textwrap

import pytest

from conformance.yamlio.errors import CaseError, TargetError, excerpt
from conformance.yamlio.source import YDict, YList, format_path, line_of, load_documents, plain, value_line


def load(text: str):
    _, docs = load_documents(text=textwrap.dedent(text))
    return docs


def test_mappings_and_sequences_carry_lines():
    [(doc_line, data)] = load("""\
        # a comment
        top:
          a: 1
          b:
            - x
            - {c: 3}
          d: >
            folded
        """)
    assert doc_line == 2
    assert isinstance(data, YDict) and isinstance(data["top"], YDict) and isinstance(data["top"]["b"], YList)
    assert line_of(data) == 2 and line_of(data, "top") == 2
    top = data["top"]
    assert line_of(top) == 3 and line_of(top, "a") == 3 and line_of(top, "b") == 4
    assert value_line(top, "b") == 5 and value_line(top, "a") == 3
    assert line_of(top["b"], 0) == 5 and line_of(top["b"], 1) == 6
    assert line_of(top["b"][1], "c") == 6
    assert top["b"][1].start_mark.line == 5  # pyyaml marks are 0-based; line_of is 1-based
    assert line_of(top, "missing") == 3  # falls back to the mapping itself
    assert line_of({"plain": 1}, "plain", default=7) == 7


def test_scalars_stay_plain_values():
    [(_, data)] = load("a: 1\nb: true\nc: null\nd: 2.5\ne: text\n")
    assert data == {"a": 1, "b": True, "c": None, "d": 2.5, "e": "text"}
    assert type(data["a"]) is int and data["b"] is True and data["c"] is None
    assert type(plain(data)) is dict


def test_multiple_documents_skip_empty_ones():
    docs = load("a: 1\n---\n---\n# comment\n---\nb: 2\n")
    assert [(line, dict(d)) for line, d in docs] == [(1, {"a": 1}), (6, {"b": 2})]


def test_duplicate_key_names_both_lines_and_the_path():
    with pytest.raises(CaseError) as info:
        load("""\
            outer:
              list:
                - k: 1
                  k: 2
            """)
    err = info.value
    assert (err.line, err.key) == (4, "outer.list[0].k")
    assert err.message == "duplicate key 'k': first written on line 3, again on line 4"


def test_merge_keys_are_not_duplicates():
    [(_, data)] = load("""\
        base: &b {x: 1, y: 2}
        more:
          <<: *b
          y: 3
        """)
    assert data["more"] == {"x": 1, "y": 3}


def test_syntax_error_uses_the_error_class():
    with pytest.raises(TargetError) as info:
        load_documents("t.yaml", text="a: 1\nb: [\n", error_class=TargetError)
    assert info.value.file == "t.yaml" and info.value.line == 3 and "invalid YAML" in info.value.message


def test_format_path():
    assert format_path(["steps", 2, "expect", "checks", 0, "require"]) == "steps[2].expect.checks[0].require"
    assert format_path([]) == "" and format_path([0, "a"]) == "[0].a"


def test_excerpt_window():
    src = "\n".join(f"line{i}" for i in range(1, 11))
    assert excerpt(src, 1).splitlines() == ["> 1 | line1", "  2 | line2", "  3 | line3"]
    assert excerpt(src, 5).splitlines() == ["  4 | line4", "> 5 | line5", "  6 | line6", "  7 | line7"]
    assert excerpt(src, 10).splitlines() == ["   9 | line9", "> 10 | line10"]
    assert excerpt(src, 0) == "" and excerpt(None, 3) == ""


def test_error_without_line_has_no_excerpt():
    err = CaseError("cannot read", file="x.yaml")
    assert str(err) == "x.yaml: cannot read"
    assert str(CaseError("bad", file="x.yaml", line=4, key="a.b", source="")) == "x.yaml:4: a.b: bad"
