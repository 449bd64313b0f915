"""After a failed challenge the UE's new Security-Client carries "new values for spi_uc, spi_us
and port_uc" (TS 24.229 5.1.1.5.1): a new protected client port, new SPIs, the same protected
server port; the protected REGISTER then leaves from the new port_uc.  Needs root (raw ESP)."""

from __future__ import annotations

import pytest

from conformance.ims.espio import esp_available
from conformance.ims.secagree import parse_ipsec
from conformance.sip.message import parse_message
from suite_runner import ROOT, run_suite

REASON = esp_available()
pytestmark = pytest.mark.skipif(REASON is not None, reason=f"raw ESP sockets unavailable: {REASON}")


def _registers(case: dict) -> list[tuple[tuple, object]]:
    out = []
    for m in case["messages"]:
        if m["direction"] == "sent" and m["summary"].startswith("REGISTER"):
            msg = parse_message(m["text"].encode())
            out.append((tuple(m["src"]), parse_ipsec(msg.values("Security-Client"))[0]))
    return out


def test_a_failed_challenge_brings_a_new_port_uc_and_new_spis(tmp_path):
    run = run_suite(tmp_path, "-k", "AKA-007 or AKA-008", "testcases/secagree",
                    target=ROOT / "targets" / "reference-ims-rel8.yaml")
    assert run.results is not None, run.output[-3000:]
    assert run.verdicts() == {"AKA-007[udp]": "pass", "AKA-008[udp]": "pass"}, run.output[-3000:]
    # AKA-007: MAC failure; AKA-008: SQN failure, then the protected REGISTER
    for item in ("AKA-007[udp]", "AKA-008[udp]"):
        regs = _registers(run.case(item))
        (_, first), (_, second) = regs[:2]
        assert second.port_c != first.port_c
        assert {second.spi_c, second.spi_s}.isdisjoint({first.spi_c, first.spi_s})
        assert second.port_s == first.port_s
    protected_src, client = _registers(run.case("AKA-008[udp]"))[2]
    assert protected_src[1] == client.port_c          # from the renewed port_uc
