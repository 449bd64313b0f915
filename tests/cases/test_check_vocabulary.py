"""The check vocabulary has one source, conformance.meaning.checks.CHECKS: the case schema's check
kinds and docs/case-format.md's check table are generated from it and must be current."""

import pytest

from conformance.cases.loader import CHECK_OPTIONS, _validator
from conformance.meaning.checks import CHECKS, vocabulary


def test_schema_and_docs_are_generated_from_the_registry():
    assert vocabulary.stale() == [], "run python -m conformance.meaning.checks.vocabulary --write"


def test_the_schema_knows_exactly_the_registered_kinds():
    props = _validator().schema["$defs"]["check"]["properties"]
    assert set(props) - set(CHECK_OPTIONS) == set(CHECKS)
    for name, kind in CHECKS.items():
        assert props[name] == {"description": kind.summary, **kind.schema}


def test_the_docs_table_has_one_row_per_kind_with_its_default_level():
    text = vocabulary.DOCS_PATH.read_text(encoding="utf-8")
    rows = [line for line in text.splitlines() if line.startswith("| `")]
    table = {row.split("`")[1]: row for row in rows if row.split("`")[1] in CHECKS}
    assert set(table) == set(CHECKS)
    for name, kind in CHECKS.items():
        assert table[name].endswith(f"| {kind.level}; {kind.clause_doc} |")


@pytest.fixture
def copies(tmp_path, monkeypatch):
    for attr in ("SCHEMA_PATH", "DOCS_PATH"):
        copy = tmp_path / getattr(vocabulary, attr).name
        copy.write_text(getattr(vocabulary, attr).read_text(encoding="utf-8"), encoding="utf-8")
        monkeypatch.setattr(vocabulary, attr, copy)
    return vocabulary.SCHEMA_PATH, vocabulary.DOCS_PATH


def test_check_fails_on_a_stale_region_and_write_mends_it(copies, capsys):
    schema, docs = copies
    assert vocabulary.main(["--check"]) == 0
    docs.write_text(docs.read_text(encoding="utf-8").replace("| `pong` |", "| `pongg` |"), encoding="utf-8")
    text = schema.read_text(encoding="utf-8")
    schema.write_text(text.replace("      pong:\n", "      pongg:\n", 1), encoding="utf-8")
    assert vocabulary.main(["--check"]) == 1
    assert {p.name for p in vocabulary.stale()} == {schema.name, docs.name}
    assert str(docs) in capsys.readouterr().err
    assert vocabulary.main(["--write"]) == 0
    assert vocabulary.main(["--check"]) == 0
    assert schema.read_text(encoding="utf-8") == text


def test_a_region_without_its_markers_is_an_error(copies):
    schema, _ = copies
    schema.write_text(schema.read_text(encoding="utf-8").replace("# END generated: check kinds", "#"),
                      encoding="utf-8")
    with pytest.raises(SystemExit, match="END generated: check kinds"):
        vocabulary.main(["--check"])


FLOW_ARGS = [(name, key) for name, kind in CHECKS.items() for key in kind.flow_args]


def test_the_kinds_that_name_flows_declare_them():
    assert set(FLOW_ARGS) >= {("contacts", "include"), ("contacts", "exclude"), ("expires", "flow"),
                              ("atomic", "flow"), ("delivered", "flow"), ("delivered", "not_on"),
                              ("protected", "delivery")}


@pytest.mark.parametrize("kind, key", FLOW_ARGS)
def test_the_loader_refuses_an_undeclared_flow_in_a_flow_argument(kind, key):
    from conformance.cases.loader import load_case_text
    from conformance.yamlio.errors import CaseError

    value = "[f1, f9]" if CHECKS[kind].schema["properties"][key].get("type") == "array" else "f9"
    others = "".join(f", {r}: f1" for r in CHECKS[kind].schema.get("required", []) if r != key)  # e.g. gruu's flow
    text = ("id: VOC-001\ntitle: t\npurpose: p\nues:\n  a:\n    flows:\n      f1: {address: 1}\n"
            f"steps:\n  - register: f1\n    expect:\n      checks:\n        - {kind}: {{{key}: {value}{others}}}\n")
    with pytest.raises(CaseError, match="unknown flow 'f9'; this case declares: f1"):
        load_case_text(text, "voc.yaml")
    load_case_text(text.replace("f9", "f1"), "voc.yaml")


def test_the_emitted_yaml_reads_back_as_the_fragment():
    import yaml

    tricky = {"k": {"description": "a: b, with 'quotes' and # not a comment", "enum": ["yes", "no", "a, b", "null"],
                    "anyOf": [{"type": "integer", "minimum": 1}, {"type": "string", "pattern": "^[1-6]xx$"},
                              {"type": "array", "items": {"$ref": "#/$defs/x"}, "minItems": 1}],
                    "properties": {}, "in": {"const": True, "x-expected": "'all'"}, "n": 0.5}}
    lines: list[str] = []
    vocabulary._emit(lines, tricky, 2)
    assert yaml.safe_load("\n".join(lines)) == tricky
