"""contacts / reg_ids / expires checks on a 2xx Contact list (conformance/meaning/checks/contacts.py)."""

import pytest

from conformance.meaning.checks import CheckContext, run_check
from conformance.meaning.checks.contacts import contacts_check, expires_check, reg_ids_check
from conformance.sip.message import Response
INSTANCE = "<urn:uuid:00000000-0000-1000-8000-AABBCCDDEEFF>"

OTHER = "<urn:uuid:11111111-2222-3333-4444-555555555555>"
FLOWS = {"f1": "sip:ue@127.0.0.1:5070", "f2": "sip:ue@127.0.0.2:5071;transport=tcp",
         "f3": "sip:ue@ue.example.com:5072"}


def c(uri, *, reg_id=None, instance=INSTANCE, expires=600):
    v = f"<{uri}>"
    if reg_id is not None:
        v += f";reg-id={reg_id}"
    if instance is not None:
        v += f';+sip.instance="{instance}"'
    if expires is not None:
        v += f";expires={expires}"
    return v


def contexts(make_response, *contacts, **kw):
    resp = make_response(*(f"Contact: {x}" for x in contacts))
    return CheckContext(request=None, response=resp, instance=kw.pop("instance", INSTANCE),
                        flow_contacts=kw.pop("flow_contacts", FLOWS), **kw)


def by_label(obs):
    return {o.label: o for o in obs}


# -- contacts: count / instance_count ---------------------------------------------------------
def test_count_matches(make_response):
    ctx = contexts(make_response, c(FLOWS["f1"], reg_id=1), c(FLOWS["f2"], reg_id=2))
    [o] = contacts_check({"count": 2}, ctx)
    assert o.ok is True and o.label == "number of bindings"
    [o] = contacts_check({"count": 1}, ctx)
    assert o.ok is False
    assert "2 Contact" in o.observed  # how many were seen
    assert "127.0.0.1:5070" in o.observed and "127.0.0.2:5071" in o.observed


def test_count_with_comma_separated_contacts(make_response):
    ctx = contexts(make_response, c(FLOWS["f1"]) + ", " + c(FLOWS["f2"]), c(FLOWS["f3"]))
    [o] = contacts_check({"count": 3}, ctx)
    assert o.ok is True


def test_count_zero_on_no_contact(make_response):
    ctx = contexts(make_response)
    [o] = contacts_check({"count": 0}, ctx)
    assert o.ok is True
    assert o.observed == "no Contact"


def test_instance_count_counts_only_the_ue_instance(make_response):
    ctx = contexts(make_response, c(FLOWS["f1"]), c(FLOWS["f2"], instance=OTHER),
                   c(FLOWS["f3"], instance=None))
    [o] = contacts_check({"instance_count": 1}, ctx)
    assert o.ok is True
    assert INSTANCE in o.expected
    [o] = contacts_check({"instance_count": 3}, ctx)
    assert o.ok is False


def test_instance_count_with_no_instance_in_context(make_response):
    ctx = contexts(make_response, c(FLOWS["f1"], instance=None), instance=None)
    [o] = contacts_check({"instance_count": 0}, ctx)
    assert o.ok is True
    [o] = contacts_check({"instance_count": 1}, ctx)
    assert o.ok is False


# -- contacts: include / exclude --------------------------------------------------------------
def test_include_and_exclude(make_response):
    ctx = contexts(make_response, c(FLOWS["f1"]), c(FLOWS["f3"]))
    obs = by_label(contacts_check({"include": ["f1", "f3"], "exclude": ["f2"]}, ctx))
    assert obs["binding of flow f1 listed"].ok is True
    assert obs["binding of flow f3 listed"].ok is True
    assert obs["binding of flow f2 not listed"].ok is True
    obs = by_label(contacts_check({"include": ["f2"], "exclude": ["f1"]}, ctx))
    assert obs["binding of flow f2 listed"].ok is False
    assert obs["binding of flow f1 not listed"].ok is False
    assert obs["binding of flow f2 listed"].expected == f"a Contact for <{FLOWS['f2']}>"


