"""Real SIP clients register through Kamailio 5.6 as a TLS/WebSocket edge (the "tls-ws" profile:
suts/kamailio/edge.cfg -A WITH_TLSWS in front of its registrar; targets/kamailio-tls-ws.yaml):
JsSIP over ws:// (8080) and wss:// (8443), baresip over TLS (5063).

Kamailio has no lookup the test can call, so the binding is read where RFC 3261 §10.3 step 8
puts it: the 2xx lists every current binding of the AOR, and the client's own Contact must be
there with its instance-id and reg-id; ``Require: outbound`` must come back (RFC 5626 §6 ¶8).
JsSIP's captures are judged by ``conformance analyze`` (wss: decrypted with Node's key log);
Kamailio writes no TLS key log and baresip (OpenSSL 3.0) none either, so baresip's TLS capture
cannot be decrypted: its exchange is read from baresip's own SIP trace.

Same conventions as tests/integration/test_kamailio_tls_ws.py: Kamailio with its tls and websocket
modules is installed when missing and root, else skipped with the reason; it runs its own
instance (fixed ports 5077, 5078, 5063, 8080, 8443) with its own run dir and test CA, under the
Kamailio port lock, and is stopped at the end. Run it under ``flock /tmp/heavy.lock``.
"""

from __future__ import annotations

import os
import subprocess
import sys
import uuid
from pathlib import Path

import pytest

from conformance.interop.baresip import BaresipAccount
from conformance.interop.capture import Capture, capture_missing
from conformance.interop.clients import BaresipClient, JssipClient, baresip_missing, jssip_missing
from conformance.sip.headers import parse_contacts
from interop_helpers import analyze, failed_rules, free_port_pair

ROOT = Path(__file__).resolve().parents[2]
KCTL = ROOT / "suts" / "kamailio" / "kamailioctl.sh"
PROFILE = ROOT / "targets" / "kamailio-tls-ws.yaml"
PORTS = {"tls": 5063, "ws": 8080, "wss": 8443}
DOMAIN = "ims.test"
REGISTER_BOUND = 20.0

pytestmark = [
    pytest.mark.skipif(not PROFILE.is_file(), reason=f"no Kamailio tls-ws profile ({PROFILE.relative_to(ROOT)})"),
    pytest.mark.skipif(capture_missing() is not None, reason=capture_missing() or ""),
]


def _installed() -> bool:
    return subprocess.run([str(KCTL), "installed", "tls-ws"], capture_output=True, timeout=30).returncode == 0


@pytest.fixture(scope="module")
def kamailio(tmp_path_factory):
    """The tls-ws profile running (installed first if missing, as root); yields (test CA, folder)."""
    sys.path.insert(0, str(ROOT / "tests" / "integration"))
    from kamailio_ports import kamailio_ports
    from conformance.wire.testca import ensure_test_ca

    if not _installed():
        if os.geteuid() != 0:
            pytest.skip("Kamailio with kamailio-tls-modules and kamailio-websocket-modules is not installed "
                        "and installing it needs root: run suts/kamailio/kamailioctl.sh install as root")
        proc = subprocess.run([str(KCTL), "install"], capture_output=True, text=True, timeout=900)
        if proc.returncode != 0 and "not a Debian-like system" in proc.stderr:
            pytest.skip(f"Kamailio is not installed and cannot be installed here: {proc.stderr.strip()}")
        assert proc.returncode == 0 and _installed(), f"kamailioctl.sh install failed:\n{proc.stdout}{proc.stderr}"
    folder = tmp_path_factory.mktemp("interop-kamailio")
    ca_dir = tmp_path_factory.mktemp("test-ca")
    ca = ensure_test_ca(ca_dir)
    env = dict(os.environ, KAMAILIO_RUN_DIR=str(tmp_path_factory.mktemp("kamailio-run")),
               CONFORMANCE_TEST_CA=str(ca_dir), CONFORMANCE_PYTHON=sys.executable)
    for name in ("KAMAILIO_TLS_CERT", "KAMAILIO_TLS_KEY", "KAMAILIO_TLS_CA"):
        env.pop(name, None)

    def ctl(*args: str) -> subprocess.CompletedProcess:
        return subprocess.run([str(KCTL), *args], capture_output=True, text=True, timeout=60, env=env)

    with kamailio_ports():
        started = ctl("start", "tls-ws")
        assert started.returncode == 0, started.stderr
        try:
            yield ca, folder
        finally:
            stopped = ctl("stop", "tls-ws")
            assert stopped.returncode == 0, stopped.stderr


