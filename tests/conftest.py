"""How the project's tests spread over pytest-xdist workers (`make test`: -n 3 --dist loadgroup;
most of a suite run waits on the network, so three workers share two cores well).

Each test file stays on one worker (its module fixtures, a wheel built once), as with --dist
loadfile, except the expected-verdict tables: each table is a whole suite run, and there are
some fifty, so they go one by one to whichever worker is free. What shares machine-wide state
keeps to one worker, one test after another: the Kamailio tests (fixed ports; the NAT profile
runs the same "registrar" instance inside a namespace) and everything that makes network
namespaces (tests/topology/, whose clean-up checks look at every namespace of the suite, and
the tables of the NAT and IPv6 targets).
"""

from __future__ import annotations

import pytest

TABLE_FILES = ("test_expected_verdicts.py", "test_expected_fault_verdicts.py")
SHARED_STATE = "kamailio-and-namespaces"


def _group(item) -> str | None:
    if item.path.name in TABLE_FILES:
        table = getattr(item, "callspec", None) and item.callspec.params.get("expected_file")
        if table is None:
            return item.path.name
        return SHARED_STATE if ("nat" in table.stem or "ipv6" in table.stem) else None
    if item.path.parent.name == "topology" or item.path.name == "test_kamailio.py":
        return SHARED_STATE
    return item.path.name


def pytest_collection_modifyitems(config, items):
    for item in items:
        group = _group(item)
        if group is not None:       # no group: any free worker
            item.add_marker(pytest.mark.xdist_group(group))
