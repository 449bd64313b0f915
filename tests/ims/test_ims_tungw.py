"""The TUN gateway live (root, /dev/net/tun; skipped with the reason otherwise): kernel TCP
between UE and P-CSCF ports on loopback carried as ESP only, and nothing left behind."""

from __future__ import annotations

import os
import signal
import socket
import subprocess
import sys
import textwrap
import time
from pathlib import Path

import pytest

from conformance.ims.endpoint import EspEndpoint
from conformance.ims.sa import derive_sas
from conformance.ims.secagree import client_mechanisms, server_mechanisms
from conformance.ims.tuncore import Binding
from conformance.ims.tungw import DEVICE_PREFIX, TunGateway, device_exists, tun_available

REASON = tun_available()
pytestmark = pytest.mark.skipif(REASON is not None, reason=f"TUN gateway unavailable: {REASON}")
ROOT = Path(__file__).resolve().parents[2]
UE_IP, P_IP = "127.0.0.2", "127.0.0.1"


def _free_tcp_ports(ip, n):
    socks = [socket.socket() for _ in range(n)]
    for s in socks:
        s.bind((ip, 0))
    ports = [s.getsockname()[1] for s in socks]
    for s in socks:
        s.close()
    return ports


def _sa_set(hub, pair):
    uc, us = _free_tcp_ports(UE_IP, 2)
    pc, ps = _free_tcp_ports(P_IP, 2)
    c = client_mechanisms([pair], port_c=uc, port_s=us, spi_c=hub.new_spi(), spi_s=hub.new_spi())
    s = server_mechanisms(c, spi_c=hub.new_spi(), spi_s=hub.new_spi(), port_c=pc, port_s=ps)
    return derive_sas(c[0], s[0], ck=os.urandom(16), ik=os.urandom(16), ue_addr=UE_IP,
                      pcscf_addr=P_IP)


class _Side:
    def __init__(self, gw, sas, role):
        self.box = gw.hub.mailbox(f"test {role}")
        self.packets = []
        self.binding = Binding(EspEndpoint(sas, role), role, role,
                               on_packet=lambda d, p: self.packets.append((d, p)))
        for sa in sas.inbound(role):
            self.box.claim(sa.spi)
        gw.attach(self.binding, self.box)


def _tcp(gw, ip, port):
    s = socket.socket()
    gw.bind_socket(s)
    s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    s.bind((ip, port))
    return s


def _recv_exactly(sock, n):
    sock.settimeout(3.0)
    got = b""
    while len(got) < n:
        chunk = sock.recv(65536)
        assert chunk, "connection closed early"
        got += chunk
    return got


def test_kernel_tcp_both_connections_travel_as_esp_only(pair):     # every (alg, ealg): conftest
    gw = TunGateway.shared()
    sas = _sa_set(gw.hub, pair)
    ue, pcscf = _Side(gw, sas, "ue"), _Side(gw, sas, "pcscf")
    uc, us, pc, ps = sas[1].sport, sas[3].dport, sas[3].sport, sas[1].dport
    socks = []
    try:
        listen_ps = _tcp(gw, P_IP, ps)
        listen_ps.listen(4)
        listen_us = _tcp(gw, UE_IP, us)
        listen_us.listen(4)
        socks += [listen_ps, listen_us]
        big = b"REGISTER " + b"x" * 6000 + b"\r\n\r\n"          # several segments at MTU 1400
        for client_ip, cport, server_ip, sport, listener, a, b in (
                (UE_IP, uc, P_IP, ps, listen_ps, ue, pcscf),      # SA 1 / SA 2
                (P_IP, pc, UE_IP, us, listen_us, pcscf, ue)):     # SA 3 / SA 4
            c = _tcp(gw, client_ip, cport)
            socks.append(c)
            c.settimeout(3.0)
            c.connect((server_ip, sport))
            conn, peer = listener.accept()
            socks.append(conn)
            assert peer == (client_ip, cport)
            c.sendall(big)
            assert _recv_exactly(conn, len(big)) == big
            ok = b"SIP/2.0 200 OK\r\n\r\n"
            conn.sendall(ok)
            assert _recv_exactly(c, len(ok)) == ok
        spis = {struct_spi(p) for _, p in ue.packets}
        assert spis == {sa.spi for sa in sas.sas}               # all four SAs carried traffic
        assert all(p[9] == 50 for _, p in ue.packets + pcscf.packets)
        assert ue.binding.sent >= 6 and pcscf.binding.received >= 6
        if pair[1] != "null":
            assert not any(b"REGISTER" in p for _, p in ue.packets)
        # clear TCP to the protected port over lo reaches nobody
        clear = socket.socket()
        clear.settimeout(2.0)
        with pytest.raises(ConnectionRefusedError):
            clear.connect((P_IP, ps))
        clear.close()
    finally:
        for s in socks:
            s.close()
        for side in (ue, pcscf):
            gw.detach(side.binding)
            side.box.close()


def struct_spi(packet: bytes) -> int:
    ihl = (packet[0] & 0x0F) * 4
    return int.from_bytes(packet[ihl:ihl + 4], "big")


def test_unbound_connection_gets_nowhere_and_drops_are_explained():
    gw = TunGateway.shared()
    before = gw.core.dropped
    s = _tcp(gw, UE_IP, 0)
    s.settimeout(0.6)
    with pytest.raises((socket.timeout, OSError)):
        s.connect((P_IP, _free_tcp_ports(P_IP, 1)[0]))   # no SA: the SYN is discarded
    s.close()
    assert gw.core.dropped > before and "no SA for" in gw.core.reasons[-1]


def test_close_removes_the_device():
    gw = TunGateway()
    name = gw.name
    assert name.startswith(DEVICE_PREFIX) and device_exists(name)
    gw.close()
    deadline = time.monotonic() + 3
    while device_exists(name) and time.monotonic() < deadline:
        time.sleep(0.05)
    assert not device_exists(name)


_CHILD = textwrap.dedent("""
    import sys, time
    sys.path.insert(0, {root!r})
    from conformance.ims.tungw import TunGateway
    gw = TunGateway.shared()
    print(gw.name, flush=True)
    time.sleep(30)
""")


@pytest.mark.parametrize("sig", [signal.SIGINT, signal.SIGTERM, signal.SIGKILL],
                         ids=["ctrl-c", "sigterm", "sigkill"])
def test_nothing_left_behind_when_the_process_ends(sig):
    child = subprocess.Popen([sys.executable, "-c", _CHILD.format(root=str(ROOT))],
                             stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    try:
        name = child.stdout.readline().strip()
        assert name.startswith(DEVICE_PREFIX) and device_exists(name)
        child.send_signal(sig)
        child.wait(10)
    finally:
        if child.poll() is None:
            child.kill()
            child.wait(5)
    deadline = time.monotonic() + 3
    while device_exists(name) and time.monotonic() < deadline:
        time.sleep(0.05)
    assert not device_exists(name)
    assert not [r for r in _rules() if name in r]


def _rules() -> list[str]:
    try:
        out = subprocess.run(["ip", "rule"], capture_output=True, text=True, timeout=5).stdout
    except (OSError, subprocess.SubprocessError):
        return []
    return out.splitlines()
