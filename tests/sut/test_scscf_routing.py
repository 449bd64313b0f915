"""Terminating routing of the S-CSCF (RFC 5626 section 7, RFC 3261 section 16, RFC 3327 section
5.4), sans-IO: bytes in, actions out, the clock moved by hand."""

from __future__ import annotations

import pytest

from conformance.sip.headers import parse_name_addr
from conformance.sut.actions import SendOnFlow, SendToHop
from conformance.sut.config import SutConfig
from conformance.sut.registrar.scscf import ScscfNode
from conformance.sut.registrar.registrar import Registrar
from routing_helpers import CORE, PEER_FLOW, answer, peer_request, requests, responses
from sut_helpers import EDGE_FLOW, INSTANCE2, UE_FLOW, contact, register


class Core:
    def __init__(self, **config):
        cfg = SutConfig(**config)
        self.node = ScscfNode(cfg, Registrar(cfg, tag_secret="t"), CORE)
        self.now = 1000.0

    def send(self, message, flow=EDGE_FLOW):
        return self.node.receive(bytes(message), flow, self.now)

    def register(self, *args, flow=EDGE_FLOW, **kw):
        [(_, r)] = responses(self.send(register(*args, **kw), flow))
        assert r.status == 200, r
        return r

    def timer(self, seconds):
        self.now += seconds
        return self.node.on_timer(self.now)


def reg2(core):
    core.register()                                                        # Reg1a: t1, reg-id 1
    core.register([contact("10.0.0.2", reg_id=2)], call_id="C2", token="t2")   # Reg2


def routes(msg):
    return msg.values("Route")


def test_one_branch_per_instance_the_newest_binding_first():
    core = Core()
    reg2(core)
    actions = core.send(peer_request(), PEER_FLOW)
    [(action, fwd)] = requests(actions)
    assert isinstance(action, SendToHop) and action.address == ("ep-t.test", 5060)
    assert fwd.uri == "sip:ue-a@10.0.0.2;transport=tcp"                  # RFC 3261 16.6 step 2
    assert routes(fwd) == ["<sip:t2@ep-t.test;lr;ob>"]                    # RFC 3327 section 5.4
    assert fwd.get("Max-Forwards") == "69" and len(fwd.values("Via")) == 2
    assert not fwd.values("Record-Route")                                 # only for INVITE
    assert responses(actions) == []


@pytest.mark.parametrize("status", [430, 408])
def test_430_and_408_move_to_the_other_reg_id(status):
    core = Core()
    reg2(core)
    [(_, first)] = requests(core.send(peer_request(), PEER_FLOW))
    actions = core.send(answer(first, status))
    [(_, second)] = requests(actions)
    assert routes(second) == ["<sip:t1@ep-t.test;lr;ob>"] and second.uri.startswith("sip:ue-a@10.0.0.1")
    assert responses(actions) == []                                       # nothing upstream yet
    [(up, ok)] = responses(core.send(answer(second, 200, "OK")))
    assert ok.status == 200 and up.flow == PEER_FLOW and len(ok.values("Via")) == 1


def test_timeout_moves_on_and_all_failed_gives_the_best_response():
    core = Core(branch_timeout=2.0)
    reg2(core)
    core.send(peer_request(), PEER_FLOW)
    assert requests(core.timer(1.0)) == []                                # TCP: no retransmission
    [(_, second)] = requests(core.timer(1.5))                             # Timer F fired
    assert routes(second) == ["<sip:t1@ep-t.test;lr;ob>"]
    [(_, final)] = responses(core.send(answer(second, 430)))
    assert final.status == 408                  # RFC 3261 16.7 step 6: lowest class, first received


def test_a_lone_430_reaches_the_peer_as_480():
    core = Core()
    core.register()
    [(_, fwd)] = requests(core.send(peer_request(), PEER_FLOW))
    [(_, final)] = responses(core.send(answer(fwd, 430)))
    assert final.status == 480                  # RFC 5626 section 11.5: not for endpoints


