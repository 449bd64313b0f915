"""The sec-agree checks of TP_SEC_006, 013, 014 and 016: what reached REG-T, the ESP the UE
received under a changed spi-c, terminating requests in clear (no sockets)."""

from __future__ import annotations

from conformance.meaning.checks import CheckContext, run_check
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


def _meta(sa, transport="udp", outbound=True):
    ports = {2: (5062, 40001), 3: (5063, 40002)}[sa]
    return {"sa": sa, "spi": 0x100 + sa, "src": "127.0.0.1", "sport": ports[0], "dst": "127.0.0.11",
            "dport": ports[1], "port_uc": 40001, "port_us": 40002, "transport": transport,
            "outbound": outbound}


def _response_ctx(meta):
    ok = parse_message(b"SIP/2.0 200 OK\r\nVia: SIP/2.0/UDP 127.0.0.11:40002;branch=z9hG4bKu\r\n"
                       b"From: <sip:a@ims.test>;tag=1\r\nTo: <sip:a@ims.test>;tag=2\r\nCall-ID: c\r\n"
                       b"CSeq: 2 REGISTER\r\nContent-Length: 0\r\n\r\n")
    return CheckContext(None, ok, sec={"response": meta, "transport": (meta or {}).get("transport", "udp")})


def test_protected_response_pairings():
    # flow (default): TS 24.229 5.1.1.2.2 a), SA 3; ports: the request's SA pair, SA 2; any: either
    sa2, sa3 = _response_ctx(_meta(2)), _response_ctx(_meta(3))
    assert outcomes("protected", {}, sa3) == [("protected response", "pass")]
    assert outcomes("protected", {}, sa2) == [("protected response", "fail")]
    assert outcomes("protected", {"pairing": "ports"}, sa2) == [("protected response", "pass")]
    assert outcomes("protected", {"pairing": "ports"}, sa3) == [("protected response", "fail")]
    for ctx, reading in ((sa2, "seed paper"), (sa3, "TS 24.229")):
        [f] = run_check("protected", {"pairing": "any"}, ctx)
        assert f.outcome == "pass" and reading in f.observed
    [f] = run_check("protected", {"pairing": "any"}, _response_ctx(None))
    assert f.outcome == "fail" and "neither reading" in f.observed


def test_protected_delivery_pairings_fail_only_what_both_readings_forbid():
    def deliveries(meta):
        return CheckContext(None, None, sec={"deliveries": {"f1": [meta]}, "transport": meta["transport"]})

    udp2, udp3 = deliveries(_meta(2)), deliveries(_meta(3))
    tcp2, tcp3 = deliveries(_meta(2, "tcp")), deliveries(_meta(3, "tcp"))
    args = {"delivery": "f1"}
    # UDP: both readings send requests over SA 3; SA 2 is what both forbid
    for pairing in ("flow", "ports", "any"):
        assert outcomes("protected", {**args, "pairing": pairing}, udp3)[0][1] == "pass"
        assert outcomes("protected", {**args, "pairing": pairing}, udp2)[0][1] == "fail"
    # TCP with outbound: TS 24.229 b) the UE's connection (SA 2); the seed paper from port_pc (SA 3)
    assert outcomes("protected", {**args, "pairing": "flow"}, tcp2)[0][1] == "pass"
    assert outcomes("protected", {**args, "pairing": "flow"}, tcp3)[0][1] == "fail"
    assert outcomes("protected", {**args, "pairing": "ports"}, tcp3)[0][1] == "pass"
    assert outcomes("protected", {**args, "pairing": "ports"}, tcp2)[0][1] == "fail"
    assert outcomes("protected", {**args, "pairing": "any"}, tcp2)[0][1] == "pass"
    assert outcomes("protected", {**args, "pairing": "any"}, tcp3)[0][1] == "pass"


def test_a_class_whose_may_check_does_not_hold_is_not_chosen():
    # a reading graded by [M] text (MAY) is still a class: its check must hold for membership
    from conformance.cases.model import CaseSpec, CheckSpec, ClassSpec, StepSpec
    from conformance.meaning.judging import StepJudge
    from conformance.meaning.results import StepResult

    step = StepSpec("peer_request", classify=[
        ClassSpec("ports", "seed paper", [CheckSpec("protected", {"delivery": "f1", "pairing": "ports"}, level="MAY")]),
        ClassSpec("flow", "TS 24.229", [CheckSpec("protected", {"delivery": "f1", "pairing": "flow"})]),
    ], name="s")
    case = CaseSpec(id="X", title="", purpose="", references=["TS 24.229 5.1.1.2.2 a)"], requirements=[],
                    test_purposes=[], applies_to=[], transports=["tcp"], ues={}, steps=[step])
    ctx = CheckContext(None, None, sec={"deliveries": {"f1": [_meta(2, "tcp")]}, "transport": "tcp"})
    result = StepResult(name="s", action="peer_request", flow=None)
    StepJudge(case, False, lambda ue: None).judge(step, result, ctx, None)
    assert result.classification == "flow"


