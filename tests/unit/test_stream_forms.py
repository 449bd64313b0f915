"""Flows over tls / ws / wss without a socket: the transport helpers, the REGISTER's wire forms
(RFC 3261 §18, RFC 7118 §5.2), the items a case gets from a target, and why a case is not
applicable over them."""

from __future__ import annotations

import re

import pytest

from conformance.cases.loader import load_case_text
from conformance.cases.model import EdgeSpec, FlowSpec
from conformance.engine.applicability import item_transports, not_applicable_reason
from conformance.sip.headers import parse_contacts, parse_vias
from conformance.sip.message import parse_message
from conformance.sip.transports import is_stacked, is_stream, uri_transport, via_protocol
from conformance.targets.loader import target_from_dict
from conformance.ue.model import UE, FlowState, RegDialog, RegisterOptions, build_register, edge_uri
from conformance.ue.subscription import contact_value


def test_transport_helpers():
    assert [is_stream(t) for t in ("udp", "tcp", "tls", "ws", "wss")] == [False, True, True, True, True]
    assert [is_stacked(t) for t in ("udp", "tcp", "tls", "ws", "wss")] == [False, False, True, True, True]
    assert [uri_transport(t) for t in ("udp", "tcp", "tls", "ws", "wss")] == [None, "tcp", "tls", "ws", "ws"]
    assert via_protocol("wss") == "WSS"


def flow(transport, edge=None):
    f = FlowState(spec=FlowSpec(name="f1", address=1, reg_id=1, edge=edge), local_ip="127.0.0.11",
                  transport=transport, local_port=40001, dialog=RegDialog(call_id="c1"), edge=edge)
    f.dialog.next_cseq()
    return f


UE_A = UE(name="a", user="ue-a", impu="sip:ue-a@ims.test", impi="ue-a@ims.test", domain="ims.test",
          instance="<urn:uuid:0f3a8c1e-0000-4000-8000-000000000001>")


def register(f):
    return parse_message(bytes(build_register(UE_A, f, RegisterOptions(), branch="z9hG4bKx")))


@pytest.mark.parametrize("transport, via, contact", [
    ("udp", "SIP/2.0/UDP 127.0.0.11:40001", "sip:ue-a@127.0.0.11:40001"),
    ("tcp", "SIP/2.0/TCP 127.0.0.11:40001", "sip:ue-a@127.0.0.11:40001;transport=tcp"),
    ("tls", "SIP/2.0/TLS 127.0.0.11:40001", "sip:ue-a@127.0.0.11:40001;transport=tls;ob"),
    ("ws", "SIP/2.0/WS {host}", "sip:ue-a@{host};transport=ws;ob"),
    ("wss", "SIP/2.0/WSS {host}", "sip:ue-a@{host};transport=ws;ob"),
])
def test_via_and_contact_per_transport(transport, via, contact):
    f = flow(transport)
    req = register(f)
    assert re.fullmatch(r"[0-9a-f]{12}\.invalid", f.ws_host)
    assert req.get("Via") == f"{via.format(host=f.ws_host)};branch=z9hG4bKx;rport"
    [c] = parse_contacts(req.values("Contact"))
    assert str(c.uri) == contact.format(host=f.ws_host)
    assert c.params["reg-id"] == "1"


def test_two_websocket_flows_have_their_own_invalid_host():
    assert flow("ws").ws_host != flow("ws").ws_host


def test_the_emulated_edge_over_tls_and_ws():
    f = flow("ws", edge=EdgeSpec())
    req = register(f)
    vias = parse_vias(req)
    assert len(vias) == 2 and all(v.transport == "WS" for v in vias)
    assert edge_uri(f).endswith(";transport=ws") and edge_uri(flow("tls")).endswith(";transport=tls")
    assert edge_uri(flow("tcp")).endswith(";transport=tcp") and ";transport" not in edge_uri(flow("udp"))


def test_the_subscriber_contact_has_one_ob():
    assert contact_value(UE_A, flow("tls")).count(";ob") == 1
    assert contact_value(UE_A, flow("tcp")).endswith(";transport=tcp;ob>")


TARGET = {"name": "t", "transports": ["udp", "tcp", "tls", "wss"], "ports": {"wss": 8443},
          "capabilities": ["outbound", "sec-agree"]}


def case(text):
    return load_case_text("id: X-1\ntitle: t\npurpose: p\nreferences: [RFC 5626]\n" + text)[0]


SIMPLE = """ues:
  a:
    flows:
      f1: {address: 1, reg_id: 1}
steps:
  - register: f1
"""


def test_items_add_the_declared_stream_transports_to_a_tcp_case():
    t = target_from_dict(TARGET)
    assert item_transports(case(SIMPLE), t) == ["udp", "tcp", "tls", "wss"]
    assert item_transports(case("transports: [udp]\n" + SIMPLE), t) == ["udp"]
    assert item_transports(case("transports: [tcp, ws]\n" + SIMPLE), t) == ["tcp", "ws", "tls", "wss"]
    assert item_transports(case(SIMPLE), target_from_dict({"name": "plain"})) == ["udp", "tcp"]
    assert item_transports(case(SIMPLE), None) == ["udp", "tcp"]


def test_a_case_with_a_raw_tcp_step_is_not_applicable_over_tls():
    t = target_from_dict(TARGET)
    c = case(SIMPLE + "  - crlf: {flow: f1, variant: single}\n")
    assert not_applicable_reason(c, "tcp", t) is None
    why = not_applicable_reason(c, "tls", t)
    assert why and "crlf" in why and "tcp flows only" in why and "flow f1 is tls" in why
    assert not_applicable_reason(case(SIMPLE), "wss", t) is None


def test_a_raw_step_on_a_udp_flow_of_a_tls_item_is_fine():
    t = target_from_dict(TARGET)
    c = case("""ues:
  a:
    flows:
      f1: {address: 1, reg_id: 1}
      f2: {address: 2, reg_id: 2, transport: udp}
steps:
  - register: f1
  - stun: f2
""")
    assert not_applicable_reason(c, "tls", t) is None


def test_sec_agree_cases_are_not_applicable_over_stream_layers():
    t = target_from_dict(TARGET)
    c = case("applies_to: [sec-agree]\n" + SIMPLE)
    assert "sec-agree" in (not_applicable_reason(c, "wss", t) or "")
