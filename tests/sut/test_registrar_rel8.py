"""The Rel-8 reference registrar, sans-IO: RFC 3261 section 10.3 and RFC 5626 section 6.

Test names carry the catalogue's TP where one applies."""

from __future__ import annotations

import pytest

from conformance.sip.headers import parse_name_addr, parse_vias
from conformance.sut.flow import FlowInfo

from sut_helpers import AOR, EDGE_FLOW, INSTANCE, INSTANCE2, UE_FLOW, Sut, contact, contacts_of, \
    register, require_of


def hosts(response):
    return sorted(c.uri.host for c in contacts_of(response))


# -- RFC 5626 section 6 para 8: Reg1a, Reg2, Reg1b ---------------------------------------------
def test_reg_001_first_registration(sut):
    r = sut.send(register())
    assert r.status == 200
    assert require_of(r) == ["outbound"]
    [c] = contacts_of(r)
    assert c.instance == INSTANCE.strip('"') and c.reg_id == "1" and c.expires == 3600
    assert r.values("Path") == ["<sip:t1@ep-t.test;lr;ob>"]
    assert "outbound" in r.values("Supported") and "path" in r.values("Supported")
    assert parse_name_addr(r.get("To")).tag
    assert r.get("Call-ID") == "C1" and r.get("CSeq") == "1 REGISTER"
    assert r.get("From") == f"<{AOR}>;tag=f1"
    assert "rel8" in r.get("Server")


def test_reg_002_all_contact_params_stored_and_echoed(sut):
    icsi = '+g.3gpp.icsi-ref="urn%3Aurn-7%3A3gpp-service.ims.icsi.mmtel"'
    sut.send(register([contact(expires=600, extra=f";{icsi};audio")]))
    [b] = sut.bindings()
    assert b.path == ("<sip:t1@ep-t.test;lr;ob>",) and b.flow == EDGE_FLOW and not b.direct
    [c] = contacts_of(sut.fetch(call_id="C9"))
    assert c.params["+g.3gpp.icsi-ref"] == '"urn%3Aurn-7%3A3gpp-service.ims.icsi.mmtel"'
    assert "audio" in c.params and c.params["audio"] is None
    assert c.params["+sip.instance"] == INSTANCE and c.expires == 600


def test_reg_003_new_reg_id_adds_a_binding(sut):
    sut.send(register())
    r = sut.send(register([contact("10.0.0.2", reg_id=2)], call_id="C2", token="t2"))
    assert r.status == 200 and require_of(r) == ["outbound"]
    assert hosts(r) == ["10.0.0.1", "10.0.0.2"]
    assert all(c.expires for c in contacts_of(r))
    assert r.values("Path") == ["<sip:t2@ep-t.test;lr;ob>"]   # only this request's Path


def test_reg_003b_same_contact_uri_two_reg_ids(sut):
    sut.send(register())
    r = sut.send(register([contact(reg_id=2)], call_id="C2", token="t2"))
    assert [c.reg_id for c in contacts_of(r)] == ["1", "2"]


@pytest.mark.parametrize("call_id,cseq", [("C1", 2), ("C3", 1)], ids=["004a-same-callid", "004b-new-callid"])
def test_reg_004_reg1b_replaces_only_that_reg_id(sut, call_id, cseq):
    sut.send(register())
    sut.send(register([contact("10.0.0.2", reg_id=2)], call_id="C2", token="t2"))
    r = sut.send(register([contact("10.0.0.3", reg_id=1)], call_id=call_id, cseq=cseq, token="t3"))
    assert r.status == 200 and require_of(r) == ["outbound"]
    assert hosts(r) == ["10.0.0.2", "10.0.0.3"]
    by_reg = {b.reg_id: b for b in sut.bindings()}
    assert by_reg[1].path == ("<sip:t3@ep-t.test;lr;ob>",) and by_reg[1].call_id == call_id
    assert by_reg[2].path == ("<sip:t2@ep-t.test;lr;ob>",)


def test_reg_004_new_flow_is_stored(sut):
    """RFC 5626 section 6 para 10: the flow information is updated on re-registration."""
    sut.send(register(), flow=UE_FLOW)
    other = FlowInfo("tcp", ("127.0.0.1", 5060), ("127.0.0.2", 40001), conn_id=7)
    sut.send(register(cseq=2), flow=other)
    [b] = sut.bindings()
    assert b.flow == other


