"""Units of the header-value grammar (conformance.sip.headers)."""

from __future__ import annotations

import pytest

from conformance.sip.errors import ParseError
from conformance.sip.headers import (
    AuthParams, NameAddr, SecurityMechanism, SipUri, Via, format_auth, parse_auth,
    parse_contacts, parse_cseq, parse_flow_timer, parse_name_addr, parse_name_addr_once, parse_name_addrs,
    parse_option_tags, parse_security, parse_uri, parse_via, parse_vias, uri_equal,
)
from conformance.sip.message import parse_message


# -- URIs ---------------------------------------------------------------------------------
def test_sip_uri_parts_and_flag_params():
    u = parse_uri("sip:VskztcQ/S8p4WPbOnHbuyh5iJvJIW3ib@ep1.example.com;lr;ob")
    assert (u.scheme, u.user, u.password, u.host, u.port) == (
        "sip", "VskztcQ/S8p4WPbOnHbuyh5iJvJIW3ib", None, "ep1.example.com", None)
    assert u.params == {"lr": None, "ob": None}
    assert u.has_param("OB") and u.param("lr") is None and not u.has_param("transport")
    assert str(u) == "sip:VskztcQ/S8p4WPbOnHbuyh5iJvJIW3ib@ep1.example.com;lr;ob"


def test_uri_base64_flow_token_characters_in_user_part():
    # RFC 5626 §5.2 tokens are base64: '+', '/' and '=' are legal user characters.
    u = parse_uri("sip:3yJEbr1GYZK9cPYk5Snocez6DzO7w+AX=@ep1.example.com;lr")
    assert u.user == "3yJEbr1GYZK9cPYk5Snocez6DzO7w+AX="


def test_uri_port_password_headers_and_param_order():
    u = parse_uri("sips:alice:secret@Atlanta.COM:5061;Transport=TCP;maddr=10.0.0.1?Subject=hi&x=1")
    assert u.scheme == "sips" and u.password == "secret" and u.port == 5061
    assert list(u.params) == ["transport", "maddr"] and u.param("transport") == "TCP"
    assert u.headers == {"Subject": "hi", "x": "1"}
    assert u.host_port() == "Atlanta.COM:5061"
    assert str(u) == "sips:alice:secret@Atlanta.COM:5061;transport=TCP;maddr=10.0.0.1?Subject=hi&x=1"


def test_uri_ipv6_reference():
    u = parse_uri("sip:[2001:db8::10]:5070;transport=udp")
    assert u.host == "[2001:db8::10]" and u.port == 5070
    assert u.host_port() == "[2001:db8::10]:5070"
    assert parse_uri("sip:bob@[::1]").host == "[::1]"


def test_non_sip_schemes_keep_opaque_part():
    tel = parse_uri("tel:+1-201-555-0123;phone-context=example.com")
    assert tel.scheme == "tel" and tel.host == "+1-201-555-0123"
    assert tel.param("phone-context") == "example.com"
    urn = parse_uri("urn:uuid:00000000-0000-1000-8000-AABBCCDDEEFF")
    assert urn.opaque == "uuid:00000000-0000-1000-8000-AABBCCDDEEFF"
    assert str(urn) == "urn:uuid:00000000-0000-1000-8000-AABBCCDDEEFF"


@pytest.mark.parametrize("text", [
    "", "example.com", "anonymous@example.com", "<sip:a@b>", "sip:a b@c", "sip:", "sip:@host",
    "sip:host:99999", "sip:host:50x", "sip:[::1", "sip:a@-bad-", "sip:a%zz@host", "sip:a@h;=x",
    "sip:a@h?noequals",
])
def test_bad_uris_raise_parse_error(text):
    with pytest.raises(ParseError):
        parse_uri(text)


@pytest.mark.parametrize("a, b, equal", [
    # RFC 3261 §19.1.4 examples
    ("sip:%61lice@atlanta.com;transport=TCP", "sip:alice@AtLanTa.CoM;Transport=tcp", True),
    ("sip:carol@chicago.com", "sip:carol@chicago.com;newparam=5", True),
    ("sip:carol@chicago.com;security=on", "sip:carol@chicago.com;newparam=5", True),
    ("sip:biloxi.com;transport=tcp;method=REGISTER?to=sip:bob%40biloxi.com",
     "sip:biloxi.com;method=REGISTER;transport=tcp?to=sip:bob%40biloxi.com", True),
    ("sip:alice@atlanta.com?subject=project%20x&priority=urgent",
     "sip:alice@atlanta.com?priority=urgent&subject=project%20x", True),
    ("SIP:ALICE@AtLanTa.CoM;Transport=udp", "sip:alice@AtLanTa.CoM;Transport=UDP", False),
    ("sip:bob@biloxi.com", "sip:bob@biloxi.com:5060", False),
    ("sip:bob@biloxi.com", "sip:bob@biloxi.com;transport=udp", False),
    ("sip:bob@biloxi.com", "sip:bob@biloxi.com:6000;transport=tcp", False),
    ("sip:carol@chicago.com", "sip:carol@chicago.com?Subject=next%20meeting", False),
    ("sip:bob@phone21.boxesbybob.com", "sip:bob@192.0.2.4", False),
    ("sip:a@h", "sips:a@h", False),
])
def test_uri_equal_rfc3261_examples(a, b, equal):
    assert uri_equal(a, b) is equal
    assert uri_equal(parse_uri(b), parse_uri(a)) is equal


