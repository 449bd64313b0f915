"""Answering Digest challenges in the engine (engine/digest.py): the retried request, the
credentials a step option asks for, which challenges are answered."""

from __future__ import annotations

from types import SimpleNamespace

from conformance.engine.digest import WRONG_PASSWORD, credentials_for, digest_challenge, with_credentials
from conformance.ims.digest import verify_credentials
from conformance.sip.headers import parse_auth
from conformance.sip.message import Request, Response
from conformance.targets.model import DigestAuthProfile

REQ = Request(method="REGISTER", uri="sip:ims.test", headers=[
    ("Via", "SIP/2.0/UDP 127.0.0.11:5000;branch=z9hG4bKedge;rport"),
    ("Via", "SIP/2.0/UDP 127.0.0.11:5000;branch=z9hG4bKue;rport"),
    ("From", "<sip:a@ims.test>;tag=1"), ("To", "<sip:a@ims.test>"), ("Call-ID", "c1"),
    ("CSeq", "4 REGISTER"),
    ("Authorization", 'Digest username="a@ims.test", realm="ims.test", nonce="", response=""')])


def test_retry_is_a_new_transaction_with_only_the_new_credentials():
    out = with_credentials(REQ, "Authorization", 'Digest username="a"', new_cseq=5)
    vias = out.get_all("Via")
    assert "z9hG4bKedge" not in vias[0] and "z9hG4bKue" not in vias[1]
    assert all(";rport" in v and "branch=z9hG4bK" in v for v in vias)
    assert out.get("CSeq") == "5 REGISTER" and out.call_id == "c1"
    assert out.get_all("Authorization") == ['Digest username="a"']
    assert REQ.get("CSeq") == "4 REGISTER"          # the original is left alone
    assert with_credentials(REQ, "Authorization", "x", new_cseq=None).get("CSeq") == "4 REGISTER"


def test_which_challenges_are_answered():
    md5 = Response(status=401, reason="Unauthorized",
                   headers=[("WWW-Authenticate", 'Digest realm="r", nonce="n", qop="auth"')])
    assert digest_challenge(md5)[0] == "Authorization"
    proxy = Response(status=407, reason="Proxy Authentication Required",
                     headers=[("Proxy-Authenticate", 'Digest realm="r", nonce="n", algorithm=MD5')])
    assert digest_challenge(proxy)[0] == "Proxy-Authorization"
    aka = Response(status=401, reason="Unauthorized",
                   headers=[("WWW-Authenticate", 'Digest realm="r", nonce="n", algorithm=AKAv1-MD5')])
    assert digest_challenge(aka) is None


def _run(**ues):
    return SimpleNamespace(ues=ues, target=SimpleNamespace(auth=DigestAuthProfile(credentials={"x@t": "pw-x"})))


def test_credentials_a_step_asks_for():
    a, x = SimpleNamespace(impi="a@t"), SimpleNamespace(impi="x@t")
    run = _run(a=a, x=x)
    step = lambda **o: SimpleNamespace(options=o)  # noqa: E731
    assert credentials_for(run, step(), a) == ("a@t", "secret-a@t")
    assert credentials_for(run, step(digest="none"), a) is None
    user, pw = credentials_for(run, step(digest="wrong"), a)
    assert user == "a@t" and pw.startswith(WRONG_PASSWORD) and pw != "secret-a@t"
    assert credentials_for(run, step(digest={"as": "x"}), a) == ("x@t", "pw-x")
    assert credentials_for(run, step(digest={"as": "a", "password": "wrong"}), x)[0] == "a@t"


def test_answer_verifies_at_the_server():
    from conformance.ims.digest import build_credentials

    ch = parse_auth('Digest realm="ims.test", nonce="abc", algorithm=MD5, qop="auth"')
    params = build_credentials(ch, username="a@ims.test", uri="sip:ims.test", method="REGISTER",
                               password="secret-a@ims.test", cnonce="1")
    assert verify_credentials(params, password="secret-a@ims.test", method="REGISTER")


def test_replay_puts_the_flows_last_credentials_in_unchanged():
    import pytest

    from conformance.engine.api import RunStates
    from conformance.engine.digest import DigestSent, prepare
    from conformance.sip.errors import LocalProtocolError

    run = RunStates()
    run.state(DigestSent).by_flow["f1"] = ("Authorization", 'Digest username="a", nc=00000001')
    step = SimpleNamespace(options={"digest": {"replay": "f1"}})
    out = prepare(run, step, REQ)
    assert out.get_all("Authorization") == ['Digest username="a", nc=00000001']
    assert prepare(run, SimpleNamespace(options={}), REQ) is REQ
    assert credentials_for(run, step, SimpleNamespace(impi="x")) is None     # never answered
    with pytest.raises(LocalProtocolError, match="has sent no credentials"):
        prepare(RunStates(), SimpleNamespace(options={"digest": {"replay": "f2"}}), REQ)
