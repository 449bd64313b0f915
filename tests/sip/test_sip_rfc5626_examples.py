"""RFC 5626 §9 example messages (data/rfc5626/) through the message parser and header grammar."""

from __future__ import annotations

import re

import pytest

from conformance.sip.errors import ParseError
from conformance.sip.headers import (
    parse_contacts, parse_cseq, parse_name_addr, parse_name_addrs, parse_option_tags, parse_vias,
)
from conformance.sip.layer import SIP, SIPRequest, SIPResponse
from conformance.sip.message import Request, Response, parse_message

from sip_corpus import RFC5626, rfc5626_wire

INSTANCE = "<urn:uuid:00000000-0000-1000-8000-AABBCCDDEEFF>"
MESSAGES = sorted(p.name for p in RFC5626.glob("msg*.txt"))


def load(name: str):
    return parse_message(rfc5626_wire(name))


def test_all_seventeen_messages_are_present():
    assert len(MESSAGES) == 17


@pytest.mark.parametrize("name", MESSAGES)
def test_every_example_parses_and_round_trips_through_the_layer(name):
    wire = rfc5626_wire(name)
    msg = parse_message(wire)
    assert bytes(msg) == wire
    pkt = SIP(wire)
    assert bytes(pkt) == wire
    assert isinstance(pkt.payload, SIPRequest if isinstance(msg, Request) else SIPResponse)
    number, method = parse_cseq(msg.get("CSeq"))
    assert number >= 1 and method
    for header in ("Route", "Record-Route", "Path", "Contact"):
        parse_name_addrs(msg, header)
    parse_vias(msg)


def test_msg01_contact_before_registration_has_ob_and_instance():
    msg = load("msg01.txt")
    (contact,) = parse_contacts(msg)
    assert contact.uri.user is None and contact.uri.host == "192.0.2.2"
    assert contact.uri.has_param("ob") and contact.uri.param("transport") == "tcp"
    assert contact.instance == INSTANCE and contact.reg_id is None
    # The RFC writes "From: <anonymous@example.com>": no URI scheme, so the grammar refuses it.
    with pytest.raises(ParseError):
        parse_name_addr(msg.get("From"))


def test_msg09_register_through_ep1():
    msg = load("msg09.txt")
    assert isinstance(msg, Request) and msg.method == "REGISTER"
    assert parse_option_tags(msg, "Supported") == ["path", "outbound"]
    (route,) = parse_name_addrs(msg, "Route")
    assert route.uri.host == "ep1.example.com" and route.uri.has_param("lr")
    (contact,) = parse_contacts(msg)
    assert contact.reg_id == "1" and contact.instance == INSTANCE
    assert not contact.uri.has_param("ob")  # ob goes on dialog-forming Contacts, not REGISTER's


def test_msg11_registrar_reply_requires_outbound_and_echoes_path():
    msg = load("msg11.txt")
    assert isinstance(msg, Response) and msg.status == 200
    assert parse_option_tags(msg, "Require") == ["outbound"]
    (contact,) = parse_contacts(msg)
    assert (contact.reg_id, contact.expires, contact.instance) == ("1", 3600, INSTANCE)
    (path,) = parse_name_addrs(msg, "Path")
    assert path.uri.user == "VskztcQ/S8p4WPbOnHbuyh5iJvJIW3ib" and len(path.uri.user) == 32
    assert path.uri.has_param("lr") and path.uri.has_param("ob")
    assert [v.branch for v in parse_vias(msg)] == ["z9hG4bKnuiqisi", "z9hG4bKnashds7"]


def test_msg13_second_flow_uses_reg_id_2_and_new_call_id():
    first, second = load("msg09.txt"), load("msg13.txt")
    assert second.call_id == "E05133BD26DD" != first.call_id
    assert parse_contacts(second)[0].reg_id == "2"
    assert parse_name_addrs(second, "Route")[0].uri.host == "ep2.example.com"


def test_msg16_lists_both_bindings_and_only_the_current_path():
    msg = load("msg16.txt")
    contacts = parse_contacts(msg)
    assert [(c.reg_id, c.expires) for c in contacts] == [("1", 3600), ("2", 3600)]
    assert {c.instance for c in contacts} == {INSTANCE}
    assert str(contacts[0].uri) == str(contacts[1].uri) == "sip:bob@192.0.2.2;transport=tcp"
    (path,) = parse_name_addrs(msg, "Path")
    assert path.uri.user == "wazHDLdIMtUg6r0I/oRZ15zx3zHE1w1Z" and path.uri.has_param("ob")


def test_msg22_to_25_terminating_routes_and_record_route():
    assert parse_name_addrs(load("msg22.txt"), "Route")[0].uri.host == "ep1.example.com"
    assert parse_name_addrs(load("msg22.txt"), "Route")[0].uri.has_param("ob")
    failed = load("msg23.txt")
    assert (failed.status, failed.reason) == (430, "Flow Failed")
    (rr,) = parse_name_addrs(load("msg25.txt"), "Record-Route")
    assert rr.uri.user == "wazHDLdIMtUg6r0I/oRZ15zx3zHE1w1Z" and not rr.uri.has_param("ob")


def test_msg38_reregistration_keeps_call_id_and_reg_id():
    first, again = load("msg09.txt"), load("msg38.txt")
    assert again.call_id == first.call_id == "16CB75F21C70"
    assert again.cseq == (2, "REGISTER")
    assert parse_contacts(again)[0].reg_id == "1"


def test_msg42_and_50_outgoing_contact_has_ob():
    for name in ("msg42.txt", "msg50.txt"):
        (contact,) = parse_contacts(load(name))
        assert contact.uri.has_param("ob") and contact.uri.user == "bob"
    assert parse_name_addrs(load("msg50.txt"), "Route")[0].uri.user == "3yJEbr1GYZK9cPYk5Snocez6DzO7w+AX"


def test_msg05_content_type_parameters_fold_over_lines():
    msg = load("msg05.txt")
    assert 'URL="http://example.com/uPhone.cfg"' in msg.get("Content-Type")
    assert parse_contacts(msg) == []


def test_standalone_header_vectors():
    rows = [line.split(" ", 1) for line in (RFC5626 / "header_vectors.txt").read_text().splitlines()
            if line and not line.startswith("#")]
    assert len(rows) == 5
    for number, line in rows:
        name, value = line.split(":", 1)
        (na,) = parse_name_addrs([value], name)
        assert len(na.uri.user) == 32 and na.uri.has_param("lr")
        assert na.uri.has_param("ob") == (name == "Path"), number


def test_section_3_2_register_has_an_empty_parameter():
    # The §3.2 example ends the Contact with "reg-id=1;" and continues with ";+sip.instance":
    # an empty generic-param, which RFC 3261 §25.1 does not allow.  The message parses; the
    # Contact value does not.
    msg = parse_message(rfc5626_wire("sec3_2_register.txt"))
    assert re.search(r";\s*;", msg.get("Contact"))
    with pytest.raises(ParseError):
        parse_contacts(msg)