@pytest.mark.parametrize("status", [486, 403, 404, 500, 603, 200])
def test_other_final_responses_end_the_instance(status):
    core = Core()
    reg2(core)
    [(_, first)] = requests(core.send(peer_request(), PEER_FLOW))
    actions = core.send(answer(first, status))
    assert requests(actions) == []                                        # section 7 MUST NOT
    [(_, final)] = responses(actions)
    assert final.status == status


def test_send_failure_counts_as_a_failed_flow():
    core = Core()
    reg2(core)
    [(action, _)] = requests(core.send(peer_request(), PEER_FLOW))
    [(_, second)] = requests(core.node.send_failed(action.ref, core.now))
    assert routes(second) == ["<sip:t1@ep-t.test;lr;ob>"]


def test_instances_and_plain_contacts_fork_in_parallel():
    core = Core()
    reg2(core)
    core.register([contact("10.0.0.5", instance=INSTANCE2)], call_id="C5", token="t5")
    core.register([contact("10.0.0.6", reg_id=None, instance=None)], call_id="C6", token="t6",
                  path=["<sip:t6@ep-t.test;lr>"])
    uris = sorted(m.uri for _, m in requests(core.send(peer_request(), PEER_FLOW)))
    assert uris == ["sip:ue-a@10.0.0.2;transport=tcp", "sip:ue-a@10.0.0.5;transport=tcp",
                    "sip:ue-a@10.0.0.6;transport=tcp"]


def test_no_binding_480_other_domain_404_and_max_forwards():
    core = Core()
    [(_, r)] = responses(core.send(peer_request(), PEER_FLOW))
    assert r.status == 480
    core.register()
    req = peer_request()
    req.set("Max-Forwards", "0")
    [(_, r)] = responses(core.send(req, PEER_FLOW))
    assert r.status == 483


def test_other_domain_without_our_route_is_404():
    [(_, r)] = responses(Core().send(peer_request(uri="sip:bob@elsewhere.test"), PEER_FLOW))
    assert r.status == 404


def test_direct_flow_is_reused():
    core = Core()
    core.register(first_hop=True, flow=UE_FLOW)
    [(action, fwd)] = requests(core.send(peer_request(), PEER_FLOW))
    assert isinstance(action, SendOnFlow) and action.flow == UE_FLOW      # RFC 5626 section 7
    assert routes(fwd) == [] and parse_name_addr(f"<{fwd.uri}>").uri.host == "10.0.0.1"
    core.node.flow_closed(UE_FLOW)                                        # the connection closed
    [(_, r)] = responses(core.send(peer_request(), PEER_FLOW))
    assert r.status == 480


def test_retransmission_is_absorbed_and_answered_from_the_context():
    core = Core()
    reg2(core)
    request = peer_request(branch="z9hG4bK-rt")
    [(_, fwd)] = requests(core.send(request, PEER_FLOW))
    assert core.send(request, PEER_FLOW) == []                            # nothing sent yet
    core.send(answer(fwd, 200, "OK"))
    [(_, again)] = responses(core.send(request, PEER_FLOW))
    assert again.status == 200


def test_udp_branch_is_retransmitted():
    core = Core()
    core.register(path=["<sip:t1@127.0.0.2:5060;transport=udp;lr;ob>"])
    core.send(peer_request(), PEER_FLOW)
    [(action, _)] = requests(core.timer(0.6))                             # Timer E
    assert action.transport == "udp" and action.address == ("127.0.0.2", 5060)


