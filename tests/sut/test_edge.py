"""The edge proxy (RFC 5626 section 5, RFC 3327), sans-IO."""

from __future__ import annotations

import pytest

from conformance.sip.headers import parse_name_addr
from conformance.sut.actions import SendOnFlow, SendToHop
from conformance.sut.config import SutConfig
from conformance.sut.edge.proxy import EdgeProxy
from conformance.sut.flow import FlowInfo
from conformance.sut.edge.flowtoken import FlowTokenCodec
from routing_helpers import answer, peer_request, requests, responses
from sut_helpers import contact, register

EDGE = ("127.0.0.1", 5060)
NEXT = ("127.0.0.1", 5070, "tcp")
UE1 = FlowInfo("tcp", EDGE, ("127.0.0.9", 50000), 2)
UE2 = FlowInfo("tcp", EDGE, ("127.0.0.10", 50001), 3)
UE_UDP = FlowInfo("udp", EDGE, ("127.0.0.11", 50002))
CORE_SIDE = FlowInfo("tcp", EDGE, ("127.0.0.1", 44444), 9)
KEY = b"k" * 20


class Edge:
    def __init__(self, **config):
        cfg = SutConfig(topology="edge", edge_next_hop=NEXT, **config)
        self.proxy = EdgeProxy(cfg, EDGE, codec=FlowTokenCodec(KEY), tag_secret="t")
        self.now = 1000.0

    def send(self, message, flow):
        self.proxy.flow_opened(flow)
        return self.proxy.receive(bytes(message), flow, self.now)

    def register(self, flow=UE1, ok=True, **kw):
        """REGISTER from the UE through the edge; the registrar answers 200 (Require: outbound,
        Path echoed).  Returns (forwarded REGISTER, response at the UE)."""
        kw.setdefault("first_hop", True)
        [(hop, fwd)] = requests(self.send(register(**kw), flow))
        assert isinstance(hop, SendToHop) and (hop.transport, *hop.address) == ("tcp", *NEXT[:2])
        reply = answer(fwd, 200, "OK")
        reply.headers += [("Require", "outbound")] + [("Path", p) for p in fwd.values("Path")]
        [(back, r)] = responses(self.send(reply, CORE_SIDE))
        assert back.flow == flow
        return fwd, r


def top_path(fwd):
    return parse_name_addr(fwd.values("Path")[0]).uri


def test_first_hop_register_gets_path_with_token_lr_ob():
    fwd, r = Edge().register()
    uri = top_path(fwd)
    assert (uri.host, uri.port) == EDGE and uri.has_param("lr") and uri.has_param("ob")
    assert FlowTokenCodec(KEY).decode(uri.user) == UE1                  # section 5.2
    assert len(fwd.values("Via")) == 2 and "path" in fwd.values("Require")
    assert fwd.get("Max-Forwards") == "69"
    assert r.values("Path") == fwd.values("Path") and len(r.values("Via")) == 1  # untouched


def test_tokens_differ_per_flow():
    edge = Edge()
    one, _ = edge.register(UE1)
    two, _ = edge.register(UE2, contacts=[contact("10.0.0.2", reg_id=2)], call_id="C2")
    three, _ = edge.register(UE_UDP, contacts=[contact("10.0.0.3", reg_id=3)], call_id="C3")
    assert len({top_path(f).user for f in (one, two, three)}) == 3


def test_not_first_hop_or_no_reg_id_means_no_ob():
    edge = Edge()
    fwd, _ = edge.register(first_hop=False, path=[])                      # two Vias
    assert not top_path(fwd).has_param("ob") and top_path(fwd).user      # section 5.1 MUST NOT
    fwd, _ = edge.register(contacts=[contact(reg_id=None)], call_id="C9")
    assert not top_path(fwd).has_param("ob")


def test_flow_timer_added_by_the_last_proxy_only_when_configured():
    assert not Edge().register()[1].has("Flow-Timer")
    assert Edge(flow_timer=25).register()[1].get("Flow-Timer") == "25"   # section 5.4 MAY


