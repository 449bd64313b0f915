"""The check registry, run_check grading and status_check (conformance/meaning/checks/__init__.py)."""

import pytest

from conformance.meaning.checks import CHECKS, CheckContext, run_check, status_check
from conformance.sip.message import Response


def test_registry_defaults():
    # Each kind's default level is derived from its clause's keyword by
    # tests/cases/test_clause_keywords.py; here: the registry is well formed.
    assert len(CHECKS) >= 29
    for name, kind in CHECKS.items():
        assert kind.name == name and kind.level in ("MUST", "SHOULD", "MAY") and callable(kind.handler)
    assert CHECKS["path"].ref({}) == "RFC 3327 §5.3"
    assert CHECKS["flow_timer"].ref({}) == "RFC 5626 §10"
    # no usual clause (a case gives ref:); sec_response has one per question, none without
    assert {k for k, kind in CHECKS.items() if kind.ref({}) is None} == {"header", "status", "nat_mapping", "dropped",
                                                                       "sec_response"}


def test_run_check_uses_registry_level_and_ref(make_response):
    ctx = CheckContext(None, make_response())
    [f] = run_check("require", {"has": "outbound"}, ctx, step="reg1", location="x.yaml:3",
                    message_index=4)
    assert f.level == "MUST"
    assert f.ref == "RFC 5626 §6 ¶8"
    assert f.outcome == "fail"
    assert (f.step, f.location, f.message_index) == ("reg1", "x.yaml:3", 4)
    assert f.check == "Require has outbound"
    assert f.expected == "Require: outbound"
    [f] = run_check("require", {"lacks": "outbound"}, ctx)
    assert f.ref == "RFC 5626 §6 ¶6" and f.outcome == "pass"


def test_run_check_overrides(make_response):
    ctx = CheckContext(None, make_response())
    [f] = run_check("require", {"has": "outbound"}, ctx, level="SHOULD", ref="TS 24.229 5.4.1.2")
    assert f.level == "SHOULD"
    assert f.ref == "TS 24.229 5.4.1.2"
    assert f.outcome == "warn"


def test_strict_turns_should_into_fail(make_response):
    ctx = CheckContext(None, make_response())
    [f] = run_check("supported", {"has": "outbound"}, ctx, level="SHOULD")
    assert f.outcome == "warn"
    [f] = run_check("supported", {"has": "outbound"}, ctx, level="SHOULD", strict=True)
    assert f.outcome == "fail"


@pytest.mark.parametrize("strict", [False, True])
def test_may_never_fails(make_response, strict):
    ctx = CheckContext(None, make_response())
    [f] = run_check("require", {"has": "outbound"}, ctx, level="MAY", strict=strict)
    assert f.outcome == "info"


def test_passing_check_passes_at_every_level(make_response):
    ctx = CheckContext(None, make_response("Require: outbound"))
    for level in ("MUST", "SHOULD", "MAY"):
        [f] = run_check("require", {"has": "outbound"}, ctx, level=level, strict=True)
        assert f.outcome == "pass"


def test_no_response_is_inconclusive_for_every_kind():
    ctx = CheckContext(None, None, no_response_reason="no answer")
    args = {"require": {"has": "outbound"}, "supported": {"has": "path"}, "contacts": {"count": 1},
            "reg_ids": {"equal": [1]}, "path": {"echo": True}, "header": {"name": "Path", "present": True},
            "flow_timer": {"valid": True}, "expires": {"flow": "f1", "min": 1}, "status": {"in": [480]},
            "atomic": {"flow": "f1"}}
    args.update({"aka_challenge": {}, "security_server": {}, "protected": {}, "via_received": {},
                 "sec_response": {"q_values": True}, "via_keep": {}, "via_transport": {}})   # no_security_server / no_sa_offered: a discard passes
    args.update({"gruu": {"flow": "f1", "present": True, "pub_form": True}, "temp_gruu": {"flow": "f1", "new": True}})
    # the other kinds judge what reached the UE flows, not the response (see test_terminating_checks)
    # dropped / answered judge the absence or presence of a response itself; sa_unused and
    # forwarded_sec judge the ESP the UE received and what reached REG-T (test_secagree_checks.py)
    assert set(args) == set(CHECKS) - {"delivered", "by_flow", "pong", "stun_mapped", "forwarded", "keepalive",
                                       "dropped", "answered", "nat_mapping", "sa_unused", "forwarded_sec",
                                       "routed",
                                       "notify", "reginfo", "reginfo_record",  # the NOTIFYs: test_reginfo_checks.py
                                       "unchanged",   # only after a rejected REGISTER: test_checks_unchanged.py
                                       "ws_handshake", "ws_messages", "ws_pong"}   # the connection: test_transport_checks.py
    for kind, a in args.items():
        findings = run_check(kind, a, ctx, strict=True)
        assert findings, kind
        assert all(f.outcome == "inconclusive" and f.observed == "no answer" for f in findings), kind


