"""What the analysis keeps in memory per AOR: no history for bindings the report cannot list, report
logs packed as JSON texts that read back as the same dicts, report lists made as they are written, and
the parse caches a split analysis clears when its share is done."""

import json
import pickle

import pytest

from analysis_craft import AOR, REGISTRAR, UE1, UE2, contact, ok, register

from conformance.analysis import reading, timeline
from conformance.analysis.reassembly import WireEvent
from conformance.analysis.result import Entries, PackedLog, plain
from conformance.analysis.timeline import Timeline
from conformance.report.capture_analysis import write_json
from conformance.sip import headers
from conformance.sip.message import parse_message


def _feed(t: Timeline, n: int, src, dst, data: bytes) -> None:
    t.feed(WireEvent(n, 1000.0 + n, "udp", src, dst, "sip", data, parse_message(data), first=n))


def _register_twice(t: Timeline) -> None:
    n = 0
    for cseq in (1, 2):
        for ue, aor, call_id in ((UE1, "sip:a@ims.test", "a"), (UE2, "sip:b@ims.test", "b")):
            req = register(ue, call_id=call_id, cseq=cseq, branch=f"z9hG4bK{call_id}{cseq}")
            req = req.replace(AOR.encode(), aor.encode())
            resp = ok(req, [contact(ue)])
            _feed(t, n + 1, ue, REGISTRAR, req)
            _feed(t, n + 2, REGISTRAR, ue, resp)
            n += 2


def _histories(t: Timeline) -> dict:
    return {aor: [[w for _, _, w in b.history] for b in st.bindings.values()] for aor, st in t.aors.items()}


def test_an_aor_first_seen_past_the_listed_bindings_keeps_no_history(monkeypatch):
    t = Timeline()
    _register_twice(t)
    both = {"sip:a@ims.test": [["created", "refreshed"]], "sip:b@ims.test": [["created", "refreshed"]]}
    assert _histories(t) == both
    monkeypatch.setattr(timeline, "SHOWN_BINDINGS", 1)
    t = Timeline()
    _register_twice(t)
    assert _histories(t) == {"sip:a@ims.test": [["created", "refreshed"]], "sip:b@ims.test": [[]]}
    (b,) = t.aors["sip:b@ims.test"].bindings.values()
    assert (b.created, b.updated, b.state) == (4, 8, "active")  # the binding itself is still followed


def test_a_packed_log_reads_back_the_same_entries(tmp_path):
    entries = [{"packets": [4, 5], "time": 1700000000.000499, "aor": "sip:é@ims.test", "status": None,
                "flow": ["udp", ["10.0.0.1", 5060], ["10.0.0.100", 5060]]}, {"kind": "STUN Binding", "delay_ms": 0.25}]
    log = PackedLog()
    for e in entries:
        log.append(e)
    assert list(log) == entries and log == entries and log[1] == entries[1] and log[:1] == entries[:1]
    assert len(log) == 2 and all(isinstance(t, str) for t in log.texts())  # held as texts
    again = pickle.loads(pickle.dumps(log))
    assert type(again) is PackedLog and again == entries and again == log
    write_json(tmp_path / "a.json", {"log": log, "empty": PackedLog(), "n": 1})
    assert json.loads((tmp_path / "a.json").read_text()) == {"log": entries, "empty": [], "n": 1}
    assert json.loads(json.dumps({"log": log}, default=plain)) == {"log": entries}
    with pytest.raises(TypeError):  # never written as its texts by mistake
        json.dumps(log)


def test_report_entries_are_made_as_read_and_written_as_a_list(tmp_path):
    made = []

    def make(n):
        made.append(n)
        return {"n": n, "history": [{"packet": n}]}

    entries = Entries([1, 2, 3], make)
    assert made == [] and len(entries) == 3  # nothing made until read
    want = [make(n) for n in (1, 2, 3)]
    assert entries == want and want == entries and entries[1] == want[1] and entries[1:] == want[1:]
    assert list(entries) == want and entries != want[:2]
    write_json(tmp_path / "e.json", {"bindings": entries, "none": Entries([], make)})
    assert json.loads((tmp_path / "e.json").read_text()) == {"bindings": want, "none": []}
    assert json.loads(json.dumps({"b": entries}, default=plain)) == {"b": want}


def test_cleared_parse_caches_and_memos_read_the_same():
    text = '<sip:ue1@10.0.0.1:5060;transport=tcp;ob>;+sip.instance="<urn:uuid:1>";reg-id=1;expires=600'
    first = headers.parse_name_addr(text)
    before = (str(first), reading.facts(first)[1:], reading.aor_of_to("<sip:A@IMS.test>;tag=1"))
    headers.clear_caches()
    reading.clear_memos()
    again = headers.parse_name_addr(text)
    assert again is not first  # parsed anew
    assert (str(again), reading.facts(again)[1:], reading.aor_of_to("<sip:A@IMS.test>;tag=1")) == before


def test_bindings_share_an_empty_path_and_the_registrar_side_of_their_flows():
    t = Timeline()
    for n, (ue, aor) in enumerate(((UE1, "sip:a@ims.test"), (UE2, "sip:b@ims.test"))):
        req = register(ue, call_id=aor).replace(AOR.encode(), aor.encode())
        registrar = (REGISTRAR[0], int(str(REGISTRAR[1])))  # as a reader makes it: a tuple for each datagram
        _feed(t, 2 * n + 1, ue, registrar, req)
        _feed(t, 2 * n + 2, registrar, ue, ok(req, [contact(ue)]))
    a, b = (next(iter(st.bindings.values())) for st in t.aors.values())
    assert a.path is b.path is timeline.NO_PATH and a.to_dict()["path"] == []
    assert a.flow[2] == b.flow[2] == REGISTRAR and a.flow[2] is b.flow[2]  # one tuple, not one per datagram
    assert a.to_dict()["flow"] == ["udp", list(UE1), list(REGISTRAR)] and a.flow[1] == UE1
    t = Timeline()
    req = register(UE1, path="<sip:edge.test;lr>")
    _feed(t, 1, UE1, REGISTRAR, req)
    _feed(t, 2, REGISTRAR, UE1, ok(req, [contact(UE1)]))
    (b,) = t.aors[AOR].bindings.values()
    assert b.path == ["<sip:edge.test;lr>"] and b.to_dict()["path"] == ["<sip:edge.test;lr>"]
