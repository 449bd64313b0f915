"""Builders for the reference-CSCF tests: REGISTER requests as the tester's edge proxy (EP-T)
would forward them, and a registrar whose clock the test moves by hand.

Named ``sut_helpers`` (not ``conftest``) so that ``from sut_helpers import ...`` cannot pick up
another directory's conftest module."""

from __future__ import annotations

import itertools

from conformance.sip.headers import parse_contacts, parse_option_tags
from conformance.sip.message import Request
from conformance.sut.config import SutConfig
from conformance.sut.flow import FlowInfo
from conformance.sut.registrar.registrar import Registrar

INSTANCE = '"<urn:uuid:00000000-0000-1000-8000-000A95A0E128>"'
INSTANCE2 = '"<urn:uuid:11111111-2222-1000-8000-000A95A0E128>"'
AOR = "sip:ue-a@ims.test"
EDGE_FLOW = FlowInfo("tcp", ("127.0.0.1", 5060), ("127.0.0.2", 40000), conn_id=1)
UE_FLOW = FlowInfo("tcp", ("127.0.0.1", 5060), ("127.0.0.9", 50000), conn_id=2)

_branches = itertools.count(1)


def contact(ip: str = "10.0.0.1", reg_id: int | str | None = 1, instance: str | None = INSTANCE,
            expires: int | None = None, extra: str = "") -> str:
    value = f"<sip:ue-a@{ip};transport=tcp>"
    if reg_id is not None:
        value += f";reg-id={reg_id}"
    if instance is not None:
        value += f";+sip.instance={instance}"
    if expires is not None:
        value += f";expires={expires}"
    return value + extra


def register(contacts: list[str] | None = None, *, call_id: str = "C1", cseq: int = 1,
             supported: str | None = "path, outbound", path: list[str] | None | bool = True,
             token: str = "t1", first_hop: bool = False, expires: int | None = None,
             require: str | None = None, to: str = f"<{AOR}>", extra: list[tuple[str, str]] = (),
             branch: str | None = None, authorization: str | None = None) -> Request:
    """A REGISTER as forwarded by EP-T (two Vias, Path with ;ob), or sent directly by the UE."""
    branch = branch or f"z9hG4bK-{next(_branches)}"
    headers: list[tuple[str, str]] = []
    if not first_hop:
        headers.append(("Via", f"SIP/2.0/TCP ep-t.test;branch=z9hG4bK-ep{branch}"))
    headers.append(("Via", f"SIP/2.0/TCP 10.0.0.1:5060;rport;branch={branch}"))
    headers += [("Max-Forwards", "70"), ("From", f"{to};tag=f1"), ("To", to),
                ("Call-ID", call_id), ("CSeq", f"{cseq} REGISTER")]
    if path is True:
        path = [] if first_hop else [f"<sip:{token}@ep-t.test;lr;ob>"]
    for p in path or []:
        headers.append(("Path", p))
    if supported is not None:
        headers.append(("Supported", supported))
    if require is not None:
        headers.append(("Require", require))
    if authorization is not None:
        headers.append(("Authorization", authorization))
    if expires is not None:
        headers.append(("Expires", str(expires)))
    for c in contacts if contacts is not None else [contact()]:
        headers.append(("Contact", c))
    headers += list(extra)
    return Request(method="REGISTER", uri="sip:ims.test", headers=headers)


class Sut:
    """A registrar with a clock the test moves by hand."""

    def __init__(self, **config):
        self.registrar = Registrar(SutConfig(**config), tag_secret="test")
        self.now = 1000.0

    def send(self, request: Request, flow: FlowInfo = EDGE_FLOW):
        return self.registrar.handle(request, flow, self.now)

    def fetch(self, **kw):
        return self.send(register([], **kw))

    def bindings(self):
        return self.registrar.lookup(AOR, self.now)


def contacts_of(response):
    return parse_contacts(response)


def require_of(response):
    return parse_option_tags(response.values("Require"))

