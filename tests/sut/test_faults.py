"""Each fault breaks exactly the rule it names; without it the same exchange is correct."""

from __future__ import annotations

import pytest

from conformance.sut.config import KNOWN_FAULTS, SutConfig
from sut_helpers import INSTANCE2, Sut, contact, contacts_of, register, require_of


def hosts(response):
    return sorted(c.uri.host for c in contacts_of(response))


def reg2(sut):
    sut.send(register())
    return sut.send(register([contact("10.0.0.2", reg_id=2)], call_id="C2", token="t2"))


def test_every_fault_is_described_and_tested():
    tested = {"omit-require-outbound", "replace-on-new-reg-id", "list-only-newest",
              "keep-old-on-reg1b", "path-without-ob-accepted", "require-without-supported",
              # the edge / routing / keep-alive faults, tested in test_edge_faults.py
              "path-without-ob", "accept-forged-token", "route-to-replaced-flow", "no-crlf-pong",
              "no-stun", "keep-own-route",
              # STUN behind a NAT-like relay, tested in tests/integration/test_stun_behind_relay.py
              "stun-unxored-port",
              "route-by-contact", "retry-after-any-final",  # tested in test_scscf_routing.py
              "edge-route-by-uri",  # tested in test_edge.py
              # Flow-Timer supervision, tested in test_flow_timer.py
              "ignore-flow-timer", "no-flow-grace",
              # the IMS P-CSCF (AKA, sec-agree, ESP), tested in test_imsedge.py
              "accept-bad-icv", "ignore-security-verify", "one-sa-set-per-ue",
              "wrong-terminating-port", "keep-sec-agree",
              # Digest authentication at the registrar, tested in test_digest_auth.py
              "accept-bad-credentials",
              # a refused REGISTER still binds (RFC 3261 §10.3 atomic), below
              "bind-despite-reject", "fetch-strips-params"}
    tested |= {"commit-rejected-contacts", "key-without-instance"}   # below (issue 16)
    # the reg event notifier (test_regevent_faults.py) and GRUUs (test_gruu_*.py), issue 18
    tested |= {"notify-only-newest", "notify-one-contact-per-instance", "notify-drops-unregistered",
               "gruu-pub-per-flow", "gruu-temp-survives-callid", "gruu-route-all-flows"}
    # TLS / WebSocket listeners, tested in test_streams.py (issue 19)
    tested |= {"ws-no-subprotocol", "ws-route-by-contact", "tls-flow-survives-close"}
    assert set(KNOWN_FAULTS) == tested
    assert all(KNOWN_FAULTS.values())


def test_unknown_fault_is_rejected_with_the_valid_names():
    with pytest.raises(ValueError) as info:
        SutConfig(faults=frozenset({"no-such-fault"}))
    assert "no-such-fault" in str(info.value)
    assert all(name in str(info.value) for name in KNOWN_FAULTS)
    with pytest.raises(ValueError):
        SutConfig(mode="rel9")


def test_omit_require_outbound():
    assert require_of(Sut().send(register())) == ["outbound"]
    r = Sut(faults={"omit-require-outbound"}).send(register())
    assert r.status == 200 and not r.has("Require")


def test_replace_on_new_reg_id():
    assert hosts(reg2(Sut())) == ["10.0.0.1", "10.0.0.2"]
    sut = Sut(faults={"replace-on-new-reg-id"})
    assert hosts(reg2(sut)) == ["10.0.0.2"]
    # another instance is not touched
    r = sut.send(register([contact("10.0.0.5", instance='"<urn:uuid:other>"')], call_id="C5"))
    assert hosts(r) == ["10.0.0.2", "10.0.0.5"]


def test_list_only_newest():
    sut = Sut(faults={"list-only-newest"})
    assert hosts(reg2(sut)) == ["10.0.0.2"]
    assert len(sut.bindings()) == 2                # the table is right, the 2xx is not
    assert len(contacts_of(sut.fetch(call_id="C9"))) == 1


