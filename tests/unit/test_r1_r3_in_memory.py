"""R1-R3 against the reference registrar, in memory (conformance/ue/harness.py): the sans-IO UE
and the registrar's sans-IO core exchange bytes without a socket, on a fake clock, and each
answer is judged by the check functions the registrar cases use (their checks are copied from
testcases/registrar/).  Every behaviour is also shown failing where the reference is broken on
purpose (a fault of conformance/sut/config.py, as expected/fault-*.yaml use) or is another
release (its rel7 and rfc3261 modes)."""

import socket

import pytest

from conformance.sut.config import SutConfig
from conformance.ue.harness import T1, Harness, judge

IP1, IP2, IP3 = "192.0.2.1", "192.0.2.2", "192.0.2.3"


@pytest.fixture(autouse=True)
def no_socket(monkeypatch):
    def refuse(*args, **kwargs):
        raise AssertionError("the in-memory harness opened a socket")

    for name in ("socket", "socketpair", "create_connection", "create_server", "getaddrinfo"):
        monkeypatch.setattr(socket, name, refuse)


def harness(*faults: str, mode: str = "rel8") -> Harness:
    return Harness(SutConfig(mode=mode, faults=frozenset(faults)))


def not_passed(findings) -> list[str]:
    """Labels of the findings that did not pass (a MAY check that fails is "info", not "fail")."""
    return [f"{f.check}: {f.outcome}" for f in findings if f.outcome != "pass"]


def test_the_socket_guard_is_live():
    with pytest.raises(AssertionError, match="opened a socket"):
        socket.socket()


# -- Reg1a (REG-001): the first registration -----------------------------------------------------
REG1A = [
    {"require": {"has": "outbound"}},
    {"contacts": {"instance_count": 1, "count": 1, "include": ["f1"], "expires": "all", "instance": "all"}},
    {"reg_ids": {"equal": [1]}},
    {"path": {"echo": True}},
    {"flow_timer": {"valid": True}},
]


def reg1a(h: Harness):
    h.flow("f1", IP1, reg_id=1)
    return h.register("f1")


def test_reg1a_the_2xx_requires_outbound_and_lists_the_flow_with_reg_id_and_instance():
    h = harness()
    x = reg1a(h)
    assert x.status == 200
    assert not_passed(judge(x, REG1A)) == []
    [contact] = x.response.values("Contact")
    assert f"<{h.ue.contact_uri(h.ue.flows['f1'])}>;reg-id=1;" in contact
    assert f'+sip.instance="{h.ue.instance}"' in contact
    assert [d for d, _, _ in h.wire] == ["sent", "received"]


def test_reg1a_without_require_outbound_fails_the_must():
    x = reg1a(harness("omit-require-outbound"))
    assert x.status == 200
    assert not_passed(judge(x, REG1A)) == ["Require has outbound: fail"]


def test_reg1a_direct_the_ue_as_first_hop_gets_the_same_binding():
    h = harness()
    h.flow("f1", IP1, reg_id=1, edge=False)
    x = h.register("f1")
    assert not_passed(judge(x, REG1A[:3])) == []
    assert len(x.request.values("Via")) == 1 and not x.request.values("Path")


# -- Reg2 (REG-002): a second flow from a second address ------------------------------------------
REG2 = [
    {"require": {"has": "outbound"}},
    {"contacts": {"instance_count": 2, "include": ["f1", "f2"], "expires": "all"}},
    {"reg_ids": {"equal": [1, 2]}},
]


def reg2(h: Harness):
    h.flow("f1", IP1, reg_id=1)
    h.flow("f2", IP2, reg_id=2)
    assert h.register("f1").status == 200
    return h.register("f2")


def test_reg2_both_bindings_are_listed():
    x = reg2(harness())
    assert x.status == 200
    assert not_passed(judge(x, REG2)) == []
    assert len(x.response.values("Contact")) == 2


