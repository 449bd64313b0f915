"""The UE model and the REGISTER builder (conformance/ue/model.py)."""

import pytest

from conformance.cases.model import EdgeSpec, FlowSpec
from conformance.ue.model import (UE, USER_AGENT, FlowState, RegDialog, RegisterOptions, build_register,
                                   new_branch)
from conformance.sip.headers import parse_contacts, parse_name_addrs, parse_option_tags, parse_vias
from conformance.sip.message import Request, parse_message

INSTANCE = "<urn:uuid:0f3a8c1e-0000-4000-8000-000000000001>"


def flow(name="f1", *, ip="127.0.0.1", port=5070, transport="udp", reg_id=1, edge=None, call_id="cid-1"):
    # The runner decides whether the case's edge is emulated (see CaseRun._emulated_edge);
    # here the flow's emulated edge is the spec's.
    st = FlowState(spec=FlowSpec(name=name, address=1, reg_id=reg_id, edge=edge), local_ip=ip,
                   transport=transport, local_port=port, dialog=RegDialog(call_id=call_id), edge=edge)
    st.dialog.next_cseq()
    return st


def ue(instance=INSTANCE):
    return UE(name="ue1", user="ue-a", impu="sip:ue-a@ims.test", impi="ue-a@ims.test",
              domain="ims.test", instance=instance)


def build(f=None, opts=None, u=None, **kw):
    f = f or flow()
    req = build_register(u or ue(), f, opts or RegisterOptions(), branch="z9hG4bKmain", **kw)
    parsed = parse_message(bytes(req))
    assert isinstance(parsed, Request)
    return req, parsed


def test_register_round_trips():
    req, p = build()
    assert p.method == "REGISTER" and p.uri == "sip:ims.test"
    assert p.headers == req.headers + [("Content-Length", "0")]
    assert p.call_id == "cid-1"
    assert p.cseq == (1, "REGISTER")
    assert p.get("Max-Forwards") == "70"
    assert p.get("To") == "<sip:ue-a@ims.test>"
    assert p.get("From").startswith("<sip:ue-a@ims.test>;tag=")
    assert p.get("User-Agent") == USER_AGENT
    assert p.top_branch == "z9hG4bKmain"


def test_cseq_follows_dialog():
    f = flow()
    f.dialog.next_cseq()
    f.dialog.next_cseq()
    _, p = build(f)
    assert p.cseq == (3, "REGISTER")
    assert f.dialog.from_tag in p.get("From")


def test_one_via_without_edge():
    _, p = build()
    [via] = parse_vias(p)
    assert via.transport.upper() == "UDP"
    assert (via.host, via.port, via.branch) == ("127.0.0.1", 5070, "z9hG4bKmain")
    assert via.rport == ""
    assert p.values("Via")[0] == "SIP/2.0/UDP 127.0.0.1:5070;branch=z9hG4bKmain;rport"
    assert not p.has("Path")


def test_two_vias_with_edge():
    f = flow(edge=EdgeSpec())
    _, p = build(f, edge_branch="z9hG4bKedge")
    vias = p.values("Via")
    assert len(vias) == 2
    assert "branch=z9hG4bKedge" in vias[0]   # the edge's Via is on top
    assert "branch=z9hG4bKmain" in vias[1]
    assert p.top_branch == "z9hG4bKedge"


def test_edge_without_branch_gets_a_fresh_one():
    _, p = build(flow(edge=EdgeSpec()))
    top = p.top_branch
    assert top.startswith("z9hG4bK") and top != "z9hG4bKmain"


def test_edge_path_with_ob():
    f = flow(edge=EdgeSpec())
    _, p = build(f)
    [path] = parse_name_addrs(p, "Path")
    assert path.uri.user == f.edge_token
    # the emulated edge is reachable at the flow's own address (so routed requests come back)
    assert (path.uri.host, path.uri.port) == ("127.0.0.1", 5070)
    assert path.uri.has_param("lr") and path.uri.has_param("ob")
    assert not path.uri.has_param("transport")


def test_edge_path_over_tcp_names_the_transport():
    _, p = build(flow(edge=EdgeSpec(), transport="tcp"))
    [path] = parse_name_addrs(p, "Path")
    assert path.uri.param("transport") == "tcp"


def test_edge_path_without_ob():
    _, p = build(flow(edge=EdgeSpec(ob=False)))
    [path] = parse_name_addrs(p, "Path")
    assert path.uri.has_param("lr") and not path.uri.has_param("ob")


def test_edge_without_path():
    _, p = build(flow(edge=EdgeSpec(path=False)))
    assert not p.has("Path")
    assert len(p.values("Via")) == 2


def test_extra_path_above_ours_in_order():
    extra = ["<sip:p1.test;lr>", "<sip:p2.test;lr>"]
    f = flow(edge=EdgeSpec(extra_path=extra))
    _, p = build(f)
    paths = p.values("Path")
    assert paths[:2] == extra
    assert paths[2] == f"<sip:{f.edge_token}@127.0.0.1:5070;lr;ob>"
    _, p = build(flow(edge=EdgeSpec(path=False, extra_path=extra)))
    assert p.values("Path") == extra