def test_invite_100_record_route_ack_and_cancel():
    core = Core()
    reg2(core)
    invite = peer_request("INVITE", branch="z9hG4bK-inv")
    actions = core.send(invite, PEER_FLOW)
    [(_, trying)] = responses(actions)
    assert trying.status == 100                                           # RFC 3261 16.2
    [(_, fwd)] = requests(actions)
    assert fwd.values("Record-Route") == ["<sip:127.0.0.1:5070;transport=tcp;lr>"]
    ringing = responses(core.send(answer(fwd, 180, "Ringing")))
    assert [r.status for _, r in ringing] == [180]
    cancel = peer_request("CANCEL", branch="z9hG4bK-inv", call_id=invite.call_id)
    actions = core.send(cancel, PEER_FLOW)
    assert [r.status for _, r in responses(actions)] == [200]
    assert [m.method for _, m in requests(actions)] == ["CANCEL"]
    actions = core.send(answer(fwd, 487, "Request Terminated"))
    assert [m.method for _, m in requests(actions)] == ["ACK"]           # RFC 3261 17.1.1.3
    assert [r.status for _, r in responses(actions)] == [487]
    assert core.send(peer_request("ACK", branch="z9hG4bK-inv", call_id=invite.call_id),
                     PEER_FLOW) == []                                     # absorbed


def test_cancel_without_transaction_is_481():
    [(_, r)] = responses(Core().send(peer_request("CANCEL"), PEER_FLOW))
    assert r.status == 481


def test_route_to_replaced_flow_fault():
    def reg1b(core):
        core.register()
        core.register([contact("10.0.0.3", reg_id=1)], call_id="C3", token="t3")   # Reg1b
        [(_, fwd)] = requests(core.send(peer_request(), PEER_FLOW))
        return routes(fwd), fwd.uri
    assert reg1b(Core()) == (["<sip:t3@ep-t.test;lr;ob>"], "sip:ue-a@10.0.0.3;transport=tcp")
    assert reg1b(Core(faults={"route-to-replaced-flow"}))[0] == ["<sip:t1@ep-t.test;lr;ob>"]


def test_options_to_the_domain_is_still_answered_by_the_registrar():
    [(_, r)] = responses(Core().send(peer_request("OPTIONS", uri="sip:ims.test"), PEER_FLOW))
    assert r.status == 200 and "REGISTER" in r.get("Allow")


def test_mid_dialog_request_routed_through_us_goes_to_the_next_route():
    core = Core()
    bye = peer_request("BYE", uri="sip:peer@127.0.0.7:5099",
                       routes=["<sip:127.0.0.1:5070;lr>", "<sip:tok@127.0.0.3:5062;transport=tcp;lr>"])
    [(action, fwd)] = requests(core.send(bye, PEER_FLOW))
    assert action.address == ("127.0.0.3", 5062) and action.transport == "tcp"
    assert routes(fwd) == ["<sip:tok@127.0.0.3:5062;transport=tcp;lr>"]


def test_fault_route_by_contact_ignores_the_flow_and_the_path():
    """FAULT route-by-contact: the request goes to the Contact's address, neither over the
    direct flow (RFC 5626 section 7) nor to the stored Path (RFC 3327 section 5.4)."""
    core = Core(faults={"route-by-contact"})
    core.register(first_hop=True, flow=UE_FLOW)
    [(action, fwd)] = requests(core.send(peer_request(), PEER_FLOW))
    assert isinstance(action, SendToHop) and action.address == ("10.0.0.1", 5060)
    assert fwd.uri.startswith("sip:ue-a@10.0.0.1")
    core = Core(faults={"route-by-contact"})
    core.register()                                                        # with Path t1
    [(action, fwd)] = requests(core.send(peer_request(), PEER_FLOW))
    assert isinstance(action, SendToHop) and action.address == ("10.0.0.1", 5060) and not routes(fwd)


@pytest.mark.parametrize("status", [486, 603])
def test_fault_retry_after_any_final_tries_the_other_reg_id(status):
    """RFC 5626 section 7: after a final response other than 408/430 no other target of the
    instance; the fault retry-after-any-final breaks exactly that."""
    core = Core()
    reg2(core)
    [(_, first)] = requests(core.send(peer_request(), PEER_FLOW))
    actions = core.send(answer(first, status))
    assert requests(actions) == [] and [r.status for _, r in responses(actions)] == [status]
    core = Core(faults={"retry-after-any-final"})
    reg2(core)
    [(_, first)] = requests(core.send(peer_request(), PEER_FLOW))
    [(_, second)] = requests(core.send(answer(first, status)))
    assert routes(second) == ["<sip:t1@ep-t.test;lr;ob>"]
