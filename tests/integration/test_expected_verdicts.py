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
import yaml

from suite_runner import ROOT, run_suite

EXPECTED = sorted((ROOT / "expected").glob("*.yaml"))
NON_KAMAILIO = [p for p in EXPECTED if not p.name.startswith("kamailio")]


def _expected(path: Path) -> tuple[str, dict[str, dict]]:
    doc = yaml.safe_load(path.read_text())
    cases = {}
    for item, spec in doc["cases"].items():
        cases[item] = spec if isinstance(spec, dict) else {"verdict": spec}
    return doc["target"], cases


@pytest.mark.parametrize("expected_file", NON_KAMAILIO, ids=[p.stem for p in NON_KAMAILIO])
def test_verdicts_match_the_checked_in_table(expected_file: Path, tmp_path: Path):
    target, expected = _expected(expected_file)
    run = run_suite(tmp_path, target=ROOT / target)
    assert run.results is not None, run.output[-3000:]
    got = run.verdicts()
    assert set(got) == set(expected), (
        f"cases run and cases in {expected_file.name} differ: "
        f"not in table {sorted(set(got) - set(expected))}, not run {sorted(set(expected) - set(got))}")
    wrong = {k: (expected[k]["verdict"], got[k]) for k in got if got[k] != expected[k]["verdict"]}
    assert not wrong, f"verdicts differ from {expected_file.name} (expected, got): {wrong}\n" + \
        "\n".join(f"{k}: {run.case(k)['reason'][:300]}" for k in wrong)
    for item, spec in expected.items():
        if spec["verdict"] == "fail":
            assert spec.get("why"), f"{expected_file.name}: expected fail {item} has no 'why'"
            reason = run.case(item)["reason"]
            assert spec["reason_contains"] in reason, f"{item}: {reason}"
    applicable_ok = all(v in ("pass", "not applicable") for v in got.values())
    assert (run.returncode == 0) == applicable_ok, f"exit {run.returncode}\n{run.output[-2000:]}"


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