def _own_binding(contact_values: list[str], instance: str) -> list[str]:
    """The reg-ids of the Contacts in a 2xx that carry ``instance``."""
    out = []
    for value in contact_values:
        for c in parse_contacts(value):
            inst = (c.params.get("+sip.instance") or "").strip('"').strip("<>")
            if inst.lower() == instance.lower():
                out.append(c.params.get("reg-id"))
    return out


@pytest.mark.skipif(jssip_missing() is not None, reason=jssip_missing() or "")
@pytest.mark.parametrize("transport", ["ws", "wss"])
def test_jssip_registers_through_kamailio(kamailio, transport):
    ca, folder = kamailio
    port = PORTS[transport]
    aor = f"sip:jssip-k{transport}-{uuid.uuid4().hex[:8]}@{DOMAIN}"
    instance = f"urn:uuid:{uuid.uuid4()}"
    node_keys = folder / f"jssip-{transport}.keys"
    raw = folder / f"jssip-{transport}.pcapng"
    with Capture(raw, [port], max_seconds=60, host="127.0.0.1"):
        with JssipClient(aor, f"{transport}://127.0.0.1:{port}/", str(ca.ca_cert), instance, expires=300,
                         hold=12, keylog=str(node_keys) if transport == "wss" else None) as client:
            outcome = client.wait_outcome(REGISTER_BOUND)
            assert outcome is not None, f"no outcome within {REGISTER_BOUND} s: {client.output[-20:]}"
            assert outcome.registered, f"JsSIP did not register through Kamailio: {outcome}"
            assert "outbound" in ",".join(outcome.received("Require")).lower(), outcome.response
            assert _own_binding(outcome.received("Contact"), instance) == ["1"], outcome.response
            transcript = client.stop()
    assert transcript is not None and transcript.code == 0, client.output[-20:]
    pcap = raw
    if transport == "wss":
        from conformance.interop.capture import inject_secrets

        pcap = inject_secrets(raw, [node_keys], folder / f"jssip-{transport}-dsb.pcapng")
    rc, report = analyze(pcap, folder / f"jssip-{transport}.json")
    assert report.get("registrations"), f"analyze judged no registration in {pcap} (exit {rc})"
    assert rc == 0 and not failed_rules(report), failed_rules(report)


@pytest.mark.skipif(baresip_missing() is not None, reason=baresip_missing() or "")
def test_baresip_registers_over_tls_through_kamailio(kamailio):
    ca, folder = kamailio
    aor = f"sip:baresip-k-{uuid.uuid4().hex[:8]}@{DOMAIN}"
    instance = f"urn:uuid:{uuid.uuid4()}"
    account = BaresipAccount(aor=aor, proxy=("127.0.0.1", PORTS["tls"]), ca_file=str(ca.ca_cert),
                             instance=instance, listen_port=free_port_pair(), regint=300)
    with BaresipClient(account, folder / "baresip", max_seconds=60) as client:
        ev = client.wait_registration(REGISTER_BOUND)
        assert ev is not None, f"no registration outcome within {REGISTER_BOUND} s: {client.log.lines[-20:]}"
        assert ev.ok and ev.transport == "TLS", f"baresip did not register through Kamailio: {ev}"
        ok = next(m for m in client.log.messages if not m.outgoing and m.first_line.startswith("SIP/2.0 2"))
        assert "outbound" in ",".join(ok.headers("Require")).lower(), ok.text
        assert _own_binding(ok.headers("Contact"), instance) == ["1"], ok.text
        log = client.stop()
    assert len(log.sent("REGISTER")) == 2, [m.first_line for m in log.messages]    # and the de-REGISTER
