"""Retransmissions (RFC 3261 section 17.2.2/17.2.3), other methods, and malformed input."""

from __future__ import annotations

import random

import pytest

from conformance.sip.message import Request, Response
from conformance.sut.registrar import registrar as registrar_module
from sut_helpers import EDGE_FLOW, contact, contacts_of, register


def test_retransmission_gets_the_cached_response_without_reprocessing(sut):
    first = register(branch="z9hG4bK-same")
    r1 = sut.send(first)
    sut.send(register([contact(expires=600)], cseq=2))          # a refresh (new transaction)
    r2 = sut.send(register(branch="z9hG4bK-same"))              # a retransmission of the first
    assert r2 is r1                                             # the cached response...
    assert sut.bindings()[0].remaining(sut.now) == 600          # ...and no reprocessing
    sut.now += 32.5                                             # Timer J has fired
    r3 = sut.send(register(branch="z9hG4bK-same"))
    assert r3.status == 500                                     # now a new request: CSeq 1 is stale


def test_same_branch_other_sent_by_or_method_is_a_new_transaction(sut):
    r1 = sut.send(register(branch="z9hG4bK-b", first_hop=True))
    assert sut.send(register(branch="z9hG4bK-b", first_hop=True)) is r1
    req = register(branch="z9hG4bK-b", cseq=2, first_hop=True)
    req.headers = [(n, v.replace("10.0.0.1:5060", "10.0.0.9:5060")) if n == "Via" else (n, v)
                   for n, v in req.headers]
    r2 = sut.send(req)
    assert r2 is not r1 and r2.status == 200 and r2.get("CSeq") == "2 REGISTER"
    opt = Request(method="OPTIONS", uri="sip:ims.test",
                  headers=[(n, v.replace("REGISTER", "OPTIONS"))
                           for n, v in register(branch="z9hG4bK-b", first_hop=True).headers])
    assert sut.send(opt).get("CSeq") == "1 OPTIONS"


def test_rfc2543_requests_without_magic_cookie_are_matched_too(sut):
    r1 = sut.send(register(branch="old-style-1"))
    assert sut.send(register(branch="old-style-1")) is r1


def _request(method: str) -> Request:
    headers = [(n, v.replace("REGISTER", method)) for n, v in register().headers
               if n not in ("Contact", "Path")]
    return Request(method=method, uri="sip:ue-a@ims.test", headers=headers)


def test_options_invite_cancel_ack(sut):
    r = sut.send(_request("OPTIONS"))
    assert r.status == 200 and "REGISTER" in r.get("Allow")
    assert sut.send(_request("INVITE")).status == 501
    assert sut.send(_request("MESSAGE")).status == 501
    assert sut.send(_request("CANCEL")).status == 481
    assert sut.send(_request("ACK")) is None
    assert sut.send(_request("OPTIONS")).status == 200


@pytest.mark.parametrize("drop,reason", [("Call-ID", "Call-ID"), ("CSeq", "CSeq"), ("From", "From"),
                                         ("To", "To")])
def test_missing_mandatory_header_is_400(sut, drop, reason):
    req = register()
    req.remove(drop)
    r = sut.send(req)
    assert r.status == 400 and reason in r.get("Warning")


@pytest.mark.parametrize("name,value", [("CSeq", "1 INVITE"), ("CSeq", "x REGISTER"),
                                        ("CSeq", "2147483648 REGISTER"), ("To", "<sip:ue-a@ims.test"),
                                        ("Contact", "<sip:a@b;>"), ("Supported", "a b"),
                                        ("Require", "@@"), ("Path", "<junk"),
                                        ("Authorization", "Digest ,,")])
def test_malformed_header_is_400_with_warning(sut, name, value):
    req = register()
    req.set(name, value)
    r = sut.send(req)
    assert r.status == 400 and r.get("Warning").startswith("399 ")
    assert sut.bindings() == []


def test_unaddressable_input_is_dropped(sut):
    req = register()
    req.remove("Via")
    assert sut.send(req) is None
    req.add("Via", "garbage")
    assert sut.send(req) is None
    assert sut.registrar.handle_bytes(b"\x00\x01hello", EDGE_FLOW, 0.0) is None
    assert sut.registrar.handle_bytes(b"SIP/2.0 200 OK\r\n\r\n", EDGE_FLOW, 0.0) is None
    assert sut.registrar.handle(Response(), EDGE_FLOW, 0.0) is None


def test_short_body_gets_400_from_the_salvaged_head(sut):
    data = bytes(register()).replace(b"Content-Length: 0", b"Content-Length: 50")
    r = sut.registrar.handle_bytes(data, EDGE_FLOW, sut.now)
    assert r.status == 400 and "Content-Length" in r.get("Warning")
    assert sut.bindings() == []


def test_bytes_round_trip(sut):
    r = sut.registrar.handle_bytes(bytes(register()), EDGE_FLOW, sut.now, wall=0.0)
    assert r.status == 200 and r.get("Date") == "Thu, 01 Jan 1970 00:00:00 GMT"
    assert len(contacts_of(r)) == 1


def test_internal_errors_become_500(sut, monkeypatch):
    def boom(self):
        raise RuntimeError("kaboom")

    monkeypatch.setattr(registrar_module.RegisterProcessor, "run", boom)
    r = sut.send(register())
    assert r.status == 500 and "kaboom" in r.get("Warning")


def test_fuzzed_bytes_never_raise(sut):
    rng = random.Random(5626)
    base = bytearray(bytes(register([contact(), contact("10.0.0.2", None, None)])))
    for _ in range(400):
        data = bytearray(base)
        for _ in range(rng.randint(1, 8)):
            pos = rng.randrange(len(data))
            data[pos] = rng.choice(b";,<>\"=:*\r\n \x00\xffA0")
        r = sut.registrar.handle_bytes(bytes(data), EDGE_FLOW, sut.now)
        assert r is None or isinstance(r, Response)
    assert len(sut.registrar.log) <= sut.registrar.log_size
