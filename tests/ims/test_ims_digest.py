"""RFC 2617 Digest and RFC 3310 Digest AKAv1-MD5 (RES as raw octets, RFC 4169 §3)."""

from __future__ import annotations

import hashlib

import pytest

from conformance.ims.aka import check_challenge, split_nonce
from conformance.ims.digest import (build_challenge, build_credentials, digest_response, ha1,
                                    md5_hex, rspauth, verify_credentials)
from conformance.ims.xortest import XorTest
from conformance.sip.headers import format_auth, parse_auth

from ims_vectors import load

AKA = load("digest-akav1-md5.json")["examples"]


def test_rfc2617_section_3_5_example():
    assert digest_response(
        username="Mufasa", realm="testrealm@host.com", password="Circle Of Life", method="GET",
        uri="/dir/index.html", nonce="dcd98b7102dd2f0e8b11d0f600bfb0c093", qop="auth",
        nc="00000001", cnonce="0a4f113b") == "6629fae49393a05397450978507c4ef1"


@pytest.mark.parametrize("ex", AKA, ids=lambda e: e["name"])
def test_published_akav1_md5_response(ex):
    algo = XorTest(bytes.fromhex(ex["K"]))
    rand, autn, _ = split_nonce(ex["nonce"])
    assert rand.hex() == ex["RAND"]
    res = check_challenge(algo, rand, autn).res          # TS 34.108 8.1.2, 16-octet RES
    challenge = parse_auth(build_challenge(ex["realm"], ex["nonce"]))
    creds = build_credentials(challenge, username=ex["username"], uri=ex["uri"],
                              method="REGISTER", password=res, cnonce=ex["cnonce"])
    assert creds["response"] == ex["response"]
    assert (creds["qop"], creds["nc"], creds["algorithm"]) == ("auth", "00000001", "AKAv1-MD5")
    hex_text = build_credentials(challenge, username=ex["username"], uri=ex["uri"],
                                 method="REGISTER", password=res.hex(), cnonce=ex["cnonce"])
    assert hex_text["response"] == ex["response_if_RES_were_hex_text (wrong)"]
    # the server side accepts the right one only
    wire = parse_auth(format_auth("Digest", creds))
    assert verify_credentials(wire, password=res, method="REGISTER")
    assert not verify_credentials(wire, password=res.hex(), method="REGISTER")
    assert not verify_credentials(wire, password=res[:-1] + bytes([res[-1] ^ 1]),
                                  method="REGISTER")


def _md5(text: bytes) -> str:
    return hashlib.md5(text).hexdigest()


def test_auth_int_and_no_qop_follow_the_definitions():
    kw = dict(username="u", realm="r", password=b"\x00\xffpw", uri="sip:r", nonce="n")
    h1 = _md5(b"u:r:\x00\xffpw")
    body = b"<xml/>"
    h2 = _md5(b"REGISTER:sip:r:" + _md5(body).encode())
    assert digest_response(method="REGISTER", qop="auth-int", nc="00000002", cnonce="c",
                           body=body, **kw) == _md5(f"{h1}:n:00000002:c:auth-int:{h2}".encode())
    h2_empty = _md5(b"REGISTER:sip:r:" + _md5(b"").encode())       # RFC 3261 §22.4 item 7
    assert digest_response(method="REGISTER", qop="auth-int", nc="00000001", cnonce="c",
                           **kw) == _md5(f"{h1}:n:00000001:c:auth-int:{h2_empty}".encode())
    assert digest_response(method="REGISTER", **kw) == \
        _md5(f"{h1}:n:{_md5(b'REGISTER:sip:r')}".encode())
    with pytest.raises(ValueError):
        digest_response(method="REGISTER", qop="auth", **kw)      # qop without nc/cnonce


def test_md5_sess():
    h = ha1("u", "r", "p", algorithm="MD5-sess", nonce="n", cnonce="c")
    assert h == _md5(f"{_md5(b'u:r:p')}:n:c".encode())


def test_auts_uses_the_empty_password():
    ex = AKA[0]
    challenge = parse_auth(build_challenge(ex["realm"], ex["nonce"]))
    creds = build_credentials(challenge, username=ex["username"], uri=ex["uri"],
                              method="REGISTER", password=b"ignored", cnonce="x",
                              auts="AAECAwQFBgcICQoLDA0=")
    assert creds["auts"] == "AAECAwQFBgcICQoLDA0="
    assert creds["response"] == digest_response(
        username=ex["username"], realm=ex["realm"], password="", method="REGISTER",
        uri=ex["uri"], nonce=ex["nonce"], qop="auth", nc="00000001", cnonce="x")
    assert 'auts="AAECAwQFBgcICQoLDA0="' in format_auth("Digest", creds)


def test_rspauth_uses_xres_and_no_method():
    xres = bytes(range(16))
    kw = dict(username="u", realm="r", uri="sip:r", nonce="n", qop="auth", nc="00000001",
              cnonce="c")
    h1 = _md5(b"u:r:" + xres)
    assert rspauth(password=xres, **kw) == _md5(f"{h1}:n:00000001:c:auth:{_md5(b':sip:r')}".encode())
    assert rspauth(password=xres, **kw) != digest_response(password=xres, method="REGISTER", **kw)


def test_challenge_format_and_qop_choice():
    value = build_challenge("ims.test", "bm9uY2U=", qop="auth-int,auth")
    assert value == 'Digest realm="ims.test", nonce="bm9uY2U=", algorithm=AKAv1-MD5, qop="auth-int,auth"'
    creds = build_credentials(parse_auth(value), username="u", uri="sip:ims.test",
                              method="REGISTER", password=b"x", cnonce="c", nc=3)
    assert (creds["qop"], creds["nc"]) == ("auth", "00000003")
    no_qop = build_credentials(parse_auth(build_challenge("r", "n", qop=None)), username="u",
                               uri="sip:r", method="REGISTER", password=b"x", cnonce="c")
    assert "qop" not in no_qop and "cnonce" not in no_qop
    assert md5_hex("") == "d41d8cd98f00b204e9800998ecf8427e"
