"""The sec-agree checks of TP_SEC_006, 013, 014 and 016: what reached REG-T, the ESP the UE
received under a changed spi-c, terminating requests in clear (no sockets)."""

from __future__ import annotations

from conformance.checks import CheckContext, run_check
from conformance.sip.message import parse_message


def forwarded(*lines: str):
    head = ["REGISTER sip:ims.test SIP/2.0", "Via: SIP/2.0/UDP 127.0.0.1:5060;branch=z9hG4bKp",
            "Via: SIP/2.0/UDP 127.0.0.11:40002;branch=z9hG4bKu", "From: <sip:a@ims.test>;tag=1",
            "To: <sip:a@ims.test>", "Call-ID: c", "CSeq: 2 REGISTER", *lines, "Content-Length: 0"]
    return parse_message(("\r\n".join(head) + "\r\n\r\n").encode())


def outcomes(kind, args, ctx, level=None):
    return [(f.check, f.outcome) for f in run_check(kind, args, ctx, level=level)]


def test_sec_agree_left_in_require_or_an_emptied_header_fails():
    clean = CheckContext(None, None, forwarded=[(forwarded("Require: path"), None)])
    assert outcomes("forwarded_sec", {"sec_agree_removed": True}, clean) == [
        ("sec-agree removed from Require and Proxy-Require", "pass")]
    for lines in (["Require: path, sec-agree"], ["Proxy-Require: sec-agree"], ["Proxy-Require: "]):
        ctx = CheckContext(None, None, forwarded=[(forwarded(*lines), None)])
        [f] = run_check("forwarded_sec", {"sec_agree_removed": True}, ctx)
        assert (f.outcome, f.ref, f.level) == ("fail", "RFC 3329 §2.3.1", "MUST"), lines
    ctx = CheckContext(None, None, forwarded=[(forwarded("Proxy-Require: sec-agree"), None)])
    assert "Proxy-Require: sec-agree" in run_check("forwarded_sec", {"sec_agree_removed": True}, ctx)[0].observed


def test_security_headers_and_integrity_protected_are_recorded_at_may():
    req = forwarded("Security-Client: ipsec-3gpp;alg=hmac-sha-1-96;spi-c=1;spi-s=2;port-c=3;port-s=4",
                    'Authorization: Digest username="a@ims.test", realm="ims.test", nonce="n", '
                    'uri="sip:ims.test", response="r", integrity-protected="yes"')
    ctx = CheckContext(None, None, forwarded=[(req, None)])
    [f] = run_check("forwarded_sec", {"security_headers_removed": True}, ctx, level="MAY")
    assert (f.outcome, f.observed) == ("info", "forwarded with Security-Client")
    assert outcomes("forwarded_sec", {"integrity_protected": "yes"}, ctx) == [
        ('integrity-protected "yes" at REG-T', "pass")]
    assert outcomes("forwarded_sec", {"integrity_protected": "no"}, ctx, level="MAY") == [
        ('integrity-protected "no" at REG-T', "info")]
    # absent passes for "no"; nothing forwarded too (the UE's value never reached the registrar)
    assert outcomes("forwarded_sec", {"integrity_protected": "no"},
                    CheckContext(None, None, forwarded=[(forwarded(), None)])) == [
        ('integrity-protected "no" at REG-T', "pass")]
    assert outcomes("forwarded_sec", {"integrity_protected": "no"}, CheckContext(None, None)) == [
        ('integrity-protected "no" or absent at REG-T', "pass")]
    # the other questions need a forwarded REGISTER
    assert outcomes("forwarded_sec", {"sec_agree_removed": True}, CheckContext(None, None)) == [
        ("REGISTER forwarded to the registrar", "inconclusive")]


def test_sa_unused_fails_on_esp_under_the_changed_spi():
    ok = CheckContext(None, None, sec={"changed_spis": [0x77], "esp_spis": [0x10, 0x11]})
    assert outcomes("sa_unused", {}, ok) == [("no SA from the changed Security-Client", "pass")]
    hit = CheckContext(None, None, sec={"changed_spis": [0x77], "esp_spis": [0x10, 0x77]})
    [f] = run_check("sa_unused", {}, hit)
    assert f.outcome == "fail" and f.observed == "1 ESP packet(s) under 0x77"
    assert outcomes("sa_unused", {}, CheckContext(None, None)) == [
        ("no SA from the changed Security-Client", "inconclusive")]


def test_clear_delivery_fails_only_on_a_request_in_clear():
    sa3 = {"sa": 3, "spi": 5, "src": "127.0.0.1", "sport": 1, "dst": "127.0.0.11", "dport": 2, "port_us": 2}
    for deliveries, outcome in (({}, "pass"), ({"f1": [sa3]}, "pass"), ({"f1": [sa3, None]}, "fail")):
        ctx = CheckContext(None, None, sec={"deliveries": deliveries})
        [f] = run_check("protected", {"clear_delivery": "f1"}, ctx)
        assert f.outcome == outcome, deliveries
