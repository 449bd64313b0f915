"""The case loader: valid files become model objects; broken ones name file, line and key."""

from __future__ import annotations

import pickle
import re
import textwrap
from pathlib import Path

import pytest

from conformance.yamlio.errors import CaseError
from conformance.cases.loader import (
    check_unique_ids, load_case_file, load_case_text, parse_status,
)
from conformance.cases.model import CaseSpec, EdgeSpec

ROOT = Path(__file__).resolve().parents[2]

MINIMAL = """\
id: MIN-001
title: Minimal case
purpose: One registration.
ues:
  a:
    flows:
      f1: {address: 1}
steps:
  - register: f1
"""

FULL = """\
id: REG-004
title: "Reg1b: same instance, same reg-id, new flow replaces"
purpose: >
  Same instance and reg-id from a second address replace the binding.
test_purposes: [TP_REG_004]
references: ["RFC 5626 §6"]
requirements: [R3]
applies_to: [outbound, path]
roles: [registrar, core]
transports: [tcp]
tags: [reg1b]
ues:
  a:
    instance: true
    flows:
      f1: {address: 1, reg_id: 1, transport: udp}
      f2:
        address: 2
        reg_id: 1
        edge: {ob: false, extra_path: ["<sip:p2.invalid;lr>"]}
  b:
    instance: false
    flows:
      g1: {address: 3, reg_id: null, edge: true}
steps:
  - register: f1
    preamble: true
    expect: {status: 2xx}
  - register: {flow: f2, call_id: f1, expires: 300, expires_header: 300,
               supported: [path], require: [outbound],
               contact: {reg_id: null, instance: false, params: {foo: bar, lr: null}},
               contacts: [{flow: f1, expires: 0}],
               headers: [[X-Test, "1"], [Max-Forwards, 70]],
               new_connection: true, timeout: 5}
    expect:
      status: [200, 202]
      status_level: SHOULD
      status_ref: RFC 3261 §10.3
      checks:
        - contacts: {count: 1, include: [f2], exclude: [f1]}
          level: SHOULD
          ref: RFC 5626 §6 ¶4
          ue: a
        - expires: {flow: f2, min: 1, max: 300}
        - header: {name: Path, present: true, matches: "^<sip:"}
          ref: "RFC 3327 §5.3"
          level: MAY
        - path: {echo: true}
        - flow_timer: {valid: true}
        - supported: {lacks: gruu}
  - wait: 2.5
  - send: {flow: g1, message: "OPTIONS sip:{aor} SIP/2.0\\r\\n\\r\\n"}
  - refresh: g1
  - deregister: f2
  - deregister_all: {flow: f1, call_id: new}
  - fetch: f1
    classify:
      - name: outbound
        description: Rel-8+
        checks:
          - require: {has: outbound}
      - name: legacy
        description: Rel-7
        checks:
          - require: {lacks: outbound}
          - contacts: {instance_count: 1}
"""


def write(tmp_path: Path, text: str, name: str = "case.yaml") -> Path:
    p = tmp_path / name
    p.write_text(textwrap.dedent(text), encoding="utf-8")
    return p


def load_error(tmp_path: Path, text: str) -> CaseError:
    p = write(tmp_path, text)
    with pytest.raises(CaseError) as info:
        load_case_file(p)
    err = info.value
    assert err.file == str(p)
    return err


# --- valid files --------------------------------------------------------------------------------

def test_minimal_case_gets_the_defaults(tmp_path):
    [case] = load_case_file(write(tmp_path, MINIMAL))
    assert isinstance(case, CaseSpec)
    assert case.id == "MIN-001"
    assert case.transports == ["udp", "tcp"]
    assert case.roles == ["registrar", "core"]
    assert case.references == case.requirements == case.test_purposes == case.applies_to == []
    ue = case.ues["a"]
    assert ue.instance is True
    flow = ue.flows["f1"]
    assert (flow.address, flow.reg_id, flow.transport, flow.edge) == (1, None, None, None)
    [step] = case.steps
    assert (step.action, step.flow, step.ue, step.name, step.options) == ("register", "f1", "a", "register f1", {})
    assert step.expect is None and step.classify is None and step.preamble is False
    assert case.location.line == 1
    assert step.location.line == 9 and step.location.key == "steps[0]"
    assert flow.location.line == 7 and flow.location.key == "ues.a.flows.f1"