@pytest.mark.parametrize("listed", [
    "sip:ue@UE.Example.COM:5072",            # host is case-insensitive
    "sip:ue@ue.example.com:5072;lr",         # a parameter only one side has is ignored
    "sip:%75e@ue.example.com:5072",           # escaped user part
    "SIP:ue@ue.example.com:5072",            # scheme case
])
def test_include_compares_uris_per_rfc3261(make_response, listed):
    ctx = contexts(make_response, c(listed))
    [o] = contacts_check({"include": ["f3"]}, ctx)
    assert o.ok is True, listed


@pytest.mark.parametrize("listed", [
    "sip:ue@ue.example.com",                 # port absent != port 5072
    "sip:ue@ue.example.com:5060",            # other port
    "sip:UE@ue.example.com:5072",            # user part is case-sensitive
    "sip:ue@ue.example.com:5072;transport=tcp",  # transport on one side only
    "sips:ue@ue.example.com:5072",           # other scheme
])
def test_include_rejects_different_uris(make_response, listed):
    ctx = contexts(make_response, c(listed))
    [o] = contacts_check({"include": ["f3"]}, ctx)
    assert o.ok is False, listed
    [o] = contacts_check({"exclude": ["f3"]}, ctx)
    assert o.ok is True, listed


def test_transport_parameter_must_match(make_response):
    ctx = contexts(make_response, c("sip:ue@127.0.0.2:5071;transport=TCP"))
    [o] = contacts_check({"include": ["f2"]}, ctx)
    assert o.ok is True
    ctx = contexts(make_response, c("sip:ue@127.0.0.2:5071;transport=udp"))
    [o] = contacts_check({"include": ["f2"]}, ctx)
    assert o.ok is False


def test_include_of_unknown_flow_is_not_found(make_response):
    ctx = contexts(make_response, c(FLOWS["f1"]))
    [o] = contacts_check({"include": ["nope"]}, ctx)
    assert o.ok is False
    [o] = contacts_check({"exclude": ["nope"]}, ctx)
    assert o.ok is True


# -- contacts: expires / instance all ---------------------------------------------------------
def test_expires_all(make_response):
    ctx = contexts(make_response, c(FLOWS["f1"]), c(FLOWS["f2"]))
    [o] = contacts_check({"expires": "all"}, ctx)
    assert o.ok is True
    ctx = contexts(make_response, c(FLOWS["f1"]), c(FLOWS["f2"], expires=None))
    [o] = contacts_check({"expires": "all"}, ctx)
    assert o.ok is False
    assert o.observed.startswith("without expires: ")
    assert "127.0.0.2" in o.observed and "127.0.0.1" not in o.observed


def test_expires_non_numeric_counts_as_missing(make_response):
    ctx = contexts(make_response, f"<{FLOWS['f1']}>;expires=soon")
    [o] = contacts_check({"expires": "all"}, ctx)
    assert o.ok is False


def test_instance_all(make_response):
    ctx = contexts(make_response, c(FLOWS["f1"]), c(FLOWS["f2"], instance=OTHER))
    [o] = contacts_check({"instance": "all"}, ctx)
    assert o.ok is True  # any +sip.instance, not necessarily the UE's
    ctx = contexts(make_response, c(FLOWS["f1"]), c(FLOWS["f3"], instance=None))
    [o] = contacts_check({"instance": "all"}, ctx)
    assert o.ok is False
    assert "ue.example.com" in o.observed


# -- contacts: empty / star / unparseable / several args ---------------------------------------
def test_empty(make_response):
    [o] = contacts_check({"empty": True}, contexts(make_response))
    assert o.ok is True and o.observed == "no Contact"
    [o] = contacts_check({"empty": True}, contexts(make_response, c(FLOWS["f1"])))
    assert o.ok is False


