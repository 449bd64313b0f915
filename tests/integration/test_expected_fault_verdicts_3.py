"""Part 3 of the deliberate-fault tables (see test_expected_fault_verdicts.py)."""

from __future__ import annotations

from pathlib import Path

import pytest

from expected_tables import check_table, share
from test_expected_fault_verdicts import ALL_FAULTS, FAULT_FILES

FAULTS = share(ALL_FAULTS, 2, FAULT_FILES)


@pytest.mark.parametrize("expected_file", FAULTS, ids=[p.stem for p in FAULTS])
def test_fault_verdicts_match_the_checked_in_table(expected_file: Path, tmp_path_factory):
    check_table(expected_file, tmp_path_factory)