def test_full_case_builds_every_model_object(tmp_path):
    path = write(tmp_path, FULL)
    [case] = load_case_file(path)
    assert case.transports == ["tcp"] and case.roles == ["registrar", "core"] and case.tags == ["reg1b"]
    a, b = case.ues["a"], case.ues["b"]
    assert a.flows["f1"].transport == "udp"
    assert a.flows["f2"].edge == EdgeSpec(path=True, ob=False, extra_path=["<sip:p2.invalid;lr>"])
    assert b.instance is False and b.flows["g1"].edge == EdgeSpec() and b.flows["g1"].reg_id is None
    assert case.flow("g1") == (b, b.flows["g1"])

    s = case.steps
    assert [x.name for x in s] == ["register f1", "register f2", "wait 2.5s", "send g1", "refresh g1",
                                   "deregister f2", "deregister_all f1", "fetch f1"]
    assert s[0].preamble and s[0].expect.status == list(range(200, 300))
    reg = s[1]
    assert reg.ue == "a"
    assert reg.options == {
        "call_id": "f1", "expires": 300, "expires_header": 300, "supported": ["path"],
        "require": ["outbound"], "contact": {"reg_id": None, "instance": False, "params": {"foo": "bar", "lr": None}},
        "contacts": [{"flow": "f1", "expires": 0}], "headers": [["X-Test", "1"], ["Max-Forwards", 70]],
        "new_connection": True, "timeout": 5,
    }
    assert type(reg.options["contact"]) is dict and type(reg.options["contacts"]) is list  # plain data
    exp = reg.expect
    assert exp.status == [200, 202] and exp.status_level == "SHOULD" and exp.status_ref == "RFC 3261 §10.3"
    assert [c.kind for c in exp.checks] == ["contacts", "expires", "header", "path", "flow_timer", "supported"]
    c0 = exp.checks[0]
    assert (c0.args, c0.level, c0.ref, c0.ue) == ({"count": 1, "include": ["f2"], "exclude": ["f1"]},
                                                  "SHOULD", "RFC 5626 §6 ¶4", "a")
    assert c0.location.key == "steps[1].expect.checks[0]" and c0.location.file == str(path)
    assert exp.checks[1].level is None and exp.checks[1].ref is None
    assert s[2].action == "wait" and s[2].flow is None and s[2].options == {"seconds": 2.5}
    assert s[3].options == {"message": "OPTIONS sip:{aor} SIP/2.0\r\n\r\n"} and s[3].ue == "b"
    assert s[6].options == {"call_id": "new"}
    cls = s[7].classify
    assert [c.name for c in cls] == ["outbound", "legacy"] and s[7].expect is None
    assert cls[1].checks[1].args == {"instance_count": 1}
    assert cls[1].location.key == "steps[7].classify[1]"
    assert cls[1].checks[1].location.key == "steps[7].classify[1].checks[1]"


def test_several_documents_and_empty_ones(tmp_path):
    text = MINIMAL + "---\n---\n# only a comment\n---\n" + MINIMAL.replace("MIN-001", "MIN-002")
    cases = load_case_file(write(tmp_path, text))
    assert [c.id for c in cases] == ["MIN-001", "MIN-002"]
    assert cases[1].location.line == 14  # lines of the second case count from the top of the file
    assert cases[1].steps[0].location.line == 22


def test_empty_file_has_no_cases(tmp_path):
    assert load_case_file(write(tmp_path, "# nothing yet\n")) == []