# -- name-addr ----------------------------------------------------------------------------
def test_name_addr_outbound_contact():
    na = parse_name_addr('<sip:bob@192.0.2.2;transport=tcp>;reg-id=1;expires=3600'
                         ' ;+sip.instance="<urn:uuid:00000000-0000-1000-8000-AABBCCDDEEFF>"')
    assert na.uri.param("transport") == "tcp" and na.display is None
    assert na.reg_id == "1" and na.expires == 3600 and na.q is None
    assert na.instance == "<urn:uuid:00000000-0000-1000-8000-AABBCCDDEEFF>"
    assert na.params["+sip.instance"] == '"<urn:uuid:00000000-0000-1000-8000-AABBCCDDEEFF>"'
    assert str(na) == ('<sip:bob@192.0.2.2;transport=tcp>;reg-id=1;expires=3600'
                       ';+sip.instance="<urn:uuid:00000000-0000-1000-8000-AABBCCDDEEFF>"')


def test_name_addr_display_forms():
    assert parse_name_addr('Bob <sip:bob@example.com>;tag=7F').display == "Bob"
    assert parse_name_addr('"Bob \\"B\\"" <sip:bob@example.com>').display == 'Bob "B"'
    assert parse_name_addr('A  B<sip:x@y>').display == "A B"
    assert parse_name_addr('"" <sip:x@y>').display == ""
    na = parse_name_addr('"J Rosenberg \\\\\\""  <sip:jdrosen@example.com> ; tag = 98asjd8')
    assert na.display == 'J Rosenberg \\"' and na.params == {"tag": "98asjd8"}
    assert str(parse_name_addr('"A, B" <sip:x@y>;tag=1')) == '"A, B" <sip:x@y>;tag=1'


def test_addr_spec_params_belong_to_the_header():
    # RFC 3261 §20.10: without <>, the parameters after the URI are header parameters.
    na = parse_name_addr("sip:bob@example.com;tag=1;expires=60")
    assert na.uri.params == {} and na.params == {"tag": "1", "expires": "60"}
    inside = parse_name_addr("<sip:bob@example.com;expires=60>")
    assert inside.uri.params == {"expires": "60"} and inside.expires is None


def test_duplicate_params_first_kept_and_recorded():
    na = parse_name_addr("<sip:a@b>;reg-id=1;REG-ID=2;q=0.5;q=0.7")
    assert na.reg_id == "1" and na.q == 0.5
    assert na.duplicate_params == ["reg-id", "q"]


def test_expires_and_q_accessors_reject_junk():
    assert parse_name_addr("<sip:a@b>;expires=abc").expires is None
    assert parse_name_addr("<sip:a@b>;q=1.5").q is None
    assert parse_name_addr("<sip:a@b>;q=1").q == 1.0


@pytest.mark.parametrize("text", [
    '"unterminated <sip:a@b>', "<sip:a@b", "< sip:a@b >", "Bell, Alexander <sip:a@b>",
    "<sip:a@b>;;reg-id=1", "<sip:a@b>;", "<sip:a@b>;reg-id=", "<sip:a@b> junk",
    "sip:a@b?Route=x", '"Bob"', "", "<anonymous@example.com>",
])
def test_bad_name_addrs_raise_parse_error(text):
    with pytest.raises(ParseError):
        parse_name_addr(text)


def test_contacts_from_message_and_from_values():
    msg = parse_message(
        b"REGISTER sip:example.com SIP/2.0\r\nm: <sip:a@192.0.2.1>;reg-id=1, <sip:b@192.0.2.1>\r\n"
        b"Contact: \"x, y\" <sip:c@192.0.2.1;ob>;expires=0\r\nContent-Length: 0\r\n\r\n")
    contacts = parse_contacts(msg)
    assert [c.uri.user for c in contacts] == ["a", "b", "c"]
    assert contacts[2].display == "x, y" and contacts[2].uri.has_param("ob")
    assert [c.uri.user for c in parse_contacts(["<sip:a@h>, <sip:b@h>", "<sip:c@h>"])] == ["a", "b", "c"]


