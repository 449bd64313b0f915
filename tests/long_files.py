"""The test files that take longest in make test, started first (tests/conftest.py orders them).

pytest-xdist's --dist loadfile gives each worker a whole file at a time, in the order of the
collection (with --no-loadscope-reorder; by default it orders files by their number of tests).
A long file that starts late runs alone at the end: longest first, the workers finish together.
Seconds of wall time each file took in make test (2026-12-07 evening, this 2-core machine, 5
workers, 282d813, load average 3.6-7.4): only their order matters.  A file not listed starts
after these, most tests first.  Replayed as a list schedule, three runs' per-test times give
746, 887 and 1,433 s in this order against 817, 923 and 1,470 s in xdist's (most tests first).
"""

SECONDS = {
    "tests/integration/test_expected_fault_verdicts_3.py": 350,
    "tests/integration/test_expected_fault_verdicts.py": 332,
    "tests/integration/test_expected_fault_verdicts_2.py": 329,
    "tests/integration/test_kamailio.py": 304,
    "tests/integration/test_expected_verdicts.py": 304,
    "tests/integration/test_expected_verdicts_2.py": 272,
    "tests/integration/test_package.py": 239,
    "tests/analysis/test_case_roundtrip.py": 226,
    "tests/analysis/test_fast_paths.py": 219,
    "tests/integration/test_exit_codes.py": 198,
    "tests/integration/test_ue_real_clients.py": 152,
    "tests/integration/test_ue_faults.py": 124,
    "tests/integration/test_ci_examples.py": 121,
    "tests/integration/test_pcaps_tshark.py": 108,
    "tests/integration/test_ue_reference.py": 94,
    "tests/robustness/test_dead_and_interrupted.py": 80,  # 60-80 s on one worker at 7077a5c (the tail then)
    "tests/robustness/test_reference_robustness.py": 74,
    "tests/integration/test_plugin_cli.py": 66,
    "tests/benchmarks/test_smoke.py": 62,
    "tests/integration/test_secagree_tcp.py": 56,
    "tests/integration/test_case_collection.py": 49,
    "tests/analysis/test_tshark_agreement.py": 43,
}


def longest_first(nodeids: list[str]) -> list[int]:
    """The positions of ``nodeids`` in run order: files in SECONDS longest first, then the others
    by their number of tests (what xdist's own reordering does), each file's tests in their order."""
    files = [n.split("::", 1)[0] for n in nodeids]
    count: dict[str, int] = {}
    first: dict[str, int] = {}
    for k, f in enumerate(files):
        count[f] = count.get(f, 0) + 1
        first.setdefault(f, k)

    def key(k: int):
        f = files[k]
        return (0, -SECONDS[f], first[f]) if f in SECONDS else (1, -count[f], first[f])

    return sorted(range(len(nodeids)), key=key)