def test_the_example_in_case_format_md_loads():
    text = (ROOT / "docs" / "case-format.md").read_text(encoding="utf-8")
    blocks = re.findall(r"```yaml\n(.*?)```", text, re.S)
    [case] = load_case_text(blocks[0], "case-format.md")
    assert case.id == "REG-003"
    assert case.steps[1].expect.checks[1].args == {"instance_count": 2, "include": ["f1", "f2"], "expires": "all"}
    # the classification fragment is a valid step of that case
    [case2] = load_case_text(blocks[0] + blocks[1], "case-format.md")
    assert [c.name for c in case2.steps[2].classify] == ["outbound", "legacy"]


def test_classify_with_expected_status(tmp_path):
    [case] = load_case_file(write(tmp_path, MINIMAL.replace("  - register: f1", """\
  - register: f1
    expect: {status: 200, status_ref: "RFC 3261 §10.3 step 8 (200 OK)", status_level: MAY}
    classify:
      - {name: x, description: y, checks: [{path: {ob: true}}]}""")))
    step = case.steps[0]
    assert step.expect.status == [200] and step.expect.checks == [] and step.classify[0].name == "x"


def test_status_forms():
    assert parse_status(200) == [200]
    assert parse_status([200, 202, 200]) == [200, 202]
    assert parse_status("4xx") == list(range(400, 500))
    assert parse_status([200, "3xx"])[:2] == [200, 300]
    for bad in (99, 700, "2x", "200", True, [], None):
        with pytest.raises(ValueError):
            parse_status(bad)


def test_every_schema_property_has_a_description_and_objects_are_closed():
    from conformance.cases.loader import _validator

    problems = []

    def walk(node, where):
        if isinstance(node, dict):
            if node.get("type") == "object" and "additionalProperties" not in node:
                problems.append(f"{where}: open object")
            for name, sub in node.get("properties", {}).items():
                if "description" not in sub:
                    problems.append(f"{where}.{name}: no description")
            for k, v in node.items():
                walk(v, f"{where}.{k}")
        elif isinstance(node, list):
            for i, v in enumerate(node):
                walk(v, f"{where}[{i}]")

    walk(_validator().schema, "schema")
    assert problems == []


# --- errors: file, line, key, message -----------------------------------------------------------

def test_yaml_syntax_error(tmp_path):
    err = load_error(tmp_path, """\
        id: BAD-001
        title: [unclosed
        purpose: x
        """)
    assert err.line == 3 and err.key == ""
    assert "invalid YAML" in err.message and "flow sequence" in err.message
    assert str(err).startswith(f"{err.file}:3: invalid YAML")


def test_tab_indentation_is_a_syntax_error(tmp_path):
    err = load_error(tmp_path, "id: X\nues:\n\ta: 1\n")
    assert err.line == 3 and "invalid YAML" in err.message


@pytest.mark.parametrize("old, new, line, key, message", [
    ("title: Minimal case", "title: Minimal case\ntitel: typo", 3, "titel",
     "unknown key 'titel' (did you mean 'title'?)"),
    ("      f1: {address: 1}", "      f1: {address: 1, regid: 2}", 7, "ues.a.flows.f1.regid",
     "unknown key 'regid' (did you mean 'reg_id'?)"),
    ("  - register: f1", "  - register: f1\n    expcet: {status: 200}", 10, "steps[0].expcet",
     "unknown key 'expcet' (did you mean 'expect'?)"),
    ("  - register: f1", "  - register: {flw: f1}", 9, "steps[0].register.flw",
     "unknown key 'flw' (did you mean 'flow'?)"),
    ("  - register: f1", "  - register: f1\n    expect:\n      checks:\n        - require: {has: outbound}\n"
     "        - requires: {has: outbound}", 13, "steps[0].expect.checks[1].requires",
     "unknown check kind 'requires' (did you mean 'require'?)"),
    ("  - register: f1", "  - register: f1\n    expect:\n      checks:\n        - contacts: {cuont: 1}",
     12, "steps[0].expect.checks[0].contacts.cuont", "unknown key 'cuont' (did you mean 'count'?)"),
])
def test_unknown_keys_at_several_depths(tmp_path, old, new, line, key, message):
    err = load_error(tmp_path, MINIMAL.replace(old, new))
    assert (err.line, err.key, err.message) == (line, key, message)