def test_reg_005_refresh_keeps_one_binding_per_reg_id(sut):
    sut.send(register())
    sut.send(register([contact("10.0.0.2", reg_id=2)], call_id="C2", token="t2"))
    sut.now += 100
    r = sut.send(register([contact("10.0.0.2", reg_id=2, expires=600)], call_id="C2", cseq=2, token="t2"))
    cs = contacts_of(r)
    assert len(cs) == 2
    assert {c.reg_id: c.expires for c in cs} == {"1": 3500, "2": 600}


def test_reg_006_cseq_not_higher_fails_without_change(sut):
    sut.send(register([contact(expires=600)]))
    r = sut.send(register([contact(expires=900)], cseq=1))   # new branch, same Call-ID and CSeq
    assert r.status == 500 and r.get("Warning")
    [b] = sut.bindings()
    assert b.remaining(sut.now) == 600
    assert sut.send(register([contact(expires=900)], cseq=0)).status == 500


def test_reg_007_deregister_one_flow(sut):
    sut.send(register())
    sut.send(register([contact("10.0.0.2", reg_id=2)], call_id="C2", token="t2"))
    r = sut.send(register([contact("10.0.0.2", reg_id=2, expires=0)], call_id="C2", cseq=2, token="t2"))
    assert r.status == 200 and hosts(r) == ["10.0.0.1"]
    assert require_of(r) == ["outbound"]


def test_reg_008_add_one_remove_another(sut):
    sut.send(register())
    sut.send(register([contact("10.0.0.2", reg_id=2)], call_id="C2", token="t2"))
    r = sut.send(register([contact("10.0.0.3", reg_id=1, expires=600),
                           contact("10.0.0.2", reg_id=2, expires=0)], call_id="C1", cseq=2, token="t3"))
    assert r.status == 200 and require_of(r) == ["outbound"]
    assert hosts(r) == ["10.0.0.3"]


# -- RFC 3261 section 10.3 step 6: Contact: * -------------------------------------------------
def test_reg_009_star_removes_all_bindings(sut):
    sut.send(register())
    sut.send(register([contact("10.0.0.2", reg_id=2)], call_id="C2", token="t2"))
    sut.send(register([contact("10.0.0.5", reg_id=None, instance=None)], call_id="C5"))
    r = sut.send(register(["*"], call_id="C1", cseq=2, expires=0))
    assert r.status == 200 and not r.values("Contact")
    assert "outbound" not in require_of(r)
    assert sut.bindings() == []


@pytest.mark.parametrize("contacts,expires", [
    (["*"], 3600), (["*", contact()], 0), (["*"], None), (["*;reg-id=1;+sip.instance=" + INSTANCE], 0),
], ids=["010a-nonzero", "010b-mixed", "no-expires", "039-params"])
def test_reg_010_star_misuse_is_400(sut, contacts, expires):
    sut.send(register())
    r = sut.send(register(contacts, call_id="C1", cseq=2, expires=expires))
    assert r.status == 400 and r.get("Warning")
    assert len(sut.bindings()) == 1


def test_star_with_stale_cseq_fails(sut):
    sut.send(register(cseq=5))
    r = sut.send(register(["*"], call_id="C1", cseq=5, expires=0))
    assert r.status == 500
    assert len(sut.bindings()) == 1


# -- RFC 5626 section 6 paragraphs 3 to 7 ----------------------------------------------------
def test_reg_011_two_live_contacts_with_reg_id_is_400(sut):
    r = sut.send(register([contact(), contact("10.0.0.2", reg_id=None, instance=None)]))
    assert r.status == 400
    assert sut.bindings() == []


def test_two_plain_contacts_are_fine(sut):
    r = sut.send(register([contact("10.0.0.1", None, None), contact("10.0.0.2", None, None)]))
    assert r.status == 200 and hosts(r) == ["10.0.0.1", "10.0.0.2"] and not require_of(r)


def test_reg_012_reg_id_without_instance_is_ignored(sut):
    r = sut.send(register([contact(instance=None)]))
    assert r.status == 200 and "outbound" not in require_of(r)
    r = sut.send(register([contact("10.0.0.2", instance=None)], call_id="C2"))
    assert hosts(r) == ["10.0.0.1", "10.0.0.2"]
    assert not any(b.outbound for b in sut.bindings())


def test_reg_013_instance_without_reg_id(sut):
    r = sut.send(register([contact(reg_id=None)], supported="path, outbound, gruu"))
    assert r.status == 200 and "outbound" not in require_of(r)
    [c] = contacts_of(r)
    assert c.instance == INSTANCE.strip('"')


def test_reg_014_no_supported_outbound_no_require(sut):
    r = sut.send(register(supported="path"))
    assert r.status == 200 and "outbound" not in require_of(r)
    assert sut.bindings()[0].outbound         # binding still keyed by instance and reg-id