def test_contact_has_reg_id_instance_expires():
    _, p = build()
    [c] = parse_contacts(p)
    assert str(c.uri) == "sip:ue-a@127.0.0.1:5070"
    assert c.reg_id == "1"
    assert c.param("+sip.instance") == f'"{INSTANCE}"'  # quoted on the wire
    assert c.instance == INSTANCE
    assert c.expires == 600


def test_contact_options():
    opts = RegisterOptions(expires=0, reg_id=None, instance=False, contact_params={"q": "0.5", "foo": None})
    _, p = build(opts=opts)
    [c] = parse_contacts(p)
    assert c.reg_id is None
    assert c.instance is None
    assert c.expires == 0
    assert c.param("q") == "0.5" and c.has_param("foo") and c.param("foo") is None


def test_contact_explicit_reg_id_and_no_expires():
    _, p = build(opts=RegisterOptions(reg_id=7, expires=None))
    [c] = parse_contacts(p)
    assert c.reg_id == "7"
    assert not c.has_param("expires")


def test_flow_without_reg_id_and_ue_without_instance():
    _, p = build(flow(reg_id=None), u=ue(instance=None))
    [c] = parse_contacts(p)
    assert not c.has_param("reg-id") and not c.has_param("+sip.instance")


def test_extra_contacts():
    f2 = flow("f2", ip="127.0.0.2", port=5072, reg_id=2)
    _, p = build(opts=RegisterOptions(extra_contacts=[(f2, 0)]))
    c1, c2 = parse_contacts(p)
    assert c1.uri.host == "127.0.0.1" and c1.reg_id == "1" and c1.expires == 600
    assert c2.uri.host == "127.0.0.2" and c2.uri.port == 5072
    assert c2.reg_id == "2" and c2.expires == 0 and c2.instance == INSTANCE


def test_deregister_all():
    _, p = build(opts=RegisterOptions(kind="deregister_all", expires_header=3600))
    [c] = parse_contacts(p)
    assert c.star and c.uri is None
    assert not c.params  # no reg-id, no +sip.instance, no expires
    assert p.get_all("Contact") == ["*"]
    assert p.get_all("Expires") == ["0"]  # the step's expires_header does not apply


def test_fetch_has_no_contact():
    _, p = build(opts=RegisterOptions(kind="fetch"))
    assert not p.has("Contact")
    assert not p.has("Expires")


def test_expires_header():
    _, p = build(opts=RegisterOptions(expires_header=120))
    assert p.get_all("Expires") == ["120"]
    _, p = build()
    assert not p.has("Expires")


def test_supported_and_require_from_options():
    _, p = build()
    assert parse_option_tags(p, "Supported") == ["path", "outbound"]
    assert not p.has("Require")
    _, p = build(opts=RegisterOptions(supported=[], require=["outbound", "path"]))
    assert not p.has("Supported")
    assert parse_option_tags(p, "Require") == ["outbound", "path"]


def test_authorization_and_extra_headers():
    _, p = build()
    auth = p.get("Authorization")
    assert auth.startswith('Digest username="ue-a@ims.test"')
    assert 'realm="ims.test"' in auth and 'nonce=""' in auth
    _, p = build(opts=RegisterOptions(authorization=False, headers=[("P-Foo", "bar")]))
    assert not p.has("Authorization")
    assert p.get("P-Foo") == "bar"
    assert p.headers[-2] == ("P-Foo", "bar")  # extra headers last (before Content-Length)


def test_tcp_contact_and_via():
    f = flow(transport="tcp")
    _, p = build(f)
    [c] = parse_contacts(p)
    assert c.uri.param("transport") == "tcp"
    assert p.values("Via")[0].startswith("SIP/2.0/TCP 127.0.0.1:5070;")
    _, p = build(flow(transport="udp"))
    assert not parse_contacts(p)[0].uri.has_param("transport")


def test_ipv6_local_address_bracketed():
    f = flow(ip="::1", port=5080, edge=EdgeSpec())
    assert f.host_port() == "[::1]:5080"
    _, p = build(f)
    [c] = parse_contacts(p)
    assert c.uri.host == "[::1]" and c.uri.port == 5080
    assert str(c.uri) == "sip:ue-a@[::1]:5080"
    vias = parse_vias(p)
    assert len(vias) == 2
    assert all(v.sent_by() == "[::1]:5080" for v in vias)


def test_build_requires_dialog_and_port():
    f = FlowState(spec=FlowSpec(name="f1", address=1), local_ip="127.0.0.1", transport="udp")
    with pytest.raises(AssertionError):
        build_register(ue(), f, RegisterOptions(), branch="z9hG4bKx")


def test_flow_state_properties():
    f = flow("fx", reg_id=3)
    assert f.name == "fx" and f.reg_id == 3
    assert "-" not in f.edge_token
    assert f.edge_token != flow().edge_token


def test_new_branch_and_instance():
    b1, b2 = new_branch(), new_branch()
    assert b1.startswith("z9hG4bK") and b1 != b2
    inst = UE.new_instance()
    assert inst.startswith("<urn:uuid:") and inst.endswith(">")
