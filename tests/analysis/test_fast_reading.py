"""Fast readings of the analysis give what the general code gives: a 2xx's Via received/rport
(reading.via_seen vs flow_seen.via_seen_address), a binding's packed history, a UE's answers
found in an index (ue_observe) vs Observation.response_to's scan, and the JSON report written as
it is encoded, an entry a line, vs the document."""

from __future__ import annotations

import json

import pytest

from conformance.analysis.analyzer import analyze
from conformance.analysis.result import plain
from conformance.analysis.reading import via_seen
from conformance.analysis.timeline_history import History
from conformance.analysis.ue_observe import _CaptureObservation
from conformance.engine.flow_seen import via_seen_address
from conformance.report.capture_analysis import to_dict, write_json
from conformance.sip.message import parse_message
from conformance.uecert.observation import IN, OUT, SIP, Event, Observation

from test_fast_paths import SAMPLES, _generated

VIAS = [
    "SIP/2.0/UDP 10.0.0.1:5060;branch=z9hG4bK1;rport=5070;received=10.0.0.9",
    "SIP/2.0/UDP 10.0.0.1:5060;branch=z9hG4bK1;rport",  # rport without a value
    "SIP/2.0/UDP 10.0.0.1:5060;rport=12;received=::1",
    "SIP/2.0/UDP 10.0.0.1:5060;RPORT=12;Received=010.0.0.1",  # names in any case
    "SIP/2.0/UDP 10.0.0.1:5060;rport=12;rport=13;received;received=1.2.3.4",  # the first counts
    "SIP/2.0/UDP 10.0.0.1:5060;rport=12;received=[::1]",
    "SIP/2.0/UDP host.example;rport=1",
    "SIP/2.0/UDP host.example:99999;rport=1",  # bad port
    "SIP/2.0/UDP -bad;rport=1",  # bad host
    "SIP/2.0/UDP 10.0.0.1 ; rport = 1",  # LWS: the general parser
    "SIP/2.0/TCP 10.0.0.1;rport=x1",
    "sip/2.0/udp 10.0.0.1;rport=7",
    "SIP/2.0/UDP 10.0.0.1;rport=1, SIP/2.0/UDP 1.1.1.1;rport=2",
    "SIP/2.0/UDP 10.0.0.1;rport=1, garbage",  # a bad Via below: nothing
    "SIP/2.0/UDP 10.0.0.1;branch=\"q\";rport=3",  # a quoted value: the general parser
]


@pytest.mark.parametrize("via", VIAS)
def test_via_seen_reads_what_via_seen_address_reads(via):
    msg = parse_message(f"SIP/2.0 200 OK\r\nVia: {via}\r\nCall-ID: a\r\nCSeq: 1 REGISTER\r\n"
                        f"Content-Length: 0\r\n\r\n".encode())
    assert via_seen(msg) == via_seen_address(msg)


def test_via_seen_of_a_response_without_via():
    msg = parse_message(b"SIP/2.0 200 OK\r\nCall-ID: a\r\nCSeq: 1 REGISTER\r\nContent-Length: 0\r\n\r\n")
    assert via_seen(msg) is None and via_seen_address(msg) is None


def test_packed_history_keeps_the_first_event_and_the_latest():
    h, plain = History(), []
    for n in range(60):
        what = "created" if n == 0 else f"flow changed to {n}" if n % 7 == 0 else "refreshed"
        h.add(n, 1000.5 + n, what, 50)
        plain.append((n, 1000.5 + n, what))
        if len(plain) > 50:
            del plain[1]
    assert list(h) == plain and len(h) == 50 and h[0] == (0, 1000.5, "created") and h[-1] == plain[-1]
    import pickle

    assert list(pickle.loads(pickle.dumps(h))) == plain


def _event(index, msg, direction):
    return Event(index=index, time=float(index), kind=SIP, direction=direction, flow=None, msg=msg)


def test_the_answers_index_finds_what_the_scan_finds():
    def req(cseq, branch):
        return parse_message(f"REGISTER sip:a SIP/2.0\r\nVia: SIP/2.0/UDP h;branch={branch}\r\nCall-ID: c\r\n"
                             f"CSeq: {cseq} REGISTER\r\nContent-Length: 0\r\n\r\n".encode())

    def resp(status, cseq, branch):
        return parse_message(f"SIP/2.0 {status} X\r\nVia: SIP/2.0/UDP h;branch={branch}\r\nCall-ID: c\r\n"
                             f"CSeq: {cseq} REGISTER\r\nContent-Length: 0\r\n\r\n".encode())

    plan = [(req(1, "b1"), IN), (resp(100, 1, "b1"), OUT), (resp(200, 1, "b1"), OUT), (req(2, "b2"), IN),
            (resp(200, 1, "b1"), OUT), (req(1, "b1"), IN), (resp(401, 2, "b2"), OUT), (resp(200, 2, "b2"), OUT),
            (req(3, "b3"), IN), (resp(200, 3, "bx"), OUT)]
    fast, slow = _CaptureObservation(), Observation()
    for i, (m, d) in enumerate(plan, 1):
        fast.add(_event(i, m, d))
        slow.add(_event(i, m, d))
    for e, s in zip(fast.requests(), slow.requests()):
        a, b = fast.response_to(e), slow.response_to(s)
        assert (a.index if a else None) == (b.index if b else None)
    fast.add(_event(11, resp(200, 3, "b3"), OUT))  # an event added later: the index is remade
    assert fast.response_to(next(e for e in fast.requests() if e.index == 9)).index == 11


