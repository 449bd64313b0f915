"""Expected verdict tables (expected/*.yaml) and the comparison of a suite run against one.

The table format and the comparison live in conformance.baseline; this adds the assertions
the project's tests make. Used by test_expected_verdicts.py (the reference CSCF profiles),
test_expected_fault_verdicts.py (the reference with each deliberate fault) and
test_kamailio.py (Kamailio).
"""

from __future__ import annotations

from functools import lru_cache
from pathlib import Path

from conformance.baseline import compare, load_table as _load

from suite_runner import ROOT, SuiteRun

# what `conformance run` judges without --target (conformance/plugin/hooks.py)
DEFAULT_TARGET = (ROOT / "targets" / "reference-rel8.yaml").resolve()


def load_table(path: Path) -> tuple[str, dict[str, dict]]:
    """(target path relative to the project root, {item id: {verdict, reason_contains, why}})."""
    table = _load(path)
    return table.target, {k: vars(v) for k, v in table.cases.items()}


# seconds each table's test took in make test (2026-12-07, this 2-core machine, 5 workers): what
# share() balances; a table not listed weighs a second per 6 cases that run
SECONDS = {
    "reference-nat": 157, "reference-tls-ws": 138, "fault-ws-route-by-contact": 58, "fault-wrong-terminating-port": 51,
    "reference-core-tls-ws": 46, "fault-tls-flow-survives-close": 44, "fault-one-sa-set-per-ue": 43,
    "reference-rel8": 40, "fault-no-crlf-pong": 33, "fault-ignore-security-verify": 32, "fault-no-stun": 31,
    "reference-ims-rel8": 31, "fault-no-flow-grace": 30, "reference-core-flowtimer": 28, "fault-accept-bad-icv": 27,
    "reference-outbound-only": 24, "reference-auth": 22, "reference-ims-nat": 22, "fault-notify-only-newest": 22,
}


@lru_cache(maxsize=None)
def weight(path: Path) -> int:
    """SECONDS, or a second per 6 cases that run.  Read at collection, in every xdist worker and
    for each file that shares the tables: remembered, and read with libyaml (the pure-Python
    reader of all ~70 tables was half of each worker's collection, ~8 s of CPU)."""
    if path.stem in SECONDS:
        return SECONDS[path.stem]
    import yaml

    doc = yaml.load(path.read_text(encoding="utf-8"), Loader=getattr(yaml, "CSafeLoader", yaml.SafeLoader))
    verdicts = (spec if isinstance(spec, str) else spec.get("verdict") for spec in doc["cases"].values())
    return sum(v != "not applicable" for v in verdicts) // 6


def share(tables: list[Path], part: int, parts: int) -> list[Path]:
    """The tables of one of ``parts`` test files (pytest-xdist --dist loadfile runs each file on
    one worker): longest first to the file with the least work so far (SECONDS)."""
    loads, mine = [0] * parts, []
    for path in sorted(tables, key=lambda t: (-weight(t), t.name)):
        k = loads.index(min(loads))
        loads[k] += weight(path)
        if k == part:
            mine.append(path)
    return sorted(mine)


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


def check_table(expected_file: Path, tmp_path_factory) -> None:
    """Run the suite against the table's target and compare (a table whose target has a network
    topology is skipped, with the reason, where namespaces cannot be made).  The run is the
    session's shared one (suite_runner.shared_run): other tests judge the same run.  The default
    target's table (reference-rel8) is compared with the run without --target, which must have
    judged that profile."""
    import pytest

    from suite_runner import ROOT, shared_run

    target, expected = load_table(expected_file)
    if "\ntopology:" in (ROOT / target).read_text():
        # network-namespace topologies (docs/topologies.md) need root, nftables and conntrack
        from conformance.topology.netns import unavailable_reason

        reason = unavailable_reason()
        if reason:
            pytest.skip(f"{target}: {reason}")
    if (ROOT / target).resolve() == DEFAULT_TARGET:
        run = shared_run(tmp_path_factory)
        assert run.results is not None, run.output[-3000:]
        assert Path(run.results["meta"]["target"]["path"]).resolve() == DEFAULT_TARGET, run.results["meta"]
    else:
        run = shared_run(tmp_path_factory, target=ROOT / target)
    assert_run_matches_table(run, expected, expected_file.name)