@pytest.mark.parametrize("path", [None, ["<sip:t1@ep-t.test;lr>"], ["<sip:p3.test;lr>", "<sip:t1@ep-t.test;lr;ob>"]],
                         ids=["015-no-path", "016a-no-ob", "016b-ob-not-first"])
def test_reg_015_016_first_hop_lacks_outbound(sut, path):
    r = sut.send(register(path=path))
    assert r.status == 439 and r.reason == "First Hop Lacks Outbound Support"
    assert sut.bindings() == []


def test_reg_017_no_439_without_supported_outbound(sut):
    r = sut.send(register(path=None, supported="path"))
    assert r.status == 200 and "outbound" not in require_of(r)
    r = sut.send(register([contact("10.0.0.2")], path=None, supported="path", call_id="C2"))
    assert hosts(r) == ["10.0.0.1", "10.0.0.2"]      # the reg-id did not key the binding


def test_reg_018_registrar_as_first_hop(sut):
    r = sut.send(register(first_hop=True), flow=UE_FLOW)
    assert r.status == 200 and require_of(r) == ["outbound"]
    assert not r.has("Flow-Timer")
    [b] = sut.bindings()
    assert b.direct and b.flow == UE_FLOW and b.path == ()
    assert sut.registrar.flow_closed(UE_FLOW) == [b]   # RFC 5626 section 7
    assert sut.bindings() == []


def test_reg_019_outbound_and_plain_bindings_coexist(sut):
    sut.send(register())
    sut.send(register([contact("10.0.0.7", reg_id=None, instance=None)], call_id="Cx"))
    r = sut.send(register([contact("10.0.0.2", reg_id=2)], call_id="C2", token="t2"))
    assert hosts(r) == ["10.0.0.1", "10.0.0.2", "10.0.0.7"]


def test_plain_binding_with_same_uri_as_outbound_one_is_separate(sut):
    sut.send(register())
    r = sut.send(register([contact(reg_id=None, instance=None)], call_id="Cx"))
    assert len(contacts_of(r)) == 2


def test_reg_020_same_reg_id_two_instances(sut):
    sut.send(register())
    r = sut.send(register([contact("10.0.0.2", instance=INSTANCE2)], call_id="C2"))
    assert hosts(r) == ["10.0.0.1", "10.0.0.2"]


def test_reg_022_require_outbound_is_understood(sut):
    r = sut.send(register(require="outbound"))
    assert r.status == 200 and require_of(r) == ["outbound"]


def test_reg_023_flow_timer_only_direct_with_require():
    sut = Sut(flow_timer=120)
    r = sut.send(register(first_hop=True), flow=UE_FLOW)
    assert r.get("Flow-Timer") == "120"
    r = sut.send(register([contact("10.0.0.4", instance=None)], first_hop=True, call_id="C4"), flow=UE_FLOW)
    assert not r.has("Flow-Timer")                                   # no Require: outbound
    r = sut.send(register([contact("10.0.0.2", reg_id=2)], call_id="C2"))
    assert require_of(r) == ["outbound"] and not r.has("Flow-Timer")  # not the first hop


def test_reg_024_path_without_supported_path():
    sut = Sut()
    r = sut.send(register(supported="outbound"))
    assert r.status == 420 and r.values("Unsupported") == ["path"]
    lax = Sut(require_path_support=False)
    r = lax.send(register(supported="outbound"))
    assert r.status == 200 and not r.has("Path")
    assert lax.bindings()[0].path == ("<sip:t1@ep-t.test;lr;ob>",)


def test_reg_026_fetch_lists_everything_without_require(sut):
    sut.send(register())
    sut.send(register([contact("10.0.0.2", reg_id=2)], call_id="C2", token="t2"))
    r = sut.fetch(call_id="C9")
    assert r.status == 200 and "outbound" not in require_of(r)
    cs = contacts_of(r)
    assert len(cs) == 2 and all(c.instance and c.expires for c in cs)
    assert len(sut.bindings()) == 2


def test_reg_032_instance_is_scoped_by_aor(sut):
    sut.send(register())
    other = register([contact("10.6.6.6")], to="<sip:ue-x@ims.test>", call_id="CX")
    assert sut.send(other).status == 200
    [b] = sut.bindings()
    assert b.contact.uri.host == "10.0.0.1"


@pytest.mark.parametrize("value", ["0", "2147483648", "4294967297", "99999999999999999999",
                                   "-1", "+1", "1a", '"1"', None])
def test_reg_033_invalid_reg_id_is_400(sut, value):
    c = "<sip:ue-a@10.0.0.1>;+sip.instance=" + INSTANCE + (";reg-id" if value is None else f";reg-id={value}")
    r = sut.send(register([c]))
    assert r.status == 400
    assert sut.bindings() == []


