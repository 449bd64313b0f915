"""The reference UE against the embedded reference (core topology: edge + S-CSCF) on loopback:
registration, refresh, keep-alives at the Flow-Timer fraction, the multi-flow actions, a MESSAGE
with ;ob, digest, 439 and a registrar without outbound."""

from __future__ import annotations

import pytest

from refue_helpers import (ADDRESSES, AOR, INSTANCE, contact, edge_of, gaps, of_kind, ok_registrations,
                           reference_core, reference_ue, registers, sent, supported, wait_count)

TRANSPORTS = ["udp", "tcp"]


@pytest.mark.parametrize("transport", TRANSPORTS)
def test_registers_with_outbound_and_refreshes_over_the_same_flow(transport):
    with reference_core() as core, reference_ue(edge_of(core), transport, expires=1) as ue:
        assert wait_count(ue, lambda: registers(ue, "refresh"), 2, 4.0), ue.logs()
        initial, *refreshes = registers(ue)
        c = contact(initial)
        assert c.reg_id == "1" and c.instance == INSTANCE and c.expires == 1
        assert {"path", "outbound"} <= set(supported(initial))
        assert c.uri.host == ADDRESSES[0] and initial.local[0] == ADDRESSES[0]
        for r in refreshes:                                  # RFC 5626 §4.2.2
            assert r.msg.call_id == initial.msg.call_id and r.local == initial.local
            assert contact(r).reg_id == "1" and contact(r).instance == INSTANCE
        cseqs = [r.msg.cseq[0] for r in registers(ue)]
        assert cseqs == sorted(set(cseqs))
        bindings = core.lookup(AOR)
        assert [b.reg_id for b in bindings] == [1]


@pytest.mark.parametrize("transport", TRANSPORTS)
def test_keepalives_at_80_to_100_percent_of_flow_timer(transport):
    kind, answer = ("stun", "stun-response") if transport == "udp" else ("ping", "pong")
    with reference_core(flow_timer=1) as core, reference_ue(edge_of(core), transport) as ue:
        assert wait_count(ue, lambda: of_kind(ue, kind), 3, 4.0), ue.logs()
        pings = of_kind(ue, kind)
        registered = next(t for t in ue.trace if t.kind == "note" and t.text.startswith("registered"))
        assert "Flow-Timer 1" in registered.text and pings[0].time > registered.time
        intervals = gaps([registered.time] + [p.time for p in pings])
        assert all(0.8 - 0.02 <= g <= 1.0 + 0.2 for g in intervals), intervals   # 0.2: scheduling slack
        assert len(of_kind(ue, answer)) >= 2
        assert not of_kind(ue, "failed")


@pytest.mark.parametrize("transport", TRANSPORTS)
def test_add_flow_move_deregister_one_and_all(transport):
    with reference_core() as core, reference_ue(edge_of(core), transport) as ue:
        assert ue.wait_for(lambda tr: ok_registrations(ue) >= 1, 3.0), ue.logs()
        assert ue.add_flow(ADDRESSES[1]) == 2
        assert ue.wait_for(lambda tr: ok_registrations(ue) >= 2, 3.0), ue.logs()
        first, second = registers(ue, "initial")
        assert contact(second).reg_id == "2" and contact(second).instance == INSTANCE
        assert second.msg.call_id != first.msg.call_id and second.local[0] == ADDRESSES[1]
        assert sorted(b.reg_id for b in core.lookup(AOR)) == [1, 2]

        ue.move(1, ADDRESSES[2])                             # lost coverage: same reg-id, new flow
        assert ue.wait_for(lambda tr: ok_registrations(ue) >= 3, 3.0), ue.logs()
        moved = registers(ue, "initial")[-1]
        assert contact(moved).reg_id == "1" and moved.local[0] == ADDRESSES[2]
        assert moved.msg.call_id not in (first.msg.call_id, second.msg.call_id)
        assert sorted((b.reg_id, b.contact.uri.host) for b in core.lookup(AOR)) == [
            (1, ADDRESSES[2]), (2, ADDRESSES[1])]

        ue.deregister(2)                                     # Expires 0 on its Contact, over its flow
        assert ue.wait_for(lambda tr: [b.reg_id for b in core.lookup(AOR)] == [1], 3.0), ue.logs()
        removal = registers(ue, "removal")[-1]
        assert contact(removal).reg_id == "2" and contact(removal).expires == 0
        assert removal.local == second.local and removal.msg.call_id == second.msg.call_id

        ue.deregister(all=True)                              # Contact: *, no instance / reg-id
        assert ue.wait_for(lambda tr: not core.lookup(AOR), 3.0), ue.logs()
        star = registers(ue, "removal-all")[-1]
        assert star.msg.get("Contact").strip() == "*" and star.msg.get("Expires") == "0"
        assert "reg-id" not in str(star.msg) and "+sip.instance" not in str(star.msg)


def answered(ue, status: int):
    return lambda tr: any(t.direction == "out" and t.msg is not None and not t.msg.is_request
                          and t.msg.status == status for t in tr)


