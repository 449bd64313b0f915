"""Without a TUN device the sec-agree [tcp] items are not applicable, with the reason; UDP items
and cases without sec-agree are not affected (no root needed: the gateway is faked away)."""

from __future__ import annotations

from pathlib import Path

import pytest

from conformance.cases.loader import load_case_file
from conformance.engine import esptcp
from conformance.engine.applicability import not_applicable_reason
from conformance.ims import tungw
from conformance.targets.loader import load_target

ROOT = Path(__file__).resolve().parents[2]


def _case(path, case_id):
    return next(c for c in load_case_file(ROOT / path) if c.id == case_id)


def test_missing_dev_net_tun_is_a_reason_not_a_crash(monkeypatch):
    monkeypatch.setattr(tungw, "TUN_PATH", "/nonexistent/net/tun")
    with pytest.raises(tungw.TunUnavailable, match="does not exist"):
        tungw.TunGateway()


def test_tcp_items_of_sec_agree_cases_are_not_applicable_with_the_reason(monkeypatch):
    monkeypatch.setattr(esptcp, "tun_available", lambda: "a TUN device needs root (CAP_NET_ADMIN)")
    target = load_target(ROOT / "targets" / "reference-ims-rel8.yaml")
    aka = _case("testcases/secagree/initial-register.yaml", "AKA-001")
    assert not_applicable_reason(aka, "tcp", target) == \
        "TCP over ESP needs the TUN gateway: a TUN device needs root (CAP_NET_ADMIN)"
    assert not_applicable_reason(aka, "udp", target) is None
    plain = _case("testcases/registrar/reg1a.yaml", "REG-001")     # no sec-agree: runs over TCP
    assert not_applicable_reason(plain, "tcp", target) is None
