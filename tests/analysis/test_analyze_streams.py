"""`conformance analyze` on SIP over TLS, WebSocket and WebSocket over TLS (issue 19): pcapng
with the session keys in a Decryption Secrets Block or a key log given with --tls-keylog, TLS 1.3
and 1.2 records decrypted, WebSocket frames (masked, fragmented) unwrapped after the upgrade, and
the SIP inside judged by the same rules as over TCP, each message's transport named tls/ws/wss.
A TLS connection without its secrets is not judged, and the verdict is never a pass."""

import json
import subprocess
import sys
from pathlib import Path

import pytest
from stream_craft import UE, flow_packets, stream_capture, write_pcapng

from conformance.analysis.analyzer import analyze
from conformance.analysis.layers import layer_kind
from conformance.report.capture_analysis import to_dict

ROOT = Path(__file__).resolve().parents[2]
SAMPLES = ROOT / "pcaps/samples/streams"


@pytest.fixture(scope="module")
def ca_dir(tmp_path_factory):
    return tmp_path_factory.mktemp("ca") / "test-ca"


def _verdicts(a) -> dict:
    return {rid: (str(r.verdict()), dict(r.counts)) for rid, r in a.judge.results.items() if r.evaluated}


def _cli(*args):
    return subprocess.run([sys.executable, "-m", "conformance", "analyze", *map(str, args)], cwd=ROOT,
                          capture_output=True, text=True, timeout=120)


@pytest.mark.parametrize("transport", ["tls", "ws", "wss"])
def test_flow_is_read_and_judged_as_over_tcp(tmp_path, ca_dir, transport):
    a = analyze(str(stream_capture(tmp_path / f"f-{transport}.pcapng", transport, ca_dir=ca_dir)), keep_events=True)
    sip = [e for e in a.events if e.kind == "sip"]
    assert [e.message.method if hasattr(e.message, "method") else e.message.status for e in sip] == \
        ["REGISTER", 200, "MESSAGE", 200, "REGISTER", 200]
    assert {e.transport for e in a.events} == {transport}
    assert [e.kind for e in a.events if e.kind in ("ping", "pong")] == ["ping", "pong"]
    v = _verdicts(a)
    # the REGISTERs, their 2xx, the CRLF keep-alive and the terminating MESSAGE over the flow
    assert v["R1-require"] == ("pass", {"pass": 2}) and v["R2-bindings"][0] == "pass"
    assert v["KA-pong"] == ("pass", {"pass": 1}) and v["TERM-binding"] == ("pass", {"pass": 1})
    assert str(a.judge.verdict()) == "pass"
    doc = to_dict(a)
    assert doc["verdict"] == "pass" and doc["streams"]["transports"] == {transport: 1}
    assert doc["registrations"][0]["flow"][0] == transport
    assert "not_judged" not in doc["streams"]


def test_wrong_registrar_still_fails_over_websocket(tmp_path, ca_dir):
    """The same rules: a 2xx that does not list the binding it just created fails over wss."""
    a = analyze(str(stream_capture(tmp_path / "w.pcapng", "wss", ca_dir=ca_dir, listed=False)))
    assert str(a.judge.results["R2-bindings"].verdict()) == "fail"
    assert to_dict(a)["verdict"] == "fail"


def test_tls_without_keys_is_not_judged_and_never_passes(tmp_path, ca_dir):
    path = stream_capture(tmp_path / "nokeys.pcapng", "tls", keys=False, keylog_beside=tmp_path / "keys.log",
                          ca_dir=ca_dir)
    a = analyze(str(path))
    doc = to_dict(a)
    assert a.messages == 0 and doc["verdict"] == "inconclusive"
    st = doc["streams"]
    assert st["tls_without_keys"] == 1 and st["tls_records_not_read"] > 0
    assert st["not_judged"].startswith(f"TLS without keys: {st['tls_records_not_read']} records not judged")
    assert "no secret for its client random" in st["connections"][0]["tls"]["why"]
    r = _cli(path)
    assert "NOT JUDGED: TLS without keys" in r.stdout and "verdict: INCONCLUSIVE" in r.stdout
    # the same capture with its key log given on the command line
    r = _cli(path, "--tls-keylog", tmp_path / "keys.log", "--json", tmp_path / "out.json")
    assert r.returncode == 0, r.stderr
    doc = json.loads((tmp_path / "out.json").read_text())
    assert doc["verdict"] == "pass" and doc["sip"]["messages"] == 6
    assert doc["streams"]["tls_secrets"][0].startswith(str(tmp_path / "keys.log"))


def test_a_pass_beside_unreadable_tls_is_inconclusive(tmp_path, ca_dir):
    """A WS flow that passes and a TLS connection without keys in one capture: inconclusive."""
    ws, _ = flow_packets("ws", None, ca_dir=ca_dir)
    tls, _ = flow_packets("tls", str(tmp_path / "k.log"), ca_dir=ca_dir, t0=1_700_000_100.0)
    a = analyze(str(write_pcapng(tmp_path / "mixed.pcapng", ws + tls)))
    assert str(a.judge.verdict()) == "pass" and a.messages == 6
    assert to_dict(a)["verdict"] == "inconclusive"


def test_tls12_records_are_decrypted(tmp_path, ca_dir):
    a = analyze(str(stream_capture(tmp_path / "t12.pcapng", "tls", ca_dir=ca_dir, tls12=True)))
    doc = to_dict(a)
    assert doc["streams"]["connections"][0]["tls"]["version"] == "TLS 1.2"
    assert a.messages == 6 and doc["verdict"] == "pass"


