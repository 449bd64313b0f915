"""The reference edge proxy (P-CSCF role), sans-IO: RFC 5626 section 5, RFC 3327.

:class:`EdgeProxy` sits between UEs and a registrar at ``next_hop`` = (host, port, transport).
It is transaction-stateless in the RFC 3261 section 16.11 sense (branches derived from the
request, so retransmissions and CANCEL follow the original), and remembers for a while which
flow each forwarded request came in on, so that responses go back over that flow.

REGISTER (section 5.1, RFC 3327 section 5.2)
  The edge inserts its URI as the topmost Path value.  In rel8 mode the URI carries a flow
  token in the user part (section 5.2: HMAC-protected, see :mod:`.flowtoken`) and ``;lr``
  (RFC 3327 section 4).  ``;ob`` is added only when the edge is the first hop (exactly one Via)
  and a Contact has a reg-id: section 5.1 opens "When an edge proxy receives a registration
  request with a reg-id" and says "If the edge proxy is not the first SIP node after the UAC
  it MUST NOT place an "ob" URI parameter".  Without reg-id the Path still carries the token
  but no ``ob`` (our choice; TP_EDGE_004 records either).  ``Require: path`` is added when the
  UA said ``Supported: path`` (RFC 3327 section 5.2 SHOULD).  The 2xx is relayed with its Path
  untouched (RFC 3327 section 5.2 SHOULD NOT alter); when it has ``Require: outbound`` and
  ``flow_timer`` is configured, the edge, as last proxy, adds Flow-Timer (section 5.4 MAY).

Flow supervision (section 5.4)
  A flow whose 2xx to REGISTER went back with a Flow-Timer is supervised
  (``FlowSupervisor``, common/supervision.py): any traffic from it (SIP, CRLF ping, STUN; the
  server reports keep-alives through :meth:`EdgeProxy.flow_activity`) restarts its clock; silent
  for longer than Flow-Timer + ``flow_grace`` it is declared failed: the edge forgets it, so a
  request for its token gets 430 (section 5.3.1), and a TCP flow's connection is closed.

Other requests (section 5.3)
  With our URI on top of Route and a token in it: a token that does not decode or fails its
  HMAC gets 403 and is never delivered (section 5.3.1 SHOULD, section 5.2); a token whose flow
  is the request's source makes the request "outgoing" (it goes on towards the core); any
  other is "incoming": the Route value is removed and the request goes over the token's flow
  (TCP: that connection; UDP: from our socket to the UE's address and port), or gets 430 when
  that flow no longer exists (section 5.3.1 SHOULD).  A dialog-forming INVITE (and a UE's
  SUBSCRIBE, for the reg event NOTIFYs) gets a Record-Route with the token (section 5.3.1 and
  5.3.2 notes).  Requests without our token
  are outgoing and go to the next Route, else to ``next_hop``.

rel7 mode (a Rel-7 P-CSCF, the problem P2)
  No outbound: Path is ``<sip:pcscf@edge;lr>`` without token and without ``ob``; the edge keeps
  ONE flow per UE (IMPI from Authorization, else the To AOR): a later successful registration
  of the same UE from another flow replaces it.  A terminating request whose Request-URI is a
  contact registered through us goes over the UE's newest flow.
"""

from __future__ import annotations

import logging
import secrets
from collections import OrderedDict
from dataclasses import dataclass, field

from ...sip.errors import ParseError
from ...sip.headers import SipUri, Via, parse_auth, parse_contacts, parse_flow_timer, \
    parse_name_addr, parse_option_tags, parse_vias, uri_equal
from ...sip.message import Request, Response, parse_message
from ..actions import Action, CloseFlow, SendOnFlow, SendToHop
from ..common.keep import add_keep
from ..common.responses import basic_problem, build_response, stamp_top_via
from ..common.routing import bracket, canonical_aor, copy_message, derived_branch, hop_of_uri, \
    is_own_uri, max_forwards, pop_value, push_value, safe_uri, same_host, set_values, \
    udp_destination, via_value
