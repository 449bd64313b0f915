"""Expected verdict tables (expected/*.yaml) and the comparison of a suite run against one.

The table format and the comparison live in conformance.baseline; this adds the assertions
the project's tests make. Used by test_expected_verdicts.py (the reference CSCF profiles),
test_expected_fault_verdicts.py (the reference with each deliberate fault) and
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


def check_table(expected_file: Path, tmp_path: Path) -> None:
    """Run the suite against the table's target and compare (a table whose target has a network
    topology is skipped, with the reason, where namespaces cannot be made)."""
    import pytest

    from suite_runner import ROOT, run_suite

    target, expected = load_table(expected_file)
    if "\ntopology:" in (ROOT / target).read_text():
        # network-namespace topologies (docs/topologies.md) need root, nftables and conntrack
        from conformance.topology.netns import unavailable_reason

        reason = unavailable_reason()
        if reason:
            pytest.skip(f"{target}: {reason}")
    run = run_suite(tmp_path, target=ROOT / target)
    assert_run_matches_table(run, expected, expected_file.name)
