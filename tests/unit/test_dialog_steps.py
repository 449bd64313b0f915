"""engine/dialogs.py: the dialog state a callee keeps and the 200 it answers (RFC 3261 §12.1)."""

from conformance.engine.dialogs import answer_200, build_request, callee_side, first_hop
from conformance.sip.message import parse_message

RR = ["<sip:TOKEN@127.0.0.1:5060;lr>", "<sip:127.0.0.1:5074;lr>"]


def invite():
    req = build_request("INVITE", "sip:b@127.0.0.12:5", sent_by="127.0.0.1:5060", transport="UDP",
                 from_uri="sip:a@ims.test", from_tag="ft", to_uri="sip:b@ims.test", call_id="c1", cseq=1,
                 routes=[], contact="<sip:a@127.0.0.11:7;ob>")
    for r in RR:
        req.add("Record-Route", r)
    return parse_message(req.to_bytes())


def test_the_callee_copies_record_route_into_its_200_and_keeps_it_in_order():
    req = invite()
    resp = parse_message(answer_200(req, "tt", "<sip:b@127.0.0.12:9;ob>").to_bytes())
    assert resp.status == 200 and resp.values("Record-Route") == RR          # RFC 3261 §12.1.1
    assert "tag=tt" in resp.get("To") and resp.get("Contact") == "<sip:b@127.0.0.12:9;ob>"
    side = callee_side(req, "fb", "tt")
    assert side.route_set == RR                                               # §12.1.1: same order
    assert side.remote_target == "sip:a@127.0.0.11:7;ob" and side.remote_tag == "ft"
    assert (side.local_uri, side.remote_uri, side.call_id) == ("sip:b@ims.test", "sip:a@ims.test", "c1")


def test_an_in_dialog_request_carries_the_route_set_and_tags():
    bye = build_request("BYE", "sip:a@127.0.0.11:7;ob", sent_by="127.0.0.12:5", transport="TCP", from_uri="sip:b@ims.test",
                 from_tag="tt", to_uri="sip:a@ims.test", to_tag="ft", call_id="c1", cseq=1001, routes=RR)
    bye = parse_message(bye.to_bytes())
    assert bye.values("Route") == RR and bye.cseq == (1001, "BYE")
    assert bye.get("To").endswith(";tag=ft") and bye.get("From").endswith(";tag=tt")
    assert first_hop(None, RR, ("x", 1)) == ("127.0.0.1", 5060) and first_hop(None, [], ("x", 1)) == ("x", 1)
