"""`conformance load` against the embedded reference: every mix completes with 2xx, the figures
are there, the JSON and the HTML report are written (no timing is asserted)."""

from __future__ import annotations

import json

import pytest

from conformance.cli import main as conformance_main
from conformance.load.cli import run
from conformance.load.scenario import LoadScenario
from conformance.load.stats import percentile, svg_plot
from conformance.load.templates import Template, options
from conformance.ue.model import UE, FlowState, RegDialog
from conformance.cases.model import FlowSpec
from conformance.sip.message import parse_message


def test_template_renders_what_build_register_builds():
    ue = UE(name="a", user="u1", impu="sip:u1@ims.test", impi="u1@ims.test", domain="ims.test",
            instance="<urn:uuid:00000000-0000-1000-8000-000000000001>")
    st = FlowState(spec=FlowSpec(name="f1", address=1, reg_id=1), local_ip="127.0.0.11", transport="udp",
                   local_port=40000)
    st.dialog = RegDialog(call_id="c1@x")
    t = Template(ue, st, options(600))
    msg = parse_message(t.render(b"z9hG4bKabc", 7, b"X-Extra: 1\r\n"))
    assert msg.top_branch == "z9hG4bKabc"
    assert msg.cseq == (7, "REGISTER")
    assert msg.get("X-Extra") == "1"
    assert msg.get("Call-ID") == "c1@x"
    contact = msg.get("Contact")
    assert "reg-id=1" in contact and "+sip.instance=" in contact and "expires=600" in contact
    assert msg.get("Content-Length") == "0"


@pytest.mark.parametrize("transport", ["udp", "tcp", "tls", "ws", "wss"])
def test_mixes_complete_against_the_reference(transport):
    sc = LoadScenario(transport=transport, ues=40, rate=400.0, reg2_share=0.5, refreshes=2,
                      refresh_interval=0.2, reg1b_share=0.5, storm_at=0.5, timeout=5.0)
    doc = run(sc, embedded=True)
    s = doc["summary"]
    assert s["failed"] == 0, s["failures"]
    # 40 UEs, 20 of them with a second flow: 60 flows, each initial + 2 refreshes, plus the storm
    assert s["ok"] >= 60 * 3
    assert s["by_kind"]["initial"] == 60
    assert s["by_kind"].get("reg1b", 0) > 0
    assert s["latency_ms"]["p50"] is not None and s["rate_per_s"] > 0
    assert s["per_second"] and "<svg" in svg_plot(s["per_second"])
    if transport in ("tls", "ws", "wss"):  # one connection per flow and address, its set-up counted apart
        c = s["connections"]
        assert c["set_ups"] >= 60 and c["failed"] == 0 and c["cpu_ms_mean"] > 0
    else:
        assert "connections" not in s


def test_tls_handshake_failure_is_a_counted_cause():
    """A name the reference's certificate does not carry: every flow's set-up fails with the
    reason (the transaction fails with it, and the set-up is counted as failed)."""
    sc = LoadScenario(transport="tls", ues=3, rate=100.0, refreshes=0, timeout=3.0)
    from conformance.load.generator import LoadGenerator
    from conformance.sut.config import SutConfig
    from conformance.sut.server.reference import ReferenceCscf
    from conformance.wire.testca import ensure_test_ca

    ref = ReferenceCscf(SutConfig(tls_port=0), host=sc.host, port=0)
    ref.start()
    try:
        sc.port = ref.ports["tls"]
        sc.tls_ca, sc.tls_server_name = str(ensure_test_ca().ca_cert), "wrong.example"
        s = LoadGenerator(sc).run().summary()
    finally:
        ref.stop()
    assert s["ok"] == 0 and s["failed"] == 3
    [cause] = s["failures"]
    assert "certificate verify failed" in cause and "wrong.example" in cause


def test_failures_are_counted_by_cause():
    # nothing listens there: UDP gets ICMP port unreachable, transactions time out
    sc = LoadScenario(port=9, ues=3, rate=100.0, refreshes=0, timeout=0.6, t1=0.1)
    from conformance.load.generator import LoadGenerator

    s = LoadGenerator(sc).run().summary()
    assert s["ok"] == 0 and s["failed"] == 3
    assert all(k.startswith("timeout") for k in s["failures"])


def test_command_writes_json_and_html(tmp_path, capsys):
    rc = conformance_main(["load", "--embedded", "--ues", "10", "--rate", "100", "--refreshes", "1",
                           "--refresh-interval", "0.1", "--json", str(tmp_path / "l.json"),
                           "--html", str(tmp_path / "l.html"), "-q"])
    assert rc == 0
    doc = json.loads((tmp_path / "l.json").read_text())
    assert doc["summary"]["ok"] == 20 and doc["machine"]["cpu_count"]
    assert "<svg" in (tmp_path / "l.html").read_text()
    assert "failures: none" in capsys.readouterr().out


def test_bad_options_are_usage_errors():
    assert conformance_main(["load", "--ues", "0", "--embedded"]) == 3
    assert conformance_main(["load", "--transport", "sctp"]) == 3


def test_percentile():
    assert percentile([], 50) is None
    assert percentile([1.0, 2.0, 3.0], 50) == 2.0
    assert percentile([1.0, 2.0], 50) == 1.5


def test_digest_challenges_are_answered():
    """A registrar that challenges every REGISTER without credentials (401, Digest MD5, qop=auth);
    with --auth-password the generator answers, and the answer carries a correct digest."""
    import socket
    import threading

    from conformance.ims.digest import digest_response
    from conformance.load.generator import LoadGenerator
    from conformance.sip.headers import parse_auth

    srv = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
    srv.bind(("127.0.0.1", 0))
    srv.settimeout(0.2)
    stop = threading.Event()
    bad: list[str] = []

    def serve():
        while not stop.is_set():
            try:
                data, src = srv.recvfrom(65535)
            except socket.timeout:
                continue
            req = parse_message(data)
            head = "".join(f"{n}: {req.get(n)}\r\n" for n in ("Via", "From", "To", "Call-ID", "CSeq"))
            auth = req.get("Authorization")
            if auth is None:
                status = "401 Unauthorized\r\nWWW-Authenticate: Digest realm=\"ims.test\", nonce=\"n1\", qop=\"auth\", algorithm=MD5"
            else:
                p = parse_auth(auth).params
                want = digest_response(username=p["username"], realm="ims.test", password="secret", method="REGISTER",
                                       uri=p["uri"], nonce="n1", qop="auth", nc=p["nc"], cnonce=p["cnonce"])
                status = "200 OK" if p["response"] == want else "403 Forbidden"
                if status != "200 OK":
                    bad.append(auth)
            srv.sendto(f"SIP/2.0 {status}\r\n{head}Content-Length: 0\r\n\r\n".encode(), src)

    t = threading.Thread(target=serve, daemon=True)
    t.start()
    try:
        sc = LoadScenario(port=srv.getsockname()[1], ues=5, rate=100.0, refreshes=1, refresh_interval=0.05,
                          auth_password="secret", timeout=3.0)
        s = LoadGenerator(sc).run().summary()
    finally:
        stop.set()
        t.join(2)
        srv.close()
    assert not bad
    assert s["failed"] == 0 and s["ok"] == 10, s
    assert s["by_kind"]["challenged"] >= 5
