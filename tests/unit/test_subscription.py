"""The subscriber's side of a reg-event subscription, sans-IO (conformance/ue/subscription.py,
engine/subscriptions.py): the SUBSCRIBE as the wire contract writes it, its dialog, NOTIFY
matching, and the registration view a series of NOTIFYs builds (RFC 3680 §5.2)."""

from __future__ import annotations

from conformance.cases.model import EdgeSpec, FlowSpec
from conformance.engine.subscriptions import Subscriptions
from conformance.sip.headers import parse_name_addr
from conformance.sip.message import Request, Response, parse_message
from conformance.sip.reginfo import Contact, RegInfo, Registration, render_reginfo
from conformance.ue.model import UE, FlowState, edge_uri
from conformance.ue.subscription import Subscription, absorb, build_subscribe, learn_response, matches, repeated

AOR = "sip:alice@ims.test"


def flow(edge: bool = True, transport: str = "udp") -> tuple[UE, FlowState]:
    spec = FlowSpec(name="f1", address=1, reg_id=1, edge=EdgeSpec() if edge else None)
    f = FlowState(spec=spec, local_ip="127.0.0.11", transport=transport, local_port=5070, edge=spec.edge)
    ue = UE(name="a", user="alice", impu=AOR, impi="alice@ims.test", domain="ims.test",
            instance="<urn:uuid:00000000-0000-0000-0000-000000000001>", flows={"f1": f})
    return ue, f


def new_sub() -> Subscription:
    return Subscription(name="reg", flow="f1", ue="a", aor=AOR, call_id="c1@127.0.0.11", local_tag="lt")


def doc(version: int, state: str, contacts: list[Contact], reg_state: str = "active") -> bytes:
    return render_reginfo(RegInfo(version, state, (Registration(AOR, "r1", reg_state, tuple(contacts)),)))


def contact(cid: str, port: int, state: str = "active", event: str = "registered", reg_id: int = 1) -> Contact:
    return Contact(id=cid, state=state, event=event, uri=f"sip:alice@127.0.0.11:{port}",
                   instance="<urn:uuid:00000000-0000-0000-0000-000000000001>", reg_id=reg_id)


def notify(sub: Subscription, cseq: int, body: bytes, *, to_tag: str | None = None,
           state: str = "active;expires=600") -> Request:
    return Request(method="NOTIFY", uri="sip:alice@127.0.0.11:5070;ob", headers=[
        ("Via", "SIP/2.0/UDP 127.0.0.1:5060;branch=z9hG4bKn1"),
        ("From", f"<{AOR}>;tag=nt"), ("To", f"<{AOR}>;tag={to_tag or sub.local_tag}"),
        ("Call-ID", sub.call_id), ("CSeq", f"{cseq} NOTIFY"), ("Event", "reg"),
        ("Subscription-State", state), ("Content-Type", "application/reginfo+xml")], body=body)


def ok_200(request: Request, *, tag: str = "nt", contact: str = "<sip:127.0.0.1:5060;transport=udp>") -> Response:
    headers = [("Via", v) for v in request.get_all("Via")]
    headers += [("From", request.get("From")), ("To", f"{request.get('To')};tag={tag}"),
                ("Call-ID", request.call_id), ("CSeq", request.get("CSeq")), ("Expires", "600"),
                ("Contact", contact)]
    headers += [("Record-Route", rr) for rr in request.get_all("Record-Route")]
    return Response(status=200, reason="OK", headers=headers)


def test_initial_subscribe_follows_the_wire_contract():
    ue, f = flow()
    sub = new_sub()
    req = parse_message(build_subscribe(sub, ue, f, expires=600).to_bytes())
    assert req.method == "SUBSCRIBE" and req.uri == AOR
    assert len(req.get_all("Via")) == 2                        # the emulated edge's Via on top
    assert parse_name_addr(req.get("To")).params.get("tag") is None
    assert parse_name_addr(req.get("From")).params.get("tag") == "lt"
    assert req.get("Event") == "reg" and req.get("Accept") == "application/reginfo+xml"
    assert req.get("Expires") == "600" and "outbound" in req.get("Supported")
    assert parse_name_addr(req.get("Contact")).uri.has_param("ob")
    assert req.get("Record-Route") == f"<{edge_uri(f)};lr;ob>"
    assert req.cseq == (1, "SUBSCRIBE")


def test_without_an_edge_no_second_via_nor_record_route():
    ue, f = flow(edge=False)
    req = build_subscribe(new_sub(), ue, f, expires=600)
    assert len(req.get_all("Via")) == 1 and req.get("Record-Route") is None


