"""The topology plan as data, the target/case YAML that names it, and when cases apply (no root)."""

from __future__ import annotations

import pytest

from conformance.yamlio.errors import TargetError
from conformance.cases.loader import load_case_text
from conformance.engine.applicability import not_applicable_reason
from conformance.targets.loader import target_from_dict
from conformance.topology.model import PRESETS, TopologySpec, topology_from


def test_presets_and_features():
    assert set(PRESETS) >= {"nat-port-preserving", "nat-random-port", "nat-endpoint-dependent", "ipv6-only"}
    nat = topology_from("nat-udp-port-preserving")        # the alias of the wording
    assert nat.name == "nat-port-preserving"
    assert {"nat", "nat-port-preserving", "direct", "dual-stack"} <= nat.features()
    v6 = topology_from("ipv6-only")
    assert "ipv6-only" in v6.features() and "nat" not in v6.features()
    assert v6.ue_addresses()[0].startswith("2001:db8:")


@pytest.mark.parametrize("mode, stmt", [("port-preserving", "masquerade\n"),
                                        ("random-port", "masquerade to :20000-29999 random"),
                                        ("endpoint-dependent", "fully-random")])
def test_ruleset_per_mode(mode, stmt):
    rules = topology_from({"nat": mode}).ruleset("t")
    assert stmt in rules and "ct state invalid drop" in rules


def test_every_address_is_in_the_test_ranges():
    import ipaddress

    from conformance.topology.model import ALLOWED_NETS

    spec = topology_from({"preset": "nat-shared", "nat66": True})
    for _, _, cidr in spec.addresses():
        assert any(ipaddress.ip_address(cidr.split("/")[0]) in n for n in ALLOWED_NETS)


def test_inline_topology_errors():
    with pytest.raises(ValueError, match="unknown NAT mode"):
        topology_from({"nat": "cone"})
    with pytest.raises(ValueError, match="unknown topology"):
        topology_from("nat-cone")


def _target(**extra):
    data = {"name": "t", "port": 0, "embedded": {"mode": "rel8"}, "capabilities": ["outbound", "terminating"]}
    data.update(extra)
    return target_from_dict(data, source="fixture")


def test_target_topology_fills_addresses():
    t = _target(topology={"preset": "nat-port-preserving", "timeouts": {"udp": 3}})
    assert t.host == "198.18.2.2" and t.alt_host == "2001:db8:2::2"
    assert t.ue_addresses[:3] == ["198.18.1.2", "198.18.3.2", "2001:db8:1::2"]
    assert t.peer_address == "198.18.2.30" and t.topology.timeouts.udp == 3


def test_dual_stack_rule():
    # mixed families need alt_host in the other family
    with pytest.raises(TargetError, match="alt_host"):
        target_from_dict({"name": "t", "host": "127.0.0.1", "ue_addresses": ["127.0.0.2", "::1"]}, source="x")
    t = target_from_dict({"name": "t", "host": "127.0.0.1", "alt_host": "::1",
                          "ue_addresses": ["127.0.0.2", "::1"]}, source="x")
    assert t.alt_host == "::1"
    with pytest.raises(TargetError, match="other family"):
        target_from_dict({"name": "t", "host": "127.0.0.1", "alt_host": "127.0.0.2"}, source="x")
    with pytest.raises(TargetError, match="embedded"):
        target_from_dict({"name": "t", "topology": "nat-port-preserving"}, source="x")


CASE = """
id: NAT-X
title: t
purpose: p
references: ["RFC 5626 §3"]
requirements: [R3]
applies_to: [outbound]
topology: [nat, direct]
ues:
  a:
    flows:
      f1: {address: 1, reg_id: 1, port: 45000, site: 2}
steps:
  - register: f1
  - nat: rebind
  - register: f1
    expect:
      checks:
        - via_received: {}
        - nat_mapping: {flow: f1, changed: true}
          ref: "RFC 5626 §4.4.2 (the mapping changed)"
          level: MAY
"""


def test_case_topology_and_applicability():
    case = load_case_text(CASE, "x.yaml")[0]
    assert case.topology == ["nat", "direct"]
    assert case.ues["a"].flows["f1"].site == 2 and case.ues["a"].flows["f1"].port == 45000
    assert case.steps[1].action == "nat" and case.steps[1].options == {"do": "rebind"}
    plain = _target()
    assert "declares no network topology" in not_applicable_reason(case, "udp", plain)
    v6 = _target(topology="ipv6-only")
    assert "offers no nat" in not_applicable_reason(case, "udp", v6)
    assert not_applicable_reason(case, "udp", _target(topology="nat-port-preserving")) is None


def _resp(via: str):
    from conformance.sip.message import parse_message

    return parse_message(("SIP/2.0 200 OK\r\nVia: " + via + "\r\nCall-ID: x\r\nCSeq: 1 REGISTER\r\n"
                          "Content-Length: 0\r\n\r\n").encode())


def test_via_received_and_nat_mapping_checks():
    from conformance.meaning.checks import CheckContext
    from conformance.meaning.checks.nat import nat_mapping_check, via_received_check

    ctx = CheckContext(None, _resp("SIP/2.0/UDP 198.18.1.2:4000;branch=z9hG4bKx;received=198.18.2.1;rport=4000"))
    ctx.request_source = ("198.18.2.1", 4000)
    assert [o.ok for o in via_received_check({}, ctx)] == [True]
    ctx.request_source = ("198.18.2.3", 4000)
    assert [o.ok for o in via_received_check({}, ctx)] == [False]
    ctx = CheckContext(None, _resp("SIP/2.0/UDP [2001:db8:1::2]:4000;branch=z9hG4bKx;received=[2001:db8:1::2];rport=4000"))
    ctx.request_source = ("2001:db8:1::2", 4000)
    assert [o.ok for o in via_received_check({}, ctx)] == [True]
    ctx.mappings = {"f1": [("198.18.2.1", 1), ("198.18.2.3", 1)]}
    assert nat_mapping_check({"flow": "f1", "changed": True}, ctx)[0].ok is True
    assert nat_mapping_check({"flow": "f1", "changed": False}, ctx)[0].ok is False
    assert nat_mapping_check({"flow": "f2", "changed": False}, ctx)[0].ok is None
