"""The mangling proxy's rules, sans-IO: bytes in, timed actions out; and its profile field."""

from __future__ import annotations

import pytest

from conformance.yamlio.errors import TargetError
from conformance.mangler.rules import FAULTS, FaultSpec, Mangler
from conformance.sip.errors import ParseError
from conformance.sip.message import parse_message
from conformance.targets.loader import load_target

OK = (b"SIP/2.0 200 OK\r\nVia: SIP/2.0/UDP 127.0.0.11:5070;branch=z9hG4bK-1\r\n"
      b"From: <sip:a@ims.test>;tag=f\r\nTo: <sip:a@ims.test>;tag=t\r\nCall-ID: c1\r\n"
      b"CSeq: 7 REGISTER\r\nContent-Length: 0\r\n\r\n")


def _one(fault: str, transport: str = "udp", **kw):
    return Mangler(FaultSpec(fault=fault, **kw)).to_ue(OK, transport)


def test_rewrites_name_what_they_change():
    assert parse_message(_one("wrong_call_id")[0].data).call_id == "mangled-c1"
    assert parse_message(_one("wrong_cseq")[0].data).cseq == (1007, "REGISTER")
    assert parse_message(_one("wrong_branch")[0].data).top_branch == "z9hG4bK-1mangled"
    assert ";tag=" not in parse_message(_one("wrong_to_tag")[0].data).get("To")


def test_length_lies_and_damage():
    with pytest.raises(ParseError, match="exceeds"):
        parse_message(_one("cl_long")[0].data)
    assert parse_message(_one("cl_short")[0].data).body == b""  # RFC 3261 §18.3: extra bytes ignored
    with pytest.raises(ParseError):
        parse_message(_one("truncate")[0].data)
    with pytest.raises(ParseError):
        parse_message(_one("garbage")[0].data)
    assert len(_one("big", "tcp")[0].data) > 100 * 1024 and len(_one("big", "udp")[0].data) < 65000


def test_timing_and_connection_actions():
    assert _one("no_answer") == []
    assert _one("late_answer", delay=9)[0].delay == 9
    assert [a.kind for a in _one("duplicate")] == ["send", "send"]
    assert [a.kind for a in _one("close_mid", "tcp")] == ["send", "close"]
    assert [a.kind for a in _one("reset", "tcp")] == ["reset"]
    assert _one("dribble", "tcp", interval=0.01)[0].kind == "dribble"
    m = Mangler(FaultSpec(fault="reorder"))
    assert m.to_ue(b"SIP/2.0 100 Trying\r\n\r\n", "udp", "ue1")[0].kind == "hold"
    assert [a.data[:11] for a in m.to_ue(OK, "udp", "ue1")] == [b"SIP/2.0 200", b"SIP/2.0 100"]
    assert m.release_held("ue1") is None


def test_unsolicited_floods_once_per_response_and_drops_the_answers():
    m = Mangler(FaultSpec(fault="unsolicited", count=10))
    first = m.to_ue(OK, "udp")
    assert len(first) == 11 and first[-1].data == OK
    assert len(m.to_ue(OK, "udp")) == 1  # a retransmission: no second flood
    options = next(a.data for a in first if a.data.startswith(b"OPTIONS"))
    answer = b"SIP/2.0 200 OK\r\nCall-ID: " + parse_message(options).call_id.encode() + b"\r\n\r\n"
    assert m.to_sut(answer, "udp") == []


def test_every_fault_is_described_and_unknown_ones_are_refused():
    assert all(FAULTS.values())
    with pytest.raises(ValueError, match="unknown fault"):
        Mangler(FaultSpec(fault="nope"))


def test_profile_with_an_unknown_fault_names_file_line_and_key(tmp_path):
    p = tmp_path / "t.yaml"
    p.write_text("name: t\nport: 5060\nmangle:\n  fault: no_anser\n")
    with pytest.raises(TargetError) as exc:
        load_target(p)
    text = str(exc.value)
    assert f"{p}:4" in text and "mangle.fault" in text and "no_answer" in text


def test_stream_faults_act_on_their_layers_only():
    from conformance.mangler.rules import WS_FRAGMENT

    for fault, layered in (("close_without_close_notify", ("tls", "wss")), ("ws_close", ("ws", "wss")),
                           ("ws_fragment", ("ws", "wss"))):
        for transport in ("udp", "tcp", "tls", "ws", "wss"):
            m = Mangler(FaultSpec(fault=fault))
            first = m.to_ue(OK, transport, "c1")
            if transport not in layered:  # the fault does not apply: the message passes unchanged
                assert [(a.kind, a.data) for a in first] == [("send", OK)], (fault, transport)
                continue
            if fault == "ws_fragment":
                assert [(a.kind, a.data, a.size) for a in first] == [("fragments", OK, WS_FRAGMENT)]
                continue
            end = "abort" if fault == "close_without_close_notify" else "ws_close"
            assert [a.kind for a in first] == ["send", end] and first[0].data == OK
            # once per connection: a later message on it (or its retransmission) only passes
            assert [a.kind for a in m.to_ue(OK, transport, "c1")] == ["send"]
            assert [a.kind for a in m.to_ue(OK, transport, "c2")] == ["send", end]
