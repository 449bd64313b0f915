"""The reference S-CSCF's reg event notifier (RFC 3680 on RFC 6665), sans-IO: SUBSCRIBE in,
200 and NOTIFYs out, the binding changes reported by the table, the clock moved by hand."""

from __future__ import annotations

import pytest

from conformance.sip.headers import parse_name_addr
from conformance.sip.reginfo import apply_partial
from conformance.sut.actions import SendOnFlow, SendToHop
from regevent_helpers import SUB_FLOW, Node, contacts, doc, notifies, notify_actions, subscribe
from routing_helpers import PEER_FLOW, peer_request, requests, responses
from sut_helpers import AOR, UE_FLOW, contact, register

INST = '"<urn:uuid:00000000-0000-1000-8000-000A95A0E128>"'


def two_flows(n: Node) -> None:
    n.register()                                                          # reg-id 1 via t1
    n.register([contact("10.0.0.2", reg_id=2)], call_id="C2", token="t2")   # Reg2


def subscribed(n: Node, **kw):
    r, [notify] = n.subscribe(**kw)
    assert r.status == 200
    n.ok(notify)
    return r, notify


# -- SUBSCRIBE answered ----------------------------------------------------------------------
def test_subscribe_gets_200_and_at_once_a_full_notify_of_every_flow():
    n = Node()
    two_flows(n)
    actions = n.send(subscribe(record_route=["<sip:edge1.test;lr;ob>", "<sip:edge2.test;lr>"]), SUB_FLOW)
    [(_, ok)] = responses(actions)
    [(action, notify)] = notify_actions(actions)
    assert ok.status == 200 and ok.get("Expires") == "600"
    assert parse_name_addr(ok.get("To")).tag                            # the dialog's local tag
    assert ok.values("Record-Route") == ["<sip:edge1.test;lr;ob>", "<sip:edge2.test;lr>"]
    assert ok.get("Contact") == "<sip:127.0.0.1:5070;transport=udp>"
    # the NOTIFY: in the dialog, to the Contact, along the route set (RFC 3261 section 12.1.1)
    assert notify.uri == "sip:ue-a@127.0.0.11:5071;ob"
    assert notify.values("Route") == ["<sip:edge1.test;lr;ob>", "<sip:edge2.test;lr>"]
    assert isinstance(action, SendToHop) and action.address == ("edge1.test", 5060)
    assert notify.get("Call-ID") == "S1" and notify.get("Event") == "reg"
    assert parse_name_addr(notify.get("From")).tag == parse_name_addr(ok.get("To")).tag
    assert notify.get("To") == f"<{AOR}>;tag=w1"
    assert notify.get("Subscription-State") == "active;expires=600"
    assert notify.get("Content-Type") == "application/reginfo+xml"
    info = doc(notify)
    assert (info.version, info.state) == (0, "full")
    [reg] = info.registrations
    assert (reg.aor, reg.state) == (AOR, "active")
    flows = contacts(notify)
    assert sorted(flows) == [1, 2]
    for reg_id, c in flows.items():
        assert (c.state, c.event, c.expires) == ("active", "registered", 3600)
        assert c.instance == INST.strip('"') and c.reg_id == reg_id
    assert flows[2].callid == "C2" and flows[2].cseq == 1
    assert flows[1].id != flows[2].id


def test_without_a_route_set_the_notify_goes_back_over_the_subscribe_flow():
    n = Node()
    n.register()
    [(action, _)] = notify_actions(n.send(subscribe(), SUB_FLOW))
    assert isinstance(action, SendOnFlow) and action.flow == SUB_FLOW and action.address is None


def test_an_unregistered_aor_is_init_with_no_contact():
    n = Node()
    _, notify = subscribed(n)
    [reg] = doc(notify).registrations
    assert (reg.state, reg.contacts) == ("init", ())


