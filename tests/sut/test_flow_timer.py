"""Flow-Timer supervision (RFC 5626 sections 5.4, 6 paragraph 11 and 7): sans-IO at the edge and
at a registrar with direct flows, then over real sockets on 127.0.0.1 (bounded waits)."""

from __future__ import annotations

import os
import random
import socket
import time

import pytest

from conformance.sut.actions import CloseFlow
from conformance.sut.config import SutConfig
from conformance.sut.registrar.scscf import ScscfNode
from conformance.sut.flow import FlowInfo
from conformance.sut.server.reference import ReferenceCore, ReferenceCscf
from conformance.sip.stun import binding_request
from conformance.sut.common.supervision import FlowSupervisor
from routing_helpers import answer, peer_request, requests, responses
from sut_helpers import AOR, UE_FLOW, contact, register
from test_edge import UE1, UE_UDP, Edge, terminating
from test_topology import TcpUe, UdpPeer

FT, GRACE = 25, 5


@pytest.fixture
def peer():
    p = UdpPeer()
    yield p
    p.close()


# -- the supervisor ---------------------------------------------------------------------------
def test_supervisor_declares_a_flow_failed_only_after_flow_timer_plus_grace():
    s = FlowSupervisor(grace=GRACE)
    s.watch(UE1, FT, 100.0)
    assert s.next_deadline() == 100.0 + FT + GRACE
    assert s.expired(100.0 + FT + 0.5) == []                 # section 5.4: longer than Flow-Timer
    s.activity(UE1, 120.0)                                   # a keep-alive moves the deadline
    assert s.expired(100.0 + FT + GRACE) == [] and s.deadline(UE1) == 120.0 + FT + GRACE
    assert s.expired(150.0) == [UE1] and UE1 not in s and s.next_deadline() is None
    s.activity(UE1, 151.0)                                   # no longer watched: nothing happens
    assert len(s) == 0


def test_supervisor_needs_a_grace_period():
    for grace in (0, -1):
        with pytest.raises(ValueError):
            FlowSupervisor(grace)
    with pytest.raises(ValueError):
        SutConfig(flow_timer=5, flow_grace=0)


def test_supervisor_next_deadline_matches_a_brute_force_minimum():
    rnd = random.Random(7)
    flows = [FlowInfo("udp", ("127.0.0.1", 5060), ("127.0.0.9", 1000 + i)) for i in range(8)]
    s = FlowSupervisor(grace=1.0)
    model: dict = {}
    now = 0.0
    for _ in range(2000):
        now += rnd.random()
        f = rnd.choice(flows)
        op = rnd.random()
        if op < 0.3:
            t = rnd.randint(1, 5)
            s.watch(f, t, now)
            model[f] = (now, t)
        elif op < 0.4:
            s.forget(f)
            model.pop(f, None)
        elif op < 0.9:
            s.activity(f, now)
            if f in model:
                model[f] = (now, model[f][1])
        else:
            dead = set(s.expired(now))
            want = {g for g, (last, t) in model.items() if last + t + 1.0 <= now}
            assert dead == want
            for g in dead:
                del model[g]
        expect = min((last + t + 1.0 for last, t in model.values()), default=None)
        assert s.next_deadline() == expect


# -- the edge ---------------------------------------------------------------------------------
def test_edge_supervises_the_flows_it_gave_a_flow_timer():
    edge = Edge(flow_timer=FT, flow_grace=GRACE)
    fwd, r = edge.register()
    assert r.get("Flow-Timer") == str(FT) and UE1 in edge.proxy.supervisor
    t0 = edge.now
    assert edge.proxy.on_timer(t0 + FT + 1) == []            # within the grace period
    edge.proxy.flow_activity(UE1, t0 + 20)                    # a CRLF ping
    assert edge.proxy.on_timer(t0 + FT + GRACE + 1) == []
    assert edge.proxy.next_deadline() == t0 + 20 + FT + GRACE
    assert edge.proxy.on_timer(t0 + 20 + FT + GRACE) == [CloseFlow(UE1)]
    edge.now = t0 + 60
    [(_, resp)] = responses(terminating(edge, fwd.values("Path")[0]))
    assert resp.status == 430                                 # section 5.3.1: the flow is gone
    assert edge.proxy.failed_flows == [UE1]