@pytest.mark.parametrize("old, new, line, key, message", [
    ("{address: 1}", "{address: abc}", 7, "ues.a.flows.f1.address", "expected an integer, got 'abc'"),
    ("{address: 1}", "{address: 1, reg_id: x}", 7, "ues.a.flows.f1.reg_id",
     "expected an integer or null, got 'x'"),
    ("    flows:", "    instance: maybe\n    flows:", 6, "ues.a.instance", "expected true or false, got 'maybe'"),
    ("title: Minimal case", "title: [a, b]", 2, "title", "expected a string, got a list"),
    ("  - register: f1", "  - register: 5", 9, "steps[0].register",
     "expected a flow name or a mapping with 'flow:' and options, got 5"),
    ("  - register: f1", "  - wait: 31", 9, "steps[0].wait", "expected a number of seconds from 0 to 30, got 31"),
    ("  - register: f1", "  - wait: soon", 9, "steps[0].wait", "expected a number of seconds from 0 to 30, got 'soon'"),
    ("steps:", "transports: [udp, sctp]\nsteps:", 8, "transports[1]", "expected udp, tcp, tls, ws or wss, got 'sctp'"),
    ("steps:", "roles: [registar]\nsteps:", 8, "roles[0]",
     "expected registrar, edge or core, got 'registar' (did you mean 'registrar'?)"),
    ("steps:", "requirements: [R1, R9]\nsteps:", 8, "requirements[1]", "expected one of R1, R2, R3, P1, P2, REGEV, GRUU, got 'R9'"),
    ("steps:", "test_purposes: [TP_REG_01]\nsteps:", 8, "test_purposes[0]",
     "expected a test purpose id like TP_REG_003, got 'TP_REG_01'"),
    ("id: MIN-001", "id: min-001", 1, "id",
     "expected an id of upper case letters, digits, '-' and '_', starting with a letter (e.g. REG-003), got 'min-001'"),
    ("steps:\n  - register: f1", "steps: []", 8, "steps", "must not be empty"),
])
def test_wrong_types_and_values(tmp_path, old, new, line, key, message):
    err = load_error(tmp_path, MINIMAL.replace(old, new))
    assert (err.line, err.key, err.message) == (line, key, message)


@pytest.mark.parametrize("old, new, line, key", [
    ("id: MIN-001\n", "", 1, "id"),
    ("      f1: {address: 1}", "      f1: {reg_id: 1}", 7, "ues.a.flows.f1.address"),
    ("  - register: f1", "  - register: {call_id: new}", 9, "steps[0].register.flow"),
    ("  - register: f1", "  - send: {flow: f1}", 9, "steps[0].send.message"),
    ("  - register: f1", "  - fetch: f1\n    classify:\n      - name: x\n        checks: [{path: {ob: true}}]",
     11, "steps[0].classify[0].description"),
])
def test_missing_required_key(tmp_path, old, new, line, key):
    err = load_error(tmp_path, MINIMAL.replace(old, new))
    missing = key.rsplit(".", 1)[-1]
    assert (err.line, err.key, err.message) == (line, key, f"missing required key {missing!r}")


