"""Requests to a GRUU at the reference S-CSCF (RFC 5627 section 6.1 with RFC 5626 section 7),
sans-IO: to that instance only, one flow at a time; 404 for an invalid GRUU, 480 when none of
its contacts is bound."""

from __future__ import annotations

import pytest

from regevent_helpers import Node, gruu_params
from routing_helpers import PEER_FLOW, answer, peer_request, requests, responses
from sut_helpers import INSTANCE2, contact

SUP = "path, outbound, gruu"


def setup(**config):
    """Two flows of instance 1 and one of instance 2; returns (node, pub1, temp1)."""
    n = Node(**config)
    n.register(supported=SUP)
    r, _ = n.register([contact("10.0.0.2", reg_id=2)], call_id="C2", token="t2", supported=SUP)
    n.register([contact("10.0.0.3", instance=INSTANCE2)], call_id="C3", token="t3", supported=SUP)
    pub, temp = gruu_params(r)[2]
    return n, pub, temp


def to(n, uri):
    return n.send(peer_request(uri=uri), PEER_FLOW)


@pytest.mark.parametrize("which", ["pub", "temp"])
def test_a_gruu_reaches_one_flow_of_its_instance_then_the_other_after_430(which):
    n, pub, temp = setup()
    [(_, fwd)] = requests(to(n, pub if which == "pub" else temp))
    assert fwd.uri == "sip:ue-a@10.0.0.2;transport=tcp"     # the newest flow of instance 1 only
    assert ";gr" not in fwd.uri                                # section 6.1: rewritten
    [(_, retry)] = requests(n.send(answer(fwd, 430), PEER_FLOW))
    assert retry.uri == "sip:ue-a@10.0.0.1;transport=tcp"    # RFC 5626 section 7: next reg-id


def test_the_aor_still_forks_to_both_instances():
    n, _, _ = setup()
    assert len(requests(to(n, "sip:ue-a@ims.test"))) == 2


@pytest.mark.parametrize("uri", ["sip:ue-a@ims.test;gr=urn:uuid:99999999-0000-1000-8000-000000000000",
                                 "sip:tgruu.0123456789abcdef@ims.test;gr",
                                 "sip:someone@ims.test;gr=urn:uuid:00000000-0000-1000-8000-000a95a0e128"])
def test_an_unknown_gruu_is_404(uri):
    n, _, _ = setup()
    [(_, r)] = responses(to(n, uri))
    assert r.status == 404


def test_an_invalidated_temp_gruu_is_404_and_the_new_one_routes():
    n, pub, old = setup()
    r, _ = n.register(call_id="C1-new", supported=SUP)        # Call-ID change: section 5.1
    [(_, resp)] = responses(to(n, old))
    assert resp.status == 404
    new = gruu_params(r)[1][1]
    assert len(requests(to(n, new))) == 1


def test_pub_gruu_without_contacts_is_480_and_temp_gruu_404():
    n, pub, temp = setup()
    n.register([contact(expires=0)], cseq=2)
    n.register([contact("10.0.0.2", reg_id=2, expires=0)], call_id="C2", cseq=2, token="t2")
    [(_, r)] = responses(to(n, pub))
    assert r.status == 480                                     # section 6.1 MUST / 5.3
    [(_, r)] = responses(to(n, temp))
    assert r.status == 404                                     # section 5.3: invalidated


def test_gruu_route_all_flows_fault_forks_to_every_flow_of_the_instance():
    n, pub, _ = setup(faults={"gruu-route-all-flows"})
    uris = sorted(m.uri for _, m in requests(to(n, pub)))
    assert uris == ["sip:ue-a@10.0.0.1;transport=tcp", "sip:ue-a@10.0.0.2;transport=tcp"]


def test_gruu_temp_survives_callid_fault_routes_the_old_temp_gruu():
    n, _, old = setup(faults={"gruu-temp-survives-callid"})
    n.register(call_id="C1-new", supported=SUP)
    assert len(requests(to(n, old))) == 1                      # should have been 404


def test_with_gruu_off_a_gr_uri_is_just_the_aor():
    n = Node(gruu=False)
    n.register()
    assert len(requests(to(n, "sip:ue-a@ims.test;gr=urn:uuid:whatever"))) == 1
