"""The UE network side alone (conformance.uecert.network): real REGISTERs from a fake UE over
loopback sockets; the events, the pcap and each behaviour (Require: outbound, Flow-Timer, 439,
503 + Retry-After, a Rel-7 registrar, a closed flow, pongs dropped, a request to the AOR)."""

from __future__ import annotations

import time

import pytest

from conformance.sip.message import Request, Response
from conformance.uecert.model import NetworkBehaviour
from conformance.uecert.network import NetworkActionError, UeNetwork
from conformance.uecert.observation import CLOSE, IN, OPEN, OUT, PING, PONG, SIP

from uecert_fake_ue import WireFlow, new_ue


@pytest.fixture
def network_for():
    started = []

    def make(transport="udp", **behaviour):
        net = UeNetwork(NetworkBehaviour(**behaviour), transport=transport).start()
        started.append(net)
        return net

    yield make
    for net in started:
        net.stop()


def _flow(net, transport, ip="127.0.0.11", name="f1", reg_id=1, ue=None):
    return WireFlow(ue or new_ue(), name, reg_id, ip, transport, net.edge[transport])


@pytest.mark.parametrize("transport", ["udp", "tcp"])
def test_register_is_recorded_both_ways_with_outbound(network_for, transport, tmp_path):
    net = network_for(transport)
    f = _flow(net, transport)
    r = f.register()
    assert r is not None and r.status == 200
    assert "outbound" in r.get("Require", "")
    obs = net.recorder.obs
    sips = list(obs.sip())
    assert [e.direction for e in sips] == [IN, OUT]
    assert sips[0].msg.method == "REGISTER" and sips[1].msg.status == 200
    assert sips[0].flow.ue == ("127.0.0.11", f.state.local_port)
    assert obs.response_to(sips[0]) is sips[1]
    # packet numbers are the pcap's: a TCP flow opens with three packets first
    if transport == "tcp":
        assert [e.kind for e in obs.events][:1] == [OPEN] and sips[0].index == 4
    else:
        assert sips[0].index == 1 and sips[1].index == 2
    path = tmp_path / "case.pcap"
    net.recorder.rec.pcap.write(path)
    assert path.stat().st_size > 24 + 2 * 16
    assert [m.direction for m in net.recorder.rec.messages] == ["received", "sent"]
    f.close()


def test_flow_timer_in_the_2xx(network_for):
    net = network_for("tcp", flow_timer=7)
    r = _flow(net, "tcp").register()
    assert r.status == 200 and r.get("Flow-Timer") == "7"


def test_rel7_registrar_sends_no_require_outbound(network_for):
    net = network_for("udp", outbound=False)
    r = _flow(net, "udp").register()
    assert r.status == 200 and "outbound" not in (r.get("Require") or "")


@pytest.mark.parametrize("status,retry", [(439, None), (503, 2), (430, None), (403, None)])
def test_reject_answers_the_first_register_then_the_edge_does(network_for, status, retry):
    reject = {"status": status, "count": 1}
    if retry is not None:
        reject["retry_after"] = retry
    net = network_for("udp", reject=reject)
    f = _flow(net, "udp")
    r1 = f.register()
    assert r1.status == status
    assert (r1.get("Retry-After") == str(retry)) if retry else r1.get("Retry-After") is None
    assert f.register().status == 200          # count 1: the second goes through
    assert [e.msg.status for e in net.recorder.obs.sip(OUT)] == [status, 200]


def test_reject_matching_refresh_only(network_for):
    net = network_for("udp", reject={"status": 430, "match": "refresh"})
    f = _flow(net, "udp")
    assert f.register().status == 200
    assert f.register().status == 430          # same Call-ID: a refresh


def test_tcp_keepalive_pong_recorded_and_dropped_on_demand(network_for):
    net = network_for("tcp")
    f = _flow(net, "tcp")
    f.register()
    f.send(b"\r\n\r\n")
    assert net.recorder.wait_for(lambda: any(e.kind == PONG for e in net.recorder.obs.events), 2)
    ping = net.recorder.obs.keepalives()[0]
    assert ping.keepalive == "crlf" and ping.direction == IN
    net.behave({"drop_pongs": True})
    f.send(b"\r\n\r\n")
    assert net.recorder.wait_for(lambda: len(net.recorder.obs.keepalives()) == 2, 2)
    time.sleep(0.3)
    assert sum(e.kind == PONG for e in net.recorder.obs.events) == 1


