"""The UE's UDP-encapsulated ESP flow (engine/encapflow.py) on loopback sockets, no root: what it
sends (keep-alives, ESP in UDP on SA 1 from port_uc), what it makes of what arrives on port_us,
its faults, the refusal of transport mode, and a new port_uc."""

from __future__ import annotations

import os
import select
import socket
import struct
import time
from types import SimpleNamespace

import pytest

from conformance.engine.encapflow import EncapFlowEndpoint
from conformance.engine.transport import TransportError
from conformance.ims import udpencap
from conformance.ims.endpoint import EspEndpoint
from conformance.ims.sa import derive_sas
from conformance.ims.secagree import IpsecMechanism

UE, P = "127.0.0.1", "127.0.0.1"


def _udp():
    s = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
    s.bind((UE, 0))
    s.setblocking(False)
    return s


@pytest.fixture
def pair():
    uc, us, ps, pc = _udp(), _udp(), _udp(), _udp()
    for s in (ps, pc):
        s.settimeout(2)
    wire = []
    ep = EncapFlowEndpoint(uc, us, lambda *a: wire.append(a))
    client = IpsecMechanism("hmac-sha-1-96", "aes-cbc", 0x1001, 0x1002, uc.getsockname()[1],
                            us.getsockname()[1], mod="UDP-enc-tun")
    server = IpsecMechanism("hmac-sha-1-96", "aes-cbc", 0x2001, 0x2002, pc.getsockname()[1],
                            ps.getsockname()[1], mod="UDP-enc-tun")
    sas = derive_sas(client, server, ck=os.urandom(16), ik=os.urandom(16), ue_addr=UE, pcscf_addr=P)
    ep.sec = SimpleNamespace(server=server)
    yield ep, sas, ps, pc, wire
    ep.close()
    for s in (ps, pc):
        s.close()


def test_use_sends_a_keepalive_from_each_protected_port(pair):
    ep, sas, ps, pc, wire = pair
    ep.use(EspEndpoint(sas, "ue"), (P, ps.getsockname()[1]))
    data, src = ps.recvfrom(100)
    assert data == udpencap.KEEPALIVE and src[1] == ep.local[1]          # port_uc -> port_ps
    data, src = pc.recvfrom(100)
    assert data == udpencap.KEEPALIVE and src[1] == ep.port_us           # port_us -> port_pc
    assert [w[4] for w in wire] == [udpencap.KEEPALIVE] * 2 and ep.keepalives == 2


def test_sip_goes_as_esp_in_udp_and_sa3_comes_back(pair):
    ep, sas, ps, pc, _ = pair
    ep.use(EspEndpoint(sas, "ue"), (P, ps.getsockname()[1]))
    ps.recvfrom(100), pc.recvfrom(100)
    pcscf = EspEndpoint(sas, "pcscf")
    ep.send(b"REGISTER sip:ims.test SIP/2.0\r\n\r\n")
    payload, src = ps.recvfrom(4096)
    assert struct.unpack_from("!I", payload)[0] == sas[1].spi
    inbound, data = udpencap.open_tunnel(pcscf, payload)
    assert inbound.sa.number == 1 and data.startswith(b"REGISTER")
    pc.sendto(udpencap.seal_tunnel(pcscf, sas[3], b"SIP/2.0 200 OK\r\nContent-Length: 0\r\n\r\n"),
              (UE, ep.port_us))
    pc.sendto(udpencap.KEEPALIVE, (UE, ep.port_us))
    select.select([ep.us], [], [], 2)
    time.sleep(0.05)                                   # both datagrams queued
    got = ep.us.read()
    assert got[0].kind == "message" and got[0].meta["sa"] == 3 and got[0].meta["dport"] == ep.port_us
    assert got[1].kind == "garbage" and "NAT-keepalive" in got[1].note


@pytest.mark.parametrize("mode", ["tamper_icv", "wrong_spi", "replay", "unprotected"])
def test_faults(pair, mode):
    ep, sas, ps, pc, _ = pair
    ep.use(EspEndpoint(sas, "ue"), (P, ps.getsockname()[1]))
    ps.recvfrom(100)
    pcscf = EspEndpoint(sas, "pcscf")
    ep.send(b"MESSAGE a SIP/2.0\r\n\r\n")
    first, _ = ps.recvfrom(4096)
    udpencap.open_tunnel(pcscf, first)
    ep.mode = mode
    ep.send(b"MESSAGE a SIP/2.0\r\n\r\n")
    bad, _ = ps.recvfrom(4096)
    if mode == "unprotected":
        assert bad.startswith(b"MESSAGE")
        return
    if mode == "replay":
        assert bad == first
    with pytest.raises(Exception):
        udpencap.open_tunnel(pcscf, bad)


def test_transport_mode_chosen_by_the_pcscf_is_refused(pair):
    ep, sas, ps, _, _ = pair
    ep.sec = SimpleNamespace(server=IpsecMechanism("hmac-sha-1-96", "aes-cbc", 1, 2, 3, 4, mod="trans"))
    ep.use(EspEndpoint(sas, "ue"), (P, ps.getsockname()[1]))
    assert ep.keepalive() == 0
    with pytest.raises(TransportError, match="mod=trans"):
        ep.send(b"REGISTER x SIP/2.0\r\n\r\n")


def test_renew_port_uc_binds_a_new_port_and_closes_the_old(pair):
    ep, *_ = pair
    old_sock, old = ep.uc_sock, ep.local[1]
    new = ep.renew_port_uc()
    assert new != old and ep.local[1] == new and old_sock.fileno() == -1 and new in ep.ports