@pytest.mark.parametrize("request_kw, status", [
    ({"event": "presence"}, 489),                           # RFC 6665 section 4.2.1.1
    ({"frm": "sip:mallory@ims.test"}, 403),                 # RFC 3680 section 6: the AOR itself
    ({"uri": "sip:ue-a@other.test", "frm": "sip:ue-a@other.test"}, None),   # not ours: proxied
    ({"to_tag": "nope"}, 481),                              # no such dialog
    ({"contact": ""}, 400),                                 # RFC 6665: a Contact is mandatory
    ({"accept": "application/pidf+xml"}, 406),
])
def test_refusals(request_kw, status):
    n = Node()
    n.register()
    actions = n.send(subscribe(**request_kw), SUB_FLOW)
    assert notifies(actions) == []
    if status is None:
        assert all(m.status != 200 for _, m in responses(actions))
        return
    [(_, r)] = responses(actions)
    assert r.status == status
    if status == 489:
        assert r.get("Allow-Events") == "reg"


def test_default_expires_is_3761_and_a_retransmission_is_answered_from_the_cache():
    n = Node()
    n.register()
    request = subscribe(expires=None)
    actions = n.send(request, SUB_FLOW)
    [(_, ok)] = responses(actions)
    assert ok.get("Expires") == "3761"                                  # RFC 3680 section 4.4
    again = n.send(request, SUB_FLOW)
    assert [m.status for _, m in responses(again)] == [200] and notifies(again) == []


# -- partial state on every change -----------------------------------------------------------
def test_partial_notifies_for_reg2_refresh_dereg_and_contact_star():
    n = Node()
    n.register()
    _, full = subscribed(n)
    view = doc(full)
    _, [p1] = n.register([contact("10.0.0.2", reg_id=2)], call_id="C2", token="t2")
    assert (doc(p1).version, doc(p1).state) == (1, "partial")
    assert [(k, c.state, c.event) for k, c in contacts(p1).items()] == [(2, "active", "registered")]
    view = apply_partial(view, doc(p1))
    n.ok(p1)
    n.now += 100
    _, [p2] = n.register(cseq=2)                                          # refresh of reg-id 1
    assert [(k, c.state, c.event, c.expires) for k, c in contacts(p2).items()] == \
        [(1, "active", "refreshed", 3600)]
    view = apply_partial(view, doc(p2))
    _, [p3] = n.register([contact("10.0.0.2", reg_id=2, expires=0)], call_id="C2", cseq=2, token="t2")
    [reg] = doc(p3).registrations
    assert reg.state == "active"                                          # reg-id 1 is still bound
    assert [(k, c.state, c.event, c.expires) for k, c in contacts(p3).items()] == \
        [(2, "terminated", "unregistered", 0)]
    view = apply_partial(view, doc(p3))
    _, [p4] = n.register(["*"], cseq=3, expires=0)
    [reg] = doc(p4).registrations
    assert reg.state == "terminated"
    assert [(k, c.state, c.event) for k, c in contacts(p4).items()] == [(1, "terminated", "unregistered")]
    view = apply_partial(view, doc(p4))
    assert doc(p4).version == 4
    assert all(c.state == "terminated" for c in view.registrations[0].contacts)


def test_reg1b_shows_the_old_contact_unregistered_and_the_new_one_registered():
    n = Node()
    n.register()
    subscribed(n)
    _, [p] = n.register([contact("10.0.0.5", reg_id=1)], call_id="C9", token="t9")   # Reg1b
    got = {c.uri: (c.state, c.event) for c in doc(p).registrations[0].contacts}
    assert got == {"sip:ue-a@10.0.0.1;transport=tcp": ("terminated", "unregistered"),
                   "sip:ue-a@10.0.0.5;transport=tcp": ("active", "registered")}


def test_expiry_and_flow_failure():
    n = Node()
    n.register([contact("10.0.0.1", expires=100)])
    n.register([contact(reg_id=2)], call_id="C2", flow=UE_FLOW, first_hop=True, path=False)
    subscribed(n)
    assert n.node.next_deadline() == n.now + 100                          # the binding's expiry
    [p] = notifies(n.timer(100))
    assert [(k, c.state, c.event) for k, c in contacts(p).items()] == [(1, "terminated", "expired")]
    n.ok(p)
    n.node.flow_closed(UE_FLOW)                                           # RFC 5626 section 7
    assert n.node.next_deadline() <= n.now                                # at once
    [p] = notifies(n.timer(0))
    assert [(k, c.state, c.event) for k, c in contacts(p).items()] == [(2, "terminated", "deactivated")]
    assert doc(p).registrations[0].state == "terminated"