def test_edge_sip_traffic_counts_as_keepalive_and_udp_flows_are_forgotten_without_close():
    edge = Edge(flow_timer=FT, flow_grace=GRACE)
    fwd, _ = edge.register(UE_UDP, contacts=[contact("10.0.0.3", reg_id=3)], call_id="C3")
    t0 = edge.now
    edge.now = t0 + 28                                        # a refresh over the flow
    edge.register(UE_UDP, contacts=[contact("10.0.0.3", reg_id=3)], call_id="C3", cseq=2)
    assert edge.proxy.on_timer(t0 + 40) == []
    assert edge.proxy.on_timer(t0 + 28 + FT + GRACE) == []     # UDP: nothing to close
    assert not edge.proxy.flow_exists(UE_UDP)
    edge.now = t0 + 60
    [(_, resp)] = responses(terminating(edge, fwd.values("Path")[0]))
    assert resp.status == 430


def test_edge_without_flow_timer_or_without_require_outbound_supervises_nothing():
    edge = Edge()
    _, r = edge.register()
    assert not r.has("Flow-Timer") and len(edge.proxy.supervisor) == 0
    edge = Edge(flow_timer=FT)
    [(_, fwd)] = requests(edge.send(register(first_hop=True, supported="path"), UE1))
    reply = answer(fwd, 200, "OK")                            # no Require: outbound
    [(_, r)] = responses(edge.send(reply, FlowInfo("tcp", ("127.0.0.1", 5060), ("127.0.0.1", 44444), 9)))
    assert not r.has("Flow-Timer") and len(edge.proxy.supervisor) == 0   # section 5.4 MAY only then


def test_ignore_flow_timer_fault_announces_but_never_declares_failure():
    edge = Edge(flow_timer=FT, flow_grace=GRACE, faults={"ignore-flow-timer"})
    fwd, r = edge.register()
    assert r.get("Flow-Timer") == str(FT)                     # still announced
    assert edge.proxy.on_timer(edge.now + 10 * FT) == [] and edge.proxy.flow_exists(UE1)
    edge.now += 10 * FT
    [(action, _)] = requests(terminating(edge, fwd.values("Path")[0]))
    assert action.flow == UE1                                 # FAULT: still delivered


# -- a registrar with direct flows (section 6 paragraph 11) --------------------------------------
UE_UDP_DIRECT = FlowInfo("udp", ("127.0.0.1", 5060), ("127.0.0.9", 50002))


def scscf(**config):
    return ScscfNode(SutConfig(flow_timer=FT, flow_grace=GRACE, **config))


def reg(node, flow, now, **kw):
    [action] = node.receive(bytes(register(first_hop=True, **kw)), flow, now)
    from conformance.sip.message import parse_message
    return parse_message(action.data)


@pytest.mark.parametrize("flow", [UE_FLOW, UE_UDP_DIRECT], ids=["tcp", "udp"])
def test_direct_flow_silent_too_long_loses_its_bindings(flow):
    node = scscf()
    r = reg(node, flow, 1000.0)
    assert r.status == 200 and r.get("Flow-Timer") == str(FT) and flow in node.supervisor
    node.flow_activity(flow, 1020.0)                          # a keep-alive
    assert node.on_timer(1000.0 + FT + GRACE) == [] and len(node.registrar.lookup(AOR, 1040.0)) == 1
    actions = node.on_timer(1020.0 + FT + GRACE)
    assert actions == ([CloseFlow(flow)] if flow.reliable else [])
    assert node.registrar.lookup(AOR, 1051.0) == []           # section 7: bindings invalidated
    assert node.failed_flows == [flow]


def test_registrar_behind_an_edge_sends_no_flow_timer_and_supervises_nothing():
    node = scscf()
    r = reg(node, UE_FLOW, 1000.0)
    assert r.has("Flow-Timer")
    node2 = scscf()
    [action] = node2.receive(bytes(register()), UE_FLOW, 1000.0)          # two Vias, Path ;ob
    from conformance.sip.message import parse_message
    assert not parse_message(action.data).has("Flow-Timer") and len(node2.supervisor) == 0


