"""The other half of the SUT profiles' tables (see test_expected_verdicts.py)."""

from __future__ import annotations

from pathlib import Path

import pytest

from expected_tables import check_table, share
from test_expected_verdicts import ALL_PROFILES

PROFILES = share(ALL_PROFILES, 1, 2)


@pytest.mark.parametrize("expected_file", PROFILES, ids=[p.stem for p in PROFILES])
def test_verdicts_match_the_checked_in_table(expected_file: Path, tmp_path_factory):
    check_table(expected_file, tmp_path_factory)
