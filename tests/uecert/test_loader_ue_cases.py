"""UE case files (conformance.uecert.loader) and the target loader's ue: block: what loads, and
every error naming file, line and key."""

from __future__ import annotations

import pytest

from conformance.targets.loader import load_target
from conformance.uecert.loader import is_ue_case_file, load_ue_case_file, load_ue_case_text
from conformance.uecert.model import UeCheckSpec
from conformance.yamlio.errors import CaseError, TargetError

import uecert_fake_driver  # noqa: F401  - registers the test checks

CASE = """\
role: ue
id: UE-TST-002
title: a test case
purpose: loading
requires: [outbound, multi-flow]
transports: [tcp]
network:
  flow_timer: 5
  reject: {status: 503, retry_after: 2, count: 2}
script:
  - ue: start
  - ue: {add_flow: {address: 2}}
  - network: {close_flow: {flow: 1}}
  - await: {register: {count: 1, kind: refresh, within: 10}}
checks:
  - test_fake_supported_outbound: {}
  - test_fake_registers: {at_least: 2}
    level: SHOULD
    ref: RFC 5626 §4.2.1 (test)
"""


def _error(text: str) -> CaseError:
    with pytest.raises(CaseError) as e:
        load_ue_case_text(text, "u.yaml")
    return e.value


def test_a_case_loads_into_the_model(tmp_path):
    p = tmp_path / "u.yaml"
    p.write_text(CASE)
    assert is_ue_case_file(p)
    case = load_ue_case_file(p)
    assert (case.id, case.transports, case.requires) == ("UE-TST-002", ["tcp"], ["outbound", "multi-flow"])
    assert case.network.flow_timer == 5 and case.network.reject == {"status": 503, "retry_after": 2, "count": 2}
    assert [(a.actor, a.name, a.args) for a in case.script] == [
        ("ue", "start", {}), ("ue", "add_flow", {"address": 2}), ("network", "close_flow", {"flow": 1}),
        ("await", "register", {"count": 1, "kind": "refresh", "within": 10})]
    assert case.script[1].location.line == 12 and case.location.line == 2
    assert case.checks[1] == UeCheckSpec("test_fake_registers", {"at_least": 2}, "SHOULD", "RFC 5626 §4.2.1 (test)",
                                         case.checks[1].location)
    assert case.path == str(p) and not case.long


@pytest.mark.parametrize("change,line,key,words", [
    (("  - ue: {add_flow: {address: 2}}", "  - ue: {add_flo: {address: 2}}"), 12, "script[1].ue",
     "unknown ue action 'add_flo' (did you mean 'add_flow'?)"),
    (("  - test_fake_supported_outbound: {}", "  - no_such_check: {}"), 16, "checks[0].no_such_check",
     "unknown UE check 'no_such_check'"),
    (("requires: [outbound, multi-flow]", "requires: [outbund]"), 5, "requires[0]", "unknown UE capability 'outbund'"),
    (("  flow_timer: 5", "  flow_timr: 5"), 8, "network", "flow_timr"),
    (("id: UE-TST-002", "id: REG-1"), 2, "id", "UE-REG-001"),
    (("  - ue: start", "  - ue: start\n    await: time"), 11, "script[0]", ""),
    (("    level: SHOULD\n    ref: RFC 5626 §4.2.1 (test)\n", "    level: SHOULD\n"), 18, "checks[1].level",
     "give the ref:"),
])
def test_errors_name_file_line_and_key(change, line, key, words):
    err = _error(CASE.replace(*change))
    assert err.file == "u.yaml" and err.line == line and err.key.startswith(key), (err.line, err.key, str(err))
    assert words in str(err)


def test_one_case_per_file():
    err = _error(CASE + "---\n" + CASE)
    assert err.line == 21 and "one case" in err.message  # the second document starts there


def test_a_network_case_file_is_not_a_ue_case_file(tmp_path):
    from conformance.cases.loader import load_case_file

    p = tmp_path / "n.yaml"
    p.write_text(CASE)
    assert load_case_file(p) == []          # the network loader leaves UE cases alone
    p.write_text("id: REG-001\nsteps: []\n# role: ue\n")
    assert not is_ue_case_file(p)


TARGET = """\
name: ue-x
role: ue
host: 127.0.0.1
port: 0
transports: [udp, tcp]
capabilities: [outbound, crlf-keepalive]
ue:
  driver: reference
  fault: reg-id-reused
  timers: {base_time_all_failed: 1, base_time_not_all_failed: 3, max_time: 8}
"""


def _target_error(tmp_path, text) -> TargetError:
    p = tmp_path / "t.yaml"
    p.write_text(text)
    with pytest.raises(TargetError) as e:
        load_target(p)
    return e.value


def test_the_ue_block_loads(tmp_path):
    p = tmp_path / "t.yaml"
    p.write_text(TARGET)
    t = load_target(p)
    assert t.role == "ue" and t.ue.fault == "reg-id-reused" and t.ue.timers.max_time == 8
    assert t.ue.timers.base_time_not_all_failed == 3 and t.ue.timers.register_expires == 600


def test_the_shipped_ue_reference_target_loads():
    from suite_paths import ROOT

    t = load_target(ROOT / "targets" / "ue-reference.yaml")
    assert t.role == "ue" and t.ue.driver == "reference" and t.ue.timers.base_time_all_failed == 1
    assert {"outbound", "multi-flow", "move", "crlf-keepalive", "stun-keepalive"} <= set(t.capabilities)


@pytest.mark.parametrize("change,line,key,words", [
    (("  driver: reference", "  driver: referense"), 8, "ue.driver", "did you mean 'reference'"),
    (("capabilities: [outbound, crlf-keepalive]", "capabilities: [outbound, keepalive-crlf]"), 6,
     "capabilities[1]", "unknown UE capability 'keepalive-crlf'"),
    (("max_time: 8}", "max_time: 2}"), 10, "ue.timers.base_time_not_all_failed", "exceeds max_time"),
    (("  driver: reference", "  driver: baresip"), 9, "ue.fault", "driver baresip has none"),
    (("role: ue\n", "role: registrar\n"), 7, "ue", "role: ue"),
    (("ue:\n  driver: reference\n  fault: reg-id-reused\n  timers: {base_time_all_failed: 1, "
      "base_time_not_all_failed: 3, max_time: 8}\n", "embedded: {mode: rel8}\n"), 2, "role", "needs a ue: block"),
    (("  fault: reg-id-reused", "  fault: reg-id-reused\n  colour: red"), 10, "ue", "colour"),
])
def test_target_errors_name_file_line_and_key(tmp_path, change, line, key, words):
    assert change[0] in TARGET
    err = _target_error(tmp_path, TARGET.replace(*change))
    assert err.line == line and err.key.startswith(key), (err.line, err.key, str(err))
    assert words in str(err)
