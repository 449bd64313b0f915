"""Expected verdict tables (expected/*.yaml) and the comparison of a suite run against one.

The table format and the comparison live in conformance.baseline; this adds the assertions
the project's tests make. Used by test_expected_verdicts.py (the reference CSCF profiles) and
test_kamailio.py (Kamailio).
"""

from __future__ import annotations

from pathlib import Path

from conformance.baseline import compare, load_table as _load

from suite_runner import SuiteRun


def load_table(path: Path) -> tuple[str, dict[str, dict]]:
    """(target path relative to the project root, {item id: {verdict, reason_contains, why}})."""
    table = _load(path)
    return table.target, {k: vars(v) for k, v in table.cases.items()}


def assert_run_matches_table(run: SuiteRun, expected: dict[str, dict], table_name: str) -> None:
    """Every case run is in the table and vice versa, with the same verdict; every expected fail
    fails for the stated reason; the exit status is 0 exactly when every applicable case passed."""
    from conformance.baseline import Expected, Table

    assert run.results is not None, run.output[-3000:]
    table = Table(target="", cases={k: Expected(**v) for k, v in expected.items()})
    for item, e in table.cases.items():
        assert not e.why.startswith("TODO"), f"{table_name}: {item}: write why it fails"
    diffs = compare(table, run.results["cases"])
    assert not diffs, f"{table_name} differs from the run:\n" + "\n".join(map(str, diffs))
    got = run.verdicts()
    applicable_ok = all(v in ("pass", "not applicable") for v in got.values())
    assert (run.returncode == 0) == applicable_ok, f"exit {run.returncode}\n{run.output[-2000:]}"