@pytest.mark.parametrize("old, new, line, key, message", [
    ("  - register: f1", "  - register: f2", 9, "steps[0].register",
     "unknown flow 'f2'; this case declares: f1"),
    ("  - register: f1", "  - refresh: {flow: g1}", 9, "steps[0].refresh.flow",
     "unknown flow 'g1'; this case declares: f1"),
    ("  - register: f1", "  - register: {flow: f1, call_id: f11}", 9, "steps[0].register.call_id",
     "call_id must be 'new' or a flow name, got 'f11' (did you mean 'f1'?); this case declares: f1"),
    ("  - register: f1", "  - register: {flow: f1, contacts: [{flow: f3, expires: 0}]}", 9,
     "steps[0].register.contacts[0].flow", "unknown flow 'f3'; this case declares: f1"),
    ("  - register: f1", "  - register: f1\n    expect:\n      checks:\n"
     "        - contacts: {include: [f1], exclude: [f1, f4]}", 12,
     "steps[0].expect.checks[0].contacts.exclude[1]", "unknown flow 'f4'; this case declares: f1"),
    ("  - register: f1", "  - register: f1\n    expect:\n      checks:\n"
     "        - expires:\n            flow: fx", 13,
     "steps[0].expect.checks[0].expires.flow", "unknown flow 'fx'; this case declares: f1"),
    ("  - register: f1", "  - register: f1\n    expect:\n      checks:\n        - require: {has: outbound}\n"
     "          ue: z", 13, "steps[0].expect.checks[0].ue", "unknown UE 'z'; this case declares: a"),
])
def test_unknown_flow_and_ue_references(tmp_path, old, new, line, key, message):
    err = load_error(tmp_path, MINIMAL.replace(old, new))
    assert (err.line, err.key, err.message) == (line, key, message)


@pytest.mark.parametrize("old, new, line, key, fragment", [
    ("  - register: f1", "  - register: f1\n    fetch: f1", 10, "steps[0].fetch",
     "a step has exactly one action, this one has register and fetch"),
    ("  - register: f1", "  - preamble: true", 9, "steps[0]", "a step needs an action: one of register"),
    ("  - register: f1", "  - register: f1\n    expect: {status: 200, checks: [{path: {ob: true}}]}\n    classify: "
     "[{name: x, description: y, checks: [{path: {ob: true}}]}]", 10, "steps[0].expect.checks",
     "a step with classify keeps its checks in the classes; next to classify, expect may only give status"),
    ("  - register: f1", "  - register: f1\n    expect:\n      checks:\n"
     "        - require: {has: outbound}\n          path: {ob: true}", 13, "steps[0].expect.checks[0].path",
     "one check per entry, this one has require and path"),
    ("  - register: f1", "  - register: f1\n    expect:\n      checks:\n        - level: MUST", 12,
     "steps[0].expect.checks[0]", "a check needs a kind: one of require, supported"),
    ("  - register: f1", "  - register: f1\n    expect:\n      checks:\n"
     "        - header: {name: Path, matches: '(unclosed'}", 12, "steps[0].expect.checks[0].header.matches",
     "not a valid regular expression"),
    ("      f1: {address: 1}", "      f1: {address: 1}\n  b:\n    flows:\n      f1: {address: 2}", 10,
     "ues.b.flows.f1", "flow 'f1' is already declared by UE 'a'"),
    ("steps:", "applies_to: [outbond]\nsteps:", 8, "applies_to[0]",
     "unknown capability 'outbond' (did you mean 'outbound'?)"),
])
def test_rules_beyond_the_schema(tmp_path, old, new, line, key, fragment):
    err = load_error(tmp_path, MINIMAL.replace(old, new))
    assert (err.line, err.key) == (line, key)
    assert fragment in err.message


@pytest.mark.parametrize("old, new, line, key, message", [
    ("  - register: f1", "  - register: f1\n    expect:\n      checks:\n        - require: {has: outbound}\n"
     "          level: MUTS", 13, "steps[0].expect.checks[0].level",
     "expected MUST, SHOULD or MAY, got 'MUTS' (did you mean 'MUST'?)"),
    ("  - register: f1", "  - register: f1\n    expect: {status: 200, status_level: must}", 10,
     "steps[0].expect.status_level", "expected MUST, SHOULD or MAY, got 'must' (did you mean 'MUST'?)"),
])
def test_bad_level(tmp_path, old, new, line, key, message):
    err = load_error(tmp_path, MINIMAL.replace(old, new))
    assert (err.line, err.key, err.message) == (line, key, message)