def test_reg_033_leading_zeros_are_the_same_reg_id(sut):
    sut.send(register([contact(reg_id="0001")]))
    r = sut.send(register([contact("10.0.0.3", reg_id=1)], call_id="C3"))
    assert hosts(r) == ["10.0.0.3"]


def test_reg_034_duplicate_parameters_are_400(sut):
    assert sut.send(register([contact(extra=";reg-id=2")])).status == 400
    assert sut.send(register([contact(extra=";+sip.instance=" + INSTANCE2)])).status == 400
    assert sut.bindings() == []


@pytest.mark.parametrize("instance", ['"urn:uuid:1234"', '""', '"<>"', "token"])
def test_reg_035_malformed_instance_is_400(sut, instance):
    r = sut.send(register([contact(instance=instance)]))
    assert r.status == 400
    assert sut.bindings() == []


def test_reg_036_uuid_instances_compare_case_insensitively(sut):
    sut.send(register())
    r = sut.send(register([contact("10.0.0.3", instance=INSTANCE.lower())], call_id="C3"))
    assert hosts(r) == ["10.0.0.3"]


# -- RFC 3261 section 10.3 steps 1, 2, 5, 7 ---------------------------------------------------
def test_aor_is_canonical(sut):
    sut.send(register(to="<sip:ue-a@IMS.TEST;user=phone>"))
    r = sut.send(register([contact("10.0.0.2", reg_id=2)], to="<sip:%75e-a@ims.test>", call_id="C2"))
    assert len(contacts_of(r)) == 2


def test_unknown_require_is_420(sut):
    r = sut.send(register(require="x-unknown, sec-agree"))
    assert r.status == 420 and r.values("Unsupported") == ["x-unknown", "sec-agree"]
    assert sut.bindings() == []


def test_require_gruu_needs_gruu_on():
    """RFC 5627 section 5.1: Require: gruu asks the registrar to understand GRUU; the rel8
    reference does (GRUU on by default), with gruu=False it is an unknown option tag (420)."""
    assert Sut().send(register(require="gruu")).status == 200
    r = Sut(gruu=False).send(register(require="gruu"))
    assert r.status == 420 and r.values("Unsupported") == ["gruu"]


def test_domains(sut):
    req = register()
    req.uri = "sip:other.test"
    assert sut.send(req).status == 404
    assert sut.send(register(to="<sip:ue-a@other.test>")).status == 404
    req = register()
    req.uri = "tel:+1234"
    assert sut.send(req).status == 416
    req = register()
    req.uri = "sip:127.0.0.1"                     # our own address names the domain too
    assert sut.send(req).status == 200


def test_expiry_sources_and_cap():
    sut = Sut(max_expires=7200, default_expires=1800)
    r = sut.send(register([contact(expires=600)], expires=300))
    assert contacts_of(r)[0].expires == 600                 # the Contact parameter wins
    r = sut.send(register([contact()], expires=300, cseq=2))
    assert contacts_of(r)[0].expires == 300                 # then the Expires header
    r = sut.send(register([contact()], cseq=3))
    assert contacts_of(r)[0].expires == 1800                # then the local default
    r = sut.send(register([contact(expires=600000)], cseq=4))
    assert contacts_of(r)[0].expires == 7200                # TP_REG_025b: capped, not 423


def test_reg_025_interval_too_brief():
    sut = Sut(min_expires=600)
    r = sut.send(register([contact(expires=1)]))
    assert r.status == 423 and r.get("Min-Expires") == "600"
    assert sut.bindings() == []
    assert sut.send(register([contact(expires=0)])).status == 200   # zero is a removal
    assert Sut().send(register([contact(expires=1)])).status == 200  # no minimum configured
    high = Sut(min_expires=7200)
    assert high.send(register([contact(expires=3600)])).status == 200  # 423 only below 1 hour


@pytest.mark.parametrize("contacts,expires", [([contact(extra=";expires=abc")], None),
                                              ([contact()], "soon")])
def test_bad_expiry_is_400(sut, contacts, expires):
    req = register(contacts)
    if expires:
        req.add("Expires", expires)
    assert sut.send(req).status == 400


def test_other_call_id_updates_or_removes(sut):
    sut.send(register([contact("10.0.0.1", None, None)], cseq=9))
    r = sut.send(register([contact("10.0.0.1", None, None, expires=60)], call_id="CZ", cseq=1))
    assert contacts_of(r)[0].expires == 60
    r = sut.send(register([contact("10.0.0.1", None, None, expires=0)], call_id="CY", cseq=1))
    assert not r.values("Contact")


