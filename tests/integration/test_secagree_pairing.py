"""Which SA pair carries what towards the UE (TS 24.229 5.1.1.2.2; the seed paper's pairing).
Without outbound the reference answers where the UE's Via says: a UE that pairs classically
(Via with port_uc) gets its 200 over SA 2, from port_ps (AKA-PAIR, classified via-port); a
terminating request comes on the flow of TS 24.229 5.1.1.2.2 (AKA-005, classified flow).
Needs root (raw ESP)."""

from __future__ import annotations

import pytest

from conformance.ims.espio import esp_available
from suite_runner import ROOT, run_suite

REASON = esp_available()
pytestmark = pytest.mark.skipif(REASON is not None, reason=f"raw ESP sockets unavailable: {REASON}")


def _protected(case: dict) -> list[str]:
    return [f["observed"] for s in case["steps"] for f in s["findings"] if "protected" in f["check"]]


def test_a_classic_ue_gets_its_200_over_sa_2_and_the_delivery_is_classified(tmp_path):
    run = run_suite(tmp_path, "-k", "AKA-PAIR or AKA-005 and not AKA-005N", "testcases/secagree",
                    target=ROOT / "targets" / "reference-ims-rel8.yaml")
    assert run.results is not None, run.output[-3000:]
    assert run.verdicts() == {"AKA-PAIR[udp]": "pass", "AKA-005[udp]": "pass", "AKA-005[tcp]": "pass"}, \
        run.output[-3000:]
    pair = run.case("AKA-PAIR[udp]")
    assert pair["classification"] == "via-port"
    assert [o.split(" (SPI")[0] for o in _protected(pair)] == ["ESP SA 2"]
    for item in ("AKA-005[udp]", "AKA-005[tcp]"):
        assert run.case(item)["classification"] == "flow"