def test_stun_keepalive_with_a_changed_mapping(network_for):
    from conformance.sip.stun import ATTR_XOR_MAPPED_ADDRESS, binding_request, decode_xor_address, parse

    net = network_for("udp", stun_mapped="127.0.0.99:4242")
    f = _flow(net, "udp")
    f.register()
    tid = b"0123456789ab"
    f.send(binding_request(tid))
    assert net.recorder.wait_for(lambda: any(e.kind == PONG for e in net.recorder.obs.events), 2)
    pong = next(e for e in net.recorder.obs.events if e.kind == PONG)
    assert pong.keepalive == "stun" and pong.stun_mapped == ("127.0.0.99", 4242)
    data = f.sock.recv(2048)
    attrs = parse(data)[3]
    xor = next(v for t, v, _ in attrs if t == ATTR_XOR_MAPPED_ADDRESS)
    assert decode_xor_address(xor, tid) == ("127.0.0.99", 4242)


def test_close_flow_closes_the_connection_and_is_recorded(network_for):
    net = network_for("tcp")
    f = _flow(net, "tcp")
    f.register()
    net.close_flow(1)
    assert net.recorder.wait_for(lambda: any(e.kind == CLOSE for e in net.recorder.obs.events), 2)
    close = next(e for e in net.recorder.obs.events if e.kind == CLOSE)
    assert close.direction == OUT and close.index > 0
    deadline = time.monotonic() + 2
    while time.monotonic() < deadline and not getattr(f, "closed", False):
        f.read()
    assert getattr(f, "closed", False), "the UE's connection was not closed"
    assert net.recorder.obs.network_actions("network.close_flow")
    with pytest.raises(NetworkActionError):
        net.close_flow(2)


def test_ue_closing_its_connection_is_recorded_as_in(network_for):
    net = network_for("tcp")
    f = _flow(net, "tcp")
    f.register()
    f.close()
    assert net.recorder.wait_for(lambda: any(e.kind == CLOSE for e in net.recorder.obs.events), 2)
    assert next(e for e in net.recorder.obs.events if e.kind == CLOSE).direction == IN


@pytest.mark.parametrize("transport", ["udp", "tcp"])
def test_network_request_reaches_the_ue_over_its_flow(network_for, transport):
    net = network_for(transport)
    ue = new_ue()
    f = _flow(net, transport, ue=ue)
    f.register()
    net.send_request(ue.impu, "MESSAGE")
    got = None
    deadline = time.monotonic() + 3
    while got is None and time.monotonic() < deadline:
        got = next((m for m in f.read() if isinstance(m, Request) and m.method == "MESSAGE"), None)
    assert got is not None, "the MESSAGE did not come over the registered flow"
    out = [e for e in net.recorder.obs.sip(OUT) if e.is_request]
    assert out and out[0].msg.method == "MESSAGE" and out[0].flow.ue == ("127.0.0.11", f.state.local_port)


def test_sec_agree_is_refused_clearly():
    with pytest.raises(NetworkActionError, match="sec-agree"):
        UeNetwork(NetworkBehaviour(sec_agree=True)).start()


def test_the_pcap_decodes_as_sip_in_wireshark(network_for, tmp_path):
    import shutil
    import subprocess

    if shutil.which("tshark") is None:
        pytest.skip("tshark not installed (make tools installs it)")
    net = network_for("tcp")
    f = _flow(net, "tcp")
    f.register()
    f.send(b"\r\n\r\n")
    net.recorder.wait_for(lambda: any(e.kind == PONG for e in net.recorder.obs.events), 2)
    path = net.recorder.rec.pcap.write(tmp_path / "c.pcap")
    out = subprocess.run(["tshark", "-r", str(path), "-Y", "sip", "-T", "fields", "-e", "frame.number",
                          "-e", "sip.Method", "-e", "sip.Status-Code"], capture_output=True, text=True,
                         timeout=30).stdout.split("\n")
    rows = [r.split("\t") for r in out if r.strip()]
    reg = next(e for e in net.recorder.obs.requests("REGISTER"))
    assert [str(reg.index), "REGISTER", ""] in rows, rows
    assert any(r[2] == "200" for r in rows)


def test_behave_changes_this_network_only_not_the_case_behaviour_the_next_item_starts_from():
    """One case's items (ID[tcp], then ID[ws], ...) each get a network from the case's one
    NetworkBehaviour: a `network.behave` reject in the first item must not make the next item's
    network answer the UE's first REGISTER 503 (seen: UE-REC-002[ws]/[wss] inconclusive)."""
    case_behaviour = NetworkBehaviour()
    first = UeNetwork(case_behaviour, transport="udp").start()
    try:
        first.behave({"reject": {"status": 503, "count": 2}})
        assert first.behaviour.reject == {"status": 503, "count": 2}
    finally:
        first.stop()
    assert case_behaviour.reject is None
    second = UeNetwork(case_behaviour, transport="udp").start()
    try:
        assert _flow(second, "udp").register().status == 200
    finally:
        second.stop()
