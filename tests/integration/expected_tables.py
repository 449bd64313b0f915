"""Expected verdict tables (expected/*.yaml) and the comparison of a suite run against one.

A table names its target and, per case item, the verdict, or for a fail a mapping with the
verdict, a substring of the case's reason (``reason_contains``) and ``why`` it fails. Used by
test_expected_verdicts.py (the reference CSCF profiles) and test_kamailio.py (Kamailio).
"""

from __future__ import annotations

from pathlib import Path

import yaml

from suite_runner import SuiteRun


def load_table(path: Path) -> tuple[str, dict[str, dict]]:
    """(target path relative to the project root, {item id: {verdict, reason_contains, why}})."""
    doc = yaml.safe_load(path.read_text())
    cases = {}
    for item, spec in doc["cases"].items():
        cases[item] = spec if isinstance(spec, dict) else {"verdict": spec}
    return doc["target"], cases


def assert_run_matches_table(run: SuiteRun, expected: dict[str, dict], table_name: str) -> None:
    """Every case run is in the table and vice versa, with the same verdict; every expected fail
    fails for the stated reason; the exit status is 0 exactly when every applicable case passed."""
    assert run.results is not None, run.output[-3000:]
    got = run.verdicts()
    assert set(got) == set(expected), (
        f"cases run and cases in {table_name} differ: "
        f"not in table {sorted(set(got) - set(expected))}, not run {sorted(set(expected) - set(got))}")
    wrong = {k: (expected[k]["verdict"], got[k]) for k in got if got[k] != expected[k]["verdict"]}
    assert not wrong, f"verdicts differ from {table_name} (expected, got): {wrong}\n" + \
        "\n".join(f"{k}: {run.case(k)['reason'][:300]}" for k in wrong)
    for item, spec in expected.items():
        if spec["verdict"] == "fail":
            assert spec.get("why"), f"{table_name}: expected fail {item} has no 'why'"
            assert spec.get("reason_contains"), f"{table_name}: expected fail {item} has no 'reason_contains'"
            reason = run.case(item)["reason"]
            assert spec["reason_contains"] in reason, f"{item}: {reason}"
    applicable_ok = all(v in ("pass", "not applicable") for v in got.values())
    assert (run.returncode == 0) == applicable_ok, f"exit {run.returncode}\n{run.output[-2000:]}"