def test_star_contact():
    (star,) = parse_contacts(["*"])
    assert star.star and star.uri is None and str(star) == "*"
    (odd,) = parse_contacts(["*;expires=0"])
    assert odd.star and odd.expires == 0


def test_name_addr_lists_for_path_and_route():
    paths = parse_name_addrs(["<sip:P3.EXAMPLEHOME.COM;lr>,<sip:P1.EXAMPLEVISITED.COM;lr>"], "Path")
    assert [p.uri.host for p in paths] == ["P3.EXAMPLEHOME.COM", "P1.EXAMPLEVISITED.COM"]


# -- Via ----------------------------------------------------------------------------------
def test_via_fields_and_flags():
    v = parse_via("SIP/2.0/udp 192.0.2.1:5060;branch=z9hG4bK776;rport;received=192.0.2.9;keep")
    assert (v.protocol, v.transport, v.host, v.port) == ("SIP/2.0", "UDP", "192.0.2.1", 5060)
    assert v.branch == "z9hG4bK776" and v.received == "192.0.2.9"
    assert v.rport == "" and v.keep == ""
    assert str(v) == "SIP/2.0/UDP 192.0.2.1:5060;branch=z9hG4bK776;rport;received=192.0.2.9;keep"
    v2 = parse_via("SIP/2.0/TCP [2001:db8::1];rport=5070;keep=30;received=2001:db8::9")
    assert v2.host == "[2001:db8::1]" and v2.rport == "5070" and v2.keep == "30"
    assert v2.received == "2001:db8::9"
    assert parse_via("SIP/2.0/TCP h").rport is None


def test_via_lws_everywhere():
    vias = parse_vias(["SIP  / 2.0  / TCP     spindle.example.com   ;\r\n branch  =   z9hG4bK9ikj8  ,"
                       " SIP  /    2.0   / UDP  192.168.255.111   ; branch= z9hG4bK30239"])
    assert [(v.transport, v.host, v.branch) for v in vias] == [
        ("TCP", "spindle.example.com", "z9hG4bK9ikj8"), ("UDP", "192.168.255.111", "z9hG4bK30239")]


@pytest.mark.parametrize("text", [
    "SIP/2.0 host", "SIP/2.0/UDP", "SIP/2.0/UDPhost", "SIP/2.0/UDP host:99999", "SIP/2.0/UDP host;;",
    "SIP/2.0/UDP host;branch", "SIP/2.0/UDP host extra", "SIP/2.0/UDP 192.0.2.15;;",
])
def test_bad_vias_raise_parse_error(text):
    if text == "SIP/2.0/UDP host;branch":  # a flag-only branch is grammatical, just useless
        assert parse_via(text).branch is None
        return
    with pytest.raises(ParseError):
        parse_via(text)


# -- option tags, sec-agree, auth, scalars ------------------------------------------------
def test_option_tags():
    msg = parse_message(b"SIP/2.0 200 OK\r\nRequire: outbound\r\nk: path,  Outbound\r\n"
                        b"Supported: gruu\r\nContent-Length: 0\r\n\r\n")
    assert parse_option_tags(msg, "Require") == ["outbound"]
    assert parse_option_tags(msg, "Supported") == ["path", "outbound", "gruu"]
    assert parse_option_tags(["sec-agree", "path, outbound"]) == ["sec-agree", "path", "outbound"]
    assert parse_option_tags([]) == []
    with pytest.raises(ParseError):
        parse_option_tags(["path outbound"])
    with pytest.raises(ParseError):
        parse_option_tags(msg)  # which header?


def test_security_mechanisms_rfc3329():
    mechs = parse_security([
        "ipsec-3gpp; alg=hmac-sha-1-96; spi-c=23456789; spi-s=12845678; port-c=1234; port-s=5678",
        "tls;q=0.2, digest;d-alg=md5;d-qop=auth;d-ver=\"0000000000000000000000000000abcd\""])
    assert [m.name for m in mechs] == ["ipsec-3gpp", "tls", "digest"]
    ipsec = mechs[0]
    assert ipsec.params == {"alg": "hmac-sha-1-96", "spi-c": "23456789", "spi-s": "12845678",
                            "port-c": "1234", "port-s": "5678"}
    assert str(ipsec) == "ipsec-3gpp;alg=hmac-sha-1-96;spi-c=23456789;spi-s=12845678;port-c=1234;port-s=5678"
    assert mechs[1].q == 0.2 and mechs[2].param("d-ver").startswith('"')
    msg = parse_message(b"SIP/2.0 494 Security Agreement Required\r\nSecurity-Server: ipsec-ike;q=0.1\r\n"
                        b"Security-Server: tls;q=0.2\r\nContent-Length: 0\r\n\r\n")
    assert [m.name for m in parse_security(msg, "Security-Server")] == ["ipsec-ike", "tls"]
    for bad in ["", ";alg=x", "ipsec-3gpp;alg=", "ipsec-3gpp alg"]:
        with pytest.raises(ParseError):
            parse_security([bad] if bad else ["x;"])


