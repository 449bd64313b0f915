"""make test's order of the test files (tests/long_files.py): the long ones first, longest first,
then the others by their number of tests; each file's tests keep their order."""

from long_files import SECONDS, longest_first


def test_long_files_first_then_most_tests_and_each_file_in_its_order():
    long_a, long_b = sorted(SECONDS, key=SECONDS.get)[-2:]  # long_b the longest
    ids = ["x.py::1", f"{long_a}::1", "y.py::1", "y.py::2", f"{long_b}::1", f"{long_a}::2", "x.py::2", "y.py::3"]
    order = [ids[k] for k in longest_first(ids)]
    assert order == [f"{long_b}::1", f"{long_a}::1", f"{long_a}::2", "y.py::1", "y.py::2", "y.py::3",
                     "x.py::1", "x.py::2"]