def test_star_contact(make_response):
    ctx = contexts(make_response, "*")
    obs = by_label(contacts_check({"count": 0, "include": ["f1"], "empty": True}, ctx))
    assert obs["number of bindings"].ok is True  # * is not a binding
    assert obs["binding of flow f1 listed"].ok is False
    assert obs["no Contact listed"].ok is False  # but it is a Contact header


def test_unparseable_contact_is_a_violation():
    resp = Response(status=200, reason="OK", headers=[("Contact", "<sip:ue@127.0.0.1:5070")])
    ctx = CheckContext(request=None, response=resp, instance=INSTANCE, flow_contacts=FLOWS)
    [o] = contacts_check({"count": 1}, ctx)
    assert o.ok is False
    assert o.observed.startswith("unparseable Contact")


def test_one_observation_per_argument(make_response):
    ctx = contexts(make_response, c(FLOWS["f1"], reg_id=1), c(FLOWS["f2"], reg_id=2))
    obs = contacts_check({"instance_count": 2, "count": 2, "include": ["f1", "f2"], "exclude": ["f3"],
                          "expires": "all", "instance": "all"}, ctx)
    assert len(obs) == 7
    assert all(o.ok is True for o in obs)


def test_unknown_args_only_check_presence(make_response):
    [o] = contacts_check({"empty": False}, contexts(make_response))
    assert o.label == "Contact list present" and o.ok is False
    [o] = contacts_check({"empty": False}, contexts(make_response, c(FLOWS["f1"])))
    assert o.ok is True


@pytest.mark.parametrize("fn, args", [
    (contacts_check, {"count": 1}),
    (reg_ids_check, {"equal": [1]}),
    (expires_check, {"flow": "f1", "min": 1}),
])
def test_no_response_is_inconclusive(fn, args):
    ctx = CheckContext(request=None, response=None, instance=INSTANCE, flow_contacts=FLOWS,
                       no_response_reason="connection reset")
    [o] = fn(args, ctx)
    assert o.ok is None
    assert o.observed == "connection reset"


# -- reg_ids ----------------------------------------------------------------------------------
def test_reg_ids_equal_any_order(make_response):
    ctx = contexts(make_response, c(FLOWS["f2"], reg_id=2), c(FLOWS["f1"], reg_id=1))
    [o] = reg_ids_check({"equal": [1, 2]}, ctx)
    assert o.ok is True
    assert o.expected == "reg-id 1, 2"
    assert o.observed == "reg-id 2, 1"


def test_reg_ids_mismatch(make_response):
    ctx = contexts(make_response, c(FLOWS["f1"], reg_id=1), c(FLOWS["f2"], reg_id=3))
    [o] = reg_ids_check({"equal": [1, 2]}, ctx)
    assert o.ok is False
    ctx = contexts(make_response, c(FLOWS["f1"], reg_id=1))
    [o] = reg_ids_check({"equal": [1, 2]}, ctx)
    assert o.ok is False


def test_reg_ids_ignore_other_instances(make_response):
    ctx = contexts(make_response, c(FLOWS["f1"], reg_id=1), c(FLOWS["f2"], reg_id=7, instance=OTHER))
    [o] = reg_ids_check({"equal": [1]}, ctx)
    assert o.ok is True


def test_reg_ids_missing(make_response):
    ctx = contexts(make_response, c(FLOWS["f1"], reg_id=1), c(FLOWS["f2"]))
    [o] = reg_ids_check({"equal": [1]}, ctx)
    assert o.ok is False
    assert o.observed == "reg-id 1, missing"


def test_reg_ids_no_contact_of_instance(make_response):
    [o] = reg_ids_check({"equal": [1]}, contexts(make_response))
    assert o.ok is False
    assert o.observed == "reg-id no Contact of the instance"
    [o] = reg_ids_check({"equal": []}, contexts(make_response))
    assert o.ok is True