def test_direct_flow_fault_keeps_bindings():
    node = scscf(faults={"ignore-flow-timer"})
    assert reg(node, UE_FLOW, 1000.0).get("Flow-Timer") == str(FT)
    assert node.next_deadline() is None or node.next_deadline() > 1000.0 + 100 * FT
    assert node.on_timer(1000.0 + 100) == [] and len(node.registrar.lookup(AOR, 1100.0)) == 1


# -- over sockets ---------------------------------------------------------------------------------
def _wait_closed(ue, bound: float) -> float:
    """Seconds until the server closes the UE's connection (bounded)."""
    start = time.monotonic()
    ue.sock.settimeout(bound)
    try:
        while ue.sock.recv(4096):
            pass
    except socket.timeout:
        pytest.fail(f"the connection was not closed within {bound} s")
    return time.monotonic() - start


def test_core_keeps_a_pinging_flow_and_drops_a_silent_one(peer):
    cfg = SutConfig(topology="core", flow_timer=1, flow_grace=0.3)
    with ReferenceCore(cfg, "127.0.0.1") as core:
        ue1, ue2 = TcpUe(core.edge_address), TcpUe(core.edge_address)
        assert ue1.register().get("Flow-Timer") == "1"
        assert ue2.register(contacts=[contact("10.0.0.2", reg_id=2)], call_id="C2").status == 200
        start = time.monotonic()
        while time.monotonic() - start < 1.6:                 # ue1 pings, ue2 stays silent
            ue1.sock.sendall(b"\r\n\r\n")
            assert ue1.sock.recv(16) == b"\r\n"
            time.sleep(0.4)
        assert _wait_closed(ue2, 2.0) < 2.0                    # closed after 1.3 s of silence
        peer.send(peer_request(via=peer.via), core.core_address)
        got = ue1.recv()                                      # 430 for ue2's token, then ue1
        assert got.uri.startswith("sip:ue-a@10.0.0.1")
        ue1.send(answer(got, 200, "OK"))
        assert peer.recv()[0].status == 200
        ue1.close()


def test_registrar_direct_udp_flow_kept_by_stun_then_dropped():
    cfg = SutConfig(flow_timer=1, flow_grace=0.3)
    with ReferenceCscf(cfg) as cscf:
        ue = UdpPeer()
        req = register(first_hop=True)
        vias = [f"SIP/2.0/UDP 127.0.0.1:{ue.port};rport;branch=z9hG4bK-{os.urandom(4).hex()}"]
        req.headers = [h for h in req.headers if h[0] != "Via"]
        req.insert(0, "Via", vias[0])
        ue.send(req, cscf.address)
        r, _ = ue.recv()
        assert r.status == 200 and r.get("Flow-Timer") == "1"
        for _ in range(3):                                    # 1.5 s of STUN every 0.5 s
            ue.sock.sendto(binding_request(os.urandom(12)), cscf.address)
            ue.sock.recvfrom(2048)
            time.sleep(0.5)
        assert len(cscf.lookup(AOR)) == 1
        deadline = time.monotonic() + 3.0
        while cscf.lookup(AOR) and time.monotonic() < deadline:
            time.sleep(0.05)
        assert cscf.lookup(AOR) == []                          # section 7
        ue.close()


# -- the fault no-flow-grace (caught by KA-004: expected/fault-no-flow-grace.yaml) -----------------
def test_no_flow_grace_fault_fails_a_flow_at_exactly_flow_timer():
    node = scscf(faults={"no-flow-grace"})
    assert reg(node, UE_UDP_DIRECT, 1000.0).get("Flow-Timer") == str(FT)
    assert node.next_deadline() == 1000.0 + FT                # FAULT: no grace period
    node.on_timer(1000.0 + FT)
    assert node.registrar.lookup(AOR, 1000.0 + FT) == []
    edge = Edge(flow_timer=FT, flow_grace=GRACE, faults={"no-flow-grace"})
    edge.register()
    edge.proxy.on_timer(edge.now + FT)
    assert not edge.proxy.flow_exists(UE1)
