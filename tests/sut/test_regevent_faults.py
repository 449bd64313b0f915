"""Each reg event fault breaks the rule it names, visibly in the NOTIFY body; without it the same
exchange is correct (RFC 3680 section 4.3, RFC 5626 section 6 paragraph 8)."""

from __future__ import annotations

from regevent_helpers import Node, contacts, doc
from sut_helpers import contact


def full_after_two_flows(**config):
    n = Node(**config)
    n.register()
    n.register([contact("10.0.0.2", reg_id=2)], call_id="C2", token="t2")
    r, [notify] = n.subscribe()
    n.ok(notify)
    return n, notify


def test_notify_only_newest():
    _, good = full_after_two_flows()
    assert sorted(contacts(good)) == [1, 2]
    _, bad = full_after_two_flows(faults={"notify-only-newest"})
    assert sorted(contacts(bad)) == [2]                       # reg-id 1's contact is missing
    # partial state too: a Contact: * removes both, only one is reported
    n, _ = full_after_two_flows(faults={"notify-only-newest"})
    _, [p] = n.register(["*"], cseq=2, expires=0)
    assert len(contacts(p)) == 1


def test_notify_one_contact_per_instance():
    _, bad = full_after_two_flows(faults={"notify-one-contact-per-instance"})
    [reg] = doc(bad).registrations
    assert len(reg.contacts) == 1 and reg.contacts[0].reg_id == 2   # the flows folded into one
    n, _ = full_after_two_flows(faults={"notify-one-contact-per-instance"})
    _, [p] = n.register([contact("10.0.0.2", reg_id=2, expires=0)], call_id="C2", cseq=2, token="t2")
    # reg-id 2 gone: the folded contact "changes" to reg-id 1 instead of a terminated reg-id 2
    assert [(c.reg_id, c.state) for c in doc(p).registrations[0].contacts] == [(1, "active")]


def test_notify_drops_unregistered():
    for faults, expected in ((set(), [(2, "terminated", "unregistered")]),
                             ({"notify-drops-unregistered"}, [])):
        n, _ = full_after_two_flows(faults=faults)
        _, [p] = n.register([contact("10.0.0.2", reg_id=2, expires=0)], call_id="C2", cseq=2, token="t2")
        assert [(k, c.state, c.event) for k, c in contacts(p).items()] == expected
        assert doc(p).registrations[0].state == "active"
