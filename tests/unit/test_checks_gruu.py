"""gruu / temp_gruu checks on the 2xx to REGISTER (conformance/meaning/checks/gruu.py), the GRUUs a
run remembers per flow (engine/registration.py) and the Request-URIs built from them
(engine/dialogs.py gruu_uri).  Sans-IO: hand-built responses."""

import pytest

from conformance.engine.dialogs import NoGruu, gruu_uri, is_gruu_spec
from conformance.engine.registration import RegistrationState
from conformance.meaning.checks import CheckContext, run_check
from conformance.meaning.checks.gruu import GruuSeen, flow_gruus, gruu_check, temp_gruu_check
from conformance.meaning.verdict import FAIL, INCONCLUSIVE, PASS, WARN
from conformance.sip.message import Request, parse_message

INSTANCE = "<urn:uuid:00000000-0000-1000-8000-AABBCCDDEEFF>"
OTHER = "<urn:uuid:11111111-2222-3333-4444-555555555555>"
AOR = "sip:ue@ims.test"
FLOWS = {"f1": "sip:ue@127.0.0.11:5070", "f2": "sip:ue@127.0.0.12:5071;transport=tcp",
         "g1": "sip:ue@127.0.0.13:5072"}
REG_IDS = {"f1": 1, "f2": 2, "g1": 1}
PUB = f"{AOR};gr=urn:uuid:00000000-0000-1000-8000-AABBCCDDEEFF"
PUB_B = f"{AOR};gr=urn:uuid:11111111-2222-3333-4444-555555555555"


def response(*header_lines: str):
    head = ["SIP/2.0 200 OK", "Via: SIP/2.0/UDP 127.0.0.11:5070;branch=z9hG4bKabc;rport=5070",
            "From: <sip:ue@ims.test>;tag=1", "To: <sip:ue@ims.test>;tag=2", "Call-ID: c1", "CSeq: 1 REGISTER",
            *header_lines, "Content-Length: 0"]
    return parse_message(("\r\n".join(head) + "\r\n\r\n").encode())


def contact(uri, *, reg_id=None, instance=INSTANCE, pub=None, temp=None):
    v = f"<{uri}>"
    if reg_id is not None:
        v += f";reg-id={reg_id}"
    if instance is not None:
        v += f';+sip.instance="{instance}"'
    if pub is not None:
        v += f';pub-gruu="{pub}"'
    if temp is not None:
        v += f';temp-gruu="{temp}"'
    return v + ";expires=600"


def register(to=AOR):
    return Request(method="REGISTER", uri="sip:ims.test",
                   headers=[("To", f"<{to}>"), ("From", f"<{to}>;tag=1"), ("Call-ID", "c1"), ("CSeq", "1 REGISTER")])


def ctx(*contacts, history=(), to=AOR):
    resp = response(*(f"Contact: {c}" for c in contacts))
    return CheckContext(request=register(to), response=resp, instance=INSTANCE, flow_contacts=dict(FLOWS),
                        flow_reg_ids=dict(REG_IDS), gruu_history=list(history))


def one(obs):
    assert len(obs) == 1, obs
    return obs[0]


# -- which Contact is the flow's, and what it carries ---------------------------------------------
def test_flow_gruus_takes_the_flows_own_contact_by_uri_and_reg_id():
    shared = FLOWS["f1"]  # two flows on one socket (RFC 5626 §9.2): the reg-id tells them apart
    resp = response("Contact: " + contact(shared, reg_id=2, pub=PUB, temp="sip:t2@ims.test;gr"),
                    "Contact: " + contact(shared, reg_id=1, pub=PUB, temp="sip:t1@ims.test;gr"))
    seen = flow_gruus(resp, "f1", shared, 1, "c1")
    assert seen == GruuSeen("f1", INSTANCE, "c1", PUB, "sip:t1@ims.test;gr")
    assert flow_gruus(resp, "f2", FLOWS["f2"], 2, "c1") is None        # not listed
    plain = flow_gruus(response("Contact: " + contact(shared)), "f1", shared, 1, "c1")
    assert plain is not None and (plain.pub, plain.temp) == (None, None)