def test_dropped_or_rejected_fails_only_an_accepted_stimulus():
    def resp(status):
        return parse_message(f"SIP/2.0 {status} X\r\nVia: SIP/2.0/UDP h;branch=z9hG4bKx\r\nCall-ID: c\r\n"
                             f"CSeq: 2 REGISTER\r\nContent-Length: 0\r\n\r\n".encode())

    args = {"or_rejected": True}
    assert outcomes("dropped", args, CheckContext(None, None)) == [("stimulus not accepted", "pass")]
    assert outcomes("dropped", args, CheckContext(None, resp(494))) == [("stimulus not accepted", "pass")]
    assert outcomes("dropped", args, CheckContext(None, resp(403))) == [("stimulus not accepted", "pass")]
    assert outcomes("dropped", args, CheckContext(None, resp(200))) == [("stimulus not accepted", "fail")]
    assert outcomes("dropped", {}, CheckContext(None, resp(494))) == [("stimulus discarded", "fail")]


def _reply(status, *lines):
    head = [f"SIP/2.0 {status} X", "Via: SIP/2.0/UDP 127.0.0.11:40002;branch=z9hG4bKu", "Call-ID: c",
            "CSeq: 2 REGISTER", *lines, "Content-Length: 0"]
    return parse_message(("\r\n".join(head) + "\r\n\r\n").encode())


SS = "ipsec-3gpp;alg=hmac-sha-1-96;ealg=null;prot=esp;mod=trans;spi-c=1000;spi-s=1001;port-c=1;port-s=2"


def _one(args, response, request=None, sec=None):
    [f] = run_check("sec_response", args, CheckContext(request, response, sec=sec or {}))
    return f.outcome


def test_sec_response_questions_fail_the_wrong_response():
    ck = 'WWW-Authenticate: Digest realm="r", nonce="n", algorithm=AKAv1-MD5, ck="00", ik="11"'
    assert _one({"keys_hidden": True}, _reply(401, ck)) == "fail"
    assert _one({"keys_hidden": True}, _reply(401, 'WWW-Authenticate: Digest realm="r", nonce="n"')) == "pass"
    two_same = f"Security-Server: {SS};q=0.5, {SS.replace('null', 'aes-cbc')};q=0.5"
    assert _one({"q_values": True}, _reply(494, two_same)) == "fail"
    assert _one({"q_values": True}, _reply(494, f"Security-Server: {SS}, {SS}")) == "fail"
    assert _one({"q_values": True}, _reply(494, f"Security-Server: {SS};q=0.5, {SS};q=0.4")) == "pass"
    assert _one({"q_values": True}, _reply(401, f"Security-Server: {SS}")) == "pass"
    assert _one({"no_security_server": True}, _reply(401, f"Security-Server: {SS}")) == "fail"
    assert _one({"no_security_server": True}, _reply(502)) == "pass"
    assert _one({"no_security_server": True}, None) == "pass"            # discarded
    assert _one({"no_sa_offered": True}, _reply(401, f"Security-Server: {SS}")) == "fail"
    assert _one({"no_sa_offered": True}, _reply(494, f"Security-Server: {SS}")) == "pass"
    assert _one({"supported_only": True}, _reply(401, f"Security-Server: {SS.replace('null', 'unknown')}")) == "fail"
    assert _one({"supported_only": True}, _reply(401, f"Security-Server: {SS}")) == "pass"
    other = SS.replace("hmac-sha-1-96", "hmac-md5-96").replace("1000", "2000")
    assert _one({"static": True}, _reply(401, f"Security-Server: {other}"), sec={"servers": [SS, other]}) == "fail"
    same = SS.replace("1000", "3000")
    assert _one({"static": True}, _reply(401, f"Security-Server: {same}"), sec={"servers": [SS, same]}) == "pass"


def test_authentication_info_if_present_is_complete_and_correct():
    from conformance.ims.digest import rspauth

    res = bytes(range(8))
    request = parse_message(
        b"REGISTER sip:ims.test SIP/2.0\r\nVia: SIP/2.0/UDP h;branch=z9hG4bKx\r\nCall-ID: c\r\nCSeq: 2 REGISTER\r\n"
        b'Authorization: Digest username="u@ims.test", realm="ims.test", nonce="N", uri="sip:ims.test", '
        b'response="r", qop=auth, nc=00000001, cnonce="cc", algorithm=AKAv1-MD5\r\nContent-Length: 0\r\n\r\n')
    good = rspauth(username="u@ims.test", realm="ims.test", password=res, uri="sip:ims.test", nonce="N",
                   qop="auth", nc="00000001", cnonce="cc")
    sec = {"res": res.hex()}

    def info(value):
        return _reply(200, f"Authentication-Info: {value}")

    assert _one({"authentication_info": "present"}, _reply(200), request, sec) == "fail"
    assert _one({"authentication_info": "directives"}, _reply(200), request, sec) == "pass"     # absent
    assert _one({"authentication_info": "directives"}, info(f'rspauth="{good}", qop=auth, nc=00000001'),
                request, sec) == "fail"                                                       # no cnonce
    assert _one({"authentication_info": "directives"}, info(f'rspauth="{good}", qop=auth, nc=00000002, cnonce="cc"'),
                request, sec) == "fail"                                                       # not the request's nc
    full = f'rspauth="{good}", qop=auth, nc=00000001, cnonce="cc"'
    assert _one({"authentication_info": "directives"}, info(full), request, sec) == "pass"
    assert _one({"authentication_info": "rspauth"}, info(full), request, sec) == "pass"
    assert _one({"authentication_info": "rspauth"}, info(full.replace(good, "0" * 32)), request, sec) == "fail"
