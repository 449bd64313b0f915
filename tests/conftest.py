"""How the project's tests spread over pytest-xdist workers (`make test`: -n 3 --dist loadgroup;
most of a suite run waits on the network, so three workers share two cores well).

Each test file stays on one worker (its module fixtures, a Kamailio on fixed ports, a wheel
built once), as with --dist loadfile, except the expected-verdict tables: each table is a whole
suite run, and there are some fifty, so they go one by one to whichever worker is free. The
tables whose target has a network-namespace topology keep to one worker, one after another, as
they did inside their file.
"""

from __future__ import annotations

import pytest

TABLE_FILES = ("test_expected_verdicts.py", "test_expected_fault_verdicts.py")


def pytest_collection_modifyitems(config, items):
    for item in items:
        if item.path.name in TABLE_FILES:
            table = getattr(item, "callspec", None) and item.callspec.params.get("expected_file")
            if table is not None and "nat" not in table.stem and "ipv6" not in table.stem:
                continue    # no group: any free worker
            group = "netns-tables" if table is not None else item.path.name
        else:
            group = item.path.name
        item.add_marker(pytest.mark.xdist_group(group))
