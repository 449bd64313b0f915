"""UE certification end to end (issue 20): ``conformance run --target targets/ue-reference.yaml``
(the suite plays the network, the reference UE is judged) gives the verdicts of
expected/ue-reference.yaml, with a certificate that says the UE is certified, JUnit and pcaps.

The deliberate UE faults are judged in test_ue_faults.py.
"""

from __future__ import annotations

import json
from pathlib import Path


from expected_tables import check_table, load_table
from suite_runner import ROOT, shared_run

TABLE = ROOT / "expected" / "ue-reference.yaml"


def test_the_reference_ue_earns_its_table(tmp_path_factory):
    check_table(TABLE, tmp_path_factory)
    target, _ = load_table(TABLE)
    run = shared_run(tmp_path_factory, target=ROOT / target)  # the run the table was compared with
    reports = run.reports
    results = json.loads((reports / "results.json").read_text())
    assert results["meta"]["target"]["role"] == "ue"
    if all(c["verdict"] in ("pass", "not applicable") for c in results["cases"]):
        assert "is certified" in (reports / "certificate.html").read_text()
    assert "testcase" in (reports / "junit.xml").read_text()
    ran = [c for c in results["cases"] if c["verdict"] != "not applicable"]
    assert ran and all(c["pcap"] and Path(c["pcap"]).exists() for c in ran)
