"""tshark decrypts an ESP pcap with the keys written in Wireshark's esp_sa format."""

from __future__ import annotations

import os
import shutil
import subprocess

import pytest
from scapy.layers.inet import IP
from scapy.utils import wrpcap

from conformance.ims.endpoint import EspEndpoint
from conformance.ims.secagree import ALG_PAIRS
from conformance.ims.wireshark import esp_sa_record, tshark_options, write_config_dir

from ims_vectors import make_sas

TSHARK = shutil.which("tshark")
pytestmark = pytest.mark.skipif(TSHARK is None, reason="tshark is not installed")


def _sip(call_id: str) -> bytes:
    return (f"REGISTER sip:ims.test SIP/2.0\r\nVia: SIP/2.0/UDP 127.0.0.2;branch=z9hG4bK{call_id}\r\n"
            f"From: <sip:ue@ims.test>;tag=1\r\nTo: <sip:ue@ims.test>\r\nCall-ID: {call_id}\r\n"
            f"CSeq: 2 REGISTER\r\nMax-Forwards: 70\r\nContent-Length: 0\r\n\r\n").encode()


@pytest.fixture(scope="module")
def capture(tmp_path_factory):
    """One pcap with a UE->P-CSCF (SA 1) and a P-CSCF->UE (SA 3) packet for each pair."""
    tmp = tmp_path_factory.mktemp("esp")
    packets, sas_used, decode_as, expected = [], [], [], []
    for i, pair in enumerate(ALG_PAIRS):
        client, server, sas = make_sas(pair, base=i)
        ue, pcscf = EspEndpoint(sas, "ue"), EspEndpoint(sas, "pcscf")
        packets.append(IP(ue.protect_udp(client.port_c, server.port_s, _sip(f"up{i}"))))
        packets.append(IP(pcscf.protect_udp(server.port_c, client.port_s, _sip(f"down{i}"))))
        sas_used += [sas[1], sas[3]]
        expected += [(f"{sas[1].spi:#010x}", f"up{i}"), (f"{sas[3].spi:#010x}", f"down{i}")]
        for port in (server.port_s, client.port_s):
            decode_as += ["-d", f"udp.port=={port},sip"]
    path = tmp / "esp.pcap"
    wrpcap(str(path), packets)
    return tmp, path, sas_used, decode_as, expected


def _fields(args, env=None):
    out = subprocess.run([TSHARK, *args, "-T", "fields", "-e", "esp.spi", "-e", "esp.icv_good",
                          "-e", "sip.Method", "-e", "sip.Call-ID"],
                         capture_output=True, text=True, timeout=60,
                         env={**os.environ, **(env or {})})
    assert out.returncode == 0, out.stderr
    return [tuple(line.split("\t")) for line in out.stdout.splitlines()]


def test_record_format():
    sa = make_sas(("hmac-sha-1-96", "aes-cbc"))[2][1]
    assert esp_sa_record(sa) == (
        f'"IPv4","127.0.0.2","127.0.0.1","{sa.spi:#010x}","AES-CBC [RFC3602]",'
        f'"0x{sa.enc_key.hex()}","HMAC-SHA-1-96 [RFC2404]","0x{sa.auth_key.hex()}"')
    null = make_sas(("hmac-md5-96", "null"))[2][1]
    assert ',"NULL","","HMAC-MD5-96 [RFC2403]",' in esp_sa_record(null)


def test_tshark_decrypts_with_config_dir(capture):
    tmp, path, sas, decode_as, expected = capture
    conf = write_config_dir(tmp / "wsconf", sas)
    rows = _fields(["-r", str(path), *decode_as], env={"WIRESHARK_CONFIG_DIR": str(conf)})
    assert rows == [(spi, "1", "REGISTER", call_id) for spi, call_id in expected]


def test_tshark_decrypts_with_command_line_records(capture):
    _, path, sas, decode_as, expected = capture
    rows = _fields(["-r", str(path), *tshark_options(sas), *decode_as])
    assert rows == [(spi, "1", "REGISTER", call_id) for spi, call_id in expected]


def test_without_keys_no_sip_is_seen(capture):
    tmp, path, _, decode_as, expected = capture
    empty = tmp / "empty-conf"
    empty.mkdir(exist_ok=True)
    rows = _fields(["-r", str(path), *decode_as], env={"WIRESHARK_CONFIG_DIR": str(empty)})
    assert [r[0] for r in rows] == [spi for spi, _ in expected]
    assert all(len(r) < 3 or r[2] == "" for r in rows)