def test_secrets_block_after_the_packets_counts(tmp_path, ca_dir):
    k = tmp_path / "k.log"
    packets, _ = flow_packets("wss", str(k), ca_dir=ca_dir)
    from conformance.wire.keylog import read_keylog

    a = analyze(str(write_pcapng(tmp_path / "late.pcapng", packets, read_keylog(k), dsb_last=True)))
    assert a.messages == 6 and to_dict(a)["verdict"] == "pass"


def test_fragmented_websocket_messages_are_joined(tmp_path, ca_dir):
    """RFC 6455 §5.4: a message split into many frames (here 40 bytes each, masked) is one SIP message."""
    packets, _ = flow_packets("ws", None, ca_dir=ca_dir, ws_fragment=40)
    whole, _ = flow_packets("ws", None, ca_dir=ca_dir)
    # the same messages, with a 6-byte (masked) frame header for every 40 bytes of the UE's messages
    assert sum(len(d) for _, d in packets) - sum(len(d) for _, d in whole) > 6 * 20
    a = analyze(str(write_pcapng(tmp_path / "frag.pcapng", packets)), keep_events=True)
    assert a.messages == 6 and str(a.judge.verdict()) == "pass"
    assert [e.kind for e in a.events if e.kind in ("sip", "unparseable")] == ["sip"] * 6


def test_upgrade_answered_401_then_retried(tmp_path, ca_dir):
    """RFC 7118 §7: the first upgrade is answered 401; the retry on a new connection carries SIP."""
    a = analyze(str(stream_capture(tmp_path / "auth.pcapng", "wss", ca_dir=ca_dir, ws_auth=True)))
    doc = to_dict(a)
    conns = doc["streams"]["connections"]
    assert [c["websocket"]["status"] for c in conns] == [401, 101]
    assert a.messages == 6 and doc["verdict"] == "pass"


def test_capture_started_after_the_handshake_is_not_judged(tmp_path, ca_dir):
    packets, _ = flow_packets("tls", str(tmp_path / "k.log"), ca_dir=ca_dir)
    from conformance.wire.keylog import read_keylog

    # drop the TCP handshake and the ClientHello: the capture begins in the middle of the connection
    path = write_pcapng(tmp_path / "mid.pcapng", packets[4:], read_keylog(tmp_path / "k.log"))
    doc = to_dict(analyze(str(path)))
    assert doc["verdict"] == "inconclusive"
    assert doc["streams"]["connections"][0]["tls"]["why"] == "the capture begins after the TLS handshake"


def test_layer_kind_of_first_bytes():
    assert layer_kind(b"\x16\x03\x01\x02\x00") == "tls"
    assert layer_kind(b"GET / HTTP/1.1\r\n") == "ws"
    assert layer_kind(b"GE") == "wait" and layer_kind(b"\x16") == "wait"
    assert layer_kind(b"REGISTER sip:x SIP/2.0\r\n") is None
    assert layer_kind(b"\r\n\r\n") is None


@pytest.mark.parametrize("name,verdict", [("register-tls.pcapng", "pass"), ("register-ws.pcapng", "pass"),
                                          ("register-wss.pcapng", "pass"),
                                          ("register-tls-no-keys.pcapng", "inconclusive")])
def test_samples(name, verdict):
    doc = to_dict(analyze(str(SAMPLES / name)))
    assert doc["verdict"] == verdict
    assert doc["sip"]["messages"] == (0 if "no-keys" in name else 6)


def test_permessage_deflate_frames_are_inflated():
    """A client and server that agreed on permessage-deflate (RFC 7692; browsers offer it): the
    decoder reads the 101's extension and inflates both directions' messages."""
    from wsproto import ConnectionType, WSConnection
    from wsproto.events import AcceptConnection, Request, TextMessage
    from wsproto.extensions import PerMessageDeflate

    from conformance.analysis.wsdecode import WsDecoder
    from conformance.sip.framing import Message

    client, server = WSConnection(ConnectionType.CLIENT), WSConnection(ConnectionType.SERVER)
    dec = WsDecoder()
    up = client.send(Request(host="ims.test", target="/", subprotocols=["sip"], extensions=[PerMessageDeflate()]))
    server.receive_data(up)
    req = next(server.events())
    answer = server.send(AcceptConnection(subprotocol="sip", extensions=[PerMessageDeflate()]))
    client.receive_data(answer)
    list(client.events())
    assert b"permessage-deflate" in answer
    sip = "OPTIONS sip:ims.test SIP/2.0\r\nCall-ID: x\r\nCSeq: 1 OPTIONS\r\nContent-Length: 0\r\n\r\n" * 1
    c2s = client.send(TextMessage(data=sip)) + client.send(TextMessage(data=sip))
    s2c = server.send(TextMessage(data=sip.replace("OPTIONS sip", "INFO sip")))
    assert sip.encode() not in c2s  # compressed on the wire
    out = [dec.feed(True, up), dec.feed(False, answer), dec.feed(True, c2s), dec.feed(False, s2c)]
    assert req.subprotocols == ["sip"] and dec.status == 101
    assert out[2].frames == [Message(sip.encode())] * 2
    assert out[3].frames == [Message(sip.replace("OPTIONS sip", "INFO sip").encode())]
