"""The reference registrar requiring HTTP Digest (RFC 3261 §22, RFC 2617 MD5): challenges,
verification, authorisation of the AOR (§10.3 step 4), stale nonces, the accept-bad-credentials
fault; nothing is bound or removed without valid credentials."""

from __future__ import annotations

from sut_helpers import AOR, Sut, register

from conformance.ims.digest import build_credentials
from conformance.sip.headers import format_auth, parse_auth
from conformance.sip.message import Request

USER = "ue-a@ims.test"


def password_for(user: str) -> str:
    return "secret-" + user


def auth_sut(**kw) -> Sut:
    return Sut(digest_auth=password_for, **kw)


def answer(challenge_response, *, user=USER, password=None, method="REGISTER") -> str:
    ch = parse_auth(challenge_response.get("WWW-Authenticate"))
    params = build_credentials(ch, username=user, uri="sip:ims.test", method=method,
                               password=password if password is not None else password_for(user), cnonce="c0ffee")
    return format_auth("Digest", params)


def test_register_without_credentials_is_challenged_and_not_bound():
    sut = auth_sut()
    r = sut.send(register())
    assert r.status == 401 and r.reason == "Unauthorized"
    ch = parse_auth(r.get("WWW-Authenticate"))
    assert ch.scheme == "Digest" and ch.get("realm") == "ims.test"
    assert ch.get("algorithm") == "MD5" and ch.get("qop") == "auth" and ch.get("nonce")
    assert sut.bindings() == []


def test_ims_style_empty_authorization_is_no_credentials():
    sut = auth_sut()
    empty = f'Digest username="{USER}", realm="ims.test", uri="sip:ims.test", nonce="", response=""'
    r = sut.send(register(authorization=empty))
    assert r.status == 401 and "without nonce" in r.get("Warning")
    assert sut.bindings() == []


def test_right_credentials_bind_and_wrong_ones_do_not():
    sut = auth_sut()
    challenge = sut.send(register(cseq=1))
    bad = sut.send(register(cseq=2, authorization=answer(challenge, password="wrong")))
    assert bad.status == 401 and "does not verify" in bad.get("Warning")
    assert sut.bindings() == []
    ok = sut.send(register(cseq=3, authorization=answer(challenge)))
    assert ok.status == 200 and len(sut.bindings()) == 1


def test_another_users_aor_is_forbidden():
    """RFC 3261 §10.3 step 4: authenticated, but not authorised for this AOR -> 403."""
    sut = auth_sut()
    challenge = sut.send(register())
    r = sut.send(register(cseq=2, authorization=answer(challenge, user="ue-x@ims.test")))
    assert r.status == 403 and sut.bindings() == []


def test_stale_and_forged_nonces_are_challenged_again():
    sut = auth_sut()
    challenge = sut.send(register())
    sut.now += 301
    stale = sut.send(register(cseq=2, authorization=answer(challenge)))
    assert stale.status == 401 and parse_auth(stale.get("WWW-Authenticate")).get("stale") == "true"
    forged = answer(challenge).replace(parse_auth(challenge.get("WWW-Authenticate")).get("nonce"), "1.abc")
    r = sut.send(register(cseq=3, authorization=forged))
    assert r.status == 401 and "forged" in r.get("Warning")


def test_unauthenticated_contact_star_removes_nothing():
    sut = auth_sut()
    challenge = sut.send(register())
    assert sut.send(register(cseq=2, authorization=answer(challenge))).status == 200
    star = register(["*"], call_id="C2", expires=0)
    assert sut.send(star).status == 401
    star2 = register(["*"], call_id="C2", cseq=2, expires=0, authorization=answer(challenge, password="x"))
    assert sut.send(star2).status == 401
    assert len(sut.bindings()) == 1


def test_fault_accept_bad_credentials_takes_a_wrong_password_but_still_challenges():
    sut = auth_sut(faults=frozenset({"accept-bad-credentials"}))
    challenge = sut.send(register())
    assert challenge.status == 401
    assert sut.send(register(cseq=2, authorization=answer(challenge, password="wrong"))).status == 200


def test_only_register_is_authenticated():
    sut = auth_sut()
    options = Request(method="OPTIONS", uri="sip:ims.test", headers=[
        ("Via", "SIP/2.0/TCP 10.0.0.1;branch=z9hG4bK-o1"), ("From", f"<{AOR}>;tag=1"), ("To", f"<{AOR}>"),
        ("Call-ID", "O1"), ("CSeq", "1 OPTIONS"), ("Max-Forwards", "70")])
    assert sut.send(options).status == 200


def test_without_digest_auth_nothing_changes():
    assert Sut().send(register()).status == 200


def test_a_replayed_nonce_count_is_challenged_again():
    """RFC 3261 §26.4.1 / RFC 2617 §3.2.2: the same credentials (nonce, nc) twice are a replay."""
    sut = auth_sut()
    challenge = sut.send(register())
    creds = answer(challenge)
    assert sut.send(register(cseq=2, authorization=creds)).status == 200
    replay = sut.send(register(["<sip:ue-a@10.9.9.9;transport=tcp>"], call_id="X", cseq=7, authorization=creds))
    assert replay.status == 401 and "replay" in replay.get("Warning")
    assert [b.contact for b in sut.bindings()] != [] and all("10.9.9.9" not in str(b.contact) for b in sut.bindings())
    # two challenges in the same millisecond still get different nonces
    n1, n2 = (parse_auth(sut.send(register(call_id=c)).get("WWW-Authenticate")).get("nonce") for c in "YZ")
    assert n1 != n2