@pytest.mark.parametrize("fault", ["replace-on-new-reg-id", "list-only-newest"])
def test_reg2_a_registrar_that_loses_the_first_flow_fails(fault):
    x = reg2(harness(fault))
    assert not_passed(judge(x, REG2)) == [
        "bindings of the UE's instance: fail", "binding of flow f1 listed: fail", "reg-ids on the UE's Contacts: info"]


# -- Reg1b (REG-004A/B): lost coverage, the same reg-id from a new address ------------------------
REG1B = [
    {"require": {"has": "outbound"}},
    {"contacts": {"instance_count": 2, "include": ["f3", "f2"], "exclude": ["f1"], "expires": "all"}},
    {"reg_ids": {"equal": [1, 2]}},
]


def reg1b(h: Harness, call_id: str):
    h.flow("f3", IP3, reg_id=1)
    assert reg2(h).status == 200
    return h.register("f3", call_id=call_id)


@pytest.mark.parametrize("call_id", ["f1", "new"])
def test_reg1b_replaces_the_flow_of_the_same_reg_id(call_id):
    h = harness()
    x = reg1b(h, call_id)
    assert x.status == 200
    assert not_passed(judge(x, REG1B)) == []
    with_reg_id_1 = [c for c in x.response.values("Contact") if ";reg-id=1;" in c]
    assert len(with_reg_id_1) == 1 and IP3 in with_reg_id_1[0]


def test_reg1b_a_registrar_that_keeps_the_old_flow_fails():
    x = reg1b(harness("keep-old-on-reg1b"), "new")
    assert not_passed(judge(x, REG1B)) == [
        "bindings of the UE's instance: fail", "binding of flow f1 not listed: fail",
        "reg-ids on the UE's Contacts: info"]


# -- Rel-7 (REG-030): a second initial registration, classified --------------------------------
CLASSES = {
    "outbound": [{"require": {"has": "outbound"}}, {"contacts": {"instance_count": 2, "include": ["f1", "f2"]}}],
    "legacy": [{"require": {"lacks": "outbound"}}, {"contacts": {"count": 1, "include": ["f2"], "exclude": ["f1"]}}],
    "plain-3261": [{"require": {"lacks": "outbound"}}, {"contacts": {"count": 2, "include": ["f1", "f2"]}}],
}


@pytest.mark.parametrize("mode, expected", [("rel8", "outbound"), ("rel7", "legacy"), ("rfc3261", "plain-3261")])
def test_rel7_overwrites_without_require_outbound_and_each_release_fits_one_class(mode, expected):
    x = reg2(harness(mode=mode))
    assert x.status == 200
    fits = [name for name, checks in CLASSES.items() if not not_passed(judge(x, checks))]
    assert fits == [expected]
    if mode == "rel7":
        assert x.response.values("Require") == [] and len(x.response.values("Contact")) == 1


# -- refresh (REG-006) and expiry on the fake clock ----------------------------------------------
REFRESH = [
    {"require": {"has": "outbound"}},
    {"contacts": {"instance_count": 2, "count": 2, "include": ["f1", "f2"], "expires": "all"}},
    {"expires": {"flow": "f2", "min": 1, "max": 300}, "level": "MAY", "ref": "RFC 3261 §10.2.1.1"},
    {"expires": {"flow": "f1", "min": 400, "max": 400}},
]


def refresh(h: Harness):
    assert reg2(h).status == 200
    h.clock.advance(200)
    return h.register("f2", "refresh", expires=300)


def test_refresh_keeps_both_bindings_with_their_own_expiry():
    h = harness()
    x = refresh(h)
    assert x.status == 200
    assert not_passed(judge(x, REFRESH)) == []
    assert x.request.get("Call-ID") == h.ue.flows["f2"].dialog.call_id and x.request.cseq[0] == 2


def test_refresh_a_registrar_listing_only_the_newest_binding_fails():
    x = refresh(harness("list-only-newest"))
    assert not_passed(judge(x, REFRESH)) == [
        "number of bindings: fail", "bindings of the UE's instance: fail", "binding of flow f1 listed: fail",
        "expires of flow f1: inconclusive"]


