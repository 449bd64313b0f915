"""KA-002 behind a NAT the suite did not build: a NAT-like UDP relay on loopback in front of the
reference (tests/integration/udp_relay.py).  The STUN Binding response maps the flow to the
relay's socket, and the case compares it with what the SUT saw of the flow (the Via
received/rport of its 2xx), not with the UE's socket (RFC 5626 §8); a SUT that maps the flow
wrongly still fails."""

from __future__ import annotations

import sys
from pathlib import Path

from expected_tables import load_table
from suite_runner import ROOT, run_suite
from udp_relay import UdpRelay

from conformance.cases.loader import load_case_text
from conformance.engine.runner import CaseRun
from conformance.sut.config import SutConfig
from conformance.sut.server.reference import ReferenceCscf
from conformance.targets.loader import target_from_dict
from conformance.meaning.verdict import Verdict

TARGET = """\
name: reference-behind-relay
role: registrar
host: {host}
port: {port}
transports: [udp]
domain: ims.test
capabilities: {capabilities}
ue_addresses: [127.0.0.11, 127.0.0.12, 127.0.0.13]
"""


def test_through_a_relay_ka002_passes_and_every_udp_case_keeps_its_verdict(tmp_path: Path):
    _, rel8 = load_table(ROOT / "expected/reference-rel8.yaml")
    with ReferenceCscf(SutConfig()) as sut, UdpRelay(sut.address) as relay:
        target = tmp_path / "relay.yaml"
        import yaml

        caps = yaml.safe_load((ROOT / "targets/reference-rel8.yaml").read_text())["capabilities"]
        target.write_text(TARGET.format(host=relay.address[0], port=relay.address[1],
                                        capabilities="[" + ", ".join(caps) + "]"))
        run = run_suite(tmp_path, target=target)
        assert relay.mappings, "nothing went through the relay"
    assert run.results is not None, run.output[-3000:]
    got = run.verdicts()
    assert got["KA-002[udp]"] == "pass", run.case("KA-002[udp]")["reason"]
    udp = {k: v["verdict"] for k, v in rel8.items() if k.endswith("[udp]")}
    assert {k: got.get(k) for k in udp} == udp


def _ka002():
    cases = load_case_text((ROOT / "testcases/keepalive/keepalives.yaml").read_text())
    return next(c for c in cases if c.id == "KA-002")


def _target(address):
    return target_from_dict({"name": "relay", "host": address[0], "port": address[1],
                             "capabilities": ["outbound"],
                             "ue_addresses": ["127.0.0.21", "127.0.0.22", "127.0.0.23"],
                             "timers": {"t1": 0.1, "t2": 0.4, "response": 1.0, "connect": 1.0}})


def test_a_wrong_mapped_address_still_fails_behind_the_relay_and_without_it(tmp_path: Path):
    with ReferenceCscf(SutConfig(faults={"stun-unxored-port"})) as sut, UdpRelay(sut.address) as relay:
        behind = CaseRun(_ka002(), "udp", _target(relay.address), relay.address, pcap_dir=tmp_path).run()
        [mapping] = [relay.mapping_of(ue) for ue in relay.mappings]
        direct = CaseRun(_ka002(), "udp", _target(sut.address), sut.address, pcap_dir=tmp_path).run()
    assert behind.verdict == Verdict.FAIL and direct.verdict == Verdict.FAIL
    assert f"expected a Binding success response with XOR-MAPPED-ADDRESS {mapping[0]}:{mapping[1]}" in behind.reason
    assert f":{mapping[1] ^ 0x2112}" in behind.reason
