"""The namespace driver: set-up and teardown (nothing left behind, also after an exception), each
NAT mode's observable behaviour, conntrack expiry, rebinding, two UEs with one private address.
Needs root, ip, nft and conntrack; skipped with the reason otherwise."""

from __future__ import annotations

import socket
import time

import pytest

from conformance.topology.model import topology_from
from conformance.topology.netns import Topology, leftovers, list_namespaces, unavailable_reason

REASON = unavailable_reason()
pytestmark = pytest.mark.skipif(REASON is not None, reason=REASON or "")


def _udp(topo, ip, port=0, role=None):
    fam = socket.AF_INET6 if ":" in ip else socket.AF_INET
    s = topo.socket(ip, fam, socket.SOCK_DGRAM, role=role)
    s.bind((ip, port))
    s.settimeout(2)
    return s


def _mine(topo):
    return [n for n in list_namespaces() if n.startswith(topo.tag)]


def test_up_and_down_leave_nothing():
    before = set(leftovers())
    topo = Topology(topology_from("nat-port-preserving"))
    with topo:
        assert len(_mine(topo)) == 3
        assert "cftnat" in topo._ns("nat", "nft", "list", "tables").stdout
    assert _mine(topo) == [] and set(leftovers()) == before
    topo.down()  # twice is fine


def test_down_kills_what_still_runs_inside():
    """A managed SUT started in the SUT namespace (ip netns exec) that did not stop is killed
    at teardown; the namespace would otherwise live on with it."""
    import subprocess

    topo = Topology(topology_from("nat-port-preserving"))
    with topo:
        proc = subprocess.Popen(["ip", "netns", "exec", topo.names["sut"], "sleep", "60"])
        deadline = time.monotonic() + 5
        while str(proc.pid) not in topo._ns("sut", "ip", "netns", "pids", topo.names["sut"]).stdout \
                and time.monotonic() < deadline:
            time.sleep(0.05)
    assert proc.wait(timeout=5) == -9
    assert _mine(topo) == []


def test_teardown_after_an_exception():
    topo = Topology(topology_from("ipv6-only"))
    with pytest.raises(RuntimeError):
        with topo:
            assert _mine(topo)
            raise RuntimeError("boom")
    assert _mine(topo) == []


def test_failed_setup_removes_what_was_made(monkeypatch):
    spec = topology_from("nat-port-preserving")
    monkeypatch.setattr(type(spec), "ruleset", lambda self, table: "this is not nft\n")
    topo = Topology(spec)
    with pytest.raises(Exception, match="nft"):
        topo.up()
    assert _mine(topo) == []


def _two_destinations(topo):
    srv = _udp(topo, "198.18.2.2", 5060)
    srv2 = _udp(topo, "198.18.2.2", 5070)
    cli = _udp(topo, "198.18.1.2", 41000)
    try:
        cli.sendto(b"one", ("198.18.2.2", 5060))
        _, a = srv.recvfrom(100)
        cli.sendto(b"two", ("198.18.2.2", 5070))
        _, b = srv2.recvfrom(100)
        # the reply reaches the UE through the mapping
        srv.sendto(b"back", a)
        assert cli.recvfrom(100)[0] == b"back"
        assert topo.mapping(("198.18.1.2", 41000), "udp") == b
        return a, b
    finally:
        for s in (srv, srv2, cli):
            s.close()


def test_port_preserving():
    with Topology(topology_from("nat-port-preserving")) as topo:
        a, b = _two_destinations(topo)
        assert a == b == ("198.18.2.1", 41000)


def test_random_port():
    with Topology(topology_from("nat-random-port")) as topo:
        a, b = _two_destinations(topo)
        assert a[0] == "198.18.2.1" and 20000 <= a[1] <= 29999 and a[1] != 41000


def test_endpoint_dependent():
    with Topology(topology_from("nat-endpoint-dependent")) as topo:
        a, b = _two_destinations(topo)
        assert 30000 <= a[1] <= 39999 and 30000 <= b[1] <= 39999 and a != b


def test_direct_access_and_ipv6_are_not_translated():
    with Topology(topology_from("nat-port-preserving")) as topo:
        srv, srv6 = _udp(topo, "198.18.2.2", 5060), _udp(topo, "2001:db8:2::2", 5060)
        d, c6 = _udp(topo, "198.18.3.2"), _udp(topo, "2001:db8:1::2")
        d.sendto(b"x", ("198.18.2.2", 5060))
        assert srv.recvfrom(10)[1] == d.getsockname()
        c6.sendto(b"y", ("2001:db8:2::2", 5060))
        assert srv6.recvfrom(10)[1][:2] == c6.getsockname()[:2]
        for s in (srv, srv6, d, c6):
            s.close()


def test_conntrack_expiry_and_rebinding():
    with Topology(topology_from({"preset": "nat-port-preserving", "timeouts": {"udp": 2}})) as topo:
        srv, cli = _udp(topo, "198.18.2.2", 5060), _udp(topo, "198.18.1.2", 41000)
        cli.sendto(b"hi", ("198.18.2.2", 5060))
        _, mapped = srv.recvfrom(10)
        time.sleep(3)
        srv.sendto(b"late", mapped)                      # the mapping expired: dropped
        with pytest.raises(socket.timeout):
            cli.settimeout(0.5)
            cli.recvfrom(10)
        old, new = topo.rebind()
        assert (old, new) == ("198.18.2.1", "198.18.2.3")
        cli.sendto(b"again", ("198.18.2.2", 5060))
        assert srv.recvfrom(10)[1] == ("198.18.2.3", 41000)
        assert topo.mapping(("198.18.1.2", 41000), "udp") == ("198.18.2.3", 41000)
        srv.close()
        cli.close()


def test_two_ues_with_one_private_address_get_two_mappings():
    with Topology(topology_from("nat-shared")) as topo:
        srv = _udp(topo, "198.18.2.2", 5060)
        u1 = _udp(topo, "198.18.1.2", 41000)
        u2 = _udp(topo, "198.18.1.2", 41000, role="ue2")
        u1.sendto(b"1", ("198.18.2.2", 5060))
        _, m1 = srv.recvfrom(10)
        u2.sendto(b"2", ("198.18.2.2", 5060))
        _, m2 = srv.recvfrom(10)
        assert m1 != m2
        srv.sendto(b"to2", m2)
        assert u2.recvfrom(10)[0] == b"to2"
        u1.settimeout(0.3)
        with pytest.raises(socket.timeout):
            u1.recvfrom(10)
        for s in (srv, u1, u2):
            s.close()
