"""A real UE certified (issue 20): `conformance run --target targets/ue-jssip.yaml` (the suite plays
the network, the real client is started and driven by its driver) gives the verdicts checked in
under expected/ue-jssip.yaml; each expected fail says which RFC 5626 sentence the client breaks.

Skipped, with the reason, when the client is not installed (scripts/install-clients.sh, which
`make test` runs, installs it).
"""

from __future__ import annotations

import pytest

from conformance.uecert.drivers.jssip import JssipDriver
from conformance.uecert.model import UeProfile
from expected_tables import check_table
from suite_runner import ROOT

TABLE = ROOT / "expected" / "ue-jssip.yaml"
_missing = JssipDriver(UeProfile(driver="jssip"), None).missing()


@pytest.mark.skipif(_missing is not None, reason=_missing or "")
def test_jssip_earns_its_table(tmp_path_factory):
    check_table(TABLE, tmp_path_factory)