# -- present / absent ---------------------------------------------------------------------------
def test_present_passes_with_both_parameters_and_names_the_missing_one():
    ok = gruu_check({"flow": "f1", "present": True},
                    ctx(contact(FLOWS["f1"], reg_id=1, pub=PUB, temp="sip:t1@ims.test;gr")))
    assert [(o.label, o.ok) for o in ok] == [("pub-gruu on flow f1's Contact", True),
                                             ("temp-gruu on flow f1's Contact", True)]
    bad = gruu_check({"flow": "f1", "present": True}, ctx(contact(FLOWS["f1"], reg_id=1, pub=PUB)))
    assert [(o.label, o.ok) for o in bad] == [("pub-gruu on flow f1's Contact", True),
                                              ("temp-gruu on flow f1's Contact", False)]
    assert "temp-gruu Contact header field parameter" in bad[1].expected
    # {flow: F} alone asks the same question
    assert [o.ok for o in gruu_check({"flow": "f1"}, ctx(contact(FLOWS["f1"], reg_id=1, pub=PUB)))] == [True, False]
    findings = run_check("gruu", {"flow": "f1", "present": True}, ctx(contact(FLOWS["f1"], reg_id=1)))
    assert [f.outcome for f in findings] == [FAIL, FAIL] and {f.level for f in findings} == {"MUST"}
    assert findings[0].ref == "RFC 5627 §5.2"


def test_present_is_inconclusive_when_the_flow_is_not_listed_or_no_response():
    [a, b] = gruu_check({"flow": "f1", "present": True}, ctx(contact(FLOWS["f2"], reg_id=2, pub=PUB)))
    assert a.ok is None and "no Contact for flow f1" in a.observed
    none = CheckContext(request=register(), response=None, flow_contacts=dict(FLOWS), no_response_reason="timeout")
    assert [o.ok for o in gruu_check({"flow": "f1", "present": True}, none)] == [None, None]


def test_absent_fails_naming_the_parameter_the_registrar_added():
    o = one(gruu_check({"flow": "f1", "absent": True}, ctx(contact(FLOWS["f1"], reg_id=1, temp="sip:t@ims.test;gr"))))
    assert o.ok is False and o.observed.startswith("temp-gruu present")
    assert one(gruu_check({"flow": "f1", "absent": True}, ctx(contact(FLOWS["f1"], reg_id=1)))).ok is True
    [f] = run_check("gruu", {"flow": "f1", "absent": True}, ctx(contact(FLOWS["f1"], reg_id=1, pub=PUB)))
    assert f.ref == "RFC 3261 §8.2.4" and f.outcome == FAIL


# -- the public GRUU's form ---------------------------------------------------------------------
@pytest.mark.parametrize("pub, ok, shown", [
    (PUB, True, "gr is the instance URN"),
    (f"{AOR};gr=kjh29x97us97d", True, "kjh29x97us97d"),          # any value the registrar chooses (§3.1.1)
    (AOR, False, "no gr URI parameter"),
    (f"{AOR};gr", False, "gr without a value"),                    # §5.1: "with a value"
    ("sip:other@ims.test;gr=x", False, "sip:other@ims.test"),      # not the AOR
    ("sip:ue@elsewhere.test;gr=x", False, "elsewhere.test"),
])
def test_pub_form_is_the_aor_with_gr_and_a_value(pub, ok, shown):
    o = one(gruu_check({"flow": "f1", "pub_form": True}, ctx(contact(FLOWS["f1"], reg_id=1, pub=pub))))
    assert o.ok is ok and shown in o.observed, o


def test_pub_form_without_pub_gruu_is_inconclusive():
    o = one(gruu_check({"flow": "f1", "pub_form": True}, ctx(contact(FLOWS["f1"], reg_id=1))))
    assert o.ok is None and "no pub-gruu" in o.observed


