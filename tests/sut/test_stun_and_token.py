"""STUN (RFC 5389, RFC 5626 section 8) and flow tokens (RFC 5626 section 5.2), sans-IO."""

from __future__ import annotations

import base64
import pytest

from conformance.sip.framing import classify_datagram
from conformance.sut.flow import FlowInfo
from conformance.sut.edge.flowtoken import FlowTokenCodec, TokenError
from conformance.sip.stun import (binding_request, decode_xor_address, message_type, parse,
                                  split_type, stun_response)

TID = bytes(range(12))


@pytest.mark.parametrize("source", [("127.0.0.5", 40000), ("::1", 5), ("2001:db8::7", 65535)])
def test_binding_success_carries_the_xor_mapped_source(source):
    request = binding_request(TID)
    assert classify_datagram(request) == "stun"
    method, cls, tid, attrs = parse(stun_response(request, source))
    assert (method, cls, tid) == (1, 0b10, TID)                     # Binding Success (0x0101)
    assert message_type(method, cls) == 0x0101 and split_type(0x0101) == (1, 0b10)
    xma = [v for t, v, _ in attrs if t == 0x0020]
    assert len(xma) == 1 and decode_xor_address(xma[0], TID) == source


def test_fingerprint_is_checked_and_echoed():
    good = binding_request(TID, fingerprint=True)
    _, _, _, attrs = parse(stun_response(good, ("127.0.0.1", 1)))
    assert attrs[-1][0] == 0x8028
    bad = good[:-1] + bytes([good[-1] ^ 1])
    assert stun_response(bad, ("127.0.0.1", 1)) is None


def test_unknown_comprehension_required_attribute_gets_420():
    out = stun_response(binding_request(TID, [(0x0024, b"\x00\x00\x00\x01")]), ("127.0.0.1", 1))
    method, cls, _, attrs = parse(out)
    assert cls == 0b11
    err = dict((t, v) for t, v, _ in attrs)
    assert err[0x0009][2:4] == bytes([4, 20]) and err[0x000A] == b"\x00\x24"
    # comprehension-optional ones are ignored
    ok = stun_response(binding_request(TID, [(0x8022, b"ua")]), ("127.0.0.1", 1))
    assert parse(ok)[1] == 0b10


@pytest.mark.parametrize("data", [
    b"", b"\x00\x01\x00\x00", binding_request(TID)[:-1] + b"",            # truncated
    b"\x00\x01\x00\x00\x21\x12\xa4\x43" + TID,                              # wrong cookie
    b"\x00\x01\x00\x02\x21\x12\xa4\x42" + TID + b"ab",                      # length not % 4
    b"\x00\x01\x00\x08\x21\x12\xa4\x42" + TID + b"\x00\x20\x00\x10abcd",    # attribute overruns
    b"\x00\x11\x00\x00\x21\x12\xa4\x42" + TID,                              # Binding Indication
    b"\x01\x01\x00\x00\x21\x12\xa4\x42" + TID,                              # a response
    b"\x00\x02\x00\x00\x21\x12\xa4\x42" + TID,                              # another method
    b"\xc0\x01\x00\x00\x21\x12\xa4\x42" + TID,                              # top bits set
    b"\x00\x01\xff\xfc\x21\x12\xa4\x42" + TID + b"\x00" * 65532,             # 64 KB
])
def test_malformed_or_unanswerable_stun_is_dropped(data):
    assert stun_response(data, ("127.0.0.1", 1)) is None


FLOWS = [FlowInfo("udp", ("127.0.0.1", 5060), ("127.0.0.5", 40000)),
         FlowInfo("tcp", ("127.0.0.1", 5060), ("127.0.0.5", 40000), 17),
         FlowInfo("tcp", ("::1", 5060), ("2001:db8::1", 1), 2 ** 40),
         FlowInfo("udp", ("::1", 5060), ("::1", 65535))]


@pytest.mark.parametrize("flow", FLOWS)
def test_token_round_trip_and_sip_user_safe(flow):
    codec = FlowTokenCodec(b"k" * 20)
    token = codec.encode(flow)
    assert codec.decode(token) == flow
    assert all(c.isalnum() or c in "-_" for c in token)               # a valid SIP user part


def test_tokens_are_unique_per_flow():
    codec = FlowTokenCodec()
    tokens = {codec.encode(f) for f in FLOWS}
    tokens.add(codec.encode(FlowInfo("tcp", ("127.0.0.1", 5060), ("127.0.0.5", 40000), 18)))
    assert len(tokens) == len(FLOWS) + 1


def test_tampered_forged_and_foreign_tokens_fail():
    codec = FlowTokenCodec(b"k" * 20)
    token = codec.encode(FLOWS[1])
    raw = bytearray(base64.urlsafe_b64decode(token + "=" * (-len(token) % 4)))
    flipped = bytearray(raw)
    flipped[0] ^= 1                                                    # HMAC bit flipped
    moved = bytearray(raw)
    moved[10 + 1 + 4 + 2 + 3] ^= 1                                     # remote address changed
    for bad in (flipped, moved):
        text = base64.urlsafe_b64encode(bytes(bad)).rstrip(b"=").decode()
        with pytest.raises(TokenError):
            codec.decode(text)
        assert codec.decode(text, verify=False).transport == "tcp"     # readable, not trusted
    with pytest.raises(TokenError):
        FlowTokenCodec(b"other key").decode(token)                     # another instance's token
    for junk in ("", "!!!!", "abc", "A" * 300, token + "x", "ZZZZ" * 8):
        with pytest.raises(TokenError):
            codec.decode(junk)


def test_key_from_text_and_empty_key_refused():
    assert FlowTokenCodec("secret").decode(FlowTokenCodec("secret").encode(FLOWS[0])) == FLOWS[0]
    with pytest.raises(ValueError):
        FlowTokenCodec(b"")
