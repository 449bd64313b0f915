"""JsSIP 3.13 under Node (clients/jssip/control.js) through JssipDriver against the embedded
reference as the network (edge + S-CSCF with WS and WSS listeners, in-process): it registers as
booted with the profile's instance and reg-id 1 over the item's WebSocket, and the stdin
commands work: unregister (Expires 0, binding gone), register (back), message (a MESSAGE to its
own AOR comes back to it over its flow: 200), unregister-all (Contact: *, no instance),
quit (gone within the bound).

Skipped, with the reason, when node or the npm modules are missing (scripts/install-clients.sh).
"""

from __future__ import annotations

import pytest

from conformance.uecert.drivers import ActionNotSupported, driver_for
from conformance.uecert.drivers.jssip import JssipDriver
from conformance.uecert.model import UeProfile
from driver_helpers import TARGET, expires_of, header, net_info, reference_core, registers, wait_for

INSTANCE = "urn:uuid:3f2a7c1e-8d4b-4e6f-9a1b-2c3d4e5f6a7b"
_missing = JssipDriver(UeProfile(driver="jssip"), TARGET).missing()
pytestmark = pytest.mark.skipif(_missing is not None, reason=_missing or "")


def _driver() -> JssipDriver:
    driver = driver_for(UeProfile(driver="jssip", instance=INSTANCE, options={"expires": 300}), TARGET)
    assert isinstance(driver, JssipDriver)
    return driver


@pytest.mark.parametrize("transport", ["ws", "wss"])
def test_jssip_driver_commands(tmp_path, transport):
    from conformance.wire.testca import ensure_test_ca

    ca = str(ensure_test_ca().ca_cert) if transport == "wss" else None
    with reference_core(ws_port=0, wss_port=0) as core:
        net = net_info(core, transport, "dave", ca_file=ca)
        driver = _driver()
        try:
            driver.start(net, workdir=tmp_path)
            assert driver.wait_event("registered", 15) is not None, driver.logs()[-3000:]
            first = registers(core, "dave")[0]
            contact = header(first, "Contact")[0]
            assert f'+sip.instance="<{INSTANCE}>"' in contact and "reg-id=1" in contact, contact
            assert expires_of(first) == 300
            assert header(first, "Via")[-1].startswith(f"SIP/2.0/{transport.upper()} "), header(first, "Via")  # the UE's, under the edge's
            assert wait_for(lambda: core.lookup(net.aor), 3)

            since = len(driver.events())
            driver.deregister(1)
            assert driver.wait_event("unregistered", 8, since) is not None, driver.logs()[-2000:]
            assert expires_of(registers(core, "dave")[-1]) == 0
            assert wait_for(lambda: not core.lookup(net.aor), 3)

            since = len(driver.events())
            driver.register(1)
            assert driver.wait_event("registered", 8, since) is not None
            assert core.lookup(net.aor)
            with pytest.raises(ActionNotSupported):
                driver.add_flow("127.0.0.2")

            # a MESSAGE to an AOR nobody registered: out over its flow, the S-CSCF's final answer
            # back (to its own AOR JsSIP would answer its own request 482 Loop Detected)
            since = len(driver.events())
            driver.call(f"sip:nobody@{net.domain}")
            done = driver.wait_event("message", 8, since)
            assert done is not None and done.get("status") in (404, 480), driver.events()[since:]

            since = len(driver.events())
            driver.deregister(all=True)
            assert driver.wait_event("unregistered", 8, since) is not None
            star = registers(core, "dave")[-1]
            assert header(star, "Contact") == ["*"], star
            assert "+sip.instance" not in star and "reg-id" not in star
        finally:
            driver.stop()
        assert not driver.alive
        assert driver.wait_event("stopped", 1) is not None
