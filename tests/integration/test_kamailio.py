"""A real SUT: the suite against Kamailio 5.6 in three profiles (suts/kamailio/), each verdict the
one checked in under expected/kamailio-*.yaml, each expected fail for the stated reason.

Profiles: registrar (RFC 5626 registrar, outbound_mode 1), registrar-auth (the same with Digest),
regevent (the same registrar serving the reg event package and GRUU: kamailio-presence-modules),
edge (outbound edge proxy in front of its own registrar; target role core), tls-ws (that edge
over udp, tcp, tls, ws and wss: kamailio-tls-modules, kamailio-websocket-modules),
registrar-tls-ws (the registrar serving those transports itself) and rel7
(outbound_mode 0, one contact per AOR); and the registrar inside the SUT namespace of a NAT
topology (kamailio-nat, needs root and nftables).
The target profiles are managed: the suite starts and stops Kamailio itself through
suts/kamailio/kamailioctl.sh. Kamailio is installed by scripts/install-tools.sh (make test);
when it is missing and cannot be installed (not root), these tests are skipped with that reason.

The profiles use fixed loopback ports (5071-5079; the tls-ws ones also 5061, 8080, 8443): run
these tests one at a time, not in parallel with each other (make test runs without -n).
"""

from __future__ import annotations

import os
import socket
import subprocess
import time
from pathlib import Path

import pytest

from expected_tables import assert_run_matches_table, load_table
from kamailio_ports import kamailio_ports
from suite_runner import ROOT, run_suite

KCTL = ROOT / "suts" / "kamailio" / "kamailioctl.sh"
TABLES = sorted((ROOT / "expected").glob("kamailio*.yaml"))


def _installed(*what: str) -> bool:
    """kamailioctl.sh installed [regevent|tls-ws]: the base modules, or those of that profile too."""
    return subprocess.run([str(KCTL), "installed", *what], capture_output=True, timeout=30).returncode == 0


@pytest.fixture(scope="module")
def kamailio() -> None:
    """Kamailio with its outbound and stun modules (and, as root, the presence modules of the
    regevent profile and the tls and websocket modules of the tls-ws profile), installed if
    missing (as root)."""
    if (_installed("regevent") and _installed("tls-ws")) or (_installed() and os.geteuid() != 0):
        return
    if os.geteuid() != 0:
        pytest.skip("Kamailio (kamailio + kamailio-outbound-modules) is not installed and installing it "
                    "needs root: run suts/kamailio/kamailioctl.sh install as root")
    proc = subprocess.run([str(KCTL), "install"], capture_output=True, text=True, timeout=900)
    if proc.returncode != 0 and "not a Debian-like system" in proc.stderr:
        pytest.skip(f"Kamailio is not installed and cannot be installed here: {proc.stderr.strip()}")
    assert proc.returncode == 0 and _installed("regevent") and _installed("tls-ws"), \
        f"kamailioctl.sh install failed:\n{proc.stdout}{proc.stderr}"


def test_every_kamailio_profile_has_a_table():
    names = {p.stem for p in TABLES}
    assert names == {"kamailio-registrar", "kamailio-registrar-auth", "kamailio-regevent", "kamailio-edge",
                     "kamailio-rel7", "kamailio-nat", "kamailio-tls-ws", "kamailio-registrar-tls-ws"}, names
    for p in TABLES:
        target, _ = load_table(p)
        assert target == f"targets/{p.stem}.yaml", (p.name, target)


@pytest.mark.parametrize("table", TABLES, ids=[p.stem for p in TABLES])
def test_kamailio_verdicts_match_the_checked_in_table(kamailio, table: Path, tmp_path: Path):
    target, expected = load_table(table)
    if table.stem == "kamailio-regevent" and not _installed("regevent"):
        # the fixture installs kamailio-presence-modules as root; without root it may be missing
        pytest.skip("kamailio-presence-modules is not installed and installing it needs root: "
                    "run suts/kamailio/kamailioctl.sh install as root")
    if table.stem in ("kamailio-tls-ws", "kamailio-registrar-tls-ws") and not _installed("tls-ws"):
        pytest.skip("kamailio-tls-modules / kamailio-websocket-modules are not installed and installing "
                    "them needs root: run suts/kamailio/kamailioctl.sh install as root")
    topology = "\ntopology:" in (ROOT / target).read_text()
    if topology:
        # Kamailio inside the SUT namespace of a NAT topology (docs/topologies.md)
        from conformance.topology.netns import unavailable_reason

        reason = unavailable_reason()
        if reason:
            pytest.skip(f"{target}: {reason}")
    with kamailio_ports():  # not beside test_kamailio_regevent.py / test_kamailio_tls_ws.py
        run = run_suite(tmp_path, target=ROOT / target, timeout=300)
    assert_run_matches_table(run, expected, table.name)
    if topology:
        # stopped inside its namespace before the namespace went: no process, no run dir left by
        # a finished run (the run dirs are named after the namespace, cft<pid>x...-sut)
        netns_dir = KCTL.parent / "run" / "netns"
        dead = [d.name for d in (netns_dir.iterdir() if netns_dir.exists() else [])
                if not _alive(int(d.name[3:].split("x")[0]))]
        assert dead == []
        left = [p for p in Path("/proc").iterdir() if p.name.isdigit() and _alive(int(p.name))
                and str(netns_dir) in _cmdline(p)
                and not _alive(int(_cmdline(p).split(str(netns_dir) + "/cft")[1].split("x")[0]))]
        assert left == [], left
        return
    # the managed SUT was stopped after the run
    status = subprocess.run([str(KCTL), "status", table.stem.removeprefix("kamailio-")],
                            capture_output=True, text=True, timeout=30)
    assert status.returncode == 3, status.stdout + status.stderr


