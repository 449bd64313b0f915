"""GRUUs of the reference registrar (RFC 5627 sections 5.1 to 5.3, 5.5), sans-IO: the 2xx
Contact parameters, one public GRUU per AOR and instance, a temporary GRUU per registration,
the Call-ID invalidation, and GRUUs in the reg event NOTIFY (RFC 5628)."""

from __future__ import annotations

import pytest

from conformance.sip.headers import parse_contacts

from regevent_helpers import Node, contacts, gruu_params
from routing_helpers import PEER_FLOW, peer_request, requests, responses
from sut_helpers import AOR, INSTANCE2, contact

SUP = "path, outbound, gruu"
PUB = f"{AOR};gr=urn:uuid:00000000-0000-1000-8000-000A95A0E128"


def two_flows(n: Node, supported: str = SUP):
    r1, _ = n.register(supported=supported)
    r2, _ = n.register([contact("10.0.0.2", reg_id=2)], call_id="C2", token="t2", supported=supported)
    return r1, r2


def test_2xx_carries_one_pub_gruu_per_instance_and_a_new_temp_gruu_per_registration():
    n = Node()
    r1, r2 = two_flows(n)
    [(pub1, temp1)] = gruu_params(r1).values()
    got = gruu_params(r2)
    assert pub1 == PUB                                        # section 5.1: AOR + gr=instance
    assert got[1][0] == got[2][0] == PUB                      # the same for both flows
    assert got[1][1] == got[2][1] != temp1                    # section 5.2: the newest temp-gruu
    assert temp1.endswith("@ims.test;gr") and AOR.split(":")[1].split("@")[0] not in temp1
    assert not r2.values("Require") or "gruu" not in r2.get("Require")
    assert "gruu" not in (r2.get("Supported") or "")          # section 5.2 SHOULD NOT


@pytest.mark.parametrize("config, supported", [
    ({}, "path, outbound"),                                  # no Supported: gruu
    ({"gruu": False}, SUP),
    ({"mode": "rel7"}, SUP),                                  # Rel-7: GRUU off
])
def test_no_gruu_params_without_supported_gruu_or_with_gruu_off(config, supported):
    n = Node(**config)
    r, _ = n.register(supported=supported)
    assert all(p == (None, None) for p in gruu_params(r).values())


def test_a_contact_without_instance_gets_no_gruu():
    n = Node()
    r, _ = n.register([contact(reg_id=None, instance=None)], supported=SUP)
    assert all(p == (None, None) for p in gruu_params(r).values())


def test_the_ua_cannot_suggest_gruus():
    n = Node()
    r, _ = n.register([contact(extra=';pub-gruu="sip:evil@ims.test;gr=x";temp-gruu="sip:t@ims.test;gr"')],
                      supported=SUP)
    [(pub, temp)] = gruu_params(r).values()
    assert pub == PUB and "evil" not in r.get("Contact") and temp != "sip:t@ims.test;gr"
    r, _ = n.register([contact(extra=';pub-gruu="sip:evil@ims.test;gr=x"')], cseq=2)
    assert "evil" not in r.get("Contact")                    # not echoed without gruu either


def test_call_id_change_invalidates_the_instance_temp_gruus_only():
    n = Node()
    two_flows(n)
    registry = n.node.registrar.gruu
    binding = n.node.registrar.lookup(AOR, n.now)[0]
    before = [t for t, _ in registry.temp_gruus(binding)]
    assert len(before) == 2
    r, _ = n.register(call_id="C1-new", supported=SUP)       # reg-id 1 with a new Call-ID
    after = [t for t, _ in registry.temp_gruus(binding)]
    assert len(after) == 1 and after[0] not in before          # all earlier ones invalid
    assert sorted(gruu_params(r)) == [1, 2]                   # reg-id 2's binding stays
    assert gruu_params(r)[2][0] == PUB                         # the pub-gruu survives


def test_refresh_with_the_same_call_id_and_a_new_reg_id_keep_the_temp_gruus():
    n = Node()
    n.register(supported=SUP)
    n.register(cseq=2, supported=SUP)                          # same Call-ID
    n.register([contact("10.0.0.2", reg_id=2)], call_id="C2", token="t2", supported=SUP)  # new reg-id
    binding = n.node.registrar.lookup(AOR, n.now)[0]
    assert len(n.node.registrar.gruu.temp_gruus(binding)) == 3


def test_another_instance_has_its_own_gruus():
    n = Node()
    n.register(supported=SUP)
    r, _ = n.register([contact("10.0.0.3", instance=INSTANCE2)], call_id="C3", token="t3", supported=SUP)
    pubs = {c.param("pub-gruu") for c in parse_contacts(r)}
    assert len(pubs) == 2 and None not in pubs


def test_gruu_pub_per_flow_fault_gives_each_flow_its_own_pub_gruu():
    _, r2 = two_flows(Node(faults={"gruu-pub-per-flow"}))
    got = gruu_params(r2)
    assert got[1][0] != got[2][0]                             # breaks one per AOR + instance


def test_gruu_temp_survives_callid_fault_keeps_the_old_temp_gruus():
    n = Node(faults={"gruu-temp-survives-callid"})
    two_flows(n)
    n.register(call_id="C1-new", supported=SUP)
    binding = n.node.registrar.lookup(AOR, n.now)[0]
    assert len(n.node.registrar.gruu.temp_gruus(binding)) == 3


def test_reginfo_contacts_carry_the_gruus():
    """RFC 5627 section 5.5: with RFC 3680 and GRUU, RFC 5628's elements."""
    n = Node()
    _, r2 = two_flows(n)
    r, [notify] = n.subscribe()
    flows = contacts(notify)
    assert flows[1].pub_gruu == flows[2].pub_gruu == PUB
    [temp] = flows[2].temp_gruus
    assert temp.uri == gruu_params(r2)[2][1] and temp.first_cseq == 1


@pytest.mark.parametrize("uri", ["sip:ue-a@ims.test", f"{PUB}", "sip:tgruu.abc@ims.test;gr"])
def test_a_contact_that_is_the_aor_or_a_gruu_is_403(uri):
    """RFC 5627 section 5.1: MUST reject with 403 (a routing loop); not for a removal."""
    n = Node()
    n.register([f"<{uri}>;+sip.instance={INSTANCE2};reg-id=1"], status=403, supported=SUP)
    assert n.node.registrar.lookup(AOR, n.now) == []
    n.register([f"<{uri}>;+sip.instance={INSTANCE2};reg-id=1;expires=0"], supported=SUP)
    Node(gruu=False).register([f"<{uri}>;+sip.instance={INSTANCE2};reg-id=1"], supported=SUP)


def test_the_registry_is_bounded(monkeypatch):
    monkeypatch.setattr("conformance.sut.registrar.gruu.MAX_INSTANCES", 2)
    n = Node()
    for i in range(3):
        n.register([contact(f"10.0.0.{i + 1}", instance=f'"<urn:uuid:{i}>"')], call_id=f"C{i}",
                   supported=SUP)
    assert len(n.node.registrar.gruu) == 2
    [(_, r)] = responses(n.send(peer_request(uri="sip:ue-a@ims.test;gr=urn:uuid:0"), PEER_FLOW))
    assert r.status == 404                                    # the oldest instance forgotten
    assert len(requests(n.send(peer_request(uri="sip:ue-a@ims.test;gr=urn:uuid:2"), PEER_FLOW))) == 1
