"""The reference UE's sans-IO timing and reply reading (seeded random, no sleeping), and its
driver (instance persistence across restarts, addresses, refusals) against the embedded core."""

from __future__ import annotations

import random
from pathlib import Path

import pytest

from conformance.sip.message import Request, Response
from conformance.uecert.drivers import DriverError, NetworkInfo, driver_for
from conformance.uecert.model import UeProfile, UeTimers
from conformance.uecert.refue.replies import read_2xx, retry_after
from conformance.uecert.refue.timing import (DEFAULT_KEEPALIVE, NO_BACKOFF_WAIT, keepalive_interval, refresh_delay,
                                             retry_delay, upper_bound_wait)
from refue_helpers import ADDRESSES, AOR, FAST, contact, edge_of, reference_core, registers

RFC = UeTimers()


@pytest.mark.parametrize("transport, flow_timer, low, high", [
    ("tcp", 30, 24.0, 30.0), ("udp", 10, 8.0, 10.0), ("tcp", None, 95.0, 120.0), ("udp", None, 24.0, 29.0)])
def test_keepalive_interval_ranges(transport, flow_timer, low, high):
    rng = random.Random(1)
    values = [keepalive_interval(transport, flow_timer, rng) for _ in range(500)]
    assert low <= min(values) and max(values) <= high
    assert max(values) - min(values) > 0.8 * (high - low)        # spread over the range, not fixed
    slow = [keepalive_interval(transport, flow_timer, rng, too_slow=True) for _ in range(100)]
    assert min(slow) > high                                        # FAULT: keepalive-too-slow


def test_upper_bound_wait_is_the_section_4_5_formula():
    assert upper_bound_wait(3, True, RFC) == 240                   # the RFC's own example
    assert upper_bound_wait(1, True, RFC) == 60 and upper_bound_wait(1, False, RFC) == 180
    assert upper_bound_wait(10, True, RFC) == 1800                 # capped at max-time
    assert upper_bound_wait(2, True, FAST) == pytest.approx(0.8)


def test_retry_delay_is_50_to_100_percent_of_w_and_respects_retry_after():
    rng = random.Random(2)
    first = [retry_delay(1, True, RFC, rng) for _ in range(300)]
    assert 30 <= min(first) and max(first) <= 60 and max(first) - min(first) > 25  # "between 30 and 60"
    capped = [retry_delay(20, True, RFC, rng) for _ in range(300)]
    assert 900 <= min(capped) and max(capped) <= 1800                              # "15 to 30 minutes"
    assert retry_delay(1, True, RFC, rng, retry_after=500) == 500
    assert 30 <= retry_delay(1, True, RFC, rng, retry_after=0) <= 60               # 0 is no shorter wait
    assert retry_delay(5, True, RFC, rng, no_backoff=True) == NO_BACKOFF_WAIT      # FAULT: no-backoff


def test_refresh_delay_is_half_the_granted_expiry():
    assert refresh_delay(600) == 300 and refresh_delay(1) == 0.5
    assert DEFAULT_KEEPALIVE["udp"] == (24.0, 29.0)


def ok(*headers) -> Response:
    return Response(status=200, reason="OK", headers=list(headers))


def test_read_2xx_finds_the_ues_binding_require_and_flow_timer():
    inst = "<urn:uuid:00000000-0000-4000-8000-000000000001>"
    mine = f'<sip:a@127.0.0.21:5000>;reg-id=1;+sip.instance="{inst}";expires=300'
    other = f'<sip:a@127.0.0.22:5001>;reg-id=2;+sip.instance="{inst}";expires=900'
    g = read_2xx(ok(("Contact", other), ("Contact", mine), ("Require", "outbound"), ("Flow-Timer", "25")),
                 instance=inst, reg_id=1, contact_host_port="127.0.0.21:5000", requested=600)
    assert (g.outbound, g.flow_timer, g.expires) == (True, 25, 300)
    g = read_2xx(ok(("Contact", "<sip:a@127.0.0.21:5000>"), ("Expires", "120")), instance=None, reg_id=None,
                 contact_host_port="127.0.0.21:5000", requested=600)
    assert (g.outbound, g.flow_timer, g.expires) == (False, None, 120)
    assert read_2xx(ok(("Flow-Timer", "x")), instance=None, reg_id=None, contact_host_port="h:1",
                    requested=600).flow_timer is None
    assert retry_after(Response(status=503, reason="x", headers=[("Retry-After", "18 (maintenance);duration=30")])) == 18
    assert retry_after(Response(status=503, reason="x", headers=[])) is None


# -- the driver ---------------------------------------------------------------------------------
def net_for(core, transport="tcp") -> NetworkInfo:
    return NetworkInfo(domain="ims.test", edge=edge_of(core), aor=AOR, impi="alice@ims.test", password="s",
                       ue_addresses=list(ADDRESSES), transport=transport)


def instance_over_two_starts(core, tmp_path, **profile):
    seen = []
    for _ in range(2):
        driver = driver_for(UeProfile(driver="reference", timers=FAST, **profile), target=None)
        driver.start(net_for(core), workdir=tmp_path)
        try:
            assert driver.agent.wait_for(lambda tr: registers(driver.agent), 3.0)
            seen.append(contact(registers(driver.agent)[0]).instance)
        finally:
            driver.stop()
            driver.stop()                                          # twice is safe
    return seen


