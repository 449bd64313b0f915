"""Real SIP clients register through the embedded reference edge (issue 19 part 5):

* JsSIP 3.13 under Node (clients/jssip/register.js) over WebSocket (ws://) and secure
  WebSocket (wss://), RFC 7118;
* baresip 1.0 (Debian's baresip-core) over TLS with ``sipnat=outbound``.

The reference runs as a core (its edge, the P-CSCF, in front of its S-CSCF) serving TLS, WS and
WSS with the suite's test CA and writing its TLS keys (``tls_keylog``). Each client's traffic on
the edge's port is captured with dumpcap, the keys injected as a Decryption Secrets Block, and
the capture judged by ``conformance analyze``; tshark must decode the SIP inside.

Each test asserts what the RFCs make the edge and registrar do for such a client: the binding
exists keyed by the client's instance-id and reg-id (RFC 5626 §6 ¶8), the 2xx carries
``Require: outbound`` when the client asked for outbound (``Supported: outbound`` and a reg-id:
§6 ¶8, as the client saw it), the de-registration removes it, and analyze finds no fail.

Skipped, with the reason, when node / the npm modules / baresip / dumpcap are missing
(scripts/install-clients.sh installs the clients; `make tools` calls it).
"""

from __future__ import annotations

import time
import uuid

import pytest

from conformance.interop.baresip import BaresipAccount
from conformance.interop.capture import Capture, capture_missing, inject_secrets
from conformance.interop.clients import BaresipClient, JssipClient, baresip_missing, jssip_missing
from interop_helpers import analyze, failed_rules, free_port_pair, free_tcp_port, peer_message, tshark_sip

DOMAIN = "ims.test"
# The edge's Flow-Timer (RFC 5626 §4.4: "The UA MUST send keep-alives at least as often as this
# number of seconds"). baresip (libre) never pings more often than every 20 s, whatever the
# Flow-Timer says (its CRLF keep-alive interval is max(Flow-Timer, 20)): with 25 its ping comes
# within the 80-100 % window, 20 to 25 s after the 2xx, inside baresip's hold.
FLOW_TIMER = 25
BARESIP_HOLD = FLOW_TIMER + 2
JSSIP_HOLD = 2          # JsSIP sends no keep-alive of its own at all (it only answers the server's)
REGISTER_BOUND = 20.0


def _reference_missing() -> str | None:
    from conformance.sut.config import SutConfig

    fields = getattr(SutConfig, "__dataclass_fields__", {})
    missing = [f for f in ("tls_port", "ws_port", "wss_port", "tls_keylog") if f not in fields]
    if missing:
        return f"the reference serves no TLS/WS/WSS yet (SutConfig lacks {', '.join(missing)})"
    return None


pytestmark = [pytest.mark.skipif(capture_missing() is not None, reason=capture_missing() or ""),
              pytest.mark.skipif(_reference_missing() is not None, reason=_reference_missing() or "")]


@pytest.fixture(scope="module")
def edge(tmp_path_factory):
    """The reference core (edge + S-CSCF) with TLS, WS and WSS listeners and a server key log."""
    from conformance.sut.config import SutConfig
    from conformance.sut.server.reference import ReferenceCore
    from conformance.wire.testca import ensure_test_ca

    folder = tmp_path_factory.mktemp("interop")
    ca = ensure_test_ca()
    keylog = folder / "reference.keys"
    # TLS on a free port, not 5061 (which tls_port=0 tries first): the Kamailio tls-ws profile
    # listens there, and make test runs test files side by side
    config = SutConfig(topology="core", domain=DOMAIN, flow_timer=FLOW_TIMER, flow_grace=30.0,
                       tls_port=free_tcp_port(), ws_port=0, wss_port=0, tls_keylog=str(keylog))
    core = ReferenceCore(config)
    core.start()
    try:
        yield core, ca, keylog, folder
    finally:
        core.stop()


def _binding(core, aor: str, instance: str):
    from conformance.sut.registrar.bindings import instance_key

    found = [b for b in core.lookup(aor) if b.instance and instance_key(b.instance) == instance_key(instance)]
    return found


# -- JsSIP over WS and WSS ------------------------------------------------------------------------