@pytest.mark.parametrize("status, key, message", [
    ("abc", "steps[0].expect.status",
     "expected a status code from 100 to 699, a class like 2xx, or a list of those, got 'abc'"),
    ("700", "steps[0].expect.status",
     "expected a status code from 100 to 699, a class like 2xx, or a list of those, got 700"),
    ("7xx", "steps[0].expect.status",
     "expected a status code from 100 to 699, a class like 2xx, or a list of those, got '7xx'"),
    ("[200, 42]", "steps[0].expect.status[1]", "must be at least 100, got 42"),
    ("[]", "steps[0].expect.status",
     "expected a status code from 100 to 699, a class like 2xx, or a list of those, got a list"),
])
def test_bad_status(tmp_path, status, key, message):
    err = load_error(tmp_path, MINIMAL.replace("  - register: f1", f"  - register: f1\n    expect:\n"
                                                                   f"      status: {status}"))
    assert (err.line, err.key, err.message) == (11, key, message)


def test_bad_tag_args(tmp_path):
    err = load_error(tmp_path, MINIMAL.replace("  - register: f1", "  - register: f1\n    expect:\n      checks:\n"
                                                                   "        - require: {has: a, lacks: b}"))
    assert (err.line, err.key) == (12, "steps[0].expect.checks[0].require")
    assert err.message == "expected exactly one of 'has: TAG' or 'lacks: TAG', got a mapping (has, lacks)"


def test_duplicate_key_names_both_lines(tmp_path):
    err = load_error(tmp_path, MINIMAL.replace("      f1: {address: 1}", "      f1: {address: 1}\n"
                                                                          "      f1: {address: 2}"))
    assert (err.line, err.key) == (8, "ues.a.flows.f1")
    assert err.message == "duplicate key 'f1': first written on line 7, again on line 8"


def test_duplicate_key_in_a_step(tmp_path):
    err = load_error(tmp_path, MINIMAL.replace("  - register: f1", "  - register: f1\n    preamble: true\n"
                                                                   "    preamble: false"))
    assert (err.line, err.key) == (11, "steps[0].preamble")
    assert "first written on line 10" in err.message


def test_duplicate_id_within_a_file(tmp_path):
    err = load_error(tmp_path, MINIMAL + "---\n" + MINIMAL)
    assert (err.line, err.key) == (11, "id")
    assert err.message == "duplicate case id 'MIN-001', first used on line 1"


def test_duplicate_id_across_files(tmp_path):
    a = load_case_file(write(tmp_path, MINIMAL, "a.yaml"))
    b = load_case_file(write(tmp_path, "\n\n" + MINIMAL, "b.yaml"))
    check_unique_ids(a)
    with pytest.raises(CaseError) as info:
        check_unique_ids(a + b)
    err = info.value
    assert (err.file, err.line, err.key) == (str(tmp_path / "b.yaml"), 3, "id")
    assert f"first defined at {tmp_path / 'a.yaml'}:1" in err.message


def test_document_that_is_not_a_mapping(tmp_path):
    err = load_error(tmp_path, MINIMAL + "---\n- just\n- a list\n")
    assert err.line == 11 and "a case must be a mapping" in err.message


def test_first_error_in_file_order_wins(tmp_path):
    text = MINIMAL.replace("title: Minimal case", "title: Minimal case\ntitel: x").replace(
        "{address: 1}", "{address: 0}")
    err = load_error(tmp_path, text)
    assert (err.line, err.key) == (3, "titel")


def test_unreadable_file(tmp_path):
    with pytest.raises(CaseError) as info:
        load_case_file(tmp_path / "missing.yaml")
    assert info.value.line == 0 and "cannot read the file" in info.value.message


# --- the error text -----------------------------------------------------------------------------

def test_str_has_headline_and_numbered_excerpt(tmp_path):
    err = load_error(tmp_path, MINIMAL.replace("  - register: f1", "  - register: f1\n    expcet: {status: 200}"))
    lines = str(err).splitlines()
    assert lines[0] == f"{err.file}:10: steps[0].expcet: unknown key 'expcet' (did you mean 'expect'?)"
    assert lines[1:] == ["   9 |   - register: f1", "> 10 |     expcet: {status: 200}"]
    assert err.location.line == 10 and err.location.key == "steps[0].expcet"