def test_non_dict_args_become_empty(make_response):
    ctx = CheckContext(None, make_response("Flow-Timer: 30"))
    [f] = run_check("flow_timer", True, ctx)
    assert f.outcome == "pass"


def test_unknown_kind_raises(make_response):
    with pytest.raises(KeyError):
        run_check("nope", {}, CheckContext(None, make_response()))


def test_one_finding_per_observation(make_response):
    ctx = CheckContext(None, make_response("Contact: <sip:a@127.0.0.1:1>;expires=5"),
                       flow_contacts={"f1": "sip:a@127.0.0.1:1"})
    findings = run_check("contacts", {"count": 1, "include": ["f1"], "expires": "all"}, ctx)
    assert [f.outcome for f in findings] == ["pass", "pass", "pass"]
    assert all(f.ref == "RFC 3261 §10.3 step 8" for f in findings)


# -- status_check -----------------------------------------------------------------------------
def test_status_ok(make_response):
    o = status_check([200], CheckContext(None, make_response()))
    assert o.ok is True
    assert o.expected == "status 200"
    assert o.observed == "200 OK"


def test_status_range_shown_compactly():
    r = Response(status=439, reason="First Hop Lacks Outbound Support")
    o = status_check(list(range(200, 300)), CheckContext(None, r))
    assert o.expected == "status 200-299"
    assert o.ok is False
    assert o.observed == "439 First Hop Lacks Outbound Support"


def test_status_short_lists_joined_with_or():
    r = Response(status=421, reason="Extension Required")
    o = status_check([420, 421, 439], CheckContext(None, r))
    assert o.expected == "status 420 or 421 or 439"
    assert o.ok is True


def test_status_non_contiguous_long_list_not_a_range():
    o = status_check([200, 202, 204, 206], CheckContext(None, Response(status=201)))
    assert o.expected == "status 200 or 202 or 204 or 206"
    assert o.ok is False


def test_status_four_contiguous_is_a_range():
    o = status_check([400, 401, 402, 403], CheckContext(None, Response(status=403, reason="Forbidden")))
    assert o.expected == "status 400-403"
    assert o.ok is True


def test_status_without_response():
    o = status_check([200], CheckContext(None, None, no_response_reason="timeout"))
    assert o.ok is None
    assert o.observed == "timeout"


def test_keepalive_check_counts_answers():
    ctx = CheckContext(None, None)
    [f] = run_check("keepalive", {}, ctx)
    assert f.outcome == "inconclusive"                       # nothing was sent
    ctx.keepalive_sent, ctx.keepalive_answered = 4, 4
    [f] = run_check("keepalive", {}, ctx)
    assert f.outcome == "pass" and f.ref == "RFC 5626 §5.4 ¶2; RFC 5626 §8 ¶3"
    ctx.keepalive_answered, ctx.keepalive_note = 3, "1 of 4 pings got no pong within 1 s"
    [f] = run_check("keepalive", {}, ctx)
    assert f.outcome == "fail" and "1 of 4 pings" in f.observed


def test_instance_all_cites_rfc3840():
    """`instance: all` in a 2xx is RFC 3840 §6 ("each Contact header field value MUST include all
    of the feature parameters"), not RFC 3261 §10.3 step 8 (issue 16, item 14)."""
    ref = CHECKS["contacts"].ref
    assert ref({"instance": "all"}) == "RFC 3840 §6"
    assert ref({"count": 2, "instance": "all"}) == "RFC 3261 §10.3 step 8; RFC 3840 §6"
    assert ref({"count": 2}) == "RFC 3261 §10.3 step 8"