def terminating(edge, route, method="MESSAGE"):
    return edge.send(peer_request(method, uri="sip:ue-a@10.0.0.1;transport=tcp", routes=[route],
                                  via="SIP/2.0/TCP 127.0.0.1:5070"), CORE_SIDE)


def test_incoming_request_goes_over_the_flow_and_the_response_comes_back():
    edge = Edge()
    fwd, _ = edge.register()
    route = fwd.values("Path")[0]
    [(action, req)] = requests(terminating(edge, route))
    assert isinstance(action, SendOnFlow) and action.flow == UE1          # section 5.3.1
    assert req.values("Route") == [] and len(req.values("Via")) == 2
    [(back, resp)] = responses(edge.send(answer(req, 200, "OK"), UE1))
    assert back.flow == CORE_SIDE and resp.status == 200 and len(resp.values("Via")) == 1


def test_incoming_invite_is_record_routed_with_the_token():
    edge = Edge()
    fwd, _ = edge.register()
    route = fwd.values("Path")[0]
    [(_, req)] = requests(terminating(edge, route, "INVITE"))
    [rr] = req.values("Record-Route")
    assert parse_name_addr(rr).uri.user == top_path(fwd).user and ";ob" not in rr


def tampered(token: str, index: int) -> str:
    chars = list(token)
    chars[index] = "A" if chars[index] != "A" else "B"
    return "".join(chars)


@pytest.mark.parametrize("mangle", [lambda t: tampered(t, 0), lambda t: tampered(t, -3),
                                    lambda t: "not*base64", lambda t: t[:10],
                                    lambda t: FlowTokenCodec(b"other").encode(UE1)])
def test_bad_token_gets_403_and_is_never_delivered(mangle):
    edge = Edge()
    fwd, _ = edge.register()
    uri = top_path(fwd)
    actions = terminating(edge, f"<sip:{mangle(uri.user)}@127.0.0.1:5060;transport=tcp;lr;ob>")
    assert requests(actions) == []
    [(back, r)] = responses(actions)
    assert r.status == 403 and back.flow == CORE_SIDE


def test_accept_forged_token_fault_delivers():
    edge = Edge(faults={"accept-forged-token"})
    fwd, _ = edge.register()
    token = tampered(top_path(fwd).user, 0)                               # HMAC broken, flow kept
    [(action, _)] = requests(terminating(edge, f"<sip:{token}@127.0.0.1:5060;lr;ob>"))
    assert action.flow == UE1


def test_keep_own_route_fault_leaves_the_route_value():
    # without the fault the edge removes its own Route value (RFC 3261 section 16.4)
    for faults, kept in ((set(), []), ({"keep-own-route"}, True)):
        edge = Edge(faults=faults)
        fwd, _ = edge.register()
        route = fwd.values("Path")[0]
        [(action, req)] = requests(terminating(edge, route))
        assert action.flow == UE1
        assert req.values("Route") == ([route] if kept else [])


def test_closed_or_unknown_flow_gets_430():
    edge = Edge()
    fwd, _ = edge.register()
    edge.proxy.flow_closed(UE1)
    [(_, r)] = responses(terminating(edge, fwd.values("Path")[0]))
    assert r.status == 430                                                # section 5.3.1
    unknown = FlowTokenCodec(KEY).encode(FlowInfo("udp", EDGE, ("127.0.0.99", 9)))
    [(_, r)] = responses(terminating(edge, f"<sip:{unknown}@127.0.0.1:5060;lr>"))
    assert r.status == 430


def test_send_failure_on_the_flow_becomes_430():
    edge = Edge()
    fwd, _ = edge.register()
    [(action, _)] = requests(terminating(edge, fwd.values("Path")[0]))
    [(_, r)] = responses(edge.proxy.send_failed(action.ref, edge.now))
    assert r.status == 430


