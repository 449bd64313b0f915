"""The order pytest-xdist hands out the test files (make test: -n 5 --dist loadfile).

xdist gives each worker a whole file at a time, by default the files with the most tests first;
the long files here have few tests (each runs whole suites), so they came last and one of them
finished the run alone.  Here the longest files go first, in the order below (seconds each took
in make test, 2026-12-07, this 2-core machine, after the shared suite runs of
tests/integration/suite_runner.py), then the others in collection order.  Without xdist the order
changes nothing but the sequence.
"""

from __future__ import annotations

LONGEST_FIRST = [
    "tests/integration/test_expected_verdicts.py",
    "tests/integration/test_expected_verdicts_2.py",
    "tests/integration/test_expected_fault_verdicts.py",
    "tests/integration/test_expected_fault_verdicts_2.py",
    "tests/integration/test_expected_fault_verdicts_3.py",
    "tests/analysis/test_case_roundtrip.py",
    "tests/integration/test_kamailio.py",
    "tests/integration/test_pcaps_tshark.py",
    "tests/integration/test_ci_examples.py",
    "tests/integration/test_exit_codes.py",
    "tests/integration/test_package.py",
    "tests/benchmarks/test_smoke.py",
    "tests/integration/test_plugin_cli.py",
    "tests/robustness/test_dead_and_interrupted.py",
    "tests/analysis/test_digest_rejudge.py",
    "tests/analysis/test_fast_paths.py",
    "tests/integration/test_reports_browser.py",
]


def pytest_configure(config):
    if hasattr(config.option, "loadscopereorder"):  # pytest-xdist: keep the order made below
        config.option.loadscopereorder = False


def pytest_collection_modifyitems(session, config, items):
    rank = {path: i for i, path in enumerate(LONGEST_FIRST)}

    def key(item):
        path = item.nodeid.split("::", 1)[0]
        return rank.get(path, len(rank))

    items.sort(key=key)  # stable: the others, and the tests inside a file, keep their order
