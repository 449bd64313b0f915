"""``conformance sut --ims``: the reference P-CSCF with IMS AKA and sec-agree, standalone."""

from __future__ import annotations

import os
import re
import signal
import socket
import subprocess
import sys
from pathlib import Path

import pytest

from conformance.ims.espio import esp_available
from conformance.ims.secagree import client_mechanisms, format_security, parse_ipsec
from conformance.sip.headers import parse_auth
from conformance.sip.message import parse_message
from conformance.sut.cli import main

ROOT = Path(__file__).resolve().parents[2]


@pytest.mark.parametrize("argv, words", [
    (["--ims", "--topology", "registrar"], "--ims needs --topology core or edge"),
    (["--subscribers", "x.yaml"], "need --ims"),
    (["--ims", "--pcscf-alg", "hmac-sha-1-96/rot13"], "--pcscf-alg"),
    (["--ims", "--subscribers", "/nonexistent/subs.yaml"], "--subscribers /nonexistent/subs.yaml"),
])
def test_ims_refusals(argv, words, capsys):
    assert main(argv + ["--listen", "127.0.0.1:0"]) == 2
    assert words in capsys.readouterr().err


def _register(port: int, port_uc: int, port_us: int) -> bytes:
    client = client_mechanisms([("hmac-sha-1-96", "null")], port_c=port_uc, port_s=port_us,
                               spi_c=0x1234, spi_s=0x1235)
    return ("REGISTER sip:ims.test SIP/2.0\r\n"
            f"Via: SIP/2.0/UDP 127.0.0.11:{port};rport;branch=z9hG4bK-cli-ims\r\n"
            "Max-Forwards: 70\r\nFrom: <sip:alice@ims.test>;tag=1\r\nTo: <sip:alice@ims.test>\r\n"
            "Call-ID: cli-ims\r\nCSeq: 1 REGISTER\r\n"
            f"Contact: <sip:alice@127.0.0.11:{port_us}>\r\n"
            "Supported: path, sec-agree\r\nRequire: sec-agree\r\nProxy-Require: sec-agree\r\n"
            'Authorization: Digest username="alice@ims.test", realm="ims.test", uri="sip:ims.test", '
            'nonce="", response=""\r\n'
            f"Security-Client: {format_security(client)}\r\nContent-Length: 0\r\n\r\n").encode()


@pytest.mark.skipif(esp_available() is not None, reason=f"raw ESP sockets unavailable: {esp_available()}")
def test_ims_mode_answers_sec_agree_with_an_aka_challenge_and_its_protected_ports(tmp_path):
    subs = tmp_path / "subs.yaml"
    subs.write_text('"*": {k: 465b5ce8b199b49faa5f0a2ee238a6bc, opc: cd63cb71954a9f4e48a5994e37a02baf, sqn: 0}\n')
    env = dict(os.environ, PYTHONPATH=str(ROOT))
    proc = subprocess.Popen(
        [sys.executable, "-m", "conformance.sut", "--ims", "--listen", "127.0.0.1:0", "--subscribers",
         str(subs), "--pcscf-alg", "hmac-sha-1-96/null"],
        stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, env=env, cwd=ROOT)
    try:
        lines = [proc.stdout.readline() for _ in range(3)]
        text = "".join(lines)
        ims = re.search(r"IMS P-CSCF .* server port udp 127\.0\.0\.1:(\d+), .* client port udp "
                        r"127\.0\.0\.1:(\d+); subscribers: \*", text)
        edge = re.search(r"topology core .* edge \(UEs register here\) udp\+tcp 127\.0\.0\.1:(\d+)", text)
        assert ims and edge, text + (proc.stderr.read() if proc.poll() is not None else "")
        port_ps, port_pc = map(int, ims.groups())
        with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as c:
            c.settimeout(3)
            c.bind(("127.0.0.11", 0))
            c.sendto(_register(c.getsockname()[1], 41001, 41002), ("127.0.0.1", int(edge.group(1))))
            response = parse_message(c.recvfrom(65536)[0])
        assert response.status == 401
        assert parse_auth(response.get("WWW-Authenticate")).get("algorithm") == "AKAv1-MD5"
        server = parse_ipsec(response.values("Security-Server"))[0]
        assert (server.port_s, server.port_c) == (port_ps, port_pc)
        assert server.pair == ("hmac-sha-1-96", "null")
        proc.send_signal(signal.SIGTERM)
        assert proc.wait(timeout=5) == 0
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait()
        proc.stdout.close()
        proc.stderr.close()
