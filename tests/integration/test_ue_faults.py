"""The UE checks discriminate (issue 20): the reference UE with each deliberate fault switched on
(tests/targets/ue-fault-*.yaml, conformance.uecert.refue.FAULTS) gets the verdicts checked in
under expected/ue-fault-*.yaml, each expected fail for its stated reason (the check naming the
header or timing the fault breaks).

A fault table lists the UE cases it runs: the ones whose checks the fault breaks, and UE-REG-001
(first registration) which every fault but no-supported-outbound passes, showing each fault
breaks one rule.  The test runs exactly the case files of the table's ids, so the table and the
run are compared item by item (a case the fault should fail that passed, or an item in one and
not the other, is a difference).  The whole UE suite against the conformant reference UE is
test_ue_reference.py.
"""

from __future__ import annotations

import re
from pathlib import Path

import pytest

from expected_tables import assert_run_matches_table, load_table
from suite_runner import ROOT, run_suite

TABLES = sorted((ROOT / "expected").glob("ue-fault-*.yaml"))
UE_CASES = ROOT / "testcases" / "ue"


def _case_files(item_ids) -> list[Path]:
    """The UE case files defining the table's case ids (each id must have one)."""
    by_id = {}
    for path in sorted(UE_CASES.glob("*.yaml")):
        m = re.search(r"^id:\s*(\S+)", path.read_text(encoding="utf-8"), re.M)
        if m:
            by_id[m.group(1)] = path
    ids = sorted({i.split("[", 1)[0] for i in item_ids})
    missing = [i for i in ids if i not in by_id]
    assert not missing, f"no UE case file defines {missing}"
    return [by_id[i] for i in ids]


def test_every_reference_ue_fault_has_a_table():
    from conformance.uecert.refue import FAULTS

    assert {p.stem[len("ue-fault-"):] for p in TABLES} == set(FAULTS)


@pytest.mark.parametrize("table", TABLES, ids=[p.stem for p in TABLES])
def test_ue_fault_verdicts_match_the_checked_in_table(table: Path, tmp_path: Path):
    target, expected = load_table(table)
    assert any(e["verdict"] == "fail" for e in expected.values()), f"{table.name}: the fault is caught by no case"
    files = [str(p.relative_to(ROOT)) for p in _case_files(expected)]
    run = run_suite(tmp_path, *files, target=ROOT / target, timeout=300)
    assert_run_matches_table(run, expected, table.name)
