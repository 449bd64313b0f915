"""Every UE check is graded by the sentence it enforces, and the UE case files use them so.

Each registered check's ref names clauses of conformance/catalogue/clauses/ (their sentence
verbatim, checked by tests/cases/test_clause_keywords.py) and its level is the one their keyword
gives; every testcases/ue/*.yaml names registered checks (a level override with a ref of that
level), catalogue test purposes and known actions, and stays within a few seconds unless long."""

from pathlib import Path

import pytest
import yaml

from conformance.catalogue import load_catalogue
from conformance.catalogue.clauses import level_of_refs, load_clauses
from conformance.uecert.checks import load_all
from conformance.uecert.model import ACTIONS

ROOT = Path(__file__).resolve().parents[2]
UE_CASES = sorted((ROOT / "testcases" / "ue").glob("*.yaml"))
# the project's checks (tests register fake ones in the same registry, e.g. uecert_fake_driver)
CHECKS = {n: c for n, c in load_all().items() if c.fn.__module__.startswith("conformance.uecert.checks.")}
# the contract's check names (BRIEF20): each registered
CONTRACT = ("instance_urn instance_stable supported_outbound supported_path reg_id_present reg_id_distinct "
            "call_id_per_flow refresh_same_flow star_no_instance no_outbound_one_flow on_439 dialog_ob "
            "keepalive_sent keepalive_interval pong_timeout_fails stun_change_fails recovery_same_reg_id "
            "recovery_backoff move_same_reg_id add_flow_new_reg_id secagree_offer secagree_verify_mirror "
            "secagree_ports").split()
# each reference-UE fault and the checks that catch it (tests/uecert/test_checks_* show each fails)
FAULTS = {"reg-id-reused": {"reg_id_distinct", "add_flow_new_reg_id"},
          "instance-changes": {"instance_stable"},
          "keepalive-too-slow": {"keepalive_interval"},
          "no-backoff": {"recovery_backoff"},
          "new-reg-id-after-failure": {"recovery_same_reg_id"},
          "no-supported-outbound": {"supported_outbound"}}
SHORT_CASE_SECONDS = 25  # the await bounds of a case in make test (a conformant UE ends them early;
# UE-KA-003 waits out the RFC's fixed 10 s pong timeout)


def test_the_contract_names_are_registered():
    assert set(CONTRACT) <= set(CHECKS)


@pytest.mark.parametrize("name", sorted(CHECKS))
def test_each_check_is_graded_by_its_clauses(name):
    check = CHECKS[name]
    assert level_of_refs(check.ref, load_clauses()) == check.level, check.ref
    assert check.summary and check.needs, name


def load(path):
    data = yaml.safe_load(path.read_text(encoding="utf-8"))
    assert data.get("role") == "ue", path
    return data


def test_there_are_ue_cases_with_unique_ids():
    ids = [load(p)["id"] for p in UE_CASES]
    assert len(ids) >= 15 and len(ids) == len(set(ids))


@pytest.mark.parametrize("path", UE_CASES, ids=lambda p: p.name)
def test_each_case_uses_known_checks_actions_and_test_purposes(path):
    data = load(path)
    known_tps = {tp["id"] for tp in load_catalogue()}
    assert data["test_purposes"] and set(data["test_purposes"]) <= known_tps
    for item in data["checks"]:
        (name,) = [k for k in item if k not in ("level", "ref")]
        assert name in CHECKS, name
        if "level" in item:
            assert level_of_refs(item["ref"], load_clauses()) == item["level"], item
    waited = 0.0
    for line in data["script"]:
        ((actor, value),) = line.items()
        action, args = (value, {}) if isinstance(value, str) else next(iter(value.items()))
        assert action in ACTIONS[actor], (actor, action)
        if actor == "await":
            waited += float((args or {}).get("within", (args or {}).get("seconds", 10)))
    if not data.get("long"):
        assert waited <= SHORT_CASE_SECONDS, f"{path.name}: awaits up to {waited} s; mark it long: true"


def test_each_fault_is_judged_by_a_case_in_make_test():
    used = {next(k for k in item if k not in ("level", "ref"))
            for p in UE_CASES if not load(p).get("long") for item in load(p)["checks"]}
    for fault, checks in FAULTS.items():
        assert checks & used, fault


def test_docs_ue_checks_has_one_row_per_check_with_its_level():
    rows = [line for line in (ROOT / "docs" / "ue-checks.md").read_text(encoding="utf-8").splitlines()
            if line.startswith("| `")]
    table = {row.split("`")[1]: [c.strip() for c in row.split("|")] for row in rows}
    assert set(CHECKS) <= set(table)
    for name, check in CHECKS.items():
        assert table[name][3] == check.level, name
