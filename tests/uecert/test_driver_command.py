"""CommandDriver: command lines from the profile, placeholders filled from NetworkInfo, the UE
process started and ended within its bound, each action's command run to completion.  The "UE"
here is a small Python script, so this runs everywhere and fast."""

from __future__ import annotations

import sys
import time

import pytest

from conformance.uecert.drivers import ActionNotSupported, DriverError, NetworkInfo, driver_for
from conformance.uecert.drivers.command import CommandDriver, fill
from conformance.uecert.model import UeProfile
from driver_helpers import TARGET

PY = sys.executable
NET = NetworkInfo(domain="ims.test", edge={"tcp": ("127.0.0.1", 5099)}, aor="sip:eve@ims.test",
                  impi="eve@ims.test", password="pw", ue_addresses=["127.0.0.11"], transport="tcp")


def _profile(**managed) -> UeProfile:
    base = {"start": f"{PY} -c \"import time; open('{{workdir}}/started','w').write('{{edge_host}}:{{edge_port}} "
                     f"{{transport}} {{aor}} {{user}} {{domain}} {{impi}} {{password}} {{ue_address}}'); time.sleep(60)\""}
    return UeProfile(driver="command", managed={**base, **managed}, options={"stop_timeout": 0.5})


def test_placeholders_start_actions_and_stop(tmp_path):
    driver = driver_for(_profile(register=f"{PY} -c \"open('{{workdir}}/reg','w').write('{{flow}} {{address}}')\"",
                                 call=f"{PY} -c \"open('{{workdir}}/call','w').write('{{to}}')\""), TARGET)
    assert isinstance(driver, CommandDriver)
    assert driver.actions == ("register", "call", "stop")
    try:
        driver.start(NET, workdir=tmp_path)
        started = tmp_path / "started"
        deadline = time.monotonic() + 5
        # the script opens the file, then writes it: wait for the text, not for the file
        while not (started.exists() and started.read_text()) and time.monotonic() < deadline:
            time.sleep(0.05)
        assert started.read_text() == "127.0.0.1:5099 tcp sip:eve@ims.test eve ims.test eve@ims.test pw 127.0.0.11"
        driver.register(2, "127.0.0.12")
        assert (tmp_path / "reg").read_text() == "2 127.0.0.12"
        driver.call("sip:peer@ims.test")
        assert (tmp_path / "call").read_text() == "sip:peer@ims.test"
        with pytest.raises(ActionNotSupported, match="deregister"):
            driver.deregister(1)
        assert driver.alive
    finally:
        t0 = time.monotonic()
        driver.stop()
    assert not driver.alive and time.monotonic() - t0 < 5
    driver.stop()


def test_failing_command_and_bad_placeholder_are_driver_errors(tmp_path):
    driver = driver_for(_profile(deregister=f"{PY} -c \"raise SystemExit(3)\"",
                                 move="echo {nosuch}"), TARGET)
    try:
        driver.start(NET, workdir=tmp_path)
        with pytest.raises(DriverError, match="exited 3"):
            driver.deregister(1)
        with pytest.raises(DriverError, match="unknown placeholder {nosuch}"):
            driver.move(1, "127.0.0.12")
    finally:
        driver.stop()
    assert "exit 3" in driver.logs()


def test_start_is_required_and_words_keep_their_spaces():
    with pytest.raises(DriverError, match="managed.start"):
        CommandDriver(UeProfile(driver="command"), TARGET).start(NET, workdir="/tmp")
    assert fill("ue --name '{aor} x'", {"aor": "sip:a b@c"}) == ["ue", "--name", "sip:a b@c x"]
