"""Property-based tests (Hypothesis): hostile and careless bytes never get past the wire layer
as anything but a parsed message or a ParseError, built messages round-trip, and the reference
registrar's binding rules hold over generated REGISTER sequences.

Hypothesis is a dev dependency (``pip install -e '.[dev]'``); without it these tests skip.
"""

from __future__ import annotations

import random
from pathlib import Path

import pytest

hypothesis = pytest.importorskip("hypothesis")
from hypothesis import HealthCheck, assume, given, settings  # noqa: E402
from hypothesis import strategies as st  # noqa: E402

from conformance.sip import headers as H  # noqa: E402
from conformance.sip.errors import ParseError  # noqa: E402
from conformance.sip.framing import Message, Ping, Pong, StreamFramer, classify_datagram  # noqa: E402
from conformance.sip.message import Request, Response, make_request, make_response, parse_message  # noqa: E402

SETTINGS = settings(max_examples=300, deadline=None, suppress_health_check=[HealthCheck.too_slow])

DATA = Path(__file__).resolve().parents[1] / "sip" / "data" / "rfc4475"
SEEDS = sorted((DATA / "valid").glob("*.dat")) + sorted((DATA / "invalid").glob("*.dat"))
VALID_REGISTER = (
    b"REGISTER sip:ims.test SIP/2.0\r\n"
    b"Via: SIP/2.0/UDP 127.0.0.11:5070;rport;branch=z9hG4bK-1\r\n"
    b"Max-Forwards: 70\r\nFrom: <sip:ue@ims.test>;tag=a\r\nTo: <sip:ue@ims.test>\r\n"
    b"Call-ID: c1@127.0.0.11\r\nCSeq: 1 REGISTER\r\nSupported: path, outbound\r\n"
    b'Contact: <sip:ue@127.0.0.11:5070>;reg-id=1;+sip.instance="<urn:uuid:00000000-0000-1000-8000-000A95A0E128>"\r\n'
    b"Expires: 600\r\nContent-Length: 0\r\n\r\n")

# bytes near SIP: pieces of real messages, separators and hostile bytes
_PIECES = [b"REGISTER ", b"SIP/2.0", b" 200 OK", b"\r\n", b"\n", b"\r", b":", b";", b",", b"<", b">", b'"',
           b"\\", b"Via: SIP/2.0/UDP h;branch=z9hG4bK", b"Content-Length: ", b"l: ", b"99999999999", b"-1",
           b"Contact: ", b"*", b"reg-id=", b"+sip.instance=", b"\x00", b"\xff", b"\xc3\xa9", b" ", b"\t",
           b"sip:", b"@", b"[::1]", b"=", b"?", b"%", b"%zz", b"CSeq: 1 REGISTER", b"Call-ID: x"]
sip_ish = st.one_of(
    st.binary(max_size=400),
    st.lists(st.sampled_from(_PIECES), max_size=40).map(b"".join),
    st.tuples(st.sampled_from([VALID_REGISTER] + [p.read_bytes() for p in SEEDS[:40]]),
              st.integers(0, 2000), st.binary(max_size=8), st.integers(0, 50)).map(
        lambda t: t[0][: t[1] % (len(t[0]) + 1)] + t[2] + t[0][t[1] % (len(t[0]) + 1) + t[3]:]),
)
text_ish = st.one_of(st.text(max_size=200), st.lists(st.sampled_from([p.decode("latin-1") for p in _PIECES]),
                                                     max_size=30).map("".join))


# -- the wire layer: a message or a ParseError, nothing else ------------------------------------------
@SETTINGS
@given(sip_ish)
def test_parse_message_gives_a_message_or_a_parse_error(data):
    try:
        msg = parse_message(data)
    except ParseError:
        return
    assert isinstance(msg, (Request, Response))
    msg.summary()
    again = parse_message(msg.to_bytes(update_length=False))  # what parsed re-parses
    assert type(again) is type(msg)


HEADER_PARSERS = [H.parse_uri, H.parse_name_addr, H.parse_contacts, H.parse_via, H.parse_vias,
                  H.parse_option_tags, H.parse_security, H.parse_auth, H.parse_flow_timer, H.parse_cseq,
                  H.unquote_string]


@SETTINGS
@given(st.sampled_from(HEADER_PARSERS), text_ish)
def test_header_grammar_gives_a_value_or_a_parse_error(parser, text):
    try:
        parser(text)
    except ParseError:
        pass


