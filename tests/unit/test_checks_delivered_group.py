"""delivered: {at_most_one_of: [...]}: one branch per instance (RFC 5626 §7 bullet 1)."""

from conformance.meaning.checks import CheckContext
from conformance.meaning.checks.terminating import delivered_check
from conformance.sip.message import Request


def req():
    return Request(method="MESSAGE", uri="sip:ue@127.0.0.1", headers=[("Call-ID", "c")])


def test_one_flow_of_the_instance_and_the_plain_contact_pass():
    ctx = CheckContext(None, None, deliveries={"f2": [req()], "f3": [req()]})
    [o] = delivered_check({"at_most_one_of": ["f1", "f3"]}, ctx)
    assert o.ok is True and "f2" in o.observed


def test_two_flows_of_the_instance_fail():
    ctx = CheckContext(None, None, deliveries={"f1": [req()], "f3": [req()]})
    [o] = delivered_check({"at_most_one_of": ["f1", "f3"]}, ctx)
    assert o.ok is False and "f1" in o.observed and "f3" in o.observed


def test_none_delivered_passes():
    [o] = delivered_check({"at_most_one_of": ["f1", "f3"]}, CheckContext(None, None, deliveries={}))
    assert o.ok is True