# -- one public GRUU per AOR and instance ---------------------------------------------------------
def test_same_pub_as_compares_this_response_and_the_history():
    earlier = [GruuSeen("f1", INSTANCE, "c1", PUB, "sip:t1@ims.test;gr")]
    now = ctx(contact(FLOWS["f1"], reg_id=1, pub=PUB, temp="sip:t2@ims.test;gr"),
              contact(FLOWS["f2"], reg_id=2, pub=PUB, temp="sip:t2@ims.test;gr"), history=earlier)
    assert one(gruu_check({"flow": "f2", "same_pub_as": ["f1"]}, now)).ok is True
    # a registrar minting a public GRUU per flow (fault gruu-pub-per-flow)
    per_flow = ctx(contact(FLOWS["f1"], reg_id=1, pub=PUB, temp="sip:t2@ims.test;gr"),
                   contact(FLOWS["f2"], reg_id=2, pub=f"{AOR};gr=flow2", temp="sip:t2@ims.test;gr"), history=earlier)
    o = one(gruu_check({"flow": "f2", "same_pub_as": ["f1"]}, per_flow))
    assert o.ok is False and "gr=flow2" in o.observed and "pub-gruu" in o.label
    # the other flow no longer listed: its remembered pub-gruu still counts
    only_f2 = ctx(contact(FLOWS["f2"], reg_id=2, pub=f"{AOR};gr=flow2"), history=earlier)
    assert one(gruu_check({"flow": "f2", "same_pub_as": ["f1"]}, only_f2)).ok is False
    # nothing known of f1: no evidence
    assert one(gruu_check({"flow": "f2", "same_pub_as": ["f1"]},
                          ctx(contact(FLOWS["f2"], reg_id=2, pub=PUB)))).ok is None


def test_distinct_from_fails_on_a_gruu_shared_with_another_instance():
    earlier = [GruuSeen("f1", INSTANCE, "c1", PUB, "sip:t1@ims.test;gr")]
    own = ctx(contact(FLOWS["g1"], reg_id=1, instance=OTHER, pub=PUB_B, temp="sip:tb@ims.test;gr"), history=earlier)
    assert one(gruu_check({"flow": "g1", "distinct_from": ["f1"]}, own)).ok is True
    shared = ctx(contact(FLOWS["g1"], reg_id=1, instance=OTHER, pub=PUB, temp="sip:tb@ims.test;gr"), history=earlier)
    o = one(gruu_check({"flow": "g1", "distinct_from": ["f1"]}, shared))
    assert o.ok is False and o.observed == f"equal: {PUB}"
    [f] = run_check("gruu", {"flow": "g1", "distinct_from": ["f1"]}, shared)
    assert f.ref == "RFC 5627 §5.4 ¶3" and f.outcome == FAIL


# -- a new temporary GRUU per registration ---------------------------------------------------------
def test_temp_gruu_new_against_the_instances_earlier_ones_only():
    earlier = [GruuSeen("f1", INSTANCE, "c1", PUB, "sip:t1@ims.test;gr"),
               GruuSeen("g1", OTHER, "c9", PUB_B, "sip:t9@ims.test;gr")]
    fresh = ctx(contact(FLOWS["f2"], reg_id=2, pub=PUB, temp="sip:t2@ims.test;gr"), history=earlier)
    assert one(temp_gruu_check({"flow": "f2", "new": True}, fresh)).ok is True
    again = ctx(contact(FLOWS["f2"], reg_id=2, pub=PUB, temp="sip:t1@ims.test;gr"), history=earlier)
    o = one(temp_gruu_check({"flow": "f2", "new": True}, again))
    assert o.ok is False and "already given" in o.observed
    # another instance's temp-gruu is no "earlier one" of this instance (distinct_from judges that)
    other = ctx(contact(FLOWS["f2"], reg_id=2, pub=PUB, temp="sip:t9@ims.test;gr"), history=earlier)
    assert one(temp_gruu_check({"flow": "f2", "new": True}, other)).ok is True
    [f] = run_check("temp_gruu", {"flow": "f2", "new": True}, again)
    assert (f.level, f.ref, f.outcome) == ("SHOULD", "RFC 5627 §5.1 ¶6", WARN)
    [f] = run_check("temp_gruu", {"flow": "f2", "new": True}, ctx(contact(FLOWS["f2"], reg_id=2)))
    assert f.outcome == INCONCLUSIVE


