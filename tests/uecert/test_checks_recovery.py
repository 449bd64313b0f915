"""UE flow-recovery checks (RFC 5626 §4.5) over synthetic observations: the same reg-id after a
failure or a move; the back-off from each failed attempt to the next against the formula with the
profile's (compressed) UeTimers; Retry-After; the no-backoff and new-reg-id-after-failure faults."""

import pytest
from ue_obs_craft import Ue, outcomes, run, tcp, udp

from conformance.uecert.backoff import bounds, upper_bound
from conformance.uecert.model import UeTimers
from conformance.uecert.observation import Observation

FAST = UeTimers(max_time=8.0, base_time_all_failed=0.5, base_time_not_all_failed=1.5)


def test_the_formula_and_the_rfc_boundary_example():
    assert bounds(1, True) == (30.0, 60.0)  # "between 30 and 60 seconds after the failure of the first"
    assert upper_bound(3, True) == 240.0  # "min(1800, 30*(2^3)) or 240 seconds"
    assert bounds(20, True) == (900.0, 1800.0)  # "15 to 30 minutes"
    assert bounds(1, False) == (90.0, 180.0)
    assert bounds(2, True, FAST) == (1.0, 2.0) and upper_bound(6, True, FAST) == 8.0


def closed_then_rejected(waits, reg_id=1, timers=FAST, retry_after=None):
    """Flow 1 registered, the network closes it, each recovery attempt gets 503 until the last."""
    ue = Ue(timers)
    ue.register(0.0, tcp(1))
    ue.close(1.0, tcp(1))
    t = 1.1
    extra = f"Retry-After: {retry_after}\r\n" if retry_after is not None else ""
    for i, w in enumerate(waits):
        ue.register(t, tcp(1, 42001 + i), call_id=f"r{i}", status=503, reg_id=reg_id, resp_extra=extra)
        t += 0.01 + w
    ue.register(t, tcp(1, 42100), call_id="ok", reg_id=reg_id)
    return ue.end(t + 1.0)


def test_the_conformant_ue_backs_off_per_the_formula():
    # failures 1, 2, 3 (all failed, base 0.5): W = 1, 2, 4 -> at least 0.5, 1, 2
    obs = closed_then_rejected([0.7, 1.5, 3.0])
    f = run("recovery_backoff", obs)
    assert [x.outcome for x in f] == ["pass"] * 3
    assert "W = min(max-time 8, base-time 0.5 s (all flows failed) * 2^2) = 2 s" in f[1].expected
    assert set(outcomes("recovery_same_reg_id", obs)) == {"pass"}


def test_no_backoff_fails_naming_the_wait():
    f = run("recovery_backoff", closed_then_rejected([0.05, 0.05]))
    assert [x.outcome for x in f] == ["fail", "fail"]
    assert "at least 0.5 s after the 503" in f[0].expected and "0.05 s after it" in f[0].observed


def test_waiting_longer_than_w_is_allowed():
    f = run("recovery_backoff", closed_then_rejected([5.0]))
    assert f[0].outcome == "pass" and "longer than W" in f[0].observed


def test_another_flow_up_uses_the_higher_base():
    ue = Ue(FAST)
    ue.register(0.0, udp(2), call_id="keep", reg_id=2)
    ue.pings(udp(2), [0.5, 1.0, 1.5, 2.0, 2.5])
    ue.register(0.2, tcp(1))
    ue.close(1.0, tcp(1))
    ue.register(1.1, tcp(1, 42001), call_id="r", status=503)
    ue.register(2.5, tcp(1, 42002), call_id="r2")  # 1.39 s: < 1.5 (W/2 with base 1.5, one failure)
    f = run("recovery_backoff", ue.end(3.0))
    assert f[0].outcome == "fail" and "another flow up" in f[0].expected
    assert run("recovery_backoff", ue.obs, {"all_failed": True})[0].outcome == "pass"


