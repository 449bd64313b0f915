"""The suite discriminates: against every SUT profile we test, each case's verdict is the one
checked in under expected/, and every expected fail fails for the stated reason.

Profiles: the reference CSCF in rel8 mode (all pass), in rel7 mode (outbound cases not
applicable; declared as outbound they fail), and the rel8 reference with one deliberate fault
each (omitted Require, replace on new reg-id, only the newest binding listed, old contact kept
on Reg1b, no 439, Require without Supported).
"""

from __future__ import annotations

from pathlib import Path

import pytest

from expected_tables import check_table, share
from suite_runner import ROOT, run_suite

EXPECTED = sorted((ROOT / "expected").glob("*.yaml"))
# test_kamailio.py runs the Kamailio tables, test_expected_fault_verdicts*.py the deliberate faults
# (files of their own, so that pytest-xdist --dist loadfile runs them beside this one); half the
# profiles are in test_expected_verdicts_2.py (expected_tables.share); the UE tables (ue-*, role
# ue targets) run in test_ue_*.py
ALL_PROFILES = [p for p in EXPECTED if not p.name.startswith(("kamailio", "fault-", "ue-"))]
PROFILES = share(ALL_PROFILES, 0, 2)


@pytest.mark.parametrize("expected_file", PROFILES, ids=[p.stem for p in PROFILES])
def test_verdicts_match_the_checked_in_table(expected_file: Path, tmp_path_factory):
    check_table(expected_file, tmp_path_factory)


def test_fault_reasons_name_expected_and_observed_values(tmp_path: Path):
    run = run_suite(tmp_path, "-k", "REG-001", target=ROOT / "tests/targets/fault-omit-require-outbound.yaml")
    case = run.case("REG-001[udp]")
    assert case["verdict"] == "fail"
    finding = next(f for s in case["steps"] for f in s["findings"] if f["outcome"] == "fail")
    assert finding["expected"] == "Require: outbound"
    assert finding["observed"] == "no Require header"
    assert finding["level"] == "MUST" and finding["ref"] == "RFC 5626 §6 ¶8"
    # the console names the failing check too
    assert "Require has outbound" in run.output and "expected: Require: outbound" in run.output


def test_a_failed_delivery_check_points_at_the_misrouted_request(tmp_path: Path):
    """The finding's message (what the ladder marks) is the request that reached the wrong flow,
    not the PEER's final response."""
    run = run_suite(tmp_path, "-k", "TERM-002", target=ROOT / "tests/targets/fault-route-to-replaced-flow.yaml")
    case = run.case("TERM-002[udp]")
    failed = [f for s in case["steps"] for f in s["findings"] if f["outcome"] == "fail"]
    assert {f["check"] for f in failed} >= {"delivered on flow f3", "not delivered on flow f1"}
    for f in failed:
        msg = case["messages"][f["message_index"]]
        assert msg["direction"] == "received" and msg["flow"] == "f1"
        assert msg["summary"].startswith("MESSAGE ")