def _cmdline(proc: Path) -> str:
    try:
        return (proc / "cmdline").read_bytes().replace(b"\0", b" ").decode("utf-8", "replace")
    except OSError:
        return ""


def _alive(pid: int) -> bool:
    try:
        state = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[0]
    except (OSError, IndexError):
        return False
    return state != "Z"  # a zombie has exited (its parent may not have reaped it yet)


def _tcp_listening(port: int) -> bool:
    try:
        with socket.create_connection(("127.0.0.1", port), timeout=1):
            return True
    except OSError:
        return False


def _udp_free(port: int) -> bool:
    with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as s:
        try:
            s.bind(("127.0.0.1", port))
            return True
        except OSError:
            return False


def test_kamailioctl_start_stop(kamailio, tmp_path: Path):
    env = dict(os.environ, KAMAILIO_RUN_DIR=str(tmp_path / "run"))

    def ctl(*args: str) -> subprocess.CompletedProcess:
        return subprocess.run([str(KCTL), *args], capture_output=True, text=True, timeout=60, env=env)

    port = 5073  # the rel7 profile
    assert not _tcp_listening(port), "127.0.0.1:5073 is in use already"
    started = time.monotonic()
    first = ctl("start", "rel7")
    try:
        assert first.returncode == 0, first.stderr
        assert time.monotonic() - started < 20
        pidfile = tmp_path / "run" / "rel7" / "kamailio.pid"
        pid = int(pidfile.read_text())
        assert _alive(pid)
        assert _tcp_listening(port) and not _udp_free(port)
        assert (tmp_path / "run" / "rel7" / "kamailio.log").stat().st_size > 0
        # its resolver asks only 127.0.0.1 (no DNS query leaves the machine); the host's file is untouched
        cmdline = Path(f"/proc/{pid}/cmdline").read_bytes().split(b"\0")
        assert cmdline[0] == b"kamailio"
        if os.geteuid() == 0:
            seen = Path(f"/proc/{pid}/root/etc/resolv.conf")
            assert [ln for ln in seen.read_text().splitlines() if ln.startswith("nameserver")] == \
                ["nameserver 127.0.0.1"]
            assert os.stat(f"/proc/{pid}/ns/mnt").st_ino != os.stat("/proc/self/ns/mnt").st_ino
        # idempotent: a second start leaves the running instance alone
        again = ctl("start", "rel7")
        assert again.returncode == 0 and "already running" in again.stderr
        assert int(pidfile.read_text()) == pid
        status = ctl("status", "rel7")
        assert status.returncode == 0 and f"pid {pid}" in status.stdout
    finally:
        stop = ctl("stop", "rel7")
    assert stop.returncode == 0, stop.stderr
    assert not _alive(pid)
    assert not _tcp_listening(port) and _udp_free(port)
    assert not pidfile.exists()
    # idempotent: stopping a stopped profile is fine; status says stopped
    assert ctl("stop", "rel7").returncode == 0
    assert ctl("status", "rel7").returncode == 3


def test_kamailioctl_rejects_unknown_profile(tmp_path: Path):
    env = dict(os.environ, KAMAILIO_RUN_DIR=str(tmp_path / "run"))
    proc = subprocess.run([str(KCTL), "start", "nosuch"], capture_output=True, text=True, timeout=30, env=env)
    assert proc.returncode != 0 and "unknown profile" in proc.stderr


def test_kamailio_registrar_as_a_ci_gate_with_its_baseline(kamailio, tmp_path: Path):
    """conformance run --baseline: exit 0 with Kamailio's known deviations accepted (fails and the
    inconclusive TERM-006), non-zero once one accepted verdict is changed in a copy."""
    import yaml

    table = ROOT / "expected" / "kamailio-registrar.yaml"
    target = ROOT / "targets" / "kamailio-registrar.yaml"
    run = run_suite(tmp_path / "ok", "--baseline", str(table), target=target, timeout=300)
    assert run.returncode == 0, run.output[-3000:]
    assert "every verdict is the accepted one" in run.output
    assert "fail" in run.verdicts().values()  # known deviations, accepted
    doc = yaml.safe_load(table.read_text())
    doc["cases"]["REG-012[udp]"] = "pass"  # the accepted fail no longer accepted
    doc["cases"]["REG-012[tcp]"]["reason_contains"] = "Contact lacks"  # accepted, but for another check
    changed = tmp_path / "changed.yaml"
    changed.write_text(yaml.safe_dump(doc, sort_keys=False, allow_unicode=True))
    run = run_suite(tmp_path / "changed", "--baseline", str(changed), "-k", "REG-012", target=target, timeout=300)
    assert run.returncode == 1, run.output[-3000:]
    assert "REG-012[udp]: new-fail: expected pass, got fail" in run.output
    assert "REG-012[tcp]: reason: expected a fail on 'Contact lacks'" in run.output