def test_a_binding_not_refreshed_expires_on_the_clock():
    h = harness()
    refresh(h)
    h.clock.advance(401)                  # f1 (600 s, 600 s ago) is gone, f2 (300 s, 401 s ago) too
    assert not_passed(judge(h.register("f1", "fetch"), [{"contacts": {"empty": True}}])) == []


# -- deregistering one flow (REG-007) and all (REG-008) ------------------------------------------
DEREGISTER_ONE = [
    {"require": {"has": "outbound"}},
    {"contacts": {"instance_count": 2, "include": ["f1", "f3"], "exclude": ["f2"], "expires": "all"}},
    {"atomic": {"flow": "f2"}},
    {"atomic": {"flow": "f1"}},
]


def deregister_one(h: Harness):
    h.flow("f3", IP3, reg_id=3)
    assert reg2(h).status == 200
    assert h.register("f3").status == 200
    return h.register("f2", "deregister")


def test_deregistering_one_flow_keeps_the_others():
    h = harness()
    x = deregister_one(h)
    assert x.status == 200
    assert not_passed(judge(x, DEREGISTER_ONE)) == []
    assert ";expires=0" in x.request.values("Contact")[0]


def test_deregistering_one_flow_a_registrar_listing_only_the_newest_fails():
    x = deregister_one(harness("list-only-newest"))
    assert not_passed(judge(x, DEREGISTER_ONE)) == [
        "bindings of the UE's instance: fail", "binding of flow f1 listed: fail",
        "binding of flow f1 as the answers left it: fail"]


DEREGISTER_ALL = [{"contacts": {"empty": True}}, {"require": {"lacks": "outbound"}}]


def deregister_all(h: Harness):
    assert reg2(h).status == 200
    return h.register("f1", "deregister_all")


def test_deregistering_all_leaves_no_binding():
    h = harness()
    x = deregister_all(h)
    assert x.status == 200 and x.request.get("Contact") == "*"
    assert not_passed(judge(x, DEREGISTER_ALL)) == []
    assert not_passed(judge(h.register("f2", "fetch"), [{"contacts": {"empty": True}}])) == []


def test_deregistering_all_a_registrar_requiring_outbound_anyway_fails():
    x = deregister_all(harness("require-without-supported"))
    assert not_passed(judge(x, DEREGISTER_ALL)) == ["Require lacks outbound: fail"]


# -- the UE's client transaction over UDP, on the fake clock --------------------------------------
def test_lost_answers_the_ue_retransmits_and_the_registrar_answers_from_its_transaction_cache():
    h = harness()
    h.flow("f1", IP1, reg_id=1)
    h.flow("f2", IP2, reg_id=2)
    assert h.register("f1").status == 200
    started = h.clock.now
    x = h.register("f2", lose=2)
    assert x.retransmissions == 2 and h.clock.now == started + T1 + 2 * T1     # Timer E: 0.5 s, then 1 s
    assert [d for d, _, _ in h.wire[2:]] == ["sent", "lost", "sent", "lost", "sent", "received"]
    lost = [data for d, _, data in h.wire if d == "lost"]
    assert x.status == 200 and lost == [x.response.to_bytes()] * 2   # the cached 2xx, not a 500 for the CSeq
    assert not_passed(judge(x, REG2)) == []


def test_no_answer_within_timer_f_leaves_the_checks_inconclusive():
    h = harness()
    h.flow("f1", IP1, reg_id=1)
    started = h.clock.now
    x = h.register("f1", lose=100)
    assert x.response is None and h.clock.now == started + 64 * T1
    assert x.retransmissions == 10                # 0.5, 1, 2, 4, 4, ... s until Timer F at 32 s
    findings = judge(x, REG1A)
    assert findings and {f.outcome for f in findings} == {"inconclusive"}
    assert {f.observed for f in findings} == {"no final response before Timer F (32 s)"}