@pytest.mark.skipif(jssip_missing() is not None, reason=jssip_missing() or "")
@pytest.mark.parametrize("transport", ["ws", "wss"])
def test_jssip_registers_through_the_edge(edge, transport):
    core, ca, server_keys, folder = edge
    port = core.ports[transport]
    aor = f"sip:jssip-{transport}-{uuid.uuid4().hex[:8]}@{DOMAIN}"
    instance = f"urn:uuid:{uuid.uuid4()}"
    node_keys = folder / f"jssip-{transport}.keys"
    raw = folder / f"jssip-{transport}.pcapng"
    with Capture(raw, [port], max_seconds=60, host="127.0.0.1"):
        with JssipClient(aor, f"{transport}://127.0.0.1:{port}/", str(ca.ca_cert), instance, expires=300,
                         hold=JSSIP_HOLD + 10, keylog=str(node_keys) if transport == "wss" else None) as client:
            outcome = client.wait_outcome(REGISTER_BOUND)
            assert outcome is not None, f"no outcome within {REGISTER_BOUND} s: {client.output[-20:]}"
            assert outcome.registered, f"JsSIP did not register: {outcome}"
            # what JsSIP sent: Supported: outbound and a Contact with +sip.instance and reg-id
            assert "outbound" in ",".join(outcome.sent("Supported"))
            contact = outcome.sent("Contact")[0]
            assert f'+sip.instance="<{instance}>"' in contact and ";reg-id=1" in contact
            assert outcome.sent("Via")[0].startswith(f"SIP/2.0/{transport.upper()} ")
            # it asked for outbound: the 2xx it got carries Require: outbound (RFC 5626 §6 ¶8)
            assert "outbound" in ",".join(outcome.received("Require")).lower()
            bindings = _binding(core, aor, instance)
            assert [b.reg_id for b in bindings] == [1], f"bindings of {aor}: {core.lookup(aor)}"
            assert bindings[0].outbound
            # a terminating request reaches it only over its own connection (its Contact host is
            # .invalid): the S-CSCF over the Path, the edge over the flow token (RFC 5626 §5.3.1)
            assert peer_message(core.core_address, aor) == 200
            time.sleep(JSSIP_HOLD)                    # the flow held a moment
            transcript = client.stop()
    assert transcript is not None and transcript.code == 0, client.output[-20:]
    received = [m for m in transcript.sip("in") if m.startswith("MESSAGE ")]
    assert len(received) == 1 and f"Via: SIP/2.0/{transport.upper()} " in received[0], received
    assert _binding(core, aor, instance) == [], "the de-REGISTER (expires=0) left the binding"
    pcap = raw
    if transport == "wss":
        pcap = inject_secrets(raw, [server_keys, node_keys], folder / f"jssip-{transport}-dsb.pcapng")
        decode = ["-d", f"tcp.port=={port},tls", "-d", f"tls.port=={port},http"]
    else:
        decode = ["-d", f"tcp.port=={port},http"]
    lines = tshark_sip(pcap, decode)
    assert sum(line.startswith("REGISTER ") for line in lines) == 2, lines   # register, de-register
    rc, report = analyze(pcap, folder / f"jssip-{transport}.json")
    assert report.get("registrations"), f"analyze judged no registration in {pcap} (exit {rc})"
    assert rc == 0 and not failed_rules(report), failed_rules(report)


# -- baresip over TLS -----------------------------------------------------------------------------