def test_refresh_stays_in_the_dialog_and_leaves_out_the_edges_own_route():
    ue, f = flow()
    sub = new_sub()
    first = build_subscribe(sub, ue, f, expires=600)
    learn_response(sub, ok_200(first))
    assert sub.remote_tag == "nt" and sub.remote_target == "sip:127.0.0.1:5060;transport=udp"
    again = build_subscribe(sub, ue, f, expires=0)
    assert again.uri == "sip:127.0.0.1:5060;transport=udp"
    assert parse_name_addr(again.get("To")).params.get("tag") == "nt"
    assert again.cseq == (2, "SUBSCRIBE") and again.call_id == first.call_id
    assert again.get("Expires") == "0"
    assert again.get_all("Route") == []                         # only our own edge was in the route set


def test_a_refused_subscribe_ends_the_subscription():
    ue, f = flow()
    sub = new_sub()
    req = build_subscribe(sub, ue, f, expires=600)
    learn_response(sub, Response(status=489, reason="Bad Event", headers=[("To", f"<{AOR}>;tag=x")]))
    assert sub.ended.startswith("489")


def test_notify_matched_by_call_id_and_to_tag():
    sub = new_sub()
    assert matches(sub, notify(sub, 1, b""))
    assert not matches(sub, notify(sub, 1, b"", to_tag="other"))
    other = Subscription(name="x", flow="f1", ue="a", aor=AOR, call_id="c2", local_tag="lt")
    assert not matches(other, notify(sub, 1, b""))


def test_full_then_partial_builds_the_view():
    sub = new_sub()
    absorb(sub, notify(sub, 1, doc(0, "full", [contact("c1", 5070)])), 1, "f1")
    nv = absorb(sub, notify(sub, 2, doc(1, "partial", [contact("c2", 5071, reg_id=2)])), 2, "f1")
    assert nv.version_note == "" and nv.expected_version == 1
    assert [c.id for c in sub.view.registrations[0].contacts] == ["c1", "c2"]
    absorb(sub, notify(sub, 3, doc(2, "partial", [contact("c2", 5071, "terminated", "unregistered", 2)])), 3, "f1")
    states = {c.id: c.state for c in sub.view.registrations[0].contacts}
    assert states == {"c1": "active", "c2": "terminated"}      # terminated rows stay visible


def test_a_version_gap_is_processed_and_noted_an_old_one_discarded():
    sub = new_sub()
    absorb(sub, notify(sub, 1, doc(0, "full", [contact("c1", 5070)])), 1, "f1")
    gap = absorb(sub, notify(sub, 2, doc(3, "partial", [contact("c2", 5071, reg_id=2)])), 2, "f1")
    assert "gap" in gap.version_note and len(sub.view.registrations[0].contacts) == 2
    old = absorb(sub, notify(sub, 3, doc(1, "partial", [contact("c3", 5072, reg_id=3)])), 3, "f1")
    assert "discarded" in old.version_note and len(sub.view.registrations[0].contacts) == 2
    again = absorb(sub, notify(sub, 4, doc(0, "full", [contact("c1", 5070)])), 4, "f1")
    assert "below 4" in again.version_note                     # a full document stands, noted
    assert [c.id for c in sub.view.registrations[0].contacts] == ["c1"]


def test_a_broken_body_keeps_the_view_and_says_why():
    sub = new_sub()
    absorb(sub, notify(sub, 1, doc(0, "full", [contact("c1", 5070)])), 1, "f1")
    nv = absorb(sub, notify(sub, 2, b"<reginfo xmlns='urn:ietf:params:xml:ns:reginfo' state='full'/>"), 2, "f1")
    assert "version" in nv.error and nv.doc is None
    assert sub.view.version == 0


def test_terminated_subscription_state_ends_it():
    sub = new_sub()
    absorb(sub, notify(sub, 1, doc(0, "full", []), state="terminated;reason=timeout"), 1, "f1")
    assert sub.ended


def test_run_state_collects_notifies_of_any_step_once():
    st = Subscriptions()
    sub = new_sub()
    st.subs["reg"] = sub
    n1 = notify(sub, 1, doc(0, "full", [contact("c1", 5070)]))
    stray = notify(sub, 9, b"", to_tag="nobody")
    deliveries = [("f1", n1, 4), ("f2", stray, 5)]
    st.collect(deliveries)
    st.collect(deliveries + [("f1", n1, 6)])                  # a retransmission of CSeq 1
    assert [n.index for n in sub.notifies] == [4] and st.unmatched == [5]
    assert repeated(sub, n1)
    assert [n.index for n in sub.take_new()] == [4] and sub.take_new() == []


def test_a_notify_of_no_subscription_is_noted_on_its_message():
    from types import SimpleNamespace

    st = Subscriptions()
    st.subs["reg"] = new_sub()
    messages = [SimpleNamespace(note="")]
    st.collect([("f1", notify(new_sub(), 1, b"", to_tag="nobody"), 0)], messages)
    assert "no subscription" in messages[0].note and st.unmatched == [0]
