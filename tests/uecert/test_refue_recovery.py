"""Flow failure and recovery of the reference UE (RFC 5626 §4.4, §4.5) against the embedded
reference core, with compressed §4.5 timers (base 0.2 s / 0.6 s, max 2 s): a closed connection,
a missing pong, a changed STUN mapping, back-off while the network is gone, 439 and 503."""

from __future__ import annotations

import random

import pytest

from conformance.sip.message import Response
from conformance.sip.stun import stun_response
from conformance.uecert.refue.agent import RefUeConfig, Trace
from conformance.uecert.refue.engine import Engine
from conformance.uecert.refue.flow import WAITING
from refue_helpers import (ADDRESSES, AOR, FAST, INSTANCE, close_from_network, contact, edge_of, of_kind,
                           ok_registrations, reference_core, reference_ue, registers, wait_count)


def test_closed_connection_is_replaced_with_the_same_reg_id_at_once():
    with reference_core(flow_timer=1) as core, reference_ue(edge_of(core), "tcp") as ue:
        assert wait_count(ue, lambda: of_kind(ue, "pong"), 1, 3.0), ue.logs()   # §4.5: "successful"
        first = registers(ue, "initial")[0]
        assert close_from_network(core, first.local)
        assert ue.wait_for(lambda tr: ok_registrations(ue) >= 2, 3.0), ue.logs()
        failed = of_kind(ue, "failed")[0]
        again = registers(ue, "initial")[1]
        assert contact(again).reg_id == "1" and contact(again).instance == INSTANCE
        assert again.msg.call_id != first.msg.call_id and again.local != first.local
        assert again.time - failed.time < 0.2                # a successful flow: no wait
        assert [b.reg_id for b in core.lookup(AOR)] == [1]


def test_no_pong_within_the_timeout_fails_the_flow():
    with reference_core(flow_timer=1, faults={"no-crlf-pong"}) as core, \
            reference_ue(edge_of(core), "tcp", pong_timeout=0.5) as ue:
        assert ue.wait_for(lambda tr: len(registers(ue, "initial")) >= 2, 4.0), ue.logs()
        [ping, *_] = of_kind(ue, "ping")
        failed = of_kind(ue, "failed")[0]
        assert "no CRLF pong" in failed.text and 0.49 <= failed.time - ping.time < 0.7
        assert contact(registers(ue, "initial")[1]).reg_id == "1"


def test_changed_xor_mapped_address_fails_the_flow():
    with reference_core(flow_timer=1) as core, reference_ue(edge_of(core), "udp") as ue:
        assert wait_count(ue, lambda: of_kind(ue, "stun-response"), 1, 3.0), ue.logs()
        core.on_stun = lambda data, flow: stun_response(data, ("127.0.0.99", 40000))   # a NAT rebooted
        assert ue.wait_for(lambda tr: len(registers(ue, "initial")) >= 2, 4.0), ue.logs()
        failed = of_kind(ue, "failed")[0]
        assert "XOR-MAPPED-ADDRESS changed" in failed.text
        assert contact(registers(ue, "initial")[1]).reg_id == "1"


def attempts(ue) -> list[Trace]:
    """Refused attempts to form flow 1, and the notes of the UE's back-off decisions."""
    return [t for t in ue.trace if t.kind == "failed" and "cannot form the flow" in t.text]


def backoff_notes(ue) -> list[tuple[float, int]]:
    return [(t.time, int(t.text.split("consecutive failures ")[1].split(",")[0]))
            for t in ue.trace if t.kind == "note" and "consecutive failures" in t.text]


def test_backoff_waits_follow_section_4_5_while_the_network_is_gone():
    with reference_core(flow_timer=1) as core, reference_ue(edge_of(core), "tcp") as ue:
        assert wait_count(ue, lambda: of_kind(ue, "pong"), 1, 3.0), ue.logs()
        core.stop()                                          # connection closed, then refused
        assert ue.wait_for(lambda tr: len(attempts(ue)) >= 4, 6.0), ue.logs()
        lost = of_kind(ue, "failed")[0]
        assert "closed" in lost.text
        # the flow was successful (a pong came): the first new attempt goes at once
        assert [t for t in ue.trace if t.kind == "open" or t in attempts(ue)][1].time - lost.time < 0.1
        notes = backoff_notes(ue)
        counts = [n for _, n in notes]
        assert counts[:3] == list(range(counts[0], counts[0] + 3)), counts   # consecutive failures
        for t_note, n in notes[:3]:                          # W = min(max, base * 2^n), base 0.2
            w = min(FAST.max_time, FAST.base_time_all_failed * 2 ** n)
            retry = next(a.time for a in attempts(ue) if a.time > t_note)
            assert 0.5 * w - 0.02 <= retry - t_note <= w + 0.25, (n, retry - t_note, w, ue.logs())


