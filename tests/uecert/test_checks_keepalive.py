"""UE keep-alive checks (RFC 5626 §4.4) over synthetic observations: intervals measured from the
2xx that carried Flow-Timer over several periods; the keepalive-too-slow fault fails naming the
timing; a missing pong or a changed STUN mapping must make the UE re-register."""

import pytest
from ue_obs_craft import Ue, every, outcomes, run, tcp, udp

from conformance.uecert.observation import Observation


def flow(transport="tcp", ft=3, period=2.7, until=10.0, kind=None, pong=True):
    ue = Ue()
    f = tcp(1) if transport == "tcp" else udp(1)
    ue.register(0.0, f, flow_timer=ft)
    ue.pings(f, every(period, period, until), kind=kind, pong=pong)
    return ue.end(until)


@pytest.mark.parametrize("transport", ["tcp", "udp"])
@pytest.mark.parametrize("kind", ["keepalive_sent", "keepalive_interval", "keepalive_spread"])
def test_the_conformant_ue_passes(kind, transport):
    assert outcomes(kind, flow(transport, period=2.6)) == ["pass"]


def test_keepalive_too_slow_fails_naming_the_interval_and_flow_timer():
    f = run("keepalive_interval", flow(period=4.5))
    assert [x.outcome for x in f] == ["fail"]
    assert "Flow-Timer 3" in f[0].expected and "4.49 s before the keep-alive" in f[0].observed and f[0].message_index == 3


def test_a_ue_silent_after_its_last_keepalive_fails_on_the_open_tail():
    ue = Ue()
    ue.register(0.0, tcp(1), flow_timer=3)
    ue.pings(tcp(1), [2.5, 5.0])
    f = run("keepalive_interval", ue.end(10.0))
    assert f[0].outcome == "fail" and "without any keep-alive" in f[0].observed


def test_too_frequent_keepalives_warn_but_meet_the_must():
    obs = flow(period=1.0)
    assert outcomes("keepalive_interval", obs) == ["pass"]
    assert outcomes("keepalive_spread", obs) == ["warn"]


def test_the_wrong_keepalive_kind_fails():
    assert outcomes("keepalive_sent", flow("udp", kind="crlf")) == ["fail"]
    assert outcomes("keepalive_sent", flow("tcp", kind="stun")) == ["fail"]


def test_no_keepalive_at_all_fails_only_once_the_flow_timer_has_passed():
    ue = Ue()
    ue.register(0.0, udp(1), flow_timer=3)
    assert outcomes("keepalive_sent", ue.end(10.0)) == ["fail"]
    short = Ue()
    short.register(0.0, udp(1), flow_timer=3)
    assert outcomes("keepalive_sent", short.end(2.0)) == ["inconclusive"]


def test_too_few_periods_are_inconclusive_and_no_outbound_is_not_judged():
    assert outcomes("keepalive_interval", flow(period=2.5, until=3.0)) == ["inconclusive"]
    assert outcomes("keepalive_interval", Observation()) == ["inconclusive"]
    ue = Ue()
    ue.register(0.0, udp(1), require_outbound=False)
    assert outcomes("keepalive_sent", ue.end(60.0)) == ["inconclusive"]


def test_defaults_without_flow_timer():
    ue = Ue()
    ue.register(0.0, udp(1))
    ue.pings(udp(1), every(25.0, 26.0, 120.0))
    assert outcomes("keepalive_default", ue.end(120.0)) == ["pass"]
    fast = Ue()
    fast.register(0.0, udp(1))
    fast.pings(udp(1), every(5.0, 5.0, 60.0))
    assert outcomes("keepalive_default", fast.end(60.0)) == ["warn"]


def no_pong(recover: float | None, new_flow=True):
    ue = Ue()
    ue.register(0.0, tcp(1), flow_timer=3)
    ue.pings(tcp(1), [2.5], pong=True)
    ue.pings(tcp(1), [5.0, 7.5, 10.0, 12.5, 15.0, 17.5], pong=False)
    if recover is not None:
        ue.register(recover, tcp(1, 42001) if new_flow else tcp(1), call_id="r")
    return ue.end(22.0)


def test_no_pong_within_10_s_makes_the_flow_failed():
    assert outcomes("pong_timeout_fails", no_pong(15.2)) == ["pass"]
    f = run("pong_timeout_fails", no_pong(None))
    assert [x.outcome for x in f] == ["fail"] and "no pong within 10 s" in f[0].observed
    assert "kept using the flow" in f[0].observed
    assert outcomes("pong_timeout_fails", no_pong(15.2, new_flow=False)) == ["fail"]


def test_a_changed_stun_mapping_makes_the_flow_failed():
    def obs(recover):
        ue = Ue()
        ue.register(0.0, udp(1), flow_timer=3)
        ue.pings(udp(1), every(2.5, 2.5, 10.0), mapped=lambda t: ("127.0.0.11", 41000 if t < 5 else 50000))
        if recover:
            ue.register(5.5, udp(1), call_id="r")
        return ue.end(12.0)

    assert outcomes("stun_change_fails", obs(True)) == ["pass"]
    f = run("stun_change_fails", obs(False))
    assert [x.outcome for x in f] == ["fail"] and "XOR-MAPPED-ADDRESS changed" in f[0].observed
    assert outcomes("stun_change_fails", flow("udp")) == ["inconclusive"]
