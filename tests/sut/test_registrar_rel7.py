"""The Rel-7 profile (problem P1): no RFC 5626 at all, and a new initial registration from the
same private identity replaces that identity's contacts (TS 24.229 5.1.1.2.1 f), NOTE 7)."""

from __future__ import annotations

from sut_helpers import Sut, contact, contacts_of, register, require_of


def hosts(response):
    return sorted(c.uri.host for c in contacts_of(response))


def test_reg_030_new_initial_registration_replaces(rel7):
    r = rel7.send(register())
    assert r.status == 200 and "outbound" not in require_of(r)
    assert r.values("Supported") == ["path"] and "rel7" in r.get("Server")
    r = rel7.send(register([contact("10.0.0.2", reg_id=2)], call_id="C2", token="t2"))
    assert r.status == 200 and "outbound" not in require_of(r)
    assert hosts(r) == ["10.0.0.2"]
    [c] = contacts_of(r)
    assert c.instance and c.reg_id == "2"          # parameters are stored and echoed all the same


def test_private_identity_from_authorization(rel7):
    auth = 'Digest username="{}@ims.test", realm="ims.test", nonce="n", uri="sip:ims.test", response="r"'
    rel7.send(register(authorization=auth.format("impi-1")))
    r = rel7.send(register([contact("10.0.0.2", reg_id=2)], call_id="C2", authorization=auth.format("impi-2")))
    assert hosts(r) == ["10.0.0.1", "10.0.0.2"]    # two devices sharing the IMPU
    r = rel7.send(register([contact("10.0.0.3", reg_id=1)], call_id="C3", authorization=auth.format("impi-1")))
    assert hosts(r) == ["10.0.0.2", "10.0.0.3"]    # impi-1 re-registered from scratch


def test_same_call_id_is_a_normal_update(rel7):
    rel7.send(register())
    r = rel7.send(register([contact("10.0.0.2", reg_id=1)], cseq=2))
    assert hosts(r) == ["10.0.0.1", "10.0.0.2"]    # reg-id keys nothing: the URI does
    r = rel7.send(register([contact(reg_id=2, expires=60)], cseq=3))
    assert {c.uri.host: c.expires for c in contacts_of(r)} == {"10.0.0.1": 60, "10.0.0.2": 3600}
    assert rel7.send(register([contact()], cseq=3)).status == 500   # RFC 3261 step 7 still holds


def test_deregistration_with_new_call_id_does_not_replace(rel7):
    rel7.send(register())
    rel7.send(register([contact("10.0.0.2", None, None)], cseq=2))
    r = rel7.send(register([contact("10.0.0.2", None, None, expires=0)], call_id="C9"))
    assert hosts(r) == ["10.0.0.1"]


def test_reg_022_require_outbound_is_420(rel7):
    r = rel7.send(register(require="outbound"))
    assert r.status == 420 and r.values("Unsupported") == ["outbound"]


def test_no_439_and_no_outbound_checks(rel7):
    r = rel7.send(register(path=None))
    assert r.status == 200 and "outbound" not in require_of(r)
    r = rel7.send(register([contact(), contact("10.0.0.2")], call_id="C2"))
    assert r.status == 200 and hosts(r) == ["10.0.0.1", "10.0.0.2"]   # no para 5 400 either


def test_direct_registration_gets_no_require_or_flow_timer():
    sut = Sut(mode="rel7", flow_timer=120)
    r = sut.send(register(first_hop=True))
    assert r.status == 200 and not r.has("Require") and not r.has("Flow-Timer")


def test_star_still_works(rel7):
    rel7.send(register())
    r = rel7.send(register(["*"], cseq=2, expires=0))
    assert r.status == 200 and not r.values("Contact")
