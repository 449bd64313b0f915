"""The suite discriminates: against the reference CSCF with each deliberate fault switched on
(tests/targets/fault-*.yaml, conformance/sut/config.py KNOWN_FAULTS), each case's verdict is the
one checked in under expected/fault-*.yaml, and every expected fail fails for the stated reason
(a fault no case fails says why in its table). The first half of the faults; the second half is
in test_expected_fault_verdicts_2.py: files apart from test_expected_verdicts.py so that
pytest-xdist (--dist loadfile) runs them beside each other."""

from __future__ import annotations

from pathlib import Path

import pytest

from expected_tables import check_table
from suite_runner import ROOT

ALL_FAULTS = sorted((ROOT / "expected").glob("fault-*.yaml"))
FAULTS = ALL_FAULTS[: len(ALL_FAULTS) // 2]


@pytest.mark.parametrize("expected_file", FAULTS, ids=[p.stem for p in FAULTS])
def test_fault_verdicts_match_the_checked_in_table(expected_file: Path, tmp_path: Path):
    check_table(expected_file, tmp_path)
