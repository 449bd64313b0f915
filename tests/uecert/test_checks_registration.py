"""UE checks on REGISTER contents and on flows (RFC 5626 §4.1, §4.2), over synthetic
observations: the conformant UE passes, each fault shape fails naming the header, no evidence is
inconclusive."""

import pytest
from ue_obs_craft import Ue, outcomes, run, tcp, udp

from conformance.uecert.observation import Observation

OTHER = "<urn:uuid:11111111-2222-3333-4444-555555555555>"


def two_flows(reg_id2=2, instance2=None, supported="path, outbound"):
    """Flow 1 registers, the UE is told to add a flow, flow 2 registers; both keep-alive; flow 1
    refreshes over its flow with its Call-ID."""
    ue = Ue()
    ue.register(0.0, udp(1), call_id="a", supported=supported)
    ue.action(1.0, "ue.add_flow", address=2)
    kw = {"instance": instance2} if instance2 else {}
    ue.register(1.1, udp(2), call_id="b", reg_id=reg_id2, supported=supported, **kw)
    ue.pings(udp(1), [2.0, 4.0])
    ue.pings(udp(2), [2.5, 4.5])
    ue.register(5.0, udp(1), call_id="a", supported=supported)
    return ue.end(6.0)


CONFORMANT = ["instance_urn", "instance_uuid", "instance_stable", "supported_outbound", "supported_path",
              "reg_id_present", "reg_id_distinct", "call_id_per_flow", "refresh_same_flow", "add_flow_new_reg_id"]


@pytest.mark.parametrize("kind", CONFORMANT)
def test_the_conformant_ue_passes(kind):
    assert set(outcomes(kind, two_flows())) == {"pass"}


@pytest.mark.parametrize("kind", CONFORMANT + ["star_no_instance", "on_439", "no_outbound_one_flow"])
def test_no_evidence_is_inconclusive(kind):
    assert outcomes(kind, Observation()) == ["inconclusive"]


def test_reg_id_reused_fails_naming_the_reg_id():
    obs = two_flows(reg_id2=1)
    for kind in ("reg_id_distinct", "add_flow_new_reg_id"):
        bad = [f for f in run(kind, obs) if f.outcome == "fail"]
        assert bad, kind
        assert "reg-id=1" in bad[0].observed and bad[0].message_index == 3, (kind, bad[0])
        assert "distinct from other" in bad[0].quote  # the sentence it breaks, from clauses/ue.yaml


def test_reg_id_reused_without_the_old_flow_in_use_is_inconclusive_not_a_pass():
    ue = Ue()
    ue.register(0.0, udp(1), call_id="a")
    ue.register(3.0, udp(2), call_id="b", reg_id=1)
    assert outcomes("reg_id_distinct", ue.end(4.0)) == ["inconclusive"]


def test_instance_changes_per_flow_fails_naming_the_instance():
    f = [f for f in run("instance_stable", two_flows(instance2=OTHER)) if f.outcome == "fail"]
    assert f and OTHER in f[0].observed and "+sip.instance" in f[0].observed
    assert f[0].message_index == 3


def test_instance_changes_across_a_restart_fails_and_the_profile_instance_counts():
    ue = Ue()
    ue.register(0.0, tcp(1), call_id="a")
    ue.close(1.0, tcp(1), by="in")
    ue.register(2.0, tcp(1, 42001), call_id="z", instance=OTHER)
    assert "fail" in outcomes("instance_stable", ue.end(3.0))
    one = Ue()
    one.register(0.0, udp(1))
    one.obs.instance = OTHER
    assert outcomes("instance_stable", one.end(1.0)) == ["fail"]


def test_no_supported_outbound_fails_naming_the_header_and_path_is_judged_separately():
    obs = two_flows(supported="path")
    f = run("supported_outbound", obs)
    assert {x.outcome for x in f} == {"fail"} and "Supported: path" in f[0].observed
    assert "Supported: outbound" in f[0].expected
    assert set(outcomes("supported_path", obs)) == {"pass"}
    assert set(outcomes("supported_path", two_flows(supported="outbound"))) == {"fail"}