def test_excerpt_is_two_to_four_lines(tmp_path):
    err = load_error(tmp_path, MINIMAL.replace("{address: 1}", "{address: x}"))
    excerpt = str(err).splitlines()[1:]
    assert 2 <= len(excerpt) <= 4
    assert [line for line in excerpt if line.startswith(">")] == ["> 7 |       f1: {address: x}"]


def test_error_pickles(tmp_path):
    err = load_error(tmp_path, MINIMAL.replace("{address: 1}", "{address: x}"))
    copy = pickle.loads(pickle.dumps(err))
    assert str(copy) == str(err) and (copy.file, copy.line, copy.key) == (err.file, err.line, err.key)


def test_case_files_in_the_repository_load():
    files = sorted((ROOT / "testcases").rglob("*.yaml")) if (ROOT / "testcases").is_dir() else []
    cases = [case for p in files for case in load_case_file(p)]
    check_unique_ids(cases)


def test_digest_answer_names_a_declared_ue(tmp_path):
    err = load_error(tmp_path, MINIMAL.replace("  - register: f1", "  - register: {flow: f1, digest: {as: b}}"))
    assert (err.line, err.key) == (9, "steps[0].register.digest.as")
    assert err.message == "unknown UE 'b'; this case declares: a"
    ok = load_case_file(write(tmp_path, MINIMAL.replace("  - register: f1", "  - register: {flow: f1, digest: wrong}")))
    assert ok[0].steps[0].options["digest"] == "wrong"


def test_digest_replay_names_a_declared_flow(tmp_path):
    err = load_error(tmp_path, MINIMAL.replace("  - register: f1", "  - register: {flow: f1, digest: {replay: f9}}"))
    assert (err.line, err.key) == (9, "steps[0].register.digest.replay")
    assert err.message.startswith("unknown flow 'f9'")


# --- dialog steps (steps/dialog.py) --------------------------------------------------------------

@pytest.mark.parametrize("new, line, key, message", [
    ("  - request: {from: f9, to: a}", 9, "steps[0].request.from", "unknown flow 'f9'; this case declares: f1"),
    ("  - invite: {from: peer, to: z}", 9, "steps[0].invite.to", "unknown UE 'z'; this case declares: a"),
    ("  - request: {from: peer, to: a, route: [{path_of: f2}]}", 9, "steps[0].request.route[0].path_of",
     "unknown flow 'f2'; this case declares: f1"),
    ("  - request: {from: peer, to: a, uri: {contact_of: g1}}", 9, "steps[0].request.uri.contact_of",
     "unknown flow 'g1'; this case declares: f1"),
    ("  - request: {from: peer, to: a, uri: {pub_gruu_of: g1}}", 9, "steps[0].request.uri.pub_gruu_of",
     "unknown flow 'g1'; this case declares: f1"),
    ("  - invite: {from: peer, to: a, uri: {temp_gruu_of: g2, which: first}}", 9,
     "steps[0].invite.uri.temp_gruu_of", "unknown flow 'g2'; this case declares: f1"),
])
def test_dialog_steps_name_known_flows_and_ues(tmp_path, new, line, key, message):
    err = load_error(tmp_path, MINIMAL.replace("  - register: f1", new))
    assert (err.line, err.key, err.message) == (line, key, message)


def test_dialog_steps_load_with_their_defaults(tmp_path):
    text = MINIMAL.replace("  - register: f1", "  - register: f1\n  - invite: {from: f1, to: a}\n"
                           "  - in_dialog: {from: callee}\n  - request: {from: peer, to: a, route: [{path_of: f1}]}")
    [case] = load_case_file(write(tmp_path, text))
    invite, bye, req = case.steps[1:]
    assert (invite.action, invite.flow, invite.ue, invite.options["method"]) == ("invite", "f1", "a", "INVITE")
    assert (bye.action, bye.options["method"], bye.options["from"]) == ("in_dialog", "BYE", "callee")
    assert (req.flow, req.ue, req.options["method"]) == (None, "a", "MESSAGE")