@SETTINGS
@given(st.lists(sip_ish, max_size=6), st.integers(1, 64))
def test_stream_framer_frames_or_raises_parse_error(chunks, cut):
    framer = StreamFramer(max_message=4096)
    stream = b"".join(chunks)
    try:
        for i in range(0, len(stream), cut):
            for fr in framer.feed(stream[i:i + cut]):
                assert isinstance(fr, (Message, Ping, Pong))
        framer.flush()
    except ParseError:
        assert framer.error is not None
    assert framer.pending() >= 0


@SETTINGS
@given(st.lists(st.sampled_from([VALID_REGISTER, b"\r\n\r\n"]), min_size=1, max_size=5), st.integers(1, 97))
def test_stream_framer_is_independent_of_segmentation(frames, cut):
    stream = b"".join(frames)
    whole = StreamFramer().feed(stream)
    framer, pieces = StreamFramer(), []
    for i in range(0, len(stream), cut):
        pieces += framer.feed(stream[i:i + cut])
    assert pieces == whole


@SETTINGS
@given(sip_ish)
def test_classify_datagram_always_answers(data):
    assert classify_datagram(data) in ("sip", "stun", "keepalive", "unknown")


@settings(max_examples=150, deadline=None)
@given(sip_ish)
def test_scapy_layer_dissects_anything_and_to_message_gives_a_message_or_parse_error(data):
    from conformance.sip.layer import SIP

    pkt = SIP(data)
    assert bytes(pkt) == data  # dissection keeps the bytes
    try:
        msg = pkt.to_message()
    except ParseError:
        return
    assert isinstance(msg, (Request, Response))


# -- built messages round-trip ----------------------------------------------------------------------------
token = st.text(alphabet="abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789-.!%*_+`'~", min_size=1,
                max_size=12)
user_part = st.text(alphabet="abcdefghijklmnopqrstuvwxyz0123456789-_.!~*'", min_size=1, max_size=12)
value = st.text(alphabet=st.characters(min_codepoint=0x21, max_codepoint=0x7e), max_size=40).map(str.strip)


@SETTINGS
@given(st.sampled_from(["REGISTER", "OPTIONS", "INVITE", "NOTIFY"]), token,
       st.lists(st.tuples(token, value), max_size=12), st.binary(max_size=64))
def test_built_requests_round_trip(method, user, headers, body):
    headers = [("Via", "SIP/2.0/UDP 127.0.0.1;branch=z9hG4bK-x"), ("Call-ID", f"{user}@h"),
               ("CSeq", f"1 {method}")] + headers
    req = make_request(method, f"sip:{user}@ims.test", headers, body)
    data = req.to_bytes()
    back = parse_message(data)
    assert isinstance(back, Request) and back.method == method and back.uri == f"sip:{user}@ims.test"
    assert back.body == body and back.call_id == f"{user}@h"
    assert back.to_bytes() == data


@SETTINGS
@given(st.integers(100, 699), st.text(alphabet="abcdefghij OK", max_size=20).map(str.strip),
       st.lists(st.tuples(token, value), max_size=10))
def test_built_responses_round_trip(status, reason, headers):
    resp = make_response(status, reason or "Reason", [("CSeq", "1 REGISTER")] + headers)
    back = parse_message(resp.to_bytes())
    assert isinstance(back, Response) and back.status == status
    assert back.to_bytes() == resp.to_bytes()


@SETTINGS
@given(st.integers(1, 2**31 - 1), st.uuids(), st.integers(0, 100000), user_part)
def test_built_contacts_round_trip_through_the_grammar(reg_id, uuid, expires, user):
    text = f'<sip:{user}@127.0.0.1:5070;transport=tcp>;reg-id={reg_id};+sip.instance="<urn:uuid:{uuid}>";expires={expires}'
    (c,) = H.parse_contacts(text)
    assert c.params["reg-id"] == str(reg_id)
    assert c.params["+sip.instance"] == f'"<urn:uuid:{uuid}>"'
    assert c.uri.host == "127.0.0.1" and c.uri.port == 5070


# -- the reference registrar's binding rules over generated REGISTER sequences ------------------------------
from conformance.sut.config import SutConfig  # noqa: E402
from conformance.sut.flow import FlowInfo  # noqa: E402
from conformance.sut.registrar.registrar import Registrar  # noqa: E402

AORS = ["sip:alice@ims.test", "sip:bob@ims.test"]
INSTANCES = ["00000000-0000-1000-8000-000A95A0E128", "11111111-2222-1000-8000-000A95A0E128"]