def test_439_reattempts_without_the_outbound_mechanism():
    with reference_core(edge_mode="rel7") as core, reference_ue(edge_of(core), "tcp") as ue:
        assert ue.wait_for(lambda tr: ok_registrations(ue) >= 1, 3.0), ue.logs()
        first, second = registers(ue, "initial")[:2]
        assert contact(first).reg_id == "1" and contact(second).reg_id is None
        assert second.msg.call_id == first.msg.call_id and second.local == first.local
        assert core.lookup(AOR) and ue.add_flow(ADDRESSES[1]) is None


# -- sans-IO: the engine on an injected clock ---------------------------------------------------
class Clock:
    def __init__(self):
        self.now = 100.0

    def __call__(self):
        return self.now


def engine_with_pending(**kw):
    clock, trace = Clock(), []
    cfg = RefUeConfig(aor=AOR, impi="alice@ims.test", password="x", domain="ims.test",
                      edge={"udp": ("127.0.0.1", 9)}, transport="udp", addresses=["127.0.0.21"],
                      instance=INSTANCE, timers=FAST, **kw)
    eng = Engine(cfg, clock=clock, rng=random.Random(5), record=trace.append)
    eng.boot()
    return eng, clock, trace


def answer(request, status: int, reason: str, *extra) -> Response:
    headers = [(n, v) for n, v in request.headers if n in ("Via", "From", "To", "Call-ID", "CSeq")]
    return Response(status=status, reason=reason, headers=headers + list(extra))


@pytest.mark.parametrize("retry_after, low", [(5, 5.0), (None, 0.5 * 0.4)])
def test_503_to_an_initial_register_waits_at_least_retry_after(retry_after, low):
    eng, clock, trace = engine_with_pending()
    try:
        flow = eng.flows[1]
        extra = [("Retry-After", str(retry_after))] if retry_after is not None else []
        eng.on_response(flow, answer(flow.pending.request, 503, "Service Unavailable", *extra))
        assert flow.status == WAITING and flow.failures == 1
        wait = flow.retry_at - clock.now
        assert low <= wait <= max(low, 0.4)                  # W = 0.2 * 2^1
        clock.now = flow.retry_at - 0.01
        eng.on_timer(clock.now)
        assert flow.status == WAITING                        # not before the retry delay
        clock.now = flow.retry_at
        eng.on_timer(clock.now)
        assert flow.status == "registering" and flow.pending.kind == "initial"
        assert all(isinstance(t, Trace) for t in trace)
    finally:
        eng.close_all()


def test_a_refresh_due_while_a_register_is_in_flight_does_not_spin_the_loop():
    eng, clock, _ = engine_with_pending()
    try:
        flow = eng.flows[1]
        flow.status, flow.refresh_at = "registered", clock.now - 1     # due, but the REGISTER pends
        assert eng.next_deadline() == flow.pending.txn.next_deadline() > clock.now
        flow.pending = None
        assert eng.next_deadline() == flow.refresh_at                   # now it is due
    finally:
        eng.close_all()


def test_unanswered_stun_is_retransmitted_then_fails_the_flow():
    with reference_core(flow_timer=1, faults={"no-stun"}) as core, \
            reference_ue(edge_of(core), "udp", stun_rto=0.1) as ue:
        assert ue.wait_for(lambda tr: of_kind(ue, "failed"), 4.0), ue.logs()
        failed = of_kind(ue, "failed")[0]
        stuns = [t for t in of_kind(ue, "stun") if t.time < failed.time]
        assert "no STUN Binding response" in failed.text
        assert len(stuns) >= 4 and all("retransmission" in t.text for t in stuns[1:])
        assert 1.6 - 0.02 <= failed.time - stuns[0].time < 1.9           # 16 RTO (RFC 5626 §4.4.2)
        assert ue.wait_for(lambda tr: len(registers(ue, "initial")) >= 2, 3.0), ue.logs()
        assert contact(registers(ue, "initial")[1]).reg_id == "1"


def test_removal_is_queued_behind_the_register_in_flight():
    eng, clock, trace = engine_with_pending()
    try:
        flow = eng.flows[1]
        initial = flow.pending.request
        eng.deregister(1, False)
        assert flow.queued == "removal" and flow.pending.request is initial        # nothing new sent
        assert [t.msg.method for t in trace if t.kind == "sip"] == ["REGISTER"]
        eng.on_response(flow, answer(initial, 200, "OK", ("Require", "outbound"),
                                     ("Contact", initial.get("Contact"))))
        removal = flow.pending.request
        assert flow.pending.kind == "removal" and flow.queued is None
        assert removal.cseq[0] == initial.cseq[0] + 1 and "expires=0" in removal.get("Contact")
    finally:
        eng.close_all()