def test_gruu_request_uris_load_and_which_is_latest_or_first(tmp_path):
    text = MINIMAL.replace("  - register: f1", "  - register: f1\n"
                           "  - request: {from: peer, to: a, uri: {pub_gruu_of: f1}}\n"
                           "  - invite: {from: peer, to: a, uri: {temp_gruu_of: f1, which: first}}\n"
                           "  - request: {from: peer, to: a, uri: {temp_gruu_of: f1}}")
    [case] = load_case_file(write(tmp_path, text))
    assert [s.options["uri"] for s in case.steps[1:]] == [
        {"pub_gruu_of": "f1"}, {"temp_gruu_of": "f1", "which": "first"}, {"temp_gruu_of": "f1"}]
    with pytest.raises(CaseError) as e:
        load_case_file(write(tmp_path, text.replace("which: first", "which: oldest")))
    assert "case.yaml:11: steps[2].invite.uri.which: expected latest or first" in str(e.value)


def test_a_status_without_its_clause_names_file_line_and_key(tmp_path):
    text = MINIMAL.replace("  - register: f1", "  - register: f1\n    expect: {status: 200}")
    with pytest.raises(CaseError) as e:
        load_case_file(write(tmp_path, text))
    msg = str(e.value)
    assert "status_ref" in msg and "case.yaml:10" in msg and "steps[0].expect.status" in msg
    # a preamble's status only decides inconclusive: it needs no clause
    load_case_file(write(tmp_path, text.replace("    expect:", "    preamble: true\n    expect:")))


def test_a_check_kind_without_a_usual_clause_needs_ref(tmp_path):
    text = MINIMAL.replace("  - register: f1", "  - register: f1\n    expect:\n      checks:\n"
                                              "        - header: {name: Path, present: true}")
    with pytest.raises(CaseError, match="no usual clause"):
        load_case_file(write(tmp_path, text))


def test_unclassified_needs_a_classify_step_and_a_known_capability(tmp_path):
    base = MINIMAL.replace("  - register: f1", "  - register: f1\n    unclassified: {level: MUST, ref: R, when: %s}")
    with pytest.raises(CaseError, match="no classify"):
        load_case_file(write(tmp_path, base % "outbound"))
    with pytest.raises(CaseError, match="unknown capability"):
        load_case_file(write(tmp_path, (base % "outbund") + "\n    classify:\n      - {name: x, description: y, checks: [{path: {ob: true}}]}"))
def test_the_robustness_and_limit_steps_load_and_name_their_flows(tmp_path):
    """race / storm / flow_limit (steps/race.py, storm.py, flow_limit.py): flows checked."""
    text = MINIMAL.replace("      f1: {address: 1}\n", "      f1: {address: 1, reg_id: 1}\n      f3: {address: 3, reg_id: 1}\n")
    steps = ("  - race: {flow: f1, with: f3}\n  - storm: {flow: f1, ues: 10}\n  - flow_limit: f1\n"
             "  - fetch: f1\n    expect: {checks: [{atomic: {flow: f3}}]}\n")
    [case] = load_case_text(text.replace("  - register: f1\n", steps))
    assert [s.action for s in case.steps] == ["race", "storm", "flow_limit", "fetch"]
    assert case.steps[0].options == {"with": "f3"} and case.steps[1].options == {"ues": 10}
    err = load_error(tmp_path, text.replace("  - register: f1\n", "  - race: {flow: f1, with: f9}\n"))
    assert "unknown with 'f9'" in str(err) or "f9" in str(err)
    err = load_error(tmp_path, text.replace("  - register: f1\n", "  - storm: {flow: f1, ues: 1000}\n"))
    assert "ues" in str(err)