def test_new_reg_id_after_failure_fails_naming_the_reg_id():
    obs = closed_then_rejected([0.7], reg_id=2)
    ue = Ue(FAST)
    ue.register(0.0, tcp(1))
    ue.close(1.0, tcp(1))
    ue.register(1.1, tcp(1, 42001), call_id="r", reg_id=2)
    f = run("recovery_same_reg_id", ue.end(2.0))
    assert [x.outcome for x in f] == ["fail"]
    assert "reg-id=1" in f[0].expected and "reg-id=2" in f[0].observed
    assert "fail" in outcomes("recovery_same_reg_id", obs)


def test_no_failure_or_no_recovery_is_inconclusive():
    assert outcomes("recovery_same_reg_id", Observation()) == ["inconclusive"]
    assert outcomes("recovery_backoff", Observation()) == ["inconclusive"]
    ue = Ue(FAST)
    ue.register(0.0, tcp(1))
    ue.close(1.0, tcp(1))
    assert outcomes("recovery_same_reg_id", ue.end(5.0)) == ["inconclusive"]


@pytest.mark.parametrize("reg_id, instance, outcome", [(1, None, "pass"), (3, None, "fail"),
                                                       (1, "<urn:uuid:99999999-2222-3333-4444-555555555555>", "fail")])
def test_move_same_reg_id(reg_id, instance, outcome):
    ue = Ue()
    ue.register(0.0, udp(1))
    ue.action(1.0, "ue.move", flow=1, address=2)
    kw = {"instance": instance} if instance else {}
    ue.register(1.2, udp(2), call_id="m", reg_id=reg_id, **kw)
    f = run("move_same_reg_id", ue.end(2.0))
    assert [x.outcome for x in f] == [outcome]
    if outcome == "fail":
        assert "reg-id=" in f[0].observed


def test_retry_after_is_honoured():
    assert outcomes("retry_after", closed_then_rejected([2.0], retry_after=2)) == ["pass"]
    f = run("retry_after", closed_then_rejected([0.5], retry_after=2))
    assert [x.outcome for x in f] == ["warn"] and "Retry-After: 2" in f[0].expected


def test_a_recovery_just_before_the_10_s_mark_counts_and_udp_may_keep_its_socket():
    # the network sees the REGISTER a hair before ping + 10 s (the UE timed from its send)
    ue = Ue(FAST)
    ue.register(0.0, tcp(1), flow_timer=3)
    ue.pings(tcp(1), [2.5], pong=False)
    ue.register(12.499, tcp(1, 42001), call_id="r")
    assert outcomes("recovery_same_reg_id", ue.end(14.0)) == ["pass"]
    # a changed STUN mapping; the UE re-registers from the same socket with the same Call-ID
    udp_ue = Ue(FAST)
    udp_ue.register(0.0, udp(1), call_id="a", flow_timer=3)
    udp_ue.pings(udp(1), [2.5, 5.0], mapped=lambda t: ("127.0.0.11", 41000 if t < 4 else 50000))
    udp_ue.register(5.2, udp(1), call_id="a", reg_id=7)
    f = run("recovery_same_reg_id", udp_ue.end(6.0))
    assert [x.outcome for x in f] == ["fail"] and "reg-id=7" in f[0].observed


def test_a_register_over_the_failed_connection_is_not_its_replacement():
    ue = Ue(FAST)
    ue.register(0.0, tcp(1), call_id="a", flow_timer=3)
    ue.pings(tcp(1), [2.5], pong=False)
    ue.register(13.0, tcp(1), call_id="a")
    assert outcomes("recovery_same_reg_id", ue.end(14.0)) == ["inconclusive"]


def test_a_move_is_recognised_offline_from_the_binding_moving_address():
    ue = Ue()
    ue.register(0.0, udp(1))
    ue.register(1.2, udp(2), call_id="m")  # same instance and reg-id from another address
    assert outcomes("move_same_reg_id", ue.end(2.0)) == ["pass"]