# -- what a run remembers, and the Request-URIs made of it ------------------------------------------
def test_registration_state_keeps_every_temp_gruu_of_a_flow_and_builds_uris():
    st = RegistrationState()
    for i, call_id in ((1, "c1"), (2, "c1"), (3, "c3")):
        resp = response("Contact: " + contact(FLOWS["f1"], reg_id=1, pub=PUB, temp=f"sip:t{i}@ims.test;gr"))
        st.remember_2xx("f1", resp, contact_uri=FLOWS["f1"], reg_id=1)
    st.remember_2xx("f2", response("Contact: " + contact(FLOWS["f2"], reg_id=2)), contact_uri=FLOWS["f2"], reg_id=2)
    st.remember_2xx("g1", response("Contact: " + contact(FLOWS["g1"], pub=PUB_B)))   # no contact URI given: no GRUU
    assert st.gruus("f1", "temp") == ["sip:t1@ims.test;gr", "sip:t2@ims.test;gr", "sip:t3@ims.test;gr"]
    assert st.gruus("f1", "pub") == [PUB] and st.gruus("f2", "pub") == [] and st.gruus("g1", "pub") == []
    assert gruu_uri(st, {"temp_gruu_of": "f1", "which": "first"}) == "sip:t1@ims.test;gr"
    assert gruu_uri(st, {"temp_gruu_of": "f1"}) == gruu_uri(st, {"temp_gruu_of": "f1", "which": "latest"}) \
        == "sip:t3@ims.test;gr"
    assert gruu_uri(st, {"pub_gruu_of": "f1"}) == PUB
    with pytest.raises(NoGruu) as e:
        gruu_uri(st, {"pub_gruu_of": "f2"})
    assert "flow f2 got no 2xx to REGISTER with a pub-gruu" in str(e.value) and e.value.ref == "RFC 5627 §5.2"
    assert is_gruu_spec({"temp_gruu_of": "f1"}) and not is_gruu_spec({"path_of": "f1"}) and not is_gruu_spec("sip:x")


def test_checks_pass_on_a_whole_reg2_exchange():
    """The registrar as RFC 5627 §5.2 describes it: both flows listed, one pub-gruu, the newest temp-gruu."""
    earlier = [GruuSeen("f1", INSTANCE, "c1", PUB, "sip:t1@ims.test;gr")]
    now = ctx(contact(FLOWS["f1"], reg_id=1, pub=PUB, temp="sip:t2@ims.test;gr"),
              contact(FLOWS["f2"], reg_id=2, pub=PUB, temp="sip:t2@ims.test;gr"), history=earlier)
    findings = (run_check("gruu", {"flow": "f2", "present": True, "pub_form": True, "same_pub_as": ["f1"]}, now)
                + run_check("temp_gruu", {"flow": "f2", "new": True}, now))
    assert [f.outcome for f in findings] == [PASS] * 5, findings
    assert findings[0].ref == "RFC 5627 §5.2; RFC 5627 §5.1 ¶4"


def test_not_echoed_fails_when_the_registrar_returns_the_uas_own_gruus():
    ue_pub, ue_temp = "sip:ue-chosen@ims.test;gr=mine", "sip:ue-chosen-temp@ims.test;gr"
    sent = Request(method="REGISTER", uri="sip:ims.test", headers=[
        ("To", f"<{AOR}>"), ("Call-ID", "c1"), ("CSeq", "1 REGISTER"),
        ("Contact", contact(FLOWS["f1"], reg_id=1, pub=ue_pub, temp=ue_temp))])

    def judged(pub, temp):
        c = ctx(contact(FLOWS["f1"], reg_id=1, pub=pub, temp=temp))
        c.request = sent
        return gruu_check({"flow": "f1", "not_echoed": True}, c)

    assert [o.ok for o in judged(PUB, "sip:t1@ims.test;gr")] == [True, True]
    echoed = judged(ue_pub, ue_temp)
    assert [(o.label, o.ok) for o in echoed] == [
        ("pub-gruu the UA sent on flow f1's Contact ignored", False),
        ("temp-gruu the UA sent on flow f1's Contact ignored", False)]
    assert echoed[0].observed == f"pub-gruu {ue_pub}"
    assert [o.ok for o in judged(PUB, ue_temp)] == [True, False]
    # a REGISTER that suggested nothing: nothing to judge
    assert gruu_check({"flow": "f1", "not_echoed": True}, ctx(contact(FLOWS["f1"], reg_id=1, pub=PUB))) == []
    c = ctx(contact(FLOWS["f1"], reg_id=1, pub=ue_pub, temp="sip:t1@ims.test;gr"))
    c.request = sent
    findings = run_check("gruu", {"flow": "f1", "not_echoed": True}, c)
    assert [(f.outcome, f.ref) for f in findings] == [
        (FAIL, "RFC 5627 §5.1 ¶4 (pub-gruu ignored); RFC 5627 §5.1 ¶7"),
        (PASS, "RFC 5627 §5.1 ¶4 (pub-gruu ignored); RFC 5627 §5.1 ¶7")]