op = st.fixed_dictionaries({
    "aor": st.sampled_from(AORS), "instance": st.sampled_from(INSTANCES + [None]),
    "reg_id": st.sampled_from([1, 2, 3, None]), "ip": st.sampled_from(["10.0.0.1", "10.0.0.2", "10.0.0.3"]),
    "expires": st.sampled_from([0, 1, 60, 600]), "advance": st.sampled_from([0, 0, 0.5, 2, 61]),
    "kind": st.sampled_from(["contact", "contact", "contact", "fetch", "star"]),
    "call": st.sampled_from(["c1", "c2", "c3"]),
})


def _register(o, cseq: int) -> Request:
    aor = o["aor"]
    headers = [("Via", f"SIP/2.0/TCP {o['ip']}:5060;branch=z9hG4bK-p{cseq}"), ("Max-Forwards", "70"),
               ("From", f"<{aor}>;tag=t"), ("To", f"<{aor}>"), ("Call-ID", f"{o['call']}-{aor}"),
               ("CSeq", f"{cseq} REGISTER"), ("Supported", "path, outbound")]
    if o["kind"] == "star":
        headers += [("Contact", "*"), ("Expires", "0")]
    elif o["kind"] == "contact":
        c = f"<sip:ue@{o['ip']}:5060;transport=tcp>;expires={o['expires']}"
        if o["reg_id"] is not None:
            c += f";reg-id={o['reg_id']}"
        if o["instance"] is not None:
            c += f';+sip.instance="<urn:uuid:{o["instance"]}>"'
        headers.append(("Contact", c))
    return make_request("REGISTER", "sip:ims.test", headers)


@settings(max_examples=200, deadline=None)
@given(st.lists(op, min_size=1, max_size=25), st.sampled_from(["rel8", "rel7"]))
def test_binding_invariants_over_register_sequences(ops, mode):
    reg = Registrar(SutConfig(mode=mode), tag_secret="prop")
    now = 1000.0
    cseq = 0
    for o in ops:
        now += o["advance"]
        cseq += 1
        flow = FlowInfo("tcp", ("127.0.0.1", 5060), (o["ip"], 40000 + cseq % 3), conn_id=cseq % 3)
        resp = reg.handle(_register(o, cseq), flow, now)
        assert resp is not None and "internal error" not in (resp.get("Warning") or ""), resp
        for aor in AORS:
            live = reg.lookup(aor, now)
            # never two bindings for the same AOR + instance + reg-id (RFC 5626 §6, outbound keys)
            keys = [(b.instance_key, b.reg_id) for b in live if b.outbound]
            assert len(keys) == len(set(keys)), keys
            # expiry honoured: every listed binding is alive
            assert all(b.expires_at > now for b in live)
        if resp.status == 200:
            live = reg.lookup(o["aor"], now)
            listed = H.parse_contacts(resp)
            # the 2xx lists exactly the live bindings, each with a positive expires
            assert len(listed) == len(live), (resp.to_bytes().decode(), live)
            assert all(int(c.params.get("expires") or 0) > 0 for c in listed)
    # time passes beyond every expiry: nothing is left
    for aor in AORS:
        assert reg.lookup(aor, now + 10_000) == []


@settings(max_examples=200, deadline=None)
@given(st.integers(0, 2**32), st.integers(0, 400), st.binary(min_size=1, max_size=6))
def test_registrar_answers_mutated_registers_without_raising(seed, pos, junk):
    reg = Registrar(SutConfig(), tag_secret="prop")
    rnd = random.Random(seed)
    data = bytearray(VALID_REGISTER)
    for _ in range(rnd.randint(1, 4)):
        i = rnd.randrange(len(data))
        choice = rnd.randrange(3)
        if choice == 0:
            data[i:i + 1] = junk
        elif choice == 1:
            del data[i:i + rnd.randint(1, 20)]
        else:
            data[i:i] = data[rnd.randrange(len(data)):][:rnd.randint(1, 30)]
    flow = FlowInfo("udp", ("127.0.0.1", 5060), ("127.0.0.11", 5070))
    resp = reg.handle_bytes(bytes(data), flow, 1000.0)
    assert resp is None or isinstance(resp, Response)
    if resp is not None:  # never the registrar's internal-error 500
        assert "internal error" not in (resp.get("Warning") or ""), resp.to_bytes()[:400]