def test_the_json_report_holds_the_document_an_entry_a_line(tmp_path):
    for path in SAMPLES[:6] + [_generated(tmp_path, n=2000, aors=50)]:
        doc = to_dict(analyze(str(path)))
        out = tmp_path / "r.json"
        write_json(out, doc)
        text = out.read_text(encoding="utf-8")
        assert json.loads(text) == json.loads(json.dumps(doc, default=plain)), path.name
        lines = text.splitlines()
        assert lines[0] == "{" and lines[-1] == "}" and len(lines) >= len(doc) + 2
        for key in ("registrations", "bindings", "rules"):  # each entry of a list on its own line
            if doc[key]:
                first = lines.index(f'  "{key}": [')
                entries = [json.loads(line.rstrip(",")) for line in lines[first + 1:first + 1 + len(doc[key])]]
                assert entries == json.loads(json.dumps(doc[key], default=plain)), (path.name, key)
                assert lines[first + 1 + len(doc[key])].strip().rstrip(",") == "]"


BRANCHED = [  # {b}: the branch, which changes at every request
    "SIP/2.0/UDP 10.0.0.1:5060;branch={b};rport=5070;received=10.0.0.9",
    "SIP/2.0/UDP 10.0.0.1:5060;rport=5070;received=10.0.0.9;branch={b}",
    "SIP/2.0/UDP 10.0.0.1:5060;branch={b};rport",
    "SIP/2.0/UDP host.example:99999;branch={b};rport=1",  # bad port: the general parser
    "SIP/2.0/UDP 10.0.0.1 ;branch={b}; rport = 1",  # LWS: the general parser
    "SIP/2.0/UDP 10.0.0.1;branch={b};rport=1, SIP/2.0/UDP 1.1.1.1;rport=2",
]


@pytest.mark.parametrize("template", BRANCHED)
def test_via_seen_remembered_for_one_branch_holds_for_the_next(template):
    """A lone plain Via is remembered without its branch: each branch reads as the general parser
    reads it, the first time and every time after."""
    for b in ("z9hG4bKa1", "z9hG4bKb2", "z9hG4bK\"q\"", "z9hG4bKa1"):
        msg = parse_message(f"SIP/2.0 200 OK\r\nVia: {template.format(b=b)}\r\nCall-ID: a\r\n"
                            f"CSeq: 1 REGISTER\r\nContent-Length: 0\r\n\r\n".encode())
        assert via_seen(msg) == via_seen_address(msg), b


def test_a_start_line_seen_before_parses_as_the_first_time():
    """parse_message remembers start lines: a message whose start line came before is the same
    message, with the same Content-Length reading (a body cut to it, or the same errors)."""
    from conformance.sip import message as m
    from conformance.sip.errors import ParseError

    texts = [b"REGISTER sip:ims.test SIP/2.0\r\nVia: SIP/2.0/UDP h;branch=z9hG4bK1\r\nContent-Length: 2\r\n\r\nabc",
             b"SIP/2.0 200 Very OK\r\nCall-ID: x\r\nl: 1\r\n\r\nxyz",
             b"SIP/2.0 200 Very OK\r\nCall-ID: y\r\n\r\nbody"]
    m._STARTS.clear()
    first = [m.parse_message(t) for t in texts]
    again = [m.parse_message(t) for t in texts]
    assert m._STARTS and first == again
    assert [(x.body, x.headers, type(x)) for x in first] == [(y.body, y.headers, type(y)) for y in again]
    assert again[0].method == "REGISTER" and again[0].uri == "sip:ims.test" and again[1].reason == "Very OK"
    for bad in (b"SIP/2.0 200 Very OK\r\nContent-Length: 9\r\n\r\nabc",
                b"SIP/2.0 200 Very OK\r\nContent-Length: 1\r\nContent-Length: 2\r\n\r\nabc",
                b"SIP/2.0 200 Very OK\r\nContent-Length: x\r\n\r\nabc"):
        with pytest.raises(ParseError):
            m.parse_message(bad)
    two = m.parse_message(b"SIP/2.0 200 Very OK\r\nContent-Length: 1\r\nContent-Length: 1\r\n\r\nabc")
    assert two.body == b"a"
