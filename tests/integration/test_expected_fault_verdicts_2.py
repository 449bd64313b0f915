"""The second half of the deliberate-fault tables (see test_expected_fault_verdicts.py)."""

from __future__ import annotations

from pathlib import Path

import pytest

from expected_tables import check_table
from test_expected_fault_verdicts import ALL_FAULTS

FAULTS = ALL_FAULTS[len(ALL_FAULTS) // 2:]


@pytest.mark.parametrize("expected_file", FAULTS, ids=[p.stem for p in FAULTS])
def test_fault_verdicts_match_the_checked_in_table(expected_file: Path, tmp_path: Path):
    check_table(expected_file, tmp_path)
