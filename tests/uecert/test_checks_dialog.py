"""UE checks on dialog-forming requests (RFC 5626 §4.3) and on sec-agree (RFC 3329, TS 24.229)."""

from ue_obs_craft import Ue, outcomes, run, tcp, udp

from conformance.uecert.observation import Observation


def call(flow, contact, supported="outbound"):
    ue = Ue()
    ue.register(0.0, tcp(1))
    ue.request(1.0, flow, "INVITE", f"Contact: {contact}\r\nSupported: {supported}\r\n")
    return ue.end(2.0)


def test_dialog_forming_request_over_the_flow_with_ob():
    obs = call(tcp(1), "<sip:alice@127.0.0.11:42000;transport=tcp;ob>")
    for kind in ("dialog_ob", "dialog_same_flow", "dialog_supported"):
        assert outcomes(kind, obs) == ["pass"], kind


def test_without_ob_is_recorded_another_flow_fails_no_supported_warns():
    obs = call(tcp(1, 43000), "<sip:alice@127.0.0.11:43000;transport=tcp>", supported="path")
    assert outcomes("dialog_ob", obs) == ["info"]
    f = run("dialog_same_flow", obs)
    assert [x.outcome for x in f] == ["fail"] and "43000" in f[0].observed
    assert outcomes("dialog_supported", obs) == ["warn"]
    assert outcomes("dialog_ob", Observation()) == ["inconclusive"]


SC = "Security-Client: ipsec-3gpp;alg=hmac-sha-1-96;spi-c=1111;spi-s=2222;port-c=5100;port-s=5101\r\n"
SS = "Security-Server: ipsec-3gpp;q=0.1;alg=hmac-sha-1-96;spi-c=3333;spi-s=4444;port-c=6100;port-s=6101\r\n"
SEC = "Require: sec-agree\r\nProxy-Require: sec-agree\r\n"


def secagree(verify=SS.replace("Server", "Verify"), port=5100, client=SC):
    ue = Ue()
    first = udp(1, 5100)
    ue.register(0.0, first, call_id="s", status=401, extra=SC + SEC, resp_extra=SS)
    ue.register(0.5, udp(1, port), call_id="s", extra=client + SEC + verify)
    return ue.end(1.0)


def test_secagree_conformant():
    obs = secagree()
    assert outcomes("secagree_offer", obs) == ["pass", "pass"]
    assert outcomes("secagree_verify_mirror", obs) == ["pass"]


def test_secagree_faults():
    f = run("secagree_verify_mirror", secagree(verify="Security-Verify: ipsec-3gpp;alg=hmac-sha-1-96\r\n"))
    assert f[0].outcome == "fail" and "Security-Verify" in f[0].observed
    assert outcomes("secagree_verify_mirror", secagree(client=SC.replace("1111", "9"))) == ["fail"]
    ue = Ue()
    ue.register(0.0, udp(1), extra=SC)
    f = run("secagree_offer", ue.end(1.0))
    assert f[0].outcome == "fail" and "Require: sec-agree" in f[0].observed


def test_secagree_ports_judge_the_protected_register_source_port():
    # the network side's FlowKey: UE port_uc -> P-CSCF port_ps for the protected REGISTER
    ok = Ue()
    ok.register(0.0, udp(1, 5100), call_id="s", status=401, extra=SC + SEC, resp_extra=SS)
    from conformance.uecert.observation import FlowKey
    ok.register(0.5, FlowKey("udp", ("127.0.0.11", 5100), ("127.0.0.1", 6101)), call_id="s",
                extra=SC + SEC + SS.replace("Server", "Verify"))
    assert outcomes("secagree_ports", ok.end(1.0)) == ["pass"]
    assert outcomes("secagree_ports", secagree()) == ["fail"]  # still to the unprotected port


def test_a_message_with_a_contact_is_judged_like_a_dialog_forming_request():
    ue = Ue()
    ue.register(0.0, tcp(1))
    ue.request(1.0, tcp(1), "MESSAGE", "Contact: <sip:alice@127.0.0.11:42000;transport=tcp;ob>\r\n")
    ue.request(1.5, tcp(1), "MESSAGE", "Supported: outbound\r\n")  # no Contact: not judged by dialog_ob
    obs = ue.end(2.0)
    assert outcomes("dialog_ob", obs) == ["pass"]
    assert outcomes("dialog_same_flow", obs) == ["pass", "pass"]
    assert outcomes("dialog_supported", obs) == ["warn", "pass"]