def test_auth_challenge_and_credentials():
    ch = parse_auth('Digest realm="ims.example.com", nonce="CjPk9mRqNuT25eRkajM09uTl9nM09uTl9nMz5OX25PZz==",'
                    ' algorithm=AKAv1-MD5, qop="auth,auth-int"')
    assert ch.scheme == "Digest" and ch.get("realm") == "ims.example.com"
    assert ch.params["qop"] == "auth,auth-int" and ch.params["algorithm"] == "AKAv1-MD5"
    cred = parse_auth('Digest username="user1_private@home1.net", realm="home1.net", nonce="",'
                      ' uri="sip:home1.net", response="", qop=auth, nc=00000001, cnonce="a\\"b"')
    assert cred.params["nonce"] == "" and cred.params["cnonce"] == 'a"b' and cred.params["nc"] == "00000001"
    assert parse_auth("Digest").params == {}
    for bad in ['Digest realm="x" nonce="y"', 'Digest realm="x", realm="y"', 'Digest realm="x',
                "Digest realm", '"Digest"', "Digest realm=x,"]:
        with pytest.raises(ParseError):
            parse_auth(bad)


def test_format_auth_round_trip():
    text = format_auth("Digest", {"username": "alice", "realm": "r", "nonce": "n", "uri": "sip:r",
                                  "response": "0123", "algorithm": "MD5", "qop": "auth",
                                  "nc": "00000001", "cnonce": "c"})
    assert text == ('Digest username="alice", realm="r", nonce="n", uri="sip:r", response="0123",'
                    ' algorithm=MD5, qop=auth, nc=00000001, cnonce="c"')
    assert parse_auth(text).params["qop"] == "auth"
    from conformance.sip.headers import CHALLENGE_QUOTED
    chal = format_auth("Digest", {"realm": "r", "nonce": "n", "qop": "auth"}, quote=CHALLENGE_QUOTED)
    assert chal == 'Digest realm="r", nonce="n", qop="auth"'
    assert str(AuthParams("Digest", {"realm": 'a"b'})) == 'Digest realm="a\\"b"'


def test_flow_timer_and_cseq():
    assert parse_flow_timer("120") == 120 and parse_flow_timer(" 0 ") == 0
    for bad in ["", "-1", "1.5", "12a", "١٢", None]:
        with pytest.raises(ParseError):
            parse_flow_timer(bad)
    assert parse_cseq("0009\r\n  INVITE") == (9, "INVITE")
    assert parse_cseq("1 REGISTER") == (1, "REGISTER")
    for bad in ["REGISTER", "1", "1 REG ISTER", "-1 INVITE", "2147483648 INVITE", None]:
        with pytest.raises(ParseError):
            parse_cseq(bad)


def test_public_dataclass_shapes():
    assert SipUri("sip", host="h").params == {}
    assert NameAddr(uri=None, star=True).star
    assert Via("SIP/2.0", "UDP", "h").port is None
    assert str(SecurityMechanism("tls", {"q": "0.2"})) == "tls;q=0.2"


@pytest.mark.parametrize("func", [parse_uri, parse_name_addr, parse_via, parse_auth,
                                  parse_flow_timer, parse_cseq])
@pytest.mark.parametrize("junk", [None, 5, b"sip:a@b", "\x00", "<<<>>>", '"', ";;;", "\u20ac"])
def test_only_parse_error_ever_escapes(func, junk):
    try:
        func(junk)
    except ParseError:
        pass


def test_parameter_names_and_schemes_are_lower_cased_and_shared():
    # a parsed value that is kept (the offline analysis keeps a Contact per binding) shares the
    # texts of its names with every other parse
    a = parse_name_addr_once('<SIP:ue@h;Transport=TCP;LR>;Expires=60;+SIP.Instance="<urn:x>"')
    b = parse_name_addr_once('<sip:ue@h2;transport=udp;lr>;expires=30;+sip.instance="<urn:y>"')
    assert list(a.params) == list(b.params) == ["expires", "+sip.instance"]
    assert list(a.uri.params) == list(b.uri.params) == ["transport", "lr"]
    assert a.uri.scheme == b.uri.scheme == "sip" and a.uri.scheme is b.uri.scheme
    for x, y in zip([*a.params, *a.uri.params], [*b.params, *b.uri.params]):
        assert x is y
    assert (a.expires, a.instance, a.uri.param("TRANSPORT")) == (60, "<urn:x>", "TCP")
    assert str(a.uri) == "sip:ue@h;transport=TCP;lr"
