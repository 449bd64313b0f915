"""The step list of the case schema and the step table of docs/case-format.md are written from
the registry of step kinds (conformance/steps/); they must be current."""

from conformance.cases.loader import ACTIONS, FLOW_ACTIONS, SCHEMA_PATH
from conformance.steps import KINDS
from conformance.steps import vocabulary
from conformance.yamlio.source import load_documents, plain


def test_the_schema_and_the_docs_list_the_step_kinds_of_the_registry():
    assert vocabulary.stale() == [], "run: python -m conformance.steps.vocabulary --write"
    assert vocabulary.main(["--check"]) == 0


def test_the_schema_step_properties_are_the_kinds_plus_the_step_keywords():
    _, docs = load_documents(SCHEMA_PATH)
    props = plain(docs[0][1])["$defs"]["step"]["properties"]
    assert [k for k in props if k in KINDS] == list(KINDS)
    assert set(props) - set(KINDS) == {"preamble", "expect", "classify", "unclassified"}
    assert props["wait"]["maximum"] == 30 and props["register"]["$ref"] == "#/$defs/flow_action"


def test_a_changed_kind_makes_the_regions_stale(tmp_path, monkeypatch):
    schema, doc = tmp_path / "case.schema.yaml", tmp_path / "case-format.md"
    schema.write_text(vocabulary.SCHEMA.read_text())
    doc.write_text(vocabulary.DOC.read_text().replace("| `fetch: FLOW` |", "| `fetch: F` |"))
    monkeypatch.setattr(vocabulary, "SCHEMA", schema)
    monkeypatch.setattr(vocabulary, "DOC", doc)
    monkeypatch.setattr(vocabulary, "ROOT", tmp_path)
    assert vocabulary.stale() == [doc]
    assert vocabulary.main(["--check"]) == 1
    assert vocabulary.main(["--write"]) == 0 and vocabulary.stale() == []


def test_the_loader_takes_its_actions_from_the_registry():
    assert ACTIONS == tuple(KINDS)
    assert set(FLOW_ACTIONS) == {name for name, kind in KINDS.items() if kind.needs_flow}
    assert "peer_request" not in FLOW_ACTIONS and "close" in FLOW_ACTIONS
