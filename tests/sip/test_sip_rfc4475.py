"""RFC 4475 torture messages (§3.1.1 valid, §3.1.2 invalid) against the parsers.

The corpus in data/rfc4475/ is extracted by data/rfc4475/extract.py.  "Detected" means a
ParseError from parse_message or from the header grammar applied to the Request-URI, Via,
Contact, To, From and CSeq.
"""

from __future__ import annotations

import zlib

import pytest

from conformance.sip.errors import ParseError
from conformance.sip.headers import (
    parse_contacts, parse_cseq, parse_name_addr, parse_uri, parse_vias,
)
from conformance.sip.layer import SIP, SIPRequest, SIPResponse
from conformance.sip.message import Request, parse_message

from sip_corpus import rfc4475_bytes, rfc4475_manifest

CORPUS = rfc4475_manifest()
VALID = [name for _, kind, name, _ in CORPUS if kind == "valid"]
INVALID = [name for _, kind, name, _ in CORPUS if kind == "invalid"]

# Invalid messages our parsers reject, and where.
DETECTED = {
    "badinv01": "grammar",    # §3.1.2.1  empty Via / Contact parameters (";;,;,,")
    "clerr": "message",       # §3.1.2.2  Content-Length larger than the body
    "ncl": "message",         # §3.1.2.3  negative Content-Length
    "scalar02": "grammar",    # §3.1.2.4  CSeq number beyond 2**31
    "scalarlg": "grammar",    # §3.1.2.5  CSeq number beyond 2**31 (response)
    "quotbal": "grammar",     # §3.1.2.6  unterminated quoted display name
    "ltgtruri": "grammar",    # §3.1.2.7  <> around the Request-URI
    "lwsruri": "message",     # §3.1.2.8  LWS inside the Request-URI
    "lwsstart": "message",    # §3.1.2.9  several SP between request-line elements
    "trws": "message",        # §3.1.2.10 SP after the SIP-Version
    "regbadct": "grammar",    # §3.1.2.13 addr-spec holding '?' without <>
    "badaspec": "grammar",    # §3.1.2.14 spaces inside <>
    "baddn": "grammar",       # §3.1.2.15 unquoted display name with ','
    "bigcode": "message",     # §3.1.2.19 ten-digit status code
}
# Not detected, on purpose: each is grammatical at the level these parsers work at, and what is
# wrong is a rule of context or meaning that belongs to a check, not to a parser.
#   escruri    §3.1.2.11 headers in a Request-URI: grammatical SIP-URI, forbidden by the §19.1.1
#                        table for that position (visible as SipUri.headers).
#   baddate    §3.1.2.12 "EST" in Date: Date values are not parsed here (RFC 3261 §20.17).
#   badvers    §3.1.2.16 SIP/7.0: grammatical; a UAS answers 505 (visible as msg.version).
#   mismatch01 §3.1.2.17 CSeq method differs from the request method (RFC 3261 §8.1.1.5).
#   mismatch02 §3.1.2.18 the same with an unknown method.
NOT_DETECTED = {"escruri", "baddate", "badvers", "mismatch01", "mismatch02"}


def grammar_errors(msg) -> list[str]:
    """Header-grammar problems of a parsed message, as 'where: reason' strings."""
    checks = [("Via", lambda: parse_vias(msg)), ("Contact", lambda: parse_contacts(msg)),
              ("To", lambda: [parse_name_addr(v) for v in msg.get_all("To")]),
              ("From", lambda: [parse_name_addr(v) for v in msg.get_all("From")]),
              ("CSeq", lambda: [parse_cseq(v) for v in msg.get_all("CSeq")])]
    if isinstance(msg, Request):
        checks.insert(0, ("Request-URI", lambda: parse_uri(msg.uri)))
    errors = []
    for where, check in checks:
        try:
            check()
        except ParseError as exc:
            errors.append(f"{where}: {exc.reason}")
    return errors


def verdict(data: bytes) -> str:
    try:
        msg = parse_message(data)
    except ParseError:
        return "message"
    return "grammar" if grammar_errors(msg) else "accepted"


def test_corpus_is_complete():
    assert len(VALID) == 13 and len(INVALID) == 19
    assert set(INVALID) == set(DETECTED) | NOT_DETECTED


@pytest.mark.parametrize("name", VALID)
def test_valid_message_parses_with_its_headers(name):
    data = rfc4475_bytes("valid", name)
    msg = parse_message(data)
    assert grammar_errors(msg) == []
    assert bytes(msg) == data


@pytest.mark.parametrize("kind, name", [(k, n) for _, k, n, _ in CORPUS])
def test_no_exception_but_parse_error(kind, name):
    verdict(rfc4475_bytes(kind, name))  # anything but ParseError propagates and fails


@pytest.mark.parametrize("kind, name", [(k, n) for _, k, n, _ in CORPUS])
def test_layer_round_trip_is_exact(kind, name):
    data = rfc4475_bytes(kind, name)
    pkt = SIP(data)
    assert bytes(pkt) == data
    assert isinstance(pkt.payload, (SIPRequest, SIPResponse))


