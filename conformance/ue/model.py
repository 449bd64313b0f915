"""The UE model and the REGISTER builder (sans-IO).

A UE has a public identity (the AOR), a private identity and one instance URN (RFC 5626 §4.1);
it registers one or more flows, each with its own local address, transport, reg-id and — from
the start, so sec-agree fits later — a sec-agree port pair (port_uc / port_us, TS 33.203).  A
registration "dialog" (Call-ID, CSeq, From tag) may be shared between flows: Reg1b with the same
Call-ID reuses the dialog of the flow it replaces (RFC 5626 §9.4).

Building a request is a pure function of this state; sockets live in ``transport.py``.
"""

from __future__ import annotations

import os
from dataclasses import dataclass, field

from ..cases.model import EdgeSpec, FlowSpec
from ..sip.message import Request
from ..sip.transports import is_websocket, uri_transport, via_protocol

USER_AGENT = "outbound-conformance/0.1"


def new_branch() -> str:
    return "z9hG4bK" + os.urandom(8).hex()  # RFC 3261 §8.1.1.7 magic cookie


# Random tokens as secrets.token_hex makes them (os.urandom in hex), without importing secrets
# (and hashlib with it) into the load generator's start-up.
def new_tag() -> str:
    return os.urandom(6).hex()


def new_invalid_host() -> str:
    """A WebSocket client's host name: random, in the reserved ``.invalid`` TLD (RFC 2606), as
    RFC 7118 §8's examples use in Via and Contact (a browser cannot know its address)."""
    return os.urandom(6).hex() + ".invalid"


def _urlsafe(n: int) -> str:
    """secrets.token_urlsafe(n): n random bytes in URL-safe base64, unpadded."""
    import base64

    return base64.urlsafe_b64encode(os.urandom(n)).rstrip(b"=").decode("ascii")


@dataclass
class RegDialog:
    """Call-ID, CSeq and From tag of one registration (RFC 3261 §10.2)."""

    call_id: str
    cseq: int = 0
    from_tag: str = field(default_factory=new_tag)

    def next_cseq(self) -> int:
        self.cseq += 1
        return self.cseq


@dataclass
class FlowState:
    spec: FlowSpec
    local_ip: str
    transport: str  # "udp" | "tcp" | "tls" | "ws" | "wss"
    local_port: int | None = None  # known once the socket is bound
    dialog: RegDialog | None = None
    # sec-agree port pair (TS 33.203 §7.1, TS 24.229 5.1.1.2): for an unprotected flow both are the
    # flow's single port; the sec-agree issue gives them distinct values and SAs.
    port_uc: int | None = None
    port_us: int | None = None
    edge_token: str = field(default_factory=lambda: _urlsafe(12).replace("-", "x"))
    # The emulated edge proxy in front of the SUT for this flow, if any (None: the UE talks to the
    # SUT directly, or the SUT contains its own edge proxy).
    edge: EdgeSpec | None = None
    # sec-agree state (engine/flowsec.FlowSec) once the flow uses IMS AKA and sec-agree: its
    # Contact then carries port_us (TS 24.229 5.1.1.2.1).
    sec: object = None
    # The Contact's (host, port) when the flow advertises an address other than its socket, as
    # behind a NAT (engine/nat_contact.py); None: the socket's own address.
    contact_addr: tuple | None = None
    # A WebSocket flow's Via sent-by and Contact host (RFC 7118 §8: <random>.invalid)
    ws_host: str = field(default_factory=new_invalid_host)

    @property
    def name(self) -> str:
        return self.spec.name

    @property
    def reg_id(self) -> int | None:
        return self.spec.reg_id

    def host_port(self, port: int | None = None) -> str:
        host = f"[{self.local_ip}]" if ":" in self.local_ip else self.local_ip
        return f"{host}:{port or self.local_port}"

    def sent_by(self, port: int | None = None) -> str:
        """The Via sent-by: the socket's address, or over WebSocket the flow's ``.invalid``
        host (RFC 7118 §5.2 / §8: the SIP WebSocket Server need not add ``received``)."""
        return self.ws_host if is_websocket(self.transport) else self.host_port(port)

    @property
    def via_protocol(self) -> str:
        """UDP, TCP, TLS (RFC 3261 §18), WS or WSS (RFC 7118 §5.2)."""
        return via_protocol(self.transport)


def edge_uri(flow: FlowState) -> str:
    """The emulated edge proxy's URI for a flow: the flow's own address, with its token.

    The tester is the edge and the UE at once, so a request the registrar routes over the
    stored Path (RFC 3327 §5.4) reaches the tester on this flow's socket (over TCP, on the
    flow's connection when the registrar reuses it, as RFC 5626 §7 expects of a direct flow).
    """
    tp = uri_transport(flow.transport)
    return f"sip:{flow.edge_token}@{flow.host_port()}{';transport=' + tp if tp else ''}"


