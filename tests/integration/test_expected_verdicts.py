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

from expected_tables import assert_run_matches_table, load_table
from suite_runner import ROOT, run_suite

EXPECTED = sorted((ROOT / "expected").glob("*.yaml"))
NON_KAMAILIO = [p for p in EXPECTED if not p.name.startswith("kamailio")]  # test_kamailio.py runs those


@pytest.mark.parametrize("expected_file", NON_KAMAILIO, ids=[p.stem for p in NON_KAMAILIO])
def test_verdicts_match_the_checked_in_table(expected_file: Path, tmp_path: Path):
    target, expected = load_table(expected_file)
    if "\ntopology:" in (ROOT / target).read_text():
        # network-namespace topologies (docs/topologies.md) need root, nftables and conntrack
        from conformance.topology.netns import unavailable_reason

        reason = unavailable_reason()
        if reason:
            pytest.skip(f"{target}: {reason}")
    run = run_suite(tmp_path, target=ROOT / target)
    assert_run_matches_table(run, expected, expected_file.name)


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