def test_instance_urn_and_uuid():
    ue = Ue()
    ue.register(0.0, udp(1), instance="<urn:gsma:imei:90420156-025763-0>")
    ue.register(1.0, udp(2), call_id="x", reg_id=2, instance="not-a-urn")
    ue.register(2.0, udp(3), call_id="y", reg_id=3, instance=None)
    obs = ue.end(3.0)
    assert outcomes("instance_urn", obs) == ["pass", "fail", "fail"]
    assert outcomes("instance_uuid", obs) == ["warn", "warn"]


def test_reg_id_present():
    ue = Ue()
    ue.register(0.0, udp(1), reg_id=None)
    ue.register(1.0, udp(2), call_id="x", reg_id=0)
    assert outcomes("reg_id_present", ue.end(2.0)) == ["fail", "fail"]


def test_star_no_instance():
    ue = Ue()
    ue.register(0.0, udp(1))
    ue.register(1.0, udp(1), star=True, reg_id=None)
    ue.register(2.0, udp(1), star=True, reg_id=1)
    f = run("star_no_instance", ue.end(3.0))
    assert [x.outcome for x in f] == ["pass", "fail"] and "reg-id" in f[1].observed


def test_a_shared_call_id_is_recorded_not_failed():
    ue = Ue()
    ue.register(0.0, udp(1), call_id="same")
    ue.register(1.0, udp(2), call_id="same", reg_id=2)
    assert outcomes("call_id_per_flow", ue.end(2.0)) == ["info"]


def test_a_refresh_over_another_live_flow_is_recorded():
    ue = Ue()
    ue.register(0.0, udp(1), call_id="a")
    ue.pings(udp(1), [1.0, 3.0])
    ue.register(2.0, udp(2), call_id="a")
    assert outcomes("refresh_same_flow", ue.end(4.0)) == ["info"]


def test_a_401_before_the_200_is_one_attempt():
    ue = Ue()
    ue.register(0.0, udp(1), call_id="a", status=401)
    ue.register(0.1, udp(1), call_id="a")
    ue.register(0.5, udp(2), call_id="b", reg_id=2)
    ue.pings(udp(1), [1.0])
    obs = ue.end(2.0)
    assert set(outcomes("reg_id_distinct", obs)) == {"pass"}
    assert outcomes("call_id_per_flow", obs) == ["pass"]


def test_on_439_records_what_the_ue_did():
    ue = Ue()
    ue.register(0.0, udp(1), status=439)
    ue.register(1.0, udp(1), call_id="n", reg_id=None, instance=None)
    assert outcomes("on_439", ue.end(2.0)) == ["pass"]
    again = Ue()
    again.register(0.0, udp(1), status=439)
    again.register(0.1, udp(1), call_id="n")
    assert outcomes("on_439", again.end(1.0)) == ["info"]


def test_no_additional_flow_after_a_2xx_without_require_outbound():
    ue = Ue()
    ue.register(0.0, udp(1), require_outbound=False)
    ue.action(1.0, "ue.add_flow", address=2)
    kept = Ue()
    kept.register(0.0, udp(1), require_outbound=False)
    kept.action(1.0, "ue.add_flow", address=2)
    assert outcomes("no_outbound_one_flow", kept.end(4.0)) == ["pass"]
    ue.register(1.2, udp(2), call_id="b", reg_id=2)
    f = run("no_outbound_one_flow", ue.end(4.0))
    assert [x.outcome for x in f] == ["fail"] and "Require: outbound" in f[0].expected
    quiet = Ue()
    quiet.register(0.0, udp(1), require_outbound=False)
    assert outcomes("no_outbound_one_flow", quiet.end(4.0)) == ["inconclusive"]
