"""The real clients' sans-IO parts: baresip's files and its output read back, JsSIP's driver lines."""

from __future__ import annotations

import json

import pytest

from conformance.interop.baresip import BaresipAccount, accounts_text, config_text, files, instance_uuid, read_log
from conformance.interop.jssip import JssipOutcome, JssipTranscript, parse_line

UUID = "0c8d4a5e-1c7b-4f7e-9a8e-2b7f2d9c1a22"


def _account(**kw) -> BaresipAccount:
    args = dict(aor="sip:bob@ims.test", proxy=("127.0.0.1", 5061), ca_file="/ca/ca.cert.pem",
                instance=f"urn:uuid:{UUID.upper()}", listen_port=25060, regint=120)
    args.update(kw)
    return BaresipAccount(**args)


def test_accounts_line_registers_with_outbound_through_the_edge_over_tls():
    line = accounts_text(_account())
    assert line.endswith("\n") and line.count("\n") == 1
    assert line.startswith("<sip:bob@ims.test;transport=tls>;")
    rest = line.strip().split(">;", 1)[1]
    assert rest.startswith('outbound="sip:127.0.0.1:5061;transport=tls";')
    params = rest.split('";', 1)[1].split(";")
    assert "sipnat=outbound" in params
    assert "regint=120" in params
    assert not any(p.startswith("auth_pass") for p in params)
    assert "auth_pass=s3cret" in accounts_text(_account(auth_pass="s3cret"))
    assert "sipnat=outbound" not in accounts_text(_account(outbound=False))


def test_accounts_line_brackets_an_ipv6_proxy():
    assert 'outbound="sip:[::1]:5061;transport=tls"' in accounts_text(_account(proxy=("::1", 5061)))


def test_config_loads_no_audio_driver_no_ui_and_listens_on_loopback():
    text = config_text(_account())
    settings = [line.split(None, 1) for line in text.splitlines() if line and not line.startswith("#")]
    keys = {k: v.strip() for k, v in settings if k not in ("module", "module_tmp", "module_app")}
    modules = [v.strip() for k, v in settings if k.startswith("module") and k != "module_path"]
    assert keys["sip_listen"] == "127.0.0.1:25060"
    assert keys["sip_cafile"] == "/ca/ca.cert.pem"
    assert keys["net_interface"] == "127.0.0.1"
    assert sorted(modules) == ["account.so", "g711.so", "uuid.so"]
    assert modules.index("uuid.so") < modules.index("account.so")    # the instance-id first


def test_uuid_file_has_no_newline_and_is_canonical():
    # baresip 1.0 takes the file's text as is: a newline would land inside +sip.instance
    assert files(_account())["uuid"] == UUID
    assert instance_uuid(UUID.upper()) == UUID


@pytest.mark.parametrize("bad", [dict(instance="urn:uuid:not-a-uuid"), dict(aor="bob@ims.test"),
                                 dict(transport="ws")])
def test_account_rejects_what_baresip_cannot_do(bad):
    with pytest.raises(ValueError):
        _account(**bad)


ESC = "\x1b"
TRACE = (
    "baresip is ready.\n"
    f"{ESC}[36;1m#\n"
    "TLS 127.0.0.1:43314 -> 127.0.0.1:5061\n"
    "REGISTER sip:ims.test;transport=tls SIP/2.0\r\n"
    "Via: SIP/2.0/TLS 127.0.0.1:25061;branch=z9hG4bKcb41;rport\r\n"
    f"Contact: <sip:bob-0x1@127.0.0.1:25061;transport=tls>;expires=120;+sip.instance=\"<urn:uuid:{UUID}>\";reg-id=1\r\n"
    "Supported: gruu, outbound, path\r\n"
    "Content-Length: 0\r\n"
    "\r\n"
    f"{ESC}[;m\n"
    f"{ESC}[36;1m#\n"
    "TLS 127.0.0.1:5061 -> 127.0.0.1:43314\n"
    "SIP/2.0 200 OK\r\n"
    "Require: outbound\r\n"
    "Flow-Timer: 30\r\n"
    "Content-Length: 0\r\n"
    "\r\n"
    f"{ESC}[;m\n"
    "bob@ims.test: {1/TLS/v4} 200 OK (outbound-conformance-reference) [1 binding]\n"
    "ua: stop all (forced=0)\n"
)