@pytest.mark.parametrize("bad", ["abc", "1x", "-1", "+1", "1_0"])
def test_reg_ids_unparseable_value_is_a_violation(make_response, bad):
    ctx = contexts(make_response, c(FLOWS["f1"], reg_id=1), c(FLOWS["f2"], reg_id=bad))
    [o] = reg_ids_check({"equal": [1]}, ctx)
    assert o.ok is False
    assert bad in o.observed


def test_reg_ids_missing_is_recorded_by_default(make_response):
    # RFC 5626 §9.2 shows the reg-ids in an example only (no keyword): a record, even in strict mode
    ctx = contexts(make_response, c(FLOWS["f1"]))
    [f] = run_check("reg_ids", {"equal": [1]}, ctx)
    assert f.level == "MAY"
    assert f.outcome == "info"
    assert f.ref == "RFC 5626 §9.2"
    [f] = run_check("reg_ids", {"equal": [1]}, ctx, strict=True)
    assert f.outcome == "info"


# -- expires ----------------------------------------------------------------------------------
def test_expires_within_bounds(make_response):
    ctx = contexts(make_response, c(FLOWS["f1"], expires=300), c(FLOWS["f2"], expires=3600))
    [o] = expires_check({"flow": "f1", "min": 1, "max": 300}, ctx)
    assert o.ok is True
    assert o.observed == "expires=300"
    assert o.expected == f"expires >= 1 and <= 300 on <{FLOWS['f1']}>"
    [o] = expires_check({"flow": "f2", "min": 1, "max": 300}, ctx)
    assert o.ok is False
    [o] = expires_check({"flow": "f2", "min": 3601}, ctx)
    assert o.ok is False
    [o] = expires_check({"flow": "f2", "max": 3600}, ctx)
    assert o.ok is True


def test_expires_presence_only(make_response):
    ctx = contexts(make_response, c(FLOWS["f1"], expires=0))
    [o] = expires_check({"flow": "f1"}, ctx)
    assert o.ok is True
    assert o.expected.startswith("expires present")


def test_expires_missing_param(make_response):
    ctx = contexts(make_response, c(FLOWS["f1"], expires=None))
    [o] = expires_check({"flow": "f1", "min": 1}, ctx)
    assert o.ok is False
    assert o.observed.startswith("no expires on")


def test_expires_flow_not_listed_is_inconclusive(make_response):
    ctx = contexts(make_response, c(FLOWS["f1"]))
    [o] = expires_check({"flow": "f2", "min": 1}, ctx)
    assert o.ok is None
    assert o.observed.startswith("flow f2 not listed")
    [f] = run_check("expires", {"flow": "f2", "min": 1}, ctx)
    assert f.outcome == "inconclusive"


def test_expires_matches_by_uri_equivalence(make_response):
    ctx = contexts(make_response, c("sip:ue@UE.EXAMPLE.com:5072", expires=10))
    [o] = expires_check({"flow": "f3", "max": 20}, ctx)
    assert o.ok is True


@pytest.mark.parametrize("bad", ["+2", "2_0", " 2", "٢"])  # not 1*DIGIT, though int() takes them
def test_reg_ids_only_ascii_digits_count(make_response, bad):
    ctx = contexts(make_response, c(FLOWS["f1"], reg_id=1), c(FLOWS["f2"], reg_id=2))
    [o] = reg_ids_check({"equal": [1, 2]}, ctx)
    assert o.ok is True
    resp = Response(status=200, reason="OK", headers=[
        ("Contact", c(FLOWS["f1"], reg_id=1)),
        ("Contact", f'<{FLOWS["f2"]}>;reg-id="{bad}";+sip.instance="{INSTANCE}"'
         if bad.strip() != bad else c(FLOWS["f2"], reg_id=bad))])
    ctx = CheckContext(request=None, response=resp, instance=INSTANCE, flow_contacts=FLOWS)
    [o] = reg_ids_check({"equal": [1, 2]}, ctx)
    assert o.ok is False
