"""Each fault of the reference UE changes the wire behaviour it names, and only with the fault:
the same observation, made of the conformant UE and of the faulty one, differs as FAULTS says."""

from __future__ import annotations

import pytest

from conformance.uecert.model import UeTimers
from conformance.uecert.refue import FAULTS, check_fault
from refue_helpers import (ADDRESSES, close_from_network, contact, edge_of, gaps, of_kind, ok_registrations,
                           reference_core, reference_ue, registers, supported, wait_count)


def second_flow_contact(fault):
    with reference_core() as core, reference_ue(edge_of(core), "udp", fault=fault) as ue:
        assert ue.wait_for(lambda tr: ok_registrations(ue) >= 1, 3.0), ue.logs()
        ue.add_flow(ADDRESSES[1])
        assert ue.wait_for(lambda tr: len(registers(ue, "initial")) >= 2, 3.0), ue.logs()
        first, second = registers(ue, "initial")[:2]
        return contact(first), contact(second)


def reg_ids_of_two_flows(fault):
    a, b = second_flow_contact(fault)
    return a.reg_id, b.reg_id


def instances_of_two_flows(fault):
    a, b = second_flow_contact(fault)
    return a.instance == b.instance


def first_keepalive_gap(fault):
    with reference_core(flow_timer=1) as core, reference_ue(edge_of(core), "tcp", fault=fault) as ue:
        assert wait_count(ue, lambda: of_kind(ue, "ping"), 1, 3.0), ue.logs()
        registered = next(t for t in ue.trace if t.kind == "note" and t.text.startswith("registered"))
        # conformant: 0.8-1.0 s; the fault: 1.2-1.5 s (the midpoint leaves room for a loaded machine)
        return of_kind(ue, "ping")[0].time - registered.time > 1.1


def retry_gaps_below_half_w(fault):
    timers = UeTimers(max_time=2.0, base_time_all_failed=0.4, base_time_not_all_failed=1.0)
    with reference_core(flow_timer=1) as core, reference_ue(edge_of(core), "tcp", fault=fault, timers=timers) as ue:
        assert wait_count(ue, lambda: of_kind(ue, "pong"), 1, 3.0), ue.logs()
        core.stop()
        refused = lambda: [t for t in ue.trace if t.kind == "failed" and "cannot form" in t.text]  # noqa: E731
        assert ue.wait_for(lambda tr: len(refused()) >= 3, 4.0), ue.logs()
        # base 0.4: after n >= 1 consecutive failures the wait is at least 0.5 * 0.4 * 2^n >= 0.4 s;
        # the fault waits 0.1 s
        return all(g < 0.35 for g in gaps([t.time for t in refused()][:3]))


def reg_id_after_failure(fault):
    with reference_core(flow_timer=1) as core, reference_ue(edge_of(core), "tcp", fault=fault) as ue:
        assert wait_count(ue, lambda: of_kind(ue, "pong"), 1, 3.0), ue.logs()
        assert close_from_network(core, registers(ue)[0].local)
        assert ue.wait_for(lambda tr: len(registers(ue, "initial")) >= 2, 3.0), ue.logs()
        return contact(registers(ue, "initial")[1]).reg_id


def supported_tags(fault):
    with reference_core() as core, reference_ue(edge_of(core), "udp", fault=fault) as ue:
        assert ue.wait_for(lambda tr: registers(ue), 3.0), ue.logs()
        return sorted(supported(registers(ue)[0]))


# fault -> (observation, what the conformant UE shows, what the faulty one shows)
SHAPES = {
    "reg-id-reused": (reg_ids_of_two_flows, ("1", "2"), ("1", "1")),
    "instance-changes": (instances_of_two_flows, True, False),
    "keepalive-too-slow": (first_keepalive_gap, False, True),
    "no-backoff": (retry_gaps_below_half_w, False, True),
    "new-reg-id-after-failure": (reg_id_after_failure, "1", "2"),
    "no-supported-outbound": (supported_tags, ["outbound", "path"], ["path"]),
}


def test_every_fault_has_a_shape_and_unknown_faults_are_refused():
    assert set(SHAPES) == set(FAULTS)
    with pytest.raises(ValueError, match="known: "):
        check_fault("no-such-fault")


@pytest.mark.parametrize("fault", sorted(FAULTS))
def test_fault_changes_the_wire(fault):
    observe, conformant, faulty = SHAPES[fault]
    assert observe(None) == conformant
    assert observe(fault) == faulty