@pytest.mark.parametrize("name", sorted(DETECTED))
def test_invalid_message_detected(name):
    assert verdict(rfc4475_bytes("invalid", name)) == DETECTED[name]


@pytest.mark.parametrize("name", sorted(NOT_DETECTED))
def test_invalid_message_not_detected_by_grammar(name):
    assert verdict(rfc4475_bytes("invalid", name)) == "accepted"


def test_undetected_ones_are_visible_to_checks():
    escruri = parse_message(rfc4475_bytes("invalid", "escruri"))
    assert parse_uri(escruri.uri).headers == {"Route": "%3Csip:example.com%3E"}
    assert parse_message(rfc4475_bytes("invalid", "badvers")).version == "7.0"
    for name in ("mismatch01", "mismatch02"):
        msg = parse_message(rfc4475_bytes("invalid", name))
        assert msg.cseq[1] != msg.method
    assert "EST" in parse_message(rfc4475_bytes("invalid", "baddate")).get("Date")


def test_wsinv_details():
    msg = parse_message(rfc4475_bytes("valid", "wsinv"))
    assert msg.uri == "sip:vivekg@chair-dnrc.example.com;unknownparam"
    assert parse_uri(msg.uri).params == {"unknownparam": None}
    assert parse_cseq(msg.get("CSeq")) == (9, "INVITE") and msg.get("Max-Forwards") == "0068"
    assert parse_name_addr(msg.get("To")).tag == "1918181833n"
    assert parse_name_addr(msg.get("From")).display == 'J Rosenberg \\"'
    assert [v.transport for v in parse_vias(msg)] == ["UDP", "TCP", "UDP"]
    (contact,) = parse_contacts(msg)
    assert contact.display == 'Quoted string ""' and contact.q == 0.33
    assert contact.params == {"newparam": "newvalue", "secondparam": None, "q": "0.33"}
    assert len(msg.body) == 150


def test_intmeth_unusual_characters():
    msg = parse_message(rfc4475_bytes("valid", "intmeth"))
    assert msg.method == "!interesting-Method0123456789_*+`.%indeed'~"
    uri = parse_uri(msg.uri)
    assert uri.user.startswith("1_unusual.URI~") and uri.password.endswith("(doesn't-it)")
    assert parse_vias(msg)[0].branch == "z9hG4bK-.!%66*_+`'~"
    to = parse_name_addr(msg.get("To"))
    assert to.display == "BEL:\x07 NUL:\x00 DEL:\x7f"
    frm = parse_name_addr(msg.get("From"))
    assert frm.display == "token1~` token2'+_ token3*%!.-" and frm.tag == "_token~1'+`*%!-."


def test_framing_details_of_valid_messages():
    dbl = parse_message(rfc4475_bytes("valid", "dblreq"))   # §3.1.1.8: only the first counts
    assert dbl.method == "REGISTER" and dbl.body == b""
    mpart = parse_message(rfc4475_bytes("valid", "mpart01"))  # binary body with NULs
    assert len(mpart.body) == 553 and b"\x00" in mpart.body
    assert parse_message(rfc4475_bytes("valid", "noreason")).reason == ""
    assert parse_message(rfc4475_bytes("valid", "unreason")).reason.endswith("простое")
    esc02 = parse_message(rfc4475_bytes("valid", "esc02"))   # C%6Fntact is another header
    assert [c.uri.host for c in parse_contacts(esc02)] == ["host1.example.com", "host3.example.com"]
    escnull = parse_message(rfc4475_bytes("valid", "escnull"))
    assert [c.uri.user for c in parse_contacts(escnull)] == ["%00", "%00%00"]
    semi = parse_message(rfc4475_bytes("valid", "semiuri"))
    assert parse_uri(semi.uri).user == "user;par=u%40example.net"


def _mutations(data: bytes, count: int, seed: int):
    import random

    rng = random.Random(seed)
    for _ in range(count):
        buf = bytearray(data)
        for _ in range(rng.randint(1, 6)):
            op = rng.random()
            pos = rng.randrange(len(buf) + 1)
            if op < 0.4 and buf:
                buf[min(pos, len(buf) - 1)] = rng.choice(b';,:<>"\\ \r\n\t@%=?*\x00\xff0')
            elif op < 0.7:
                buf[pos:pos] = bytes([rng.choice(b';,:<>"\\ \r\n\t')])
            else:
                del buf[pos:pos + rng.randint(1, 8)]
        yield bytes(buf)


@pytest.mark.parametrize("kind, name", [(k, n) for _, k, n, _ in CORPUS])
def test_mutated_messages_only_ever_raise_parse_error(kind, name):
    for mutated in _mutations(rfc4475_bytes(kind, name), 40, seed=zlib.crc32(name.encode())):
        verdict(mutated)
        assert bytes(SIP(mutated)) == mutated
