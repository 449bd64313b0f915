"""The process-wide raw-socket ESP hub on loopback (needs root: skipped with the reason without)."""

from __future__ import annotations

import pytest

from conformance.ims.endpoint import EspEndpoint
from conformance.ims.espio import EspHub, esp_available
from conformance.ims.sa import derive_sas
from conformance.ims.secagree import client_mechanisms, server_mechanisms

REASON = esp_available()
pytestmark = pytest.mark.skipif(REASON is not None, reason=f"raw ESP sockets unavailable: {REASON}")


def _sas(hub, pair=("hmac-sha-1-96", "aes-cbc"), ue="127.0.0.11"):
    c = client_mechanisms([pair], port_c=41001, port_s=41002, spi_c=hub.new_spi(), spi_s=hub.new_spi())
    s = server_mechanisms(c, spi_c=hub.new_spi(), spi_s=hub.new_spi(), port_c=41003, port_s=41004)
    return derive_sas(c[0], s[0], ck=bytes(range(16)), ik=bytes(range(16, 32)), ue_addr=ue,
                      pcscf_addr="127.0.0.1")


def test_demultiplexes_by_spi_between_two_owners(pair):
    hub = EspHub.shared()
    sas = _sas(hub, pair)
    ue, pcscf = EspEndpoint(sas, "ue"), EspEndpoint(sas, "pcscf")
    box_ue, box_p = hub.mailbox("ue"), hub.mailbox("pcscf")
    try:
        for sa in sas.inbound("pcscf"):
            box_p.claim(sa.spi)
        for sa in sas.inbound("ue"):
            box_ue.claim(sa.spi)
        hub.send(ue.protect_udp(41001, 41004, b"REGISTER"))           # SA 1
        got = box_p.wait(2.0)
        assert len(got) == 1 and not box_ue.read()
        inbound, data = pcscf.unprotect_ipv4(got[0])
        assert (inbound.sa.number, data) == (1, b"REGISTER")
        hub.send(pcscf.protect_udp(41003, 41002, b"SIP/2.0 200 OK"))  # SA 3
        got = box_ue.wait(2.0)
        assert ue.unprotect_ipv4(got[0])[1] == b"SIP/2.0 200 OK"
    finally:
        box_ue.close()
        box_p.close()


def test_unclaimed_spi_is_counted_and_dropped_and_release_stops_delivery():
    hub = EspHub.shared()
    sas = _sas(hub)
    ue = EspEndpoint(sas, "ue")
    box = hub.mailbox("p")
    try:
        before = hub.unclaimed
        hub.send(ue.protect_udp(41001, 41004, b"x"))                  # nobody claimed SA 1
        assert box.wait(0.3) == []
        box.claim(sas[1].spi)
        box.release(sas[1].spi)
        hub.send(ue.protect_udp(41001, 41004, b"y"))
        assert box.wait(0.3) == []
        assert hub.unclaimed >= before + 2
        assert hub.unclaimed_of(sas[1].spi, "127.0.0.1") >= 2   # both, whatever else the host sends
    finally:
        box.close()


def test_a_claimed_spi_cannot_be_claimed_by_another_owner():
    hub = EspHub.shared()
    a, b = hub.mailbox("a"), hub.mailbox("b")
    try:
        spi = hub.new_spi()
        a.claim(spi)
        assert hub.claimed(spi) and hub.new_spi() != spi
        with pytest.raises(Exception, match="already claimed"):
            b.claim(spi)
    finally:
        a.close()
        b.close()
    assert not hub.claimed(spi)


def test_a_private_hub_closes_cleanly():
    hub = EspHub()
    box = hub.mailbox("x")
    hub.close()
    assert hub.closed and box.closed
    hub.close()                                                       # idempotent