def test_driver_keeps_the_instance_across_restarts_unless_the_fault_changes_it(tmp_path):
    with reference_core() as core:
        a, b = instance_over_two_starts(core, tmp_path / "ok")
        assert a == b and a.startswith("<urn:uuid:")
        c, d = instance_over_two_starts(core, tmp_path / "fault", fault="instance-changes")
        assert c != d
        e, f = instance_over_two_starts(core, tmp_path / "given", instance="urn:uuid:00000000-0000-4000-8000-00000000beef")
        assert e == f == "<urn:uuid:00000000-0000-4000-8000-00000000beef>"
        assert (tmp_path / "ok" / "reference-ue.log").read_text().count("REGISTER") >= 1


def test_driver_actions_resolve_addresses_and_refuse_what_it_cannot_do(tmp_path):
    with reference_core() as core:
        driver = driver_for(UeProfile(driver="reference", timers=FAST, options={"expires": 60}), target=None)
        assert set(driver.actions) >= {"register", "add_flow", "move", "deregister", "deregister_all", "call"}
        with pytest.raises(DriverError, match="not running"):
            driver.add_flow("IP2")
        with pytest.raises(DriverError, match="transport 'wss'"):
            driver.start(net_for(core, "wss"), workdir=tmp_path)
        driver.start(net_for(core), workdir=tmp_path)
        try:
            driver.add_flow("IP2")
            assert driver.agent.wait_for(lambda tr: len(registers(driver.agent)) >= 2, 3.0), driver.logs()
            assert registers(driver.agent)[1].local[0] == ADDRESSES[1]
            assert contact(registers(driver.agent)[0]).expires == 60
            with pytest.raises(DriverError, match="declares 3"):
                driver.move(1, "IP7")
            with pytest.raises(DriverError, match="no flow 9"):
                driver.deregister(9)
        finally:
            driver.stop()
        bad = driver_for(UeProfile(driver="reference", options={"bogus": 1}), target=None)
        with pytest.raises(DriverError, match="bogus"):
            bad.start(net_for(core), workdir=tmp_path)


def test_the_agent_runs_as_a_process_driven_over_stdin():
    import subprocess
    import sys

    with reference_core() as core:
        edge = edge_of(core)["tcp"]
        proc = subprocess.Popen(
            [sys.executable, "-m", "conformance.uecert.refue", "--aor", AOR, "--transport", "tcp",
             "--edge", f"tcp={edge[0]}:{edge[1]}", "--address", ADDRESSES[0], "--address", ADDRESSES[1],
             "--timers", "0.2,0.6,2", "--duration", "20"],
            stdin=subprocess.PIPE, stdout=subprocess.PIPE, text=True, cwd=Path(__file__).resolve().parents[2])
        try:
            proc.stdin.write("add_flow 127.0.0.22\n")
            proc.stdin.flush()
            lines = []
            for line in proc.stdout:
                lines.append(line)
                if sum("registered for" in x for x in lines) >= 2:
                    break
            assert sorted(b.reg_id for b in core.lookup(AOR)) == [1, 2], lines
            proc.stdin.write("quit\n")
            proc.stdin.flush()
            assert proc.wait(5) == 0
        finally:
            if proc.poll() is None:
                proc.terminate()
                try:
                    proc.wait(3)
                except subprocess.TimeoutExpired:
                    proc.kill()
                    proc.wait(3)


def test_ack_and_bye_in_the_dialog_a_2xx_created():
    from conformance.uecert.refue.outgoing import ack_for, in_dialog

    invite = Request(method="INVITE", uri="sip:bob@ims.test", headers=[
        ("Via", "SIP/2.0/TCP 127.0.0.21:5000;branch=z9hG4bKinv;rport"), ("From", f"<{AOR}>;tag=a1"),
        ("To", "<sip:bob@ims.test>"), ("Call-ID", "c1"), ("CSeq", "1 INVITE")])
    ok200 = Response(status=200, reason="OK", headers=[
        ("Via", "SIP/2.0/TCP 127.0.0.21:5000;branch=z9hG4bKinv;rport"), ("From", f"<{AOR}>;tag=a1"),
        ("To", "<sip:bob@ims.test>;tag=b2"), ("Call-ID", "c1"), ("CSeq", "1 INVITE"),
        ("Record-Route", "<sip:scscf@127.0.0.1:5070;lr>"), ("Record-Route", "<sip:pcscf@127.0.0.1:5060;lr>"),
        ("Contact", "<sip:bob@127.0.0.9:6000>")])
    ack, bye = in_dialog(invite, ok200, "ACK", 1), in_dialog(invite, ok200, "BYE", 2)
    assert ack.uri == bye.uri == "sip:bob@127.0.0.9:6000"
    assert ack.values("Route") == ["<sip:pcscf@127.0.0.1:5060;lr>", "<sip:scscf@127.0.0.1:5070;lr>"]
    assert ack.top_branch != invite.top_branch != bye.top_branch and ack.cseq == (1, "ACK")
    assert bye.cseq == (2, "BYE") and bye.get("To").endswith("tag=b2")
    busy = Response(status=486, reason="Busy Here", headers=[("To", "<sip:bob@ims.test>;tag=b3")])
    non2xx = ack_for(invite, busy)
    assert non2xx.top_branch == "z9hG4bKinv" and non2xx.uri == invite.uri and non2xx.get("To").endswith("b3")