@pytest.mark.parametrize("faults,expected", [((), ["10.0.0.2", "10.0.0.3"]),
                                             ({"keep-old-on-reg1b"}, ["10.0.0.1", "10.0.0.2", "10.0.0.3"])])
def test_keep_old_on_reg1b(faults, expected):
    sut = Sut(faults=faults)
    reg2(sut)
    r = sut.send(register([contact("10.0.0.3", reg_id=1)], call_id="C3", token="t3"))
    assert hosts(r) == expected


def test_keep_old_on_reg1b_leaves_same_call_id_updates_alone():
    sut = Sut(faults={"keep-old-on-reg1b"})
    reg2(sut)
    r = sut.send(register([contact("10.0.0.3", reg_id=1)], call_id="C1", cseq=2, token="t3"))
    assert hosts(r) == ["10.0.0.2", "10.0.0.3"]


@pytest.mark.parametrize("path", [None, ["<sip:t1@ep-t.test;lr>"]])
def test_path_without_ob_accepted(path):
    assert Sut().send(register(path=path)).status == 439
    r = Sut(faults={"path-without-ob-accepted"}).send(register(path=path))
    assert r.status == 200 and require_of(r) == ["outbound"]


@pytest.mark.parametrize("request_kw", [dict(supported="path"),
                                        dict(contacts=[contact(reg_id=None)]),
                                        dict(contacts=[])])
def test_require_without_supported(request_kw):
    assert "outbound" not in require_of(Sut().send(register(**request_kw)))
    r = Sut(faults={"require-without-supported"}).send(register(**request_kw))
    assert r.status == 200 and require_of(r) == ["outbound"]


def test_commit_rejected_contacts():
    """RFC 5626 §6 ¶5 answers 400; only the fault stores the refused bindings all the same."""
    two = [contact("10.0.0.1"), contact("10.0.0.7", reg_id=None)]
    for faults, stored in (((), []), ({"commit-rejected-contacts"}, ["10.0.0.1", "10.0.0.7"])):
        sut = Sut(faults=faults)
        r = sut.send(register(two))
        assert r.status == 400
        assert sorted(b.contact.uri.host for b in sut.bindings()) == stored


def test_key_without_instance():
    """Another instance with the same reg-id: two bindings, or one with the fault."""
    other = [contact("10.0.0.2", instance=INSTANCE2)]
    for faults, expected in (((), ["10.0.0.1", "10.0.0.2"]), ({"key-without-instance"}, ["10.0.0.2"])):
        sut = Sut(faults=faults)
        sut.send(register())
        assert hosts(sut.send(register(other, call_id="C2", token="t2"))) == expected


@pytest.mark.parametrize("refused, status", [
    (dict(supported="outbound"), 420),                                     # Path without path
    (dict(contacts=[contact("10.0.0.2", reg_id=2, expires=1)]), 423),      # below min_expires
    (dict(contacts=[contact("10.0.0.2", reg_id=2)]), 403),                 # beyond max_flows
])
def test_bind_despite_reject(refused, status):
    for faults, listed in ((set(), ["10.0.0.1"]), ({"bind-despite-reject"}, ["10.0.0.1", "10.0.0.2"])):
        sut = Sut(min_expires=60, faults=faults, max_flows=1 if status == 403 else None)
        sut.send(register())
        kw = dict(refused)
        kw.setdefault("contacts", [contact("10.0.0.2", reg_id=2)])
        r = sut.send(register(call_id="C2", token="t2", **kw))
        assert r.status == status
        assert hosts(sut.fetch(call_id="C3")) == listed


def test_fetch_strips_params():
    """RFC 3840 section 6: the 200 to a fetch keeps +sip.instance on each Contact; the fault
    drops it there only (a registration's own 2xx keeps it)."""
    for faults, kept in ((set(), True), ({"fetch-strips-params"}, False)):
        sut = Sut(faults=faults)
        assert all(c.instance for c in contacts_of(sut.send(register())))
        assert all(bool(c.instance) == kept for c in contacts_of(sut.fetch(call_id="C9")))
