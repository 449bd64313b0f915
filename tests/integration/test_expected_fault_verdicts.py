"""The suite discriminates: against the reference CSCF with each deliberate fault switched on
(tests/targets/fault-*.yaml, conformance/sut/config.py KNOWN_FAULTS), each case's verdict is the
one checked in under expected/fault-*.yaml, and every expected fail fails for the stated reason
(a fault no case fails says why in its table). A third of the faults; the others are in
test_expected_fault_verdicts_2.py and _3.py: files apart from test_expected_verdicts.py so that
pytest-xdist (--dist loadfile) runs them beside each other (expected_tables.share)."""

from __future__ import annotations

from pathlib import Path

import pytest

from expected_tables import check_table, share
from suite_runner import ROOT

ALL_FAULTS = sorted((ROOT / "expected").glob("fault-*.yaml"))
FAULT_FILES = 3
FAULTS = share(ALL_FAULTS, 0, FAULT_FILES)


@pytest.mark.parametrize("expected_file", FAULTS, ids=[p.stem for p in FAULTS])
def test_fault_verdicts_match_the_checked_in_table(expected_file: Path, tmp_path_factory):
    check_table(expected_file, tmp_path_factory)