def test_outgoing_request_with_own_token_goes_to_the_core():
    edge = Edge()
    fwd, _ = edge.register()
    bye = peer_request("BYE", uri="sip:peer@127.0.0.7:5099", routes=[fwd.values("Path")[0]],
                       via="SIP/2.0/TCP 10.0.0.1:5060")
    [(action, out)] = requests(edge.send(bye, UE1))                       # section 5.3: outgoing
    assert isinstance(action, SendToHop) and action.address == NEXT[:2]
    assert out.values("Route") == []


def test_outgoing_invite_without_route_goes_to_the_next_hop_record_routed():
    edge = Edge()
    edge.register()
    invite = peer_request("INVITE", uri="sip:bob@ims.test", via="SIP/2.0/TCP 10.0.0.1:5060")
    [(action, out)] = requests(edge.send(invite, UE1))
    assert action.address == NEXT[:2]
    [rr] = out.values("Record-Route")
    assert FlowTokenCodec(KEY).decode(parse_name_addr(rr).uri.user) == UE1   # section 5.3.2


def test_path_without_ob_fault():
    fwd, _ = Edge(faults={"path-without-ob"}).register()
    assert not top_path(fwd).has_param("ob")


def test_rel7_edge_one_flow_per_ue():
    edge = Edge(edge_mode="rel7")
    fwd1, _ = edge.register(UE1)
    uri = top_path(fwd1)
    assert uri.user == "pcscf" and not uri.has_param("ob") and uri.has_param("lr")
    edge.register(UE2, contacts=[contact("10.0.0.2", reg_id=2)], call_id="C2")
    # a terminating request for the first contact goes to the newest flow (problem P2)
    [(action, _)] = requests(terminating(edge, fwd1.values("Path")[0]))
    assert action.flow == UE2


def test_fault_edge_route_by_uri_sends_to_the_request_uri_not_the_flow():
    """FAULT edge-route-by-uri: the incoming request goes to its Request-URI's address (the
    Contact), not over the flow its token names (RFC 5626 section 5.3.1)."""
    edge = Edge(faults={"edge-route-by-uri"})
    fwd, _ = edge.register()
    [(action, _)] = requests(terminating(edge, fwd.values("Path")[0]))
    assert isinstance(action, SendToHop) and action.address == ("10.0.0.1", 5060)


@pytest.mark.parametrize("route", ["<sip:127.0.0.1:5061;transport=tls;lr>", "<sip:127.0.0.1;transport=tls;lr>",
                                   "<sips:127.0.0.1;lr>", "<sip:127.0.0.1:8443;transport=ws;lr>"])
def test_route_to_its_tls_or_ws_listener_names_the_edge(route):
    """A UA with the edge's TLS (or WSS) listener as outbound proxy preloads a Route naming it
    (baresip does): the edge removes it and forwards to its next hop (RFC 3261 section 16.4); it
    used to take the value as another hop and send the REGISTER to its own TLS port in clear."""
    edge = Edge()
    edge.proxy.stream_addresses.update({"tls": ("127.0.0.1", 5061), "wss": ("127.0.0.1", 8443)})
    flow = FlowInfo("tls", ("127.0.0.1", 5061), ("127.0.0.9", 50010), 7)
    fwd, r = edge.register(flow=flow, extra=[("Route", route)])
    assert fwd.values("Route") == [] and r.status == 200


def test_route_to_another_port_is_not_the_edge():
    edge = Edge()
    edge.proxy.stream_addresses.update({"tls": ("127.0.0.1", 5061)})
    flow = FlowInfo("tls", ("127.0.0.1", 5061), ("127.0.0.9", 50011), 8)
    req = register(first_hop=True, extra=[("Route", "<sip:127.0.0.1:5062;transport=tls;lr>")])
    out = requests(edge.send(req, flow))
    assert [hop.address for hop, _ in out] == [("127.0.0.1", 5062)]       # another hop: forwarded there