@pytest.mark.parametrize("transport", TRANSPORTS)
def test_call_sends_invite_with_ob_over_the_flow_acks_and_answers_requests(transport):
    with reference_core() as core, reference_ue(edge_of(core), transport) as ue:
        assert ue.wait_for(lambda tr: ok_registrations(ue) >= 1, 3.0), ue.logs()
        ue.call(AOR)                                         # to itself: it comes back over the flow
        assert ue.wait_for(answered(ue, 486), 3.0), ue.logs()   # the UE as callee: busy
        assert ue.wait_for(lambda tr: sent(ue, "ACK"), 3.0), ue.logs()
        [invite] = sent(ue, "INVITE")
        [ack] = sent(ue, "ACK")                              # RFC 3261 §17.1.1.3: same branch
        assert contact(invite).uri.has_param("ob") and "outbound" in supported(invite)
        assert invite.local == registers(ue)[0].local == ack.local
        assert ack.msg.top_branch == invite.msg.top_branch and ";tag=" in ack.msg.get("To")
        ue.call(AOR, "MESSAGE")
        assert ue.wait_for(answered(ue, 200), 3.0), ue.logs()
        assert contact(sent(ue, "MESSAGE")[0]).uri.has_param("ob")


def test_digest_challenge_is_answered():
    with reference_core(digest_auth={"alice@ims.test": "secret"}.get) as core, \
            reference_ue(edge_of(core), "tcp") as ue:
        assert ue.wait_for(lambda tr: ok_registrations(ue) >= 1, 3.0), ue.logs()
        first, second = registers(ue)[:2]
        assert first.msg.get("Authorization") is None and "Digest" in second.msg.get("Authorization")
        assert second.msg.call_id == first.msg.call_id and second.msg.cseq[0] == first.msg.cseq[0] + 1


def test_without_require_outbound_one_flow_and_no_keepalives():
    with reference_core(mode="rel7", flow_timer=1) as core, reference_ue(edge_of(core), "tcp") as ue:
        assert ue.wait_for(lambda tr: ok_registrations(ue) >= 1, 3.0), ue.logs()
        assert ue.add_flow(ADDRESSES[1]) is None             # TS 24.229 5.1.1.2.1 (f)
        assert ue.wait_for(lambda tr: False, 1.3) is False
        assert len(registers(ue, "initial")) == 1 and not of_kind(ue, "ping")
        assert any("add_flow refused" in t.text for t in ue.trace)


def test_423_is_answered_with_min_expires():
    with reference_core(min_expires=120) as core, reference_ue(edge_of(core), "udp", expires=30) as ue:
        assert ue.wait_for(lambda tr: ok_registrations(ue) >= 1, 3.0), ue.logs()
        first, second = registers(ue)[:2]
        assert contact(first).expires == 30 and contact(second).expires == 120
        assert second.msg.call_id == first.msg.call_id and core.lookup(AOR)


@pytest.mark.parametrize("transport", ["tls", "ws", "wss"])
def test_stream_transports_register_keep_alive_and_take_requests(transport):
    from conformance.wire.testca import ensure_test_ca

    with reference_core(flow_timer=1, **{f"{transport}_port": 0}) as core, \
            reference_ue(edge_of(core), transport, ca_file=str(ensure_test_ca().ca_cert)) as ue:
        assert wait_count(ue, lambda: of_kind(ue, "pong"), 1, 3.0), ue.logs()
        [initial] = registers(ue, "initial")
        c = contact(initial)
        assert c.reg_id == "1" and c.instance == INSTANCE and core.lookup(AOR)
        ue.call(AOR)                                         # comes back over the flow, busy, ACKed
        assert ue.wait_for(answered(ue, 486), 3.0) and ue.wait_for(lambda tr: sent(ue, "ACK"), 3.0), ue.logs()


@pytest.mark.parametrize("mode, flows", [("rel8", 2), ("rel7", 1)])
def test_add_flow_right_after_start_waits_for_the_first_2xx(mode, flows):
    with reference_core(mode=mode) as core, reference_ue(edge_of(core), "udp") as ue:
        ue.add_flow(ADDRESSES[1])                            # before the first 2xx reached the UE
        assert ue.wait_for(lambda tr: ok_registrations(ue) >= flows, 3.0), ue.logs()
        ue.wait_for(lambda tr: False, 0.3)
        first_ok = next(t for t in ue.trace if t.kind == "note" and t.text.startswith("registered"))
        initial = registers(ue, "initial")
        assert len(initial) == flows and all(r.time <= first_ok.time for r in initial[:1])
        assert all(r.time > first_ok.time for r in initial[1:])


@pytest.mark.parametrize("transport", TRANSPORTS)
def test_a_removal_told_during_a_register_in_flight_waits_for_its_final_response(transport):
    with reference_core() as core, reference_ue(edge_of(core), transport) as ue:
        assert ue.wait_for(lambda tr: ok_registrations(ue) >= 1, 3.0), ue.logs()
        ue.add_flow(ADDRESSES[1])
        ue.deregister(2)                                     # RFC 3261 §10.2: not before the 200
        assert ue.wait_for(lambda tr: [b.reg_id for b in core.lookup(AOR)] == [1] and registers(ue, "removal"),
                           3.0), ue.logs()
        initial = registers(ue, "initial")[1]
        ok = next(t for t in ue.trace if t.flow == 2 and t.direction == "in" and t.kind == "sip")
        [removal] = registers(ue, "removal")
        assert initial.time < ok.time < removal.time and removal.msg.cseq[0] == initial.msg.cseq[0] + 1