def test_removal_of_unknown_binding_is_fine(sut):
    r = sut.send(register([contact(expires=0)]))
    assert r.status == 200 and not r.values("Contact") and require_of(r) == ["outbound"]


def test_bindings_expire_with_time(sut):
    sut.send(register([contact(expires=60)]))
    sut.now += 59.5
    assert contacts_of(sut.fetch(call_id="C9"))[0].expires == 1
    sut.now += 1
    assert not sut.fetch(call_id="C9", cseq=2).values("Contact")
    assert sut.bindings() == []


def test_table_bounds_give_503():
    sut = Sut(max_bindings_per_aor=2)
    sut.send(register())
    sut.send(register([contact("10.0.0.2", reg_id=2)], call_id="C2"))
    r = sut.send(register([contact("10.0.0.3", reg_id=3)], call_id="C3"))
    assert r.status == 503 and r.get("Retry-After")
    assert len(sut.bindings()) == 2
    small = Sut(max_bindings=1)
    small.send(register())
    assert small.send(register(to="<sip:ue-b@ims.test>", call_id="CB")).status == 503


def test_direct_request_via_stamping(sut):
    """RFC 3261 section 18.2.1 and RFC 3581 section 4 on the top Via of the response."""
    r = sut.send(register(first_hop=True), flow=UE_FLOW)
    [via] = parse_vias(r)
    assert via.received == "127.0.0.9" and via.rport == "50000"
    req = register(first_hop=True)
    req.set("Via", "SIP/2.0/TCP 127.0.0.9:50000;branch=z9hG4bK-plain")
    [via] = parse_vias(sut.send(req, flow=UE_FLOW))
    assert via.received is None and via.rport is None     # sent-by equals the source


def test_response_keeps_an_existing_to_tag(sut):
    req = register(to="<sip:ue-a@ims.test>;tag=abc")
    assert sut.send(req).get("To") == "<sip:ue-a@ims.test>;tag=abc"


def test_local_policy_rejects_non_outbound_registrations():
    """RFC 5626 section 6 para 7 (MAY, a local policy): without instance-id and reg-id, or with a
    first Path URI lacking ;ob, the registration is refused; outbound ones and removals pass."""
    strict = Sut(reject_non_outbound=True)
    assert strict.send(register()).status == 200
    plain = strict.send(register([contact("10.0.0.2", reg_id=None, instance=None)], call_id="C2"))
    assert plain.status == 403
    no_sup = strict.send(register([contact("10.0.0.3", reg_id=None, instance=None)], call_id="C3",
                                  supported="path"))
    assert no_sup.status == 421 and "outbound" in no_sup.get("Require")
    no_ob = strict.send(register([contact("10.0.0.4", reg_id=None)], call_id="C4",
                                 path=["<sip:t4@ep-t.test;lr>"]))
    assert no_ob.status == 403
    assert strict.send(register([contact("10.0.0.1", expires=0)], cseq=2)).status == 200
    assert Sut().send(register([contact("10.0.0.2", reg_id=None, instance=None)], call_id="C2")).status == 200


def test_maximum_number_of_flows_per_instance():
    """TS 24.229 5.4.1.2.2: one flow more than the maximum is refused with 403; the existing
    flows stay; a replacement (same reg-id) and another instance are not counted."""
    sut = Sut(max_flows=2)
    assert sut.send(register()).status == 200
    assert sut.send(register([contact("10.0.0.2", reg_id=2)], call_id="C2", token="t2")).status == 200
    over = sut.send(register([contact("10.0.0.3", reg_id=3)], call_id="C3", token="t3"))
    assert over.status == 403
    assert len(contacts_of(sut.fetch(call_id="C9"))) == 2
    assert sut.send(register([contact("10.0.0.4", reg_id=2)], call_id="C4", token="t4")).status == 200
    other = sut.send(register([contact("10.0.0.5", reg_id=1, instance=INSTANCE2)], call_id="C5"))
    assert other.status == 200
    assert Sut().send(register([contact("10.0.0.3", reg_id=3)], call_id="C3")).status == 200


def test_a_non_sip_first_path_uri_is_not_an_outbound_edge():
    """RFC 5626 section 6 para 3 / section 5.1: "ob" is a SIP URI parameter; a first Path URI
    <tel:...;ob> names no edge proxy the registrar could route back through, so outbound
    processing is not applied: 439 with reg-id and Supported: outbound (TP_ROB_001)."""
    r = Sut().send(register(path=["<tel:123;ob>"]))
    assert r.status == 439