def test_log_reader_finds_the_outcome_and_the_traced_messages():
    log = read_log(TRACE, ("127.0.0.1", 5061))
    ev = log.first("bob@ims.test")
    assert ev is not None and ev.ok and ev.status == 200 and ev.transport == "TLS" and ev.bindings == 1
    assert ev.reason == "OK"
    assert [m.first_line for m in log.messages] == ["REGISTER sip:ims.test;transport=tls SIP/2.0", "SIP/2.0 200 OK"]
    assert [m.outgoing for m in log.messages] == [True, False]
    reg = log.sent("REGISTER")[0]
    assert reg.headers("supported") == ["gruu, outbound, path"]
    assert 'reg-id=1' in reg.headers("Contact")[0]
    assert reg.text.endswith("Content-Length: 0\r\n\r\n") and "\r\nVia: " in reg.text
    assert log.messages[1].headers("Flow-Timer") == ["30"]
    assert "ua: stop all (forced=0)" in log.lines


def test_log_reader_a_body_ends_the_block_on_its_own_line():
    # a message with a body has no newline before the colour reset: "hello\x1b[;m"
    text = (f"{ESC}[36;1m#\nTLS 127.0.0.1:5061 -> 127.0.0.1:43314\n"
            "MESSAGE sip:bob-0x1@127.0.0.1:25061;transport=tls SIP/2.0\r\nContent-Length: 5\r\n\r\n"
            f"hello{ESC}[;m\n"
            "unhandeled request from 127.0.0.1:5061: MESSAGE sip:bob-0x1@127.0.0.1:25061;transport=tls\n"
            f"{ESC}[36;1m#\nTLS 127.0.0.1:43314 -> 127.0.0.1:5061\nSIP/2.0 501 Not Implemented\r\n"
            f"Content-Length: 0\r\n\r\n{ESC}[;m\n")
    log = read_log(text, ("127.0.0.1", 5061))
    assert [m.first_line for m in log.messages] == ["MESSAGE sip:bob-0x1@127.0.0.1:25061;transport=tls SIP/2.0",
                                                    "SIP/2.0 501 Not Implemented"]
    assert log.messages[0].text.endswith("Content-Length: 5\r\n\r\nhello") and not log.messages[0].outgoing
    assert log.messages[1].text.endswith("Content-Length: 0\r\n\r\n")
    assert log.messages[1].outgoing
    assert any(line.startswith("unhandeled request") for line in log.lines)


def test_log_reader_keeps_crlf_when_the_reader_lost_the_cr():
    log = read_log(TRACE.replace("\r\n", "\n"), ("127.0.0.1", 5061))
    assert log.messages[0].text.endswith("Content-Length: 0\r\n\r\n")


def test_log_reader_text_after_the_colour_reset_is_a_line():
    text = TRACE.replace(f"{ESC}[;m\nbob@", f"{ESC}[;mbob@")
    log = read_log(text, ("127.0.0.1", 5061))
    assert log.first("bob@ims.test").ok


@pytest.mark.parametrize("line, status, error", [
    ("reg: bob@ims.test: 403 Forbidden (outbound-conformance-reference)", 403, ""),
    ("reg: bob@ims.test: Register: Connection refused [111]", None, "Connection refused [111]"),
])
def test_log_reader_failures(line, status, error):
    ev = read_log(line + "\n", ("127.0.0.1", 5061)).first("bob@ims.test")
    assert ev is not None and not ev.ok and ev.status == status and ev.error == error


def test_jssip_lines():
    out = parse_line(json.dumps({"event": "registered", "status": 200, "reason": "OK",
                                 "register": {"request_line": "REGISTER sip:ims.test SIP/2.0",
                                              "headers": {"Contact": ["<sip:x@y.invalid;transport=ws>;reg-id=1"]}},
                                 "response": {"headers": {"Require": ["outbound"]}}}))
    assert isinstance(out, JssipOutcome) and out.registered and out.status == 200
    assert out.sent("contact") == ["<sip:x@y.invalid;transport=ws>;reg-id=1"]
    assert out.received("REQUIRE") == ["outbound"] and out.received("Flow-Timer") == []
    failed = parse_line('{"event": "failed", "cause": "Connection Error", "status": null}')
    assert isinstance(failed, JssipOutcome) and not failed.registered and failed.cause == "Connection Error"
    stopped = parse_line(json.dumps({"event": "stopped", "code": 0, "messages": [
        {"dir": "out", "kind": "sip", "text": "REGISTER ..."}, {"dir": "in", "kind": "crlf-ping", "text": "\r\n\r\n"},
        {"dir": "out", "kind": "crlf-pong", "text": "\r\n"}]}))
    assert isinstance(stopped, JssipTranscript) and stopped.code == 0
    assert stopped.kinds("in") == ["crlf-ping"] and stopped.sip("out") == ["REGISTER ..."]
    with pytest.raises(ValueError):
        parse_line("JsSIP debug text")
    with pytest.raises(ValueError):
        parse_line('{"event": "other"}')
