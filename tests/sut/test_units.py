"""Small pieces: configuration, the binding table, Via stamping, the transaction cache."""

from __future__ import annotations

import pytest

from conformance.sip.headers import parse_contacts, parse_via
from conformance.sip.message import Response
from conformance.sut.registrar.bindings import Binding, BindingTable, TableFull, instance_key
from conformance.sut.config import SutConfig
from conformance.sut.flow import FlowInfo
from conformance.sut.common.responses import stamp_top_via, warning_value
from conformance.sut.registrar.transactions import TransactionCache
from sut_helpers import Sut, contact, contacts_of, register

FLOW = FlowInfo("udp", ("127.0.0.1", 5060), ("127.0.0.5", 3333))


def test_config_validation():
    assert SutConfig().supported_tags == ("path", "outbound")
    assert SutConfig(mode="rel7").supported_tags == ("path",)
    assert SutConfig(domain="IMS.Test").domain == "ims.test"
    for bad in (dict(faults="list-only-newest"), dict(max_expires=0), dict(min_expires=0),
                dict(flow_timer=-1), dict(domain="")):
        with pytest.raises(ValueError):
            SutConfig(**bad)
    with pytest.raises(ValueError):
        FlowInfo("sctp", ("a", 1), ("b", 2))


def test_instance_key():
    assert instance_key("<urn:uuid:ABC-def>") == instance_key("<URN:UUID:abc-DEF>")
    assert instance_key("<urn:foo:ABC>") != instance_key("<urn:foo:abc>")
    assert instance_key("<urn:FOO:ABC>") == "urn:foo:ABC"


def _binding(aor="sip:a@ims.test", expires_at=100.0, flow=FLOW, **kw):
    [c] = parse_contacts("<sip:a@10.0.0.1>")
    return Binding(aor=aor, contact=c, instance=None, reg_id=None, call_id="c", cseq=1,
                   expires_at=expires_at, flow=flow, **kw)


def test_table_commit_bounds_purge_and_flows():
    t = BindingTable(max_bindings=3, max_per_aor=2)
    t.commit("sip:a@ims.test", [_binding(), _binding(expires_at=10.0)], now=0.0)
    with pytest.raises(TableFull):
        t.commit("sip:a@ims.test", [_binding()] * 3, now=0.0)
    t.commit("sip:b@ims.test", [_binding("sip:b@ims.test")], now=0.0)
    with pytest.raises(TableFull):
        t.commit("sip:c@ims.test", [_binding("sip:c@ims.test")] * 2, now=0.0)
    t.commit("sip:c@ims.test", [_binding("sip:c@ims.test")], now=50.0)   # fits after a purge
    assert len(t) == 3 and len(t.bindings("sip:a@ims.test", 50.0)) == 1
    assert t.purge(200.0) == 3 and len(t) == 0
    direct = _binding(outbound=True, direct=True)
    t.commit("sip:a@ims.test", [direct, _binding(outbound=True)], now=0.0)
    assert t.drop_flow(FLOW) == [direct] and len(t) == 1
    assert direct.remaining(99.2) == 1 and direct.remaining(100.0) == 0


@pytest.mark.parametrize("via,expected", [
    ("SIP/2.0/UDP host.test:5060;branch=z9hG4bK1", "SIP/2.0/UDP host.test:5060;branch=z9hG4bK1;received=127.0.0.5"),
    ("SIP/2.0/UDP 127.0.0.5:5060;branch=z9hG4bK1", "SIP/2.0/UDP 127.0.0.5:5060;branch=z9hG4bK1"),
    ("SIP/2.0/UDP 127.0.0.5;rport;branch=z9hG4bK1", "SIP/2.0/UDP 127.0.0.5;rport=3333;branch=z9hG4bK1;received=127.0.0.5"),
    ("SIP/2.0/UDP 10.0.0.1;received=1.2.3.4;branch=z9hG4bK1", "SIP/2.0/UDP 10.0.0.1;received=127.0.0.5;branch=z9hG4bK1"),
])
def test_stamp_top_via(via, expected):
    assert stamp_top_via(via, parse_via(via), FLOW) == expected


def test_warning_value_is_quoted():
    assert warning_value("my agent", 'say "hi"') == '399 my-agent "say \\"hi\\""'


def test_transaction_cache_is_bounded_in_size_and_time():
    cache = TransactionCache(max_entries=2, lifetime=32.0)
    r = Response()
    for i in range(3):
        cache.put(i, r, now=float(i))
    assert len(cache) == 2 and cache.get(0, 2.0) is None and cache.get(2, 2.0) is r
    assert cache.get(2, 34.5) is None and len(cache) == 0


def test_same_contact_twice_in_one_request_is_one_binding():
    sut = Sut()
    r = sut.send(register([contact(None, None, None), contact(None, None, None, expires=60)]))
    assert r.status == 200 and [c.expires for c in contacts_of(r)] == [60]
