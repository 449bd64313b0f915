"""A case run (engine/runner.CaseRun) over tls / ws / wss against the loopback server of
tests/wire/conftest.py: the flow's endpoint comes from the target's ports/tls/ws, the REGISTER
carries the transport's wire forms, and a failed handshake makes the case inconclusive with the
reason, never pass or fail."""

from __future__ import annotations

import os
import re
import shutil
import subprocess
from pathlib import Path

import pytest

from conformance.cases.loader import load_case_text
from conformance.engine.runner import CaseRun
from conformance.meaning.verdict import Verdict
from conformance.targets.loader import target_from_dict

CASE = """
id: STREAM-001
title: one registration over a stream transport
purpose: the flow's endpoint and wire forms
references: ["RFC 5626 §6 ¶8"]
ues:
  a:
    flows:
      f1: {address: 1, reg_id: 1}
steps:
  - register: f1
    expect:
      status: 200
      status_ref: "RFC 5626 §6 ¶8 (binding)"
"""


def target(transport, port, ca, **tls):
    return target_from_dict({
        "name": "stream", "host": "127.0.0.1", "port": 5999, "transports": ["udp", "tcp", transport],
        "ports": {transport: port} if transport != "tls" or port else {},
        "tls": {"ca": str(ca.ca_cert), **tls}, "capabilities": ["outbound"],
        "ue_addresses": ["127.0.0.21", "127.0.0.22"],
        "timers": {"t1": 0.1, "t2": 0.4, "response": 1.0, "connect": 1.0}})


def run_case(transport, port, ca, tmp_path, **tls):
    case = load_case_text(CASE)[0]
    return CaseRun(case, transport, target(transport, port, ca, **tls), ("127.0.0.1", 5999),
                   pcap_dir=tmp_path).run()


@pytest.mark.parametrize("transport", ["tls", "ws", "wss"])
def test_a_case_registers_over_the_transport(stream_server, test_ca, tmp_path, transport):
    server = stream_server(transport)
    result = run_case(transport, server.port, test_ca, tmp_path)
    assert result.verdict == Verdict.PASS, result.reason
    assert result.id == f"STREAM-001[{transport}]"
    sent = next(m for m in result.messages if m.direction == "sent" and m.text.startswith("REGISTER"))
    assert sent.transport == transport and sent.dst == ("127.0.0.1", server.port)
    via = re.search(r"^Via: (.*)$", sent.text, re.M).group(1)
    contact = re.search(r"^Contact: (.*)$", sent.text, re.M).group(1)
    if transport == "tls":
        assert via.startswith(f"SIP/2.0/TLS 127.0.0.21:{sent.src[1]};")
        assert contact.startswith(f"<sip:") and f"@127.0.0.21:{sent.src[1]};transport=tls;ob>" in contact
    else:
        host = re.match(rf"SIP/2.0/{transport.upper()} ([0-9a-f]+\.invalid);", via).group(1)
        assert f"@{host};transport=ws;ob>" in contact      # RFC 7118 §5.2: "ws" for ws and wss
    assert server.received and server.received[0] == sent.text.encode()
    assert result.pcap and (tmp_path / result.pcap.split("/")[-1]).exists()


@pytest.mark.parametrize("transport", ["tls", "wss"])
def test_a_wrong_server_name_is_inconclusive_with_the_reason(stream_server, test_ca, tmp_path, transport):
    server = stream_server(transport)
    result = run_case(transport, server.port, test_ca, tmp_path, server_name="wrong.example")
    assert result.verdict == Verdict.INCONCLUSIVE, (result.verdict, result.reason)
    assert "certificate verify failed" in result.reason and "mismatch" in result.reason.lower()
    finding = result.steps[0].findings[-1]
    assert finding.check == "TLS/WebSocket handshake" and finding.outcome == "inconclusive"
    assert not server.received                      # no SIP went out


def test_no_port_for_the_transport_is_the_suites_error(test_ca, tmp_path):
    case = load_case_text(CASE)[0]
    t = target("ws", 8080, test_ca)
    t.ports = {}
    result = CaseRun(case, "ws", t, ("127.0.0.1", 5999), pcap_dir=tmp_path).run()
    assert result.verdict == Verdict.ERROR and "gives no port for transport ws" in result.reason


TSHARK = shutil.which("tshark")


@pytest.mark.skipif(TSHARK is None, reason="tshark not installed (scripts/install-tools.sh installs it)")
@pytest.mark.parametrize("transport", ["tls", "ws", "wss"])
def test_the_pcap_shows_the_sip_in_tshark(stream_server, test_ca, tmp_path, transport):
    """ws: by Wireshark's heuristics alone; wss: pcapng whose DSB holds the keys; tls on a port
    other than 5061: the Wireshark profile beside the pcap (decode_as_entries), and without it
    the TLS is decrypted but not taken for SIP."""
    server = stream_server(transport)
    result = run_case(transport, server.port, test_ca, tmp_path)
    pcap = Path(result.pcap)
    profile = pcap.with_suffix(".wireshark")
    assert profile.is_dir() == (transport == "tls")
    env = dict(os.environ, WIRESHARK_CONFIG_DIR=str(profile)) if profile.is_dir() else None

    def sip(env):
        out = subprocess.run([TSHARK, "-r", str(pcap), "-Y", "sip", "-T", "fields", "-e", "sip.CSeq.method",
                              "-e", "sip.Status-Code"], capture_output=True, text=True, timeout=60, env=env)
        assert out.returncode == 0, out.stderr
        return [line.split("\t") for line in out.stdout.splitlines()]

    assert sip(env) == [["REGISTER", ""], ["REGISTER", "200"]]
    if transport != "ws":
        assert pcap.read_bytes()[:4] == b"\x0a\x0d\x0d\x0a"    # pcapng with the keys
    if transport == "tls":
        assert sip(dict(os.environ, WIRESHARK_CONFIG_DIR=str(tmp_path / "empty"))) == []
