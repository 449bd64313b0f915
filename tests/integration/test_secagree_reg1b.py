"""IMS Reg1b beside a second flow (TP_IMS_004): flow 2's binding and SA set are untouched and
nothing terminating goes to IP1.  The reference passes; with a registrar fault that keeps
routing to the replaced flow the terminating request reaches IP1 over its old SAs and AKA-003T
fails; with one SA set per UE the refresh over flow 2 is classified P2.  Needs root (raw ESP)."""

from __future__ import annotations

import pytest

from conformance.ims.espio import esp_available
from suite_runner import ROOT, run_suite

REASON = esp_available()
pytestmark = pytest.mark.skipif(REASON is not None, reason=f"raw ESP sockets unavailable: {REASON}")


def _target(tmp_path, fault: str):
    text = (ROOT / "targets" / "reference-ims-rel8.yaml").read_text()
    path = tmp_path / f"ims-{fault}.yaml"
    path.write_text(text.replace("  ims: true", f"  ims: true\n  faults: [{fault}]"))
    return path


def test_reg1b_beside_a_second_flow(tmp_path):
    ok = run_suite(tmp_path / "ok", "-k", "AKA-003 and udp", "testcases/secagree",
                   target=ROOT / "targets" / "reference-ims-rel8.yaml")
    assert ok.verdicts() == {"AKA-003[udp]": "pass", "AKA-003T[udp]": "pass"}, ok.output[-3000:]
    assert ok.case("AKA-003[udp]")["classification"] == "independent-sa-sets"

    bad = run_suite(tmp_path / "bad", "-k", "AKA-003T and udp", "testcases/secagree",
                    target=_target(tmp_path, "route-to-replaced-flow"))
    result = bad.case("AKA-003T[udp]")
    assert result["verdict"] == "fail" and "not delivered on flow f1" in result["reason"], result["reason"]

    p2 = run_suite(tmp_path / "p2", "-k", "AKA-003 and udp and not AKA-003T", "testcases/secagree",
                   target=_target(tmp_path, "one-sa-set-per-ue"))
    assert p2.case("AKA-003[udp]")["classification"] == "one-sa-set-per-ue", p2.output[-3000:]