from ..common.supervision import FlowSupervisor
from ..config import SutConfig
from ..flow import FlowInfo
from .flowtoken import FlowTokenCodec, TokenError

log = logging.getLogger(__name__)

REL7_USER = "pcscf"
PENDING_LIFETIME = 300.0         # > Timer C; long enough for any forwarded transaction
MAX_PENDING = 4096
MAX_UDP_FLOWS = 10_000


@dataclass
class _Pending:
    inbound: FlowInfo
    request: Request                      # as received, for local answers
    expires_at: float
    ue_key: str | None = None             # REGISTER: whose flow this is
    contacts: list[SipUri] = field(default_factory=list)


@dataclass
class _UeRecord:
    flow: FlowInfo
    contacts: list[SipUri]


class EdgeProxy:
    """Edge proxy of the reference.  ``address`` is its listening (host, port); ``next_hop``
    is (host, port, transport) of the registrar/core behind it."""

    role = "edge"

    def __init__(self, config: SutConfig | None = None, address: tuple[str, int] = ("127.0.0.1", 5060),
                 next_hop: tuple[str, int, str] | None = None, codec: FlowTokenCodec | None = None,
                 tag_secret: str | None = None):
        self.config = config or SutConfig()
        self.address = address
        # the TLS / WS / WSS listeners' (host, port) by transport (set by the server that binds
        # them): a Route naming one of them names this proxy too (RFC 3261 section 16.4)
        self.stream_addresses: dict[str, tuple[str, int]] = {}
        self.next_hop = next_hop or self.config.edge_next_hop
        self.codec = codec or FlowTokenCodec(self.config.flow_token_key)
        self.tag_secret = tag_secret or secrets.token_hex(8)
        self._secret = secrets.token_bytes(8)
        self.live_tcp: set[FlowInfo] = set()
        self.udp_flows: OrderedDict[FlowInfo, float] = OrderedDict()
        self.pending: OrderedDict[tuple[str, str], _Pending] = OrderedDict()
        self.ues: dict[str, _UeRecord] = {}               # ue key -> newest registered flow
        self.registered_flows: OrderedDict[FlowInfo, str] = OrderedDict()  # flow -> ue key
        self.supervisor = FlowSupervisor(self.config.flow_grace)
        if self.config.has_fault("no-flow-grace"):
            self.supervisor.grace = 0.0                  # FAULT: a flow fails at exactly Flow-Timer
        self.failed_flows: list[FlowInfo] = []            # declared failed, newest last (bounded)
        self.log: list[str] = []

    @property
    def rel7(self) -> bool:
        return self.config.edge_mode == "rel7"

    @property
    def core_transport(self) -> str:
        return self.next_hop[2] if self.next_hop else "udp"

    # -- flows --------------------------------------------------------------------------------
    def flow_opened(self, flow: FlowInfo) -> None:
        if flow.reliable:
            self.live_tcp.add(flow)

    def flow_closed(self, flow: FlowInfo) -> None:
        """The connection is gone: its token now gets 430 (section 5.3.1)."""
        self.live_tcp.discard(flow)
        self.supervisor.forget(flow)

    def flow_activity(self, flow: FlowInfo, now: float) -> None:
        """Traffic that is not a SIP message (a CRLF ping, a STUN request) arrived on the flow."""
        self.supervisor.activity(flow, now)

    def _flow_failed(self, flow: FlowInfo) -> list[Action]:
        """Silent for longer than Flow-Timer + grace (section 5.4): the flow is gone for us."""
        self.live_tcp.discard(flow)
        self.udp_flows.pop(flow, None)
        self.registered_flows.pop(flow, None)
        for key, record in list(self.ues.items()):
            if record.flow == flow:
                del self.ues[key]
        self.failed_flows.append(flow)
        del self.failed_flows[:-100]
        self.log.append(f"flow {flow} failed: no keep-alive for Flow-Timer + {self.supervisor.grace:g} s")
        del self.log[:-1000]
        return [CloseFlow(flow)] if flow.reliable else []

    def flow_exists(self, flow: FlowInfo) -> bool:
        if flow.reliable:
            return flow in self.live_tcp
        return flow in self.udp_flows

    def _seen(self, flow: FlowInfo, now: float) -> None:
        if flow.reliable:
            self.live_tcp.add(flow)
            return
        self.udp_flows[flow] = now
        self.udp_flows.move_to_end(flow)
        while len(self.udp_flows) > MAX_UDP_FLOWS:
            self.udp_flows.popitem(last=False)

    # -- the Path URI -------------------------------------------------------------------------
    def path_uri(self, flow: FlowInfo, ob: bool) -> str:
        host = f"{bracket(self.address[0])}:{self.address[1]}"
        params = f";transport={self.core_transport};lr"
        if self.rel7:
            return f"<sip:{REL7_USER}@{host}{params}>"
        return f"<sip:{self.codec.encode(flow)}@{host}{params}{';ob' if ob else ''}>"

    # -- entry point --------------------------------------------------------------------------
    def receive(self, data: bytes, flow: FlowInfo, now: float,
                wall: float | None = None) -> list[Action]:
        self.supervisor.activity(flow, now)              # any traffic keeps a flow alive
        try:
            message = parse_message(data)
        except ParseError:
            return []                                    # nothing addressable: drop
        try:
            if isinstance(message, Response):
                return self._response(message, flow, now)
            return self._request(message, flow, now)
        except Exception as exc:  # noqa: BLE001 - one bad message must not stop the edge
            log.exception("edge proxy: internal error")
            if isinstance(message, Request) and message.method != "ACK":
                return self._reply(message, flow, 500, f"internal error: {exc!r}")
            return []

    def on_timer(self, now: float) -> list[Action]:
        while self.pending:
            key, p = next(iter(self.pending.items()))
            if p.expires_at > now:
                break
            del self.pending[key]
        actions: list[Action] = []
        for flow in self.supervisor.expired(now):
            actions += self._flow_failed(flow)
        return actions

    def next_deadline(self) -> float | None:
        times = [next(iter(self.pending.values())).expires_at] if self.pending else []
        supervised = self.supervisor.next_deadline()
        if supervised is not None:
            times.append(supervised)
        return min(times) if times else None

    def send_failed(self, ref: object, now: float) -> list[Action]:
        """An incoming request could not be put on the UE's flow: the flow is gone, 430
        (section 5.3.1); a request towards the core could not be sent: 503 (RFC 3261 16.9)."""
        if not (isinstance(ref, tuple) and len(ref) == 3 and ref[0] in ("incoming", "outgoing")):
            return []
        kind, request, inbound = ref
        if kind == "incoming" and request.method != "ACK":
            return self._reply(request, inbound, 430, "the flow named by the flow token failed")
        if kind == "outgoing" and request.method != "ACK":
            return self._reply(request, inbound, 503, "next hop unreachable")
        return []

    # -- requests -----------------------------------------------------------------------------
    def _request(self, request: Request, flow: FlowInfo, now: float) -> list[Action]:
        try:
            vias = parse_vias(request)
        except ParseError:
            vias = []
        if not vias:
            return []                                    # RFC 3261 18.2.2: no way back
        ack = request.method == "ACK"
        problem = basic_problem(request, vias)
        if problem:
            return [] if ack else self._reply(request, flow, 400, problem)
        self._seen(flow, now)
        mf = max_forwards(request)
        if mf is None or mf == 0:
            return [] if ack else self._reply(request, flow, 483 if mf == 0 else 400)
        work = copy_message(request)
        raw_vias = work.values("Via")
        set_values(work, "Via", [stamp_top_via(raw_vias[0], vias[0], flow)] + raw_vias[1:])
        set_values(work, "Max-Forwards", [str(mf - 1)])
        if request.method == "REGISTER":
            return self._register(request, work, vias, flow, now)
        route = self._own_route(work)
        if route is not None:
            pop_value(work, "Route")                     # section 5.3 / RFC 3261 16.4
            token = route.user
            if not self.rel7 and token and token != REL7_USER:
                return self._token_route(request, work, route, token, flow, now)
        if self.rel7 and not self._from_ue(flow):
            target = self._rel7_target(work)
            if target is not None:
                if not self.flow_exists(target):
                    return [] if ack else self._reply(request, flow, 480,
                                                      "the UE's flow is gone")
                return self._incoming(request, work, target, None, flow, now)
        return self._outgoing(request, work, flow, now)

    def _own_route(self, request: Request) -> SipUri | None:
        routes = request.values("Route")
        if not routes:
            return None
        try:
            uri = parse_name_addr(routes[0]).uri
        except ParseError:
            return None
        return uri if self._names_me(uri) else None

    def _names_me(self, uri: SipUri) -> bool:
        """The URI names this proxy: its UDP/TCP address, or one of its TLS/WS/WSS listeners
        (an absent port is 5061 for sips: or transport=tls, RFC 3261 section 19.1.2)."""
        if is_own_uri(uri, self.address):
            return True
        if not uri.is_sip:
            return False
        tls = uri.scheme == "sips" or (uri.param("transport") or "").lower() == "tls"
        port = uri.port or (5061 if tls else 5060)
        return any(same_host(uri.host, host) and port == p for host, p in self.stream_addresses.values())

    def _token_route(self, request: Request, work: Request, route: SipUri, token: str,
                     flow: FlowInfo, now: float) -> list[Action]:
        ack = request.method == "ACK"
        try:
            target = self.codec.decode(token)
        except TokenError as exc:
            if not self.config.has_fault("accept-forged-token"):
                # Section 5.3.1: "If the flow token has been tampered with, the proxy SHOULD
                # send a 403"; never deliver (section 5.2).
                return [] if ack else self._reply(request, flow, 403, f"bad flow token: {exc.reason}")
            try:
                target = self.codec.decode(token, verify=False)  # FAULT: ignore the HMAC
            except TokenError:
                return [] if ack else self._reply(request, flow, 403, f"bad flow token: {exc.reason}")
        if target.transport == flow.transport and same_host(target.remote[0], flow.remote[0]) \
                and target.remote[1] == flow.remote[1]:
            return self._outgoing(request, work, flow, now)      # section 5.3: outgoing
        if not self.flow_exists(target):
            # Section 5.3.1: "If the flow no longer exists, the proxy SHOULD send a 430".
            return [] if ack else self._reply(request, flow, 430, "the flow no longer exists")
        record = None
        if request.method == "INVITE" and route.has_param("ob"):
            # Section 5.3.1 note: Record-Route with the token, the Route URI minus "ob".
            params = {k: v for k, v in route.params.items() if k != "ob"}
            record = str(SipUri(route.scheme, route.user, host=route.host, port=route.port,
                                params=params))
        if self.config.has_fault("keep-own-route"):
            push_value(work, "Route", request.values("Route")[0])   # FAULT: our Route value kept
        return self._incoming(request, work, target, record, flow, now)

    def _incoming(self, request: Request, work: Request, target: FlowInfo, record: str | None,
                  flow: FlowInfo, now: float) -> list[Action]:
        if record is not None:
            push_value(work, "Record-Route", f"<{record}>")
        branch = self._branch(request, target)
        # sent-by: the listener of the flow's transport, where the UA would connect to send the
        # response if the connection were gone (RFC 3261 section 18.2.2)
        sent_by = self.stream_addresses.get(target.transport, self.address)
        push_value(work, "Via", via_value(target.transport, sent_by, branch))
        self._remember(branch, request, flow, now)
        if self.config.has_fault("edge-route-by-uri"):
            # FAULT: edge-route-by-uri: to the Request-URI's address, not over the token's flow
            uri = safe_uri(work.uri)
            if uri is not None and uri.is_sip:
                transport, address = hop_of_uri(uri, target.transport)
                return [SendToHop(transport, address, bytes(work), ref=("incoming", request, flow))]
        return [SendOnFlow(target, bytes(work), ref=("incoming", request, flow))]

    def _outgoing(self, request: Request, work: Request, flow: FlowInfo, now: float,
                  ue_key: str | None = None, contacts: list[SipUri] | None = None) -> list[Action]:
        routes = work.values("Route")
        if routes:
            try:
                transport, address = hop_of_uri(parse_name_addr(routes[0]).uri, self.core_transport)
            except ParseError:
                return [] if request.method == "ACK" else self._reply(request, flow, 400, "bad Route")
        elif self.next_hop is not None:
            transport, address = self.next_hop[2], (self.next_hop[0], self.next_hop[1])
        else:
            return [] if request.method == "ACK" else self._reply(request, flow, 503, "no next hop")
        if request.method in ("INVITE", "SUBSCRIBE") and not self.rel7 and self._from_ue(flow):
            # Section 5.3.2 note: record-route with a token of the UE's flow, so that
            # mid-dialog requests reach this flow (the NOTIFYs of a reg event subscription too).
            push_value(work, "Record-Route", f"<sip:{self.codec.encode(flow)}@"
                                             f"{bracket(self.address[0])}:{self.address[1]};"
                                             f"transport={transport};lr>")
        branch = self._branch(request, flow)
        push_value(work, "Via", via_value(transport, self.address, branch))
        self._remember(branch, request, flow, now, ue_key, contacts)
        return [SendToHop(transport, address, bytes(work), ref=("outgoing", request, flow))]

    def _register(self, request: Request, work: Request, vias: list[Via], flow: FlowInfo,
                  now: float) -> list[Action]:
        try:
            contacts = [c for c in parse_contacts(request) if not c.star]
            supported = set(parse_option_tags(request.values("Supported")))
        except ParseError as exc:
            return self._reply(request, flow, 400, exc.reason)
        first_hop = len(vias) == 1
        has_reg_id = any(c.has_param("reg-id") for c in contacts)
        ob = first_hop and has_reg_id                      # section 5.1
        if self.config.has_fault("path-without-ob"):
            ob = False                                     # FAULT: no ;ob as first hop
        push_value(work, "Path", self.path_uri(flow, ob))   # section 5.1, RFC 3327 section 5.2
        if "path" in supported and "path" not in {t.lower() for t in work.values("Require")}:
            work.add("Require", "path")                    # RFC 3327 section 5.2 SHOULD
        if self._own_route(work) is not None:
            pop_value(work, "Route")
        return self._outgoing(request, work, flow, now, self._ue_key(request),
                              [c.uri for c in contacts if (c.expires is None or c.expires > 0)])

    # -- responses ----------------------------------------------------------------------------
    def _response(self, response: Response, flow: FlowInfo, now: float) -> list[Action]:
        try:
            top = parse_vias(response)[0]
        except (ParseError, IndexError):
            return []
        if not self._names_me(SipUri("sip", host=top.host, port=top.port)):
            return []                                  # not ours: RFC 3261 section 18.1.2 drop
        cseq = response.cseq
        pending = self.pending.get((top.branch or "", cseq[1] if cseq else ""))
        out = copy_message(response)
        pop_value(out, "Via")                          # RFC 3261 section 16.7 step 3
        if not out.values("Via"):
            return []
        if pending is None:
            return self._by_via(out)
        if cseq and cseq[1] == "REGISTER" and 200 <= response.status < 300:
            self._registered(pending, out, now)
            add_keep(out, self.config.flow_timer)       # RFC 6223 §4.4: willing to receive keep-alives
        data = bytes(out)
        inbound = pending.inbound
        return [SendOnFlow(inbound, data, None if inbound.reliable else udp_destination(out, inbound))]

    def _registered(self, pending: _Pending, response: Response, now: float) -> None:
        if pending.ue_key is not None and pending.contacts:
            self.registered_flows[pending.inbound] = pending.ue_key
            self.registered_flows.move_to_end(pending.inbound)
            while len(self.registered_flows) > MAX_UDP_FLOWS:
                self.registered_flows.popitem(last=False)
            if self.rel7:
                # P2: one flow per UE; the newest registration replaces the stored flow, and
                # every contact the UE registered is reached over that one flow.
                old = self.ues.get(pending.ue_key)
                contacts = [c for c in (old.contacts if old else [])
                            if not any(uri_equal(c, n) for n in pending.contacts)]
                self.ues[pending.ue_key] = _UeRecord(pending.inbound,
                                                     (contacts + pending.contacts)[-64:])
        try:
            required = set(parse_option_tags(response.values("Require")))
        except ParseError:
            required = set()
        if "outbound" in required and self.config.flow_timer and not response.has("Flow-Timer"):
            response.add("Flow-Timer", str(self.config.flow_timer))    # section 5.4 MAY
        if "outbound" in required and self.config.flow_timer and pending.contacts:
            # Section 5.4: the UA now sends keep-alives at least every Flow-Timer seconds (the
            # value it was given, ours or the registrar's); watch for them.
            try:
                value = parse_flow_timer(response.get("Flow-Timer") or "")
            except ParseError:
                value = self.config.flow_timer
            if not self.config.has_fault("ignore-flow-timer"):
                self.supervisor.watch(pending.inbound, value, now)
            # else FAULT: Flow-Timer announced, the flow never supervised

    def _by_via(self, response: Response) -> list[Action]:
        """A response whose request we no longer remember: by the next Via (RFC 3261 16.7)."""
        try:
            nxt = parse_vias(response)[0]
        except (ParseError, IndexError):
            return []
        host = (nxt.received or nxt.host).strip("[]")
        port = int(nxt.rport) if nxt.rport and nxt.rport.isdigit() else (nxt.port or 5060)
        transport = nxt.transport.lower() if nxt.transport.lower() in ("udp", "tcp") else "udp"
        return [SendToHop(transport, (host, port), bytes(response))]

    # -- rel7 and helpers ---------------------------------------------------------------------
    def _from_ue(self, flow: FlowInfo) -> bool:
        """The flow is one a UE registered over (so requests on it come from the access side)."""
        return flow in self.registered_flows

    def _rel7_target(self, request: Request) -> FlowInfo | None:
        try:
            uri = parse_name_addr(f"<{request.uri}>").uri
        except ParseError:
            return None
        for record in self.ues.values():
            if any(uri_equal(uri, c) for c in record.contacts):
                return record.flow
        return None

    def _ue_key(self, request: Request) -> str | None:
        value = request.get("Authorization")
        if value:
            try:
                username = parse_auth(value).get("username")
                if username:
                    return username
            except ParseError:
                pass
        try:
            return canonical_aor(parse_name_addr(request.get("To") or "").uri)
        except (ParseError, AttributeError):
            return None

    def _branch(self, request: Request, flow: FlowInfo) -> str:
        # RFC 3261 section 16.11: the same input gives the same branch (retransmissions, and a
        # CANCEL gets the INVITE's branch); the method is left out for that reason.
        top = request.values("Via")[0] if request.values("Via") else ""
        parts = (top, flow) if (request.top_branch or "").startswith("z9hG4bK") else \
            (top, flow, request.call_id, request.get("From"), request.cseq and request.cseq[0])
        return derived_branch(self._secret, *parts)

    def _remember(self, branch: str, request: Request, flow: FlowInfo, now: float,
                  ue_key: str | None = None, contacts: list[SipUri] | None = None) -> None:
        method = request.method
        key = (branch, "INVITE" if method == "ACK" else method)
        if method == "ACK":
            return
        self.pending[key] = _Pending(flow, request, now + PENDING_LIFETIME, ue_key, contacts or [])
        self.pending.move_to_end(key)
        while len(self.pending) > MAX_PENDING:
            self.pending.popitem(last=False)

    def _reply(self, request: Request, flow: FlowInfo, status: int,
               warning: str | None = None) -> list[Action]:
        try:
            top = parse_vias(request)[0]
        except (ParseError, IndexError):
            return []
        response = build_response(request, status, flow, top_via=top, tag_secret=self.tag_secret,
                                  server=f"{self.config.server_name} edge ({self.config.edge_mode})",
                                  warning=warning, warn_agent=self.config.server_name)
        self.log.append(f"{request.summary()} -> {response.summary()}")
        del self.log[:-1000]
        return [SendOnFlow(flow, bytes(response),
                           None if flow.reliable else udp_destination(response, flow))]


__all__ = ["EdgeProxy", "REL7_USER"]