# -- refresh, unsubscribe, expiry, failures --------------------------------------------------
def test_refresh_gets_200_and_a_full_notify_and_an_old_cseq_500():
    n = Node()
    n.register()
    ok, _ = subscribed(n)
    tag = parse_name_addr(ok.get("To")).tag
    n.now += 10
    r, [notify] = n.subscribe(to_tag=tag, cseq=2, expires=1200, uri="sip:127.0.0.1:5070")
    assert r.status == 200 and r.get("Expires") == "1200"
    assert doc(notify).state == "full" and doc(notify).version == 1
    assert notify.get("Subscription-State") == "active;expires=1200"
    r, notes = n.subscribe(to_tag=tag, cseq=2, expires=1200)
    assert r.status == 500 and notes == []


def test_unsubscribe_gets_a_final_full_notify_and_nothing_after():
    n = Node()
    n.register()
    ok, _ = subscribed(n)
    r, [last] = n.subscribe(to_tag=parse_name_addr(ok.get("To")).tag, cseq=2, expires=0)
    assert r.status == 200
    assert last.get("Subscription-State") == "terminated;reason=timeout"
    assert doc(last).state == "full" and len(contacts(last)) == 1
    _, after = n.register(cseq=2)
    assert after == []


def test_the_subscription_expires_with_a_terminated_notify():
    n = Node()
    n.register()
    subscribed(n, expires=60)
    [last] = notifies(n.timer(60))
    assert last.get("Subscription-State") == "terminated;reason=timeout"
    assert n.node.notifier.subs.all() == []


@pytest.mark.parametrize("status", [481, 408])
def test_481_or_408_to_a_notify_ends_the_subscription(status):
    n = Node()
    n.register()
    r, [notify] = n.subscribe()
    n.ok(notify, status)
    _, after = n.register(cseq=2)
    assert after == []


def test_a_500_to_a_notify_keeps_the_subscription():
    n = Node()
    n.register()
    r, [notify] = n.subscribe()
    n.ok(notify, 500)
    _, after = n.register(cseq=2)
    assert len(after) == 1


def test_udp_notify_is_retransmitted_then_gives_up():
    n = Node()
    n.register()
    _, [notify] = n.subscribe()
    [again] = notifies(n.timer(0.5))                                       # Timer E = T1
    assert bytes(again) == bytes(notify)
    assert notifies(n.timer(0.4)) == []
    assert len(notifies(n.timer(0.6))) == 1                                # 2*T1 after the first
    for _ in range(40):
        n.timer(4)
    assert n.node.notifier.subs.all() == [] and n.node.notifier.txns == {}   # Timer F: 408


def test_a_200_stops_the_retransmissions():
    n = Node()
    n.register()
    _, [notify] = n.subscribe()
    n.ok(notify)
    assert notifies(n.timer(0.5)) == []


def test_send_failure_ends_the_subscription():
    n = Node()
    n.register()
    actions = n.send(subscribe(), SUB_FLOW)
    [(action, _)] = notify_actions(actions)
    n.node.send_failed(action.ref, n.now)
    assert n.node.notifier.subs.all() == []


# -- modes --------------------------------------------------------------------------------------
@pytest.mark.parametrize("config, served", [
    ({}, True), ({"mode": "rel7"}, True), ({"mode": "rfc3261"}, False), ({"reg_event": False}, False),
])
def test_which_configurations_serve_reg_event(config, served):
    n = Node(**config)
    assert (n.node.notifier is not None) == served
    actions = n.send(subscribe(), SUB_FLOW)
    assert bool(notifies(actions)) == served
    if not served:                       # proxied towards the (absent) bindings: 480
        assert [m.status for _, m in responses(actions)] == [480]


def test_requests_reach_the_proxy_as_before_with_reg_event_on():
    n = Node()
    n.register()
    [(_, fwd)] = requests(n.send(peer_request(), PEER_FLOW))
    assert fwd.method == "MESSAGE"


def test_register_2xx_goes_out_before_the_notify():
    n = Node()
    n.register()
    subscribed(n)
    actions = n.send(register(cseq=2))
    assert len(actions) == 2
    assert actions[0].data.startswith(b"SIP/2.0 200") and actions[1].data.startswith(b"NOTIFY")
