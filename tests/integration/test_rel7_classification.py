"""REG-030 (P1) against the reference registrar in its three modes: the class is recorded; it
fails only where the target declares outbound and the SUT behaves otherwise (declared vs
observed).  A plain RFC 3261 registrar (no outbound: two Contact URIs, two bindings, no Require)
is classified, never failed, unless it claims outbound."""

from __future__ import annotations

from pathlib import Path

import pytest

from suite_runner import run_suite

TARGET = """\
name: {name}
description: reference registrar, mode {mode}
role: registrar
host: 127.0.0.1
port: 0
transports: [udp]
domain: ims.test
capabilities: {caps}
ue_addresses: [127.0.0.11, 127.0.0.12, 127.0.0.13]
embedded:
  mode: {mode}
"""


@pytest.mark.parametrize("mode, caps, verdict, cls", [
    ("rfc3261", "[path, terminating]", "pass", "plain-3261"),
    ("rfc3261", "[outbound, path, terminating]", "fail", "plain-3261"),
    ("rel7", "[path, terminating]", "pass", "legacy"),
    ("rel8", "[outbound, path, terminating]", "pass", "outbound"),
])
def test_reg030_declared_vs_observed(tmp_path: Path, mode, caps, verdict, cls):
    target = tmp_path / "target.yaml"
    target.write_text(TARGET.format(name=f"ref-{mode}", mode=mode, caps=caps))
    run = run_suite(tmp_path, "-k", "REG-030", "testcases/registrar/rel7-peer.yaml", target=target)
    assert run.results is not None, run.output[-3000:]
    result = run.case("REG-030[udp]")
    assert (result["verdict"], result["classification"]) == (verdict, cls), result["reason"]
    if verdict == "fail":
        [bad] = [f for s in result["steps"] for f in s["findings"] if f["outcome"] == "fail"]
        assert bad["ref"] == "RFC 5626 §6 ¶8" and "MUST include the outbound option-tag" in bad["quote"]
