"""Real UEs certified (issue 20): `conformance run --target targets/ue-<client>.yaml` (the suite
plays the network, the real client is started and driven by its driver) gives the verdicts checked
in under expected/ue-<client>.yaml; each expected fail says which RFC 5626 sentence the client
breaks.  baresip (Debian's baresip-core, over ctrl_tcp) and JsSIP (clients/jssip, Node, over ws).

Each is skipped, with the reason, when the client is not installed (scripts/install-clients.sh,
which `make test` runs, installs both).
"""

from __future__ import annotations

import pytest

from conformance.uecert.drivers.baresip import BaresipDriver
from conformance.uecert.drivers.jssip import JssipDriver
from conformance.uecert.model import UeProfile
from expected_tables import check_table
from suite_runner import ROOT

DRIVERS = {"baresip": BaresipDriver, "jssip": JssipDriver}
TABLES = {name: ROOT / "expected" / f"ue-{name}.yaml" for name in DRIVERS}
MISSING = {name: cls(UeProfile(driver=name), None).missing() for name, cls in DRIVERS.items()}


@pytest.mark.parametrize("client", sorted(DRIVERS))
def test_a_real_ue_earns_its_table(client, tmp_path_factory):
    if MISSING[client] is not None:
        pytest.skip(MISSING[client])
    check_table(TABLES[client], tmp_path_factory)


@pytest.mark.skipif(MISSING["baresip"] is not None, reason=MISSING["baresip"] or "")
def test_analyze_finds_the_same_ue_fault_in_baresips_capture(tmp_path_factory, tmp_path):
    """conformance analyze on the capture of a real client (the suite's pcap of UE-KA-001[tcp]):
    the offline UE checks name the keep-alive the live run failed, and the flow timeline shows it."""
    import json
    import subprocess
    import sys

    from expected_tables import load_table
    from suite_runner import shared_run

    target, _ = load_table(TABLES["baresip"])
    run = shared_run(tmp_path_factory, target=ROOT / target)
    [case] = [c for c in run.results["cases"] if c["id"] == "UE-KA-001[tcp]"]
    out = tmp_path / "a.json"
    proc = subprocess.run([sys.executable, "-m", "conformance", "analyze", case["pcap"], "--target",
                           str(ROOT / target), "--json", str(out)], capture_output=True, text=True, timeout=120,
                          cwd=ROOT)
    assert proc.returncode == 1, proc.stdout[-2000:] + proc.stderr[-2000:]
    [ue] = json.loads(out.read_text())["ue"]
    failed = {f["check"].split(" (")[0] for f in ue["findings"] if f["outcome"] == "fail"}
    assert "keep-alives at least as often as Flow-Timer" in failed, failed
    assert "flow 1 keep-alives: none (Flow-Timer 3 s)" in proc.stdout