@pytest.mark.skipif(baresip_missing() is not None, reason=baresip_missing() or "")
def test_baresip_registers_over_tls_through_the_edge(edge):
    core, ca, server_keys, folder = edge
    port = core.ports["tls"]
    aor = f"sip:baresip-{uuid.uuid4().hex[:8]}@{DOMAIN}"
    instance = f"urn:uuid:{uuid.uuid4()}"
    account = BaresipAccount(aor=aor, proxy=("127.0.0.1", port), ca_file=str(ca.ca_cert), instance=instance,
                             listen_port=free_port_pair(), regint=300)
    raw = folder / "baresip-tls.pcapng"
    with Capture(raw, [port], max_seconds=60, host="127.0.0.1"):
        with BaresipClient(account, folder / "baresip", max_seconds=60) as client:
            ev = client.wait_registration(REGISTER_BOUND)
            assert ev is not None, f"no registration outcome within {REGISTER_BOUND} s: {client.log.lines[-20:]}"
            assert ev.ok and ev.transport == "TLS", f"baresip did not register: {ev}"
            register = client.log.sent("REGISTER")[0]
            assert "outbound" in ",".join(register.headers("Supported"))
            contact = register.headers("Contact")[0]
            assert f'+sip.instance="<{instance}>"' in contact and ";reg-id=1" in contact
            assert register.headers("Via")[0].startswith("SIP/2.0/TLS ")
            ok = next(m for m in client.log.messages if not m.outgoing and m.first_line.startswith("SIP/2.0 2"))
            assert "outbound" in ",".join(ok.headers("Require")).lower()
            bindings = _binding(core, aor, instance)
            assert [b.reg_id for b in bindings] == [1], f"bindings of {aor}: {core.lookup(aor)}"
            # a terminating request goes over its flow (the connection it registered over), not
            # to the listening port its Contact names (RFC 5626 §5.3.1); baresip answers a
            # MESSAGE 501 (no module of ours handles it): a final response all the same
            status = peer_message(core.core_address, aor)
            assert status is not None and status >= 200, status
            client.pump(BARESIP_HOLD)                 # its CRLF ping comes 20-25 s after the 2xx
            log = client.stop()
    message = [m for m in log.messages if not m.outgoing and m.first_line.startswith("MESSAGE ")]
    assert len(message) == 1 and message[0].dst == register.src, (register.src, [m.dst for m in message])
    assert message[0].headers("Via")[0].startswith(f"SIP/2.0/TLS 127.0.0.1:{port};"), message[0].headers("Via")
    assert len(log.sent("REGISTER")) == 2, [m.first_line for m in log.messages]    # and the de-REGISTER
    assert _binding(core, aor, instance) == [], "the de-REGISTER (expires=0) left the binding"
    pcap = inject_secrets(raw, [server_keys], folder / "baresip-tls-dsb.pcapng")
    decode = [] if port == 5061 else ["-d", f"tcp.port=={port},tls", "-d", f"tls.port=={port},sip"]
    lines = tshark_sip(pcap, decode)
    assert sum(line.startswith("REGISTER ") for line in lines) == 2, lines
    rc, report = analyze(pcap, folder / "baresip-tls.json")
    assert report.get("registrations"), f"analyze judged no registration in {pcap} (exit {rc})"
    assert rc == 0 and not failed_rules(report), failed_rules(report)
    # its CRLF keep-alive inside TLS, answered by the edge's pong (RFC 5626 §4.4.1)
    assert report["sip"]["crlf_pings"] >= 1 and report["sip"]["crlf_pongs"] >= 1, report["sip"]


# -- JsSIP and the 401 on the WebSocket upgrade (RFC 7118 §7) ---------------------------------------

@pytest.fixture(scope="module")
def ws_auth_edge():
    """The reference core whose WS/WSS upgrade is answered 401 until it carries credentials."""
    from conformance.sut.config import SutConfig
    from conformance.sut.server.reference import ReferenceCore
    from conformance.wire.testca import ensure_test_ca

    core = ReferenceCore(SutConfig(topology="core", domain=DOMAIN, ws_port=0, wss_port=0, ws_auth=DOMAIN))
    core.start()
    try:
        yield core, ensure_test_ca()
    finally:
        core.stop()


@pytest.mark.skipif(jssip_missing() is not None, reason=jssip_missing() or "")
def test_jssip_answers_a_401_on_the_websocket_upgrade(ws_auth_edge):
    """RFC 7118 §7: "A SIP WebSocket Client MUST be ready to be challenged with an HTTP 401 status
    code". Without credentials JsSIP reports the failed connection at once (no hang, no
    REGISTER); with them (the driver's WS_AUTH) it connects again with Basic credentials after the
    401 and registers."""
    core, ca = ws_auth_edge
    url = f"wss://127.0.0.1:{core.ports['wss']}/"
    aor = f"sip:jssip-auth-{uuid.uuid4().hex[:8]}@{DOMAIN}"
    instance = f"urn:uuid:{uuid.uuid4()}"
    with JssipClient(aor, url, str(ca.ca_cert), instance, hold=0) as client:
        outcome = client.wait_outcome(REGISTER_BOUND)
        transcript = client.stop()
    assert outcome is not None and not outcome.registered and not outcome.register, outcome
    assert [m["text"] for m in transcript.messages if m["kind"] == "http"] == [f'HTTP 401  Basic realm="{DOMAIN}"']
    assert transcript.sip("out") == []
    with JssipClient(aor, url, str(ca.ca_cert), instance, hold=5, ws_auth="jssip:secret") as client:
        outcome = client.wait_outcome(REGISTER_BOUND)
        assert outcome is not None and outcome.registered, outcome
        assert [b.reg_id for b in _binding(core, aor, instance)] == [1]
        transcript = client.stop()
    kinds = [(m["dir"], m["kind"]) for m in transcript.messages]
    assert kinds.index(("in", "http")) < kinds.index(("out", "sip")), kinds     # challenged, then registered
