"""baresip (Debian's baresip-core 1.0.0) through BaresipDriver against the embedded reference as
the network (edge + S-CSCF, in-process): the REGISTER carries the driver's settings (outbound
proxy = the edge of the item's transport, +sip.instance, reg-id 1, Supported: outbound, the
regint as expires, digest credentials from NetworkInfo), and the ctrl_tcp commands work:
deregister (uadel) sends Expires 0 and removes the binding, register (uanew) brings it back,
call (dial) sends an INVITE through the edge, stop (quit) ends the process within its bound.

Skipped, with the reason, when baresip or its modules are missing (scripts/install-clients.sh).
"""

from __future__ import annotations

import pytest

from conformance.uecert.drivers import ActionNotSupported, driver_for
from conformance.uecert.drivers.baresip import BaresipDriver, instance_for
from driver_helpers import TARGET, expires_of, header, net_info, profile, reference_core, registers, wait_for

REGINT = 120
_missing = BaresipDriver(profile("baresip"), TARGET).missing()
pytestmark = pytest.mark.skipif(_missing is not None, reason=_missing or "")


def _driver() -> BaresipDriver:
    driver = driver_for(profile("baresip", regint=REGINT, stop_timeout=4), TARGET)
    assert isinstance(driver, BaresipDriver)
    return driver


def _bound(core, aor: str) -> list:
    return [b for b in core.lookup(aor) if b.reg_id == 1]


def test_baresip_udp_register_deregister_register_call_quit(tmp_path):
    with reference_core() as core:
        net = net_info(core, "udp", "bob")
        driver = _driver()
        try:
            driver.start(net, workdir=tmp_path)
            # (its first REGISTER_OK may come before ctrl_tcp is connected: the binding tells)
            assert wait_for(lambda: _bound(core, net.aor), 15), driver.logs()[-3000:]
            first = registers(core, "bob")[0]
            contact = header(first, "Contact")[0]
            assert f'+sip.instance="<{instance_for(None, net.aor)}>"' in contact, contact
            assert "+sip.instance=" in contact and "reg-id=1" in contact, contact
            assert "outbound" in header(first, "Supported")[0], first
            assert expires_of(first) == REGINT, first
            # the outbound proxy: baresip sent to the edge's UDP port (preloaded Route names it)
            sent = driver.trace().sent("REGISTER")
            assert sent and sent[0].dst == f"127.0.0.1:{core.ports['udp']}", [m.dst for m in sent]
            assert len(_bound(core, net.aor)) == 1

            # deregister: uadel -> REGISTER Expires 0, the binding gone
            driver.deregister(1)
            assert wait_for(lambda: [r for r in registers(core, "bob") if expires_of(r) == 0], 8), registers(core, "bob")
            assert wait_for(lambda: not _bound(core, net.aor), 5)

            # register again: uanew -> registered, same instance, reg-id 1
            since = len(driver.events())
            driver.register(1)
            assert driver.wait_event("REGISTER_OK", 10, since) is not None, driver.logs()[-3000:]
            assert wait_for(lambda: _bound(core, net.aor), 5)
            again = registers(core, "bob")[-1]
            assert header(again, "Contact")[0].split("+sip.instance=")[1].split(";")[0] == \
                contact.split("+sip.instance=")[1].split(";")[0]
            with pytest.raises(ActionNotSupported):
                driver.register(1)              # 1.0.0 cannot refresh on command
            with pytest.raises(ActionNotSupported):
                driver.add_flow("127.0.0.2")

            # call: dial -> an INVITE leaves through the edge
            driver.call(f"sip:nobody@{net.domain}")
            assert wait_for(lambda: driver.trace().sent("INVITE"), 5), driver.logs()[-3000:]
        finally:
            driver.stop()
        assert not driver.alive
        # quit de-registered before the process ended
        assert wait_for(lambda: not _bound(core, net.aor), 5)
        driver.stop()                           # twice is safe


def test_baresip_tcp_digest_credentials_from_network_info(tmp_path):
    users = {"carol@ims.test": "s3cret"}
    with reference_core(digest_auth=users.get) as core:
        net = net_info(core, "tcp", "carol", password="s3cret", impi="carol@ims.test")
        driver = _driver()
        try:
            driver.start(net, workdir=tmp_path)
            assert wait_for(lambda: _bound(core, net.aor), 15), driver.logs()[-3000:]
            regs = registers(core, "carol")
            authorized = [r for r in regs if header(r, "Authorization")]
            assert authorized, regs
            assert 'username="carol@ims.test"' in header(authorized[0], "Authorization")[0]
            assert header(authorized[0], "Via")[-1].startswith("SIP/2.0/TCP "), header(authorized[0], "Via")
            assert _bound(core, net.aor)
        finally:
            driver.stop()
        assert not driver.alive
