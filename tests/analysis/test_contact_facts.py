"""The analysis's Contact cache (reading.contact_facts): each Contact value read once per text, the
same facts as the general parser's Contact with reading.facts, kept apart from the parse caches of
conformance.sip.headers."""

import pytest

from analysis_craft import INSTANCE, UE1, UE2, contact, ok, register

from conformance.analysis import reading
from conformance.sip import headers
from conformance.sip.errors import ParseError
from conformance.sip.message import parse_message

VALUES = [
    contact(UE1),
    contact(UE2, transport="tcp", expires=0),
    contact(UE1, reg_id=None, instance=None, expires=None),
    '"Bob" <sip:bob@[2001:db8::1]:5062;transport=TLS;ob>;q=0.5;+sip.instance="<urn:uuid:1>";reg-id=2',
    "sip:carol@example.com;expires=30",
    '<tel:+331234;phone-context=ims.test>;Expires=20;+SIP.Instance="<urn:x>";REG-ID=3',
    "*",
]


@pytest.fixture(autouse=True)
def _fresh():
    reading.clear_memos()
    headers.clear_caches()
    yield
    reading.clear_memos()
    headers.clear_caches()


def _message(values: list[str]):
    return parse_message(register(UE1, contacts=values))


def test_the_facts_of_each_contact_are_the_general_parsers():
    got = reading.contact_facts(_message(VALUES))
    assert len(got) == len(VALUES)
    for f, value in zip(got, VALUES):
        parsed = headers.parse_name_addr(value)
        assert f[0] == parsed and str(f[0]) == str(parsed)
        assert f[1:] == reading.facts(parsed)[1:]
    assert [f[1:4] for f in got[:2]] == [(INSTANCE, "1", 600), (INSTANCE, "1", 0)]
    assert got[1][4] == "sip:ue@10.0.0.2:40002;tcp" and got[1][6] == ("outbound", got[1][1], "1")
    assert got[2][6] == ("uri", "sip:ue@10.0.0.1:40001;udp") and got[6][4:6] == ("", None)
    assert reading.contacts_of(_message(VALUES)) == [f[0] for f in got]


def test_a_contact_text_is_parsed_once_and_not_in_the_parse_caches():
    first = reading.contact_facts(_message(VALUES[:2]))
    again = reading.contact_facts(parse_message(ok(register(UE2), VALUES[1::-1])))
    assert again[0] is first[1] and again[1] is first[0]  # the same facts, by text
    assert reading.facts(first[0][0]) is not first[0] and reading.facts(first[0][0]) == first[0]
    assert headers.parse_name_addr(VALUES[0]) is not first[0][0]  # the analysis left no entry there
    reading.clear_memos()
    fresh = reading.contact_facts(_message(VALUES[:1]))
    assert fresh[0] is not first[0] and fresh[0] == first[0]


def test_a_bad_contact_raises_each_time_and_is_not_kept():
    msg = _message([contact(UE1), "<sip:ue@10.0.0.1"])
    for _ in range(2):
        with pytest.raises(ParseError):
            reading.contact_facts(msg)
    assert reading.contact_facts(_message([contact(UE1)]))[0][0] == headers.parse_name_addr(contact(UE1))


def test_the_cache_is_bounded(monkeypatch):
    monkeypatch.setattr(reading, "CONTACTS_MAX", 2)
    kept = [reading.contact_facts(_message([contact((f"10.0.0.{i}", 5060))]))[0] for i in range(1, 4)]
    assert reading.contact_facts(_message([contact(("10.0.0.3", 5060))]))[0] is kept[2]
    assert reading.contact_facts(_message([contact(("10.0.0.1", 5060))]))[0] is not kept[0]  # cleared when full