@dataclass
class UE:
    name: str
    user: str
    impu: str  # AOR, e.g. sip:ue-x@ims.test
    impi: str  # private identity
    domain: str
    instance: str | None  # "<urn:uuid:...>" or None when the case sends no +sip.instance
    flows: dict[str, FlowState] = field(default_factory=dict)

    @staticmethod
    def new_instance() -> str:
        import uuid

        return f"<urn:uuid:{uuid.uuid4()}>"

    def contact_uri(self, flow: FlowState) -> str:
        if is_websocket(flow.transport):
            uri = f"sip:{self.user}@{flow.ws_host}"   # RFC 7118 §8: reachable only over the flow
        elif flow.sec is None and flow.contact_addr is not None:
            host, port = flow.contact_addr
            uri = f"sip:{self.user}@{'[' + host + ']' if ':' in host else host}:{port}"
        else:
            uri = f"sip:{self.user}@{flow.host_port(flow.port_us if flow.sec is not None else None)}"
        tp = uri_transport(flow.transport)
        if tp:
            uri += f";transport={tp}"   # tcp, tls; "ws" for ws and wss (RFC 7118 §5.2)
        if flow.transport in ("tls", "ws", "wss"):
            # RFC 5626 §4.3: other requests in a dialog routed over the same flow (as WebSocket
            # clients register, RFC 7118 §8); TCP keeps the form the existing tables were made with.
            uri += ";ob"
        return uri


@dataclass
class RegisterOptions:
    """What a step asks of one REGISTER (see docs/case-format.md, "Options")."""

    kind: str = "register"  # register | refresh | deregister | deregister_all | fetch
    expires: int | None = 600
    expires_header: int | None = None
    supported: list[str] = field(default_factory=lambda: ["path", "outbound"])
    require: list[str] = field(default_factory=list)
    reg_id: int | None | str = "flow"  # "flow": the flow's own reg-id; None: omit
    instance: bool = True
    contact_params: dict[str, str | None] = field(default_factory=dict)
    extra_contacts: list[tuple[FlowState, int]] = field(default_factory=list)  # (flow, expires)
    headers: list[tuple[str, str]] = field(default_factory=list)
    authorization: bool = True  # IMS-style Authorization with the private identity
    via_keep: bool = False      # a bare "keep" on the top Via (RFC 6223 section 4.2)


def _contact_value(ue: UE, flow: FlowState, *, expires: int | None, reg_id, instance: bool,
                   params: dict[str, str | None]) -> str:
    value = f"<{ue.contact_uri(flow)}>"
    rid = flow.reg_id if reg_id == "flow" else reg_id
    if rid is not None:
        value += f";reg-id={rid}"
    if instance and ue.instance:
        value += f';+sip.instance="{ue.instance}"'
    for k, v in params.items():
        value += f";{k}" if v is None else f";{k}={v}"
    if expires is not None:
        value += f";expires={expires}"
    return value


def build_register(ue: UE, flow: FlowState, opts: RegisterOptions, *, branch: str,
                   edge_branch: str | None = None) -> Request:
    """Build the REGISTER for one step.  The caller has already advanced ``flow.dialog``."""
    assert flow.dialog is not None and flow.local_port is not None
    d = flow.dialog
    proto = flow.via_protocol
    headers: list[tuple[str, str]] = []
    edge: EdgeSpec | None = flow.edge
    if edge is not None:
        # The emulated edge proxy's Via on top (RFC 3261 §16.6 step 8); the SUT is not first hop.
        headers.append(("Via", f"SIP/2.0/{proto} {flow.sent_by()};branch={edge_branch or new_branch()};rport"))
    headers.append(("Via", f"SIP/2.0/{proto} {flow.sent_by()};branch={branch};rport"))
    if opts.via_keep:
        headers[0] = ("Via", headers[0][1] + ";keep")
    headers += [
        ("Max-Forwards", "70"),
        ("From", f"<{ue.impu}>;tag={d.from_tag}"),
        ("To", f"<{ue.impu}>"),
        ("Call-ID", d.call_id),
        ("CSeq", f"{d.cseq} REGISTER"),
    ]
    if opts.kind == "deregister_all":
        headers.append(("Contact", "*"))
        headers.append(("Expires", "0"))
    elif opts.kind != "fetch":
        contacts = [_contact_value(ue, flow, expires=opts.expires, reg_id=opts.reg_id,
                                   instance=opts.instance, params=opts.contact_params)]
        for other, exp in opts.extra_contacts:
            contacts.append(_contact_value(ue, other, expires=exp, reg_id="flow", instance=True, params={}))
        for c in contacts:
            headers.append(("Contact", c))
    if opts.expires_header is not None and opts.kind != "deregister_all":
        headers.append(("Expires", str(opts.expires_header)))
    if edge is not None:
        for extra in edge.extra_path:
            headers.append(("Path", extra))
        if edge.path:
            ob = ";ob" if edge.ob else ""
            headers.append(("Path", f"<{edge_uri(flow)};lr{ob}>"))
    if opts.supported:
        headers.append(("Supported", ", ".join(opts.supported)))
    if opts.require:
        headers.append(("Require", ", ".join(opts.require)))
    if opts.authorization:
        # TS 24.229 5.1.1.2.1: the initial REGISTER carries the private identity in an
        # Authorization header with empty nonce and response.
        headers.append(("Authorization",
                        f'Digest username="{ue.impi}", realm="{ue.domain}", uri="sip:{ue.domain}", '
                        f'nonce="", response=""'))
    headers.append(("User-Agent", USER_AGENT))
    headers += opts.headers
    return Request(method="REGISTER", uri=f"sip:{ue.domain}", headers=headers)
