"""Builders for the reg event and GRUU tests: an S-CSCF node with a hand-moved clock, SUBSCRIBE
requests as a UE sends them, and the NOTIFYs read back from the actions."""

from __future__ import annotations

import itertools

from conformance.sip.headers import parse_contacts
from conformance.sip.message import Request, Response
from conformance.sip.reginfo import parse_reginfo
from conformance.sut.config import SutConfig
from conformance.sut.flow import FlowInfo
from conformance.sut.registrar.registrar import Registrar
from conformance.sut.registrar.scscf import ScscfNode
from routing_helpers import CORE, answer, requests, responses
from sut_helpers import AOR, EDGE_FLOW, register

SUB_FLOW = FlowInfo("udp", CORE, ("127.0.0.11", 5071))     # the subscribing UE's own flow
_n = itertools.count(1)


class Node:
    """ScscfNode with a clock the test moves; ``sent`` keeps every action."""

    def __init__(self, **config):
        cfg = SutConfig(**config)
        self.node = ScscfNode(cfg, Registrar(cfg, tag_secret="t"), CORE)
        self.now = 1000.0

    def send(self, message, flow=EDGE_FLOW):
        return self.node.receive(bytes(message), flow, self.now)

    def register(self, *args, flow=EDGE_FLOW, status=200, **kw):
        actions = self.send(register(*args, **kw), flow)
        [(_, r)] = responses(actions)
        assert r.status == status, r
        return r, notifies(actions)

    def timer(self, seconds):
        self.now += seconds
        return self.node.on_timer(self.now)

    def subscribe(self, flow=SUB_FLOW, **kw):
        """SUBSCRIBE; returns (response, [NOTIFY requests]) and answers nothing."""
        actions = self.send(subscribe(**kw), flow)
        [(_, r)] = responses(actions)
        return r, notifies(actions)

    def ok(self, notify, status=200, flow=SUB_FLOW):
        """The subscriber's answer to a NOTIFY."""
        return self.node.receive(bytes(answer(notify, status, tag="x")), flow, self.now)


def subscribe(*, uri: str = AOR, frm: str = AOR, event: str = "reg", expires: int | None = 600,
              call_id: str = "S1", cseq: int = 1, to_tag: str | None = None,
              record_route: list[str] = (), contact: str = "<sip:ue-a@127.0.0.11:5071;ob>",
              accept: str | None = "application/reginfo+xml", branch: str | None = None) -> Request:
    branch = branch or f"z9hG4bK-sub{next(_n)}"
    to = f"<{uri}>" + (f";tag={to_tag}" if to_tag else "")
    headers = [("Via", f"SIP/2.0/UDP 127.0.0.11:5071;rport;branch={branch}"),
               ("Max-Forwards", "70")]
    headers += [("Record-Route", r) for r in record_route]
    headers += [("From", f"<{frm}>;tag=w1"), ("To", to), ("Call-ID", call_id),
                ("CSeq", f"{cseq} SUBSCRIBE"), ("Event", event), ("Supported", "outbound")]
    if accept:
        headers.append(("Accept", accept))
    if expires is not None:
        headers.append(("Expires", str(expires)))
    if contact:
        headers.append(("Contact", contact))
    return Request(method="SUBSCRIBE", uri=uri, headers=headers)


def notifies(actions) -> list:
    return [m for _, m in requests(actions) if m.method == "NOTIFY"]


def notify_actions(actions) -> list:
    return [(a, m) for a, m in requests(actions) if m.method == "NOTIFY"]


def doc(notify):
    return parse_reginfo(notify.body)


def contacts(notify):
    """{reg-id or URI: Contact} of the NOTIFY's single registration."""
    [reg] = doc(notify).registrations
    return {c.reg_id if c.reg_id is not None else c.uri: c for c in reg.contacts}


def gruu_params(response: Response) -> dict:
    """{reg-id: (pub-gruu, temp-gruu)} of a 2xx to REGISTER (quotes removed)."""
    out = {}
    for c in parse_contacts(response):
        pub, temp = c.param("pub-gruu"), c.param("temp-gruu")
        out[int(c.reg_id) if c.reg_id else str(c.uri)] = (pub and pub.strip('"'), temp and temp.strip('"'))
    return out
