"""Terminating routing of the reference S-CSCF: a stateful proxy, sans-IO.

RFC 5626 section 7 on top of RFC 3261 section 16 and RFC 3327 section 5.4.  A request for a
registered AOR of our domain is forwarded to the AOR's current bindings:

* Target set (RFC 3261 section 16.5, RFC 5626 section 7 bullet 1): bindings that carry an
  instance-id are grouped by (AOR, instance); a group has ONE branch at a time ("MUST NOT
  populate the target set with more than one contact with the same AOR and instance-id at a
  time"), the most recently registered or refreshed binding first.  Bindings without instance
  are targets of their own.  Groups are forked in parallel (TP_TERM_007).
* Each branch (RFC 3261 section 16.6): Request-URI = the Contact URI (step 2); Route = the
  stored Path, in order, as a preloaded route (RFC 3327 section 5.4), ahead of any Route still
  in the request; Max-Forwards decremented (step 3); Record-Route with ;lr for INVITE (step 4);
  our Via with a fresh branch (step 8).  Without Path and with a direct flow the request goes
  over that flow (RFC 5626 section 7, "MUST send the request over the same 'logical flow'").
  Otherwise to the top Route (or the Request-URI).
* Retry (RFC 5626 section 7 bullets 2 and 3): after a 430 or 408 (a timeout and a transport
  error count as such) the group tries its next binding with a different reg-id; after any
  other final response it stops.
* Responses (RFC 3261 section 16.7): provisional ones other than 100 are forwarded; every 2xx is
  forwarded at once (for INVITE the other branches are cancelled, step 10); when all branches
  are done the best final response goes upstream: a 6xx if any, else the lowest class, first
  received; 503 becomes 500 (step 6) and 430 becomes 480 (RFC 5626 section 11.5: "Endpoints
  should never receive a 430 response").
* Client transactions (RFC 3261 section 17.1): Timer A/E retransmissions on UDP, and a
  deadline of ``branch_timeout`` seconds (Timer B/F, bounded; after a provisional to INVITE,
  Timer C of 180 s).  An INVITE branch ending in a non-2xx final is acknowledged hop by hop
  (section 17.1.1.3).  CANCEL (section 16.10) is answered 200 and sent to branches that have
  had a provisional response (section 9.1), the rest when one arrives.
* Mid-dialog requests that carry our Route (we record-routed the INVITE) are forwarded to the
  next Route or the Request-URI; ACK for a 2xx is forwarded statelessly.

Everything returns a list of :mod:`~conformance.sut.actions` for the server to perform; time is passed in.
"""

from __future__ import annotations

import itertools
import logging
import secrets
from dataclasses import dataclass, field

from ...sip.errors import ParseError
from ...sip.headers import SipUri, parse_name_addr, parse_via, parse_vias, uri_equal
from ...sip.message import Request, Response, parse_message
from ..actions import Action, SendOnFlow, SendToHop
from ..common.responses import build_response, stamp_top_via
from ..common.routing import bracket, canonical_aor, copy_message, derived_branch, hop_of_uri, \
    is_own_uri, max_forwards, names_listener, pop_value, push_value, safe_uri, sent_by, \
    set_values, udp_destination, via_value
from ..config import SutConfig
from ..flow import FlowInfo
from .bindings import Binding
from .registrar import Registrar
from .transactions import transaction_key

log = logging.getLogger(__name__)

T1, T2 = 0.5, 4.0            # RFC 3261 section 17.1.1.1
TIMER_C = 180.0              # RFC 3261 section 16.6 step 11 (greater than 3 minutes: bounded here)
LINGER = 32.0                # how long a finished context absorbs retransmissions (Timer J)
MAX_CONTEXTS = 4096
RETRYABLE = (408, 430)       # RFC 5626 section 7 bullet 3


@dataclass
class Target:
    """Where one branch goes."""

    uri: str
    route: tuple[str, ...] = ()
    flow: FlowInfo | None = None                    # a direct flow to reuse
    hop: tuple[str, tuple[str, int]] | None = None  # (transport, address) otherwise
    binding: Binding | None = None

    @property
    def transport(self) -> str:
        return self.flow.transport if self.flow is not None else self.hop[0]


def _plain(transport: str) -> str:
    """The default transport towards a hop whose URI names none: the flow's when it is UDP or
    TCP; TCP for a TLS / WebSocket flow (the reference opens no TLS or WebSocket connections)."""
    return transport if transport in ("udp", "tcp") else "tcp"


def _rr_transport(target: Target, inbound: FlowInfo) -> str:
    """The transport of our Record-Route: the target's when it is UDP or TCP.  Our address is
    the UDP/TCP port, so a TLS / WebSocket target (whose UA reaches us over its own connection
    anyway, RFC 7118 section 5) gets the upstream side's, or TCP."""
    for t in (target.transport, inbound.transport):
        if t in ("udp", "tcp"):
            return t
    return "tcp"


@dataclass
class Group:
    """The bindings of one (AOR, instance), or one binding without instance."""

    candidates: list[Target]
    tried: list[Target] = field(default_factory=list)

    def next_target(self) -> Target | None:
        used_reg_ids = {t.binding.reg_id for t in self.tried if t.binding and t.binding.reg_id}
        for t in self.candidates:
            if any(t is u for u in self.tried):
                continue
            if t.binding is not None and t.binding.reg_id in used_reg_ids:
                continue                         # section 7: "a different reg-id"
            return t
        return None


@dataclass
class Branch:
    id: str
    context: "Context"
    group: Group | None
    target: Target
    request: Request
    data: bytes
    deadline: float
    retransmit_at: float | None = None
    interval: float = T1
    state: str = "calling"                       # calling, proceeding, completed
    cancel_wanted: bool = False
    cancel_sent: bool = False
    ack: bytes | None = None


@dataclass
class Context:
    """One server transaction towards the upstream client (RFC 3261 section 16 "response
    context")."""

    key: object
    request: Request              # as received (own Route removed), the base for every branch
    original: Request             # exactly as received, for locally generated responses
    flow: FlowInfo
    branches: list[Branch] = field(default_factory=list)
    groups: list[Group] = field(default_factory=list)
    finals: list[Response] = field(default_factory=list)
    last_response: bytes | None = None
    final_sent: bool = False
    got_2xx: bool = False
    got_6xx: bool = False
    cancelled: bool = False
    expires_at: float | None = None

    @property
    def method(self) -> str:
        return self.request.method


class TerminatingProxy:
    """The S-CSCF's proxy core.  ``address`` is where it listens (Via, Record-Route)."""

    def __init__(self, config: SutConfig, registrar: Registrar,
                 address: tuple[str, int] = ("127.0.0.1", 5060)):
        self.config = config
        self.registrar = registrar
        self.address = address
        # the server's TLS / WS / WSS listeners, transport -> (host, port): own in Route too
        self.stream_addresses: dict[str, tuple[str, int]] = {}
        self.contexts: dict[object, Context] = {}
        self.branches: dict[str, Branch] = {}
        self._ids = itertools.count(1)
        self._secret = secrets.token_bytes(8)

    # -- classification -----------------------------------------------------------------------
    def is_ours(self, uri: SipUri) -> bool:
        """The Request-URI names our domain (or our own address)."""
        return uri.is_sip and (uri.host.lower() == self.config.domain
                               or is_own_uri(uri, self.address)
                               or names_listener(uri, self.stream_addresses))

    def _own_route(self, request: Request) -> bool:
        routes = request.values("Route")
        if not routes:
            return False
        try:
            uri = parse_name_addr(routes[0]).uri
            return is_own_uri(uri, self.address, (self.config.domain,)) \
                or names_listener(uri, self.stream_addresses)
        except ParseError:
            return False

    def wants(self, request: Request) -> bool:
        """Whether this request is the proxy's (else the registrar answers it as a UAS):
        not REGISTER; CANCEL and ACK only when they match a context or are routed through us;
        otherwise a Request-URI with a user part of our domain, or a Route naming us."""
        if request.method == "REGISTER":
            return False
        if request.method in ("CANCEL", "ACK"):
            return self._match(request) is not None or self._own_route(request) \
                or request.method == "ACK"
        uri = safe_uri(request.uri)
        if uri is None:
            return False
        # Addressed to us as a UAS (OPTIONS sip:domain): the registrar answers; anything else
        # is routed (a user of ours: terminating; another domain: 404 unless routed via us).
        return not (self.is_ours(uri) and uri.user is None)

    # -- requests -----------------------------------------------------------------------------
    def _match(self, request: Request) -> Context | None:
        try:
            top = parse_vias(request)[0]
        except (ParseError, IndexError):
            return None
        key = transaction_key(request, top.branch, (top.host, top.port))
        if request.method == "CANCEL":
            key = key[:-1] + ("INVITE",)        # RFC 3261 section 9.2: CANCEL matches the INVITE
        return self.contexts.get(key)

    def handle_request(self, request: Request, flow: FlowInfo, now: float) -> list[Action]:
        try:
            return self._request(request, flow, now)
        except Exception as exc:  # noqa: BLE001 - nothing escapes; answer 500 where possible
            log.exception("terminating proxy: internal error")
            if request.method == "ACK":
                return []
            return self._reply(request, flow, 500, warning=f"internal error: {exc!r}")

    def _request(self, request: Request, flow: FlowInfo, now: float) -> list[Action]:
        vias = parse_vias(request)
        top = vias[0]
        key = transaction_key(request, top.branch, (top.host, top.port))
        ctx = self.contexts.get(key)
        if request.method == "ACK":
            if ctx is not None:
                return []                       # ACK of our non-2xx final (section 17.2.1)
            return self._forward_stateless(request, flow)
        if request.method == "CANCEL":
            return self._cancel(request, flow, now)
        if ctx is not None:                     # retransmission (RFC 3261 section 17.2.2)
            return [self._upstream(ctx, ctx.last_response)] if ctx.last_response else []
        mf = max_forwards(request)
        if mf is None:
            return self._reply(request, flow, 400, warning="invalid Max-Forwards")
        if mf == 0:
            return self._reply(request, flow, 483)              # section 16.3 step 3
        work = copy_message(request)
        vias_raw = work.values("Via")                # RFC 3261 18.2.1 / RFC 3581: received, rport
        set_values(work, "Via", [stamp_top_via(vias_raw[0], top, flow)] + vias_raw[1:])
        own_route = self._own_route(work)
        if own_route:
            pop_value(work, "Route")            # section 16.4: loose routing, remove our value
        ctx = Context(key, work, request, flow)
        self._store(ctx, now)
        actions: list[Action] = []
        if request.method == "INVITE":
            trying = self._local(request, flow, 100)
            ctx.last_response = bytes(trying)
            actions.append(self._upstream(ctx, ctx.last_response))   # section 16.2
        uri = safe_uri(work.uri)
        if work.values("Route"):
            r = parse_name_addr(work.values("Route")[0]).uri
            target = Target(uri=work.uri, hop=hop_of_uri(r, _plain(flow.transport)))
            ctx.groups = [Group([target])]
        elif (uri is not None and self.is_ours(uri) and uri.user is not None
              and uri.has_param("gr") and self.registrar.gruu is not None):
            groups = self._gruu_groups(uri, now)                     # RFC 5627 section 6.1
            if groups is None:
                return actions + self._final_local(ctx, 404, "not a valid GRUU of this domain", now)
            if not groups:
                return actions + self._final_local(ctx, 480, "no contact bound to this GRUU", now)
            ctx.groups = groups
        elif uri is not None and self.is_ours(uri) and uri.user is not None:
            ctx.groups = self._target_groups(uri, now)
            if not ctx.groups:
                # RFC 3261 section 16.5: an empty target set; 480 recommended.
                return actions + self._final_local(ctx, 480, "no registered contact", now)
        elif uri is not None and uri.is_sip and own_route:
            ctx.groups = [Group([self._uri_target(uri, _plain(flow.transport))])]
        else:
            return actions + self._final_local(ctx, 404, "not a user of this domain", now)
        for group in ctx.groups:
            actions += self._start(ctx, group, now)
        return actions + self._maybe_finish(ctx, now)

    def _target_groups(self, uri: SipUri, now: float) -> list[Group]:
        if is_own_uri(uri, self.address) or names_listener(uri, self.stream_addresses):
            uri = SipUri(uri.scheme, uri.user, host=self.config.domain)
        bindings = self.registrar.table.bindings(canonical_aor(uri), now)
        groups: dict[object, list[Binding]] = {}
        for b in bindings:
            key = ("instance", b.instance_key) if b.instance else ("contact", id(b))
            groups.setdefault(key, []).append(b)
        out = []
        for members in groups.values():
            members.sort(key=lambda b: b.touched, reverse=True)     # the most recent first
            out.append(Group([self._binding_target(b) for b in members]))
        return out

    def _gruu_groups(self, uri: SipUri, now: float) -> list[Group] | None:
        """RFC 5627 section 6.1: a GRUU resolves to the contacts of its AOR and instance only;
        None when it is no valid GRUU (404), [] when none is bound (480).  The instance's flows
        are one group, tried one at a time, the most recent first (RFC 5626 section 7)."""
        gruus = self.registrar.gruu
        found = gruus.resolve(uri)
        if found is None:
            return None
        live = self.registrar.table.bindings(found.aor, now)
        if found.temporary and gruus.resolve(uri, live) is None:
            return None                          # section 5.3: its last contact had gone
        members = sorted((b for b in live if b.instance_key == found.instance),
                         key=lambda b: b.touched, reverse=True)
        if not members:
            return []
        if self.config.has_fault("gruu-route-all-flows"):
            return [Group([self._binding_target(b)]) for b in members]   # FAULT: fork to all flows
        return [Group([self._binding_target(b) for b in members])]

    def _binding_target(self, b: Binding) -> Target:
        uri = str(b.contact.uri)
        if self.config.has_fault("route-by-contact") or (
                self.config.has_fault("ws-route-by-contact") and b.flow is not None
                and b.flow.transport in ("ws", "wss")):
            # FAULT: route-by-contact (ws-route-by-contact: for WebSocket flows, whose Contact
            # host is .invalid, RFC 7118 section 5): to the Contact's address, ignoring the flow
            # and the Path
            default = _plain(b.flow.transport) if b.flow is not None else "udp"
            return Target(uri, hop=hop_of_uri(b.contact.uri, default), binding=b)
        if b.path:
            first = parse_name_addr(b.path[0]).uri
            default = _plain(b.flow.transport) if b.flow is not None else "udp"
            return Target(uri, tuple(b.path), hop=hop_of_uri(first, default), binding=b)
        if b.direct and b.flow is not None:
            return Target(uri, flow=b.flow, binding=b)              # RFC 5626 section 7
        return Target(uri, hop=hop_of_uri(b.contact.uri, "udp"), binding=b)

    def _uri_target(self, uri: SipUri, default: str) -> Target:
        """A target for a mid-dialog Request-URI: over a registered direct flow when the URI is
        a registered contact (the UA is behind that flow), else to the URI's address."""
        for aor in self.registrar.table.aors():
            for b in self.registrar.table.stored(aor):
                if b.direct and b.flow is not None and not b.path and uri_equal(b.contact.uri, uri):
                    return Target(str(uri), flow=b.flow)
        return Target(str(uri), hop=hop_of_uri(uri, default))

    def _start(self, ctx: Context, group: Group, now: float) -> list[Action]:
        """Start the group's next branch (RFC 3261 section 16.6); [] if none is left."""
        if ctx.cancelled or ctx.got_6xx or (ctx.got_2xx and ctx.method != "INVITE"):
            return []
        target = group.next_target()
        if target is None:
            return []
        group.tried.append(target)
        bid = f"z9hG4bK-p{next(self._ids)}{secrets.token_hex(4)}"
        fwd = copy_message(ctx.request)
        fwd.uri = target.uri                                     # step 2
        set_values(fwd, "Route", list(target.route) + fwd.values("Route"))  # RFC 3327 s5.4
        set_values(fwd, "Max-Forwards", [str((max_forwards(ctx.request) or 70) - 1)])  # step 3
        if ctx.method == "INVITE":                                # step 4
            push_value(fwd, "Record-Route", f"<sip:{bracket(self.address[0])}:{self.address[1]};"
                                            f"transport={_rr_transport(target, ctx.flow)};lr>")
        push_value(fwd, "Via", via_value(target.transport,                       # step 8
                                         sent_by(self.address, target.transport, self.stream_addresses),
                                         bid))
        data = bytes(fwd)
        branch = Branch(bid, ctx, group, target, fwd, data, deadline=now + self.config.branch_timeout)
        if target.transport == "udp":
            branch.retransmit_at = now + T1
        ctx.branches.append(branch)
        self.branches[bid] = branch
        return [self._send(branch, data, ("branch", bid))]

    def _send(self, branch: Branch, data: bytes, ref: object) -> Action:
        t = branch.target
        if t.flow is not None:
            return SendOnFlow(t.flow, data, ref=ref)
        return SendToHop(t.hop[0], t.hop[1], data, ref=ref)

    # -- CANCEL -------------------------------------------------------------------------------
    def _cancel(self, request: Request, flow: FlowInfo, now: float) -> list[Action]:
        ctx = self._match(request)
        if ctx is None or ctx.method != "INVITE":
            return self._reply(request, flow, 481)              # RFC 3261 section 9.2
        actions = self._reply(request, flow, 200)                # section 16.10
        if ctx.final_sent or ctx.cancelled:
            return actions
        ctx.cancelled = True
        for b in ctx.branches:
            if b.state == "proceeding":
                actions += self._send_cancel(b)
            elif b.state == "calling":
                b.cancel_wanted = True           # section 9.1: wait for a provisional response
        return actions + self._maybe_finish(ctx, now)

    def _send_cancel(self, branch: Branch) -> list[Action]:
        if branch.cancel_sent:
            return []
        branch.cancel_sent = True
        req = branch.request
        headers = [("Via", req.values("Via")[0])]
        headers += [("Route", r) for r in req.values("Route")]
        headers += [("Max-Forwards", "70"), ("From", req.get("From") or ""),
                    ("To", req.get("To") or ""), ("Call-ID", req.get("Call-ID") or ""),
                    ("CSeq", f"{req.cseq[0] if req.cseq else 1} CANCEL"), ("Content-Length", "0")]
        cancel = Request(method="CANCEL", uri=req.uri, headers=headers)
        return [self._send(branch, bytes(cancel), None)]

    # -- responses ----------------------------------------------------------------------------
    def handle_response(self, response: Response, flow: FlowInfo, now: float) -> list[Action]:
        try:
            return self._response(response, flow, now)
        except Exception:  # noqa: BLE001
            log.exception("terminating proxy: internal error on a response")
            return []

    def _response(self, response: Response, flow: FlowInfo, now: float) -> list[Action]:
        try:
            top = parse_via(response.values("Via")[0])
        except (ParseError, IndexError):
            return []
        branch = self.branches.get(top.branch or "")
        cseq = response.cseq
        if branch is None:
            return self._stray(response)
        if cseq is None or cseq[1] != branch.request.method:
            return []                                # e.g. the 200 to our CANCEL
        ctx = branch.context
        status = response.status
        if status < 200:
            if branch.state == "calling":
                branch.state = "proceeding"
                if branch.request.method == "INVITE":
                    branch.retransmit_at = None      # section 17.1.1.2: stop Timer A
                    branch.deadline = now + TIMER_C  # section 16.6 step 11
                elif branch.retransmit_at is not None:
                    branch.interval = T2
            actions: list[Action] = []
            if branch.cancel_wanted or ctx.cancelled:
                actions += self._send_cancel(branch)
            if status != 100 and not ctx.final_sent:             # section 16.7 step 5
                out = self._strip(response)
                ctx.last_response = bytes(out)
                actions.append(self._upstream(ctx, ctx.last_response))
            return actions
        if branch.state == "completed":
            # a retransmitted final: re-ACK a non-2xx, forward a 2xx to INVITE again
            if 200 <= status < 300 and branch.request.method == "INVITE":
                return [self._upstream(ctx, bytes(self._strip(response)))]
            return [self._send(branch, branch.ack, None)] if branch.ack else []
        return self._branch_final(branch, response, now)

    def _branch_final(self, branch: Branch, response: Response, now: float,
                      synthetic: bool = False, retry: bool | None = None) -> list[Action]:
        ctx = branch.context
        branch.state = "completed"
        branch.retransmit_at = None
        status = response.status
        actions: list[Action] = []
        if branch.request.method == "INVITE" and status >= 300 and not synthetic:
            branch.ack = bytes(self._ack(branch, response))          # section 17.1.1.3
            actions.append(self._send(branch, branch.ack, None))
        if 200 <= status < 300:
            ctx.got_2xx = True
            out = self._strip(response)
            actions.append(self._upstream(ctx, bytes(out)))          # section 16.7 step 5
            if not ctx.final_sent:
                ctx.final_sent = True
                ctx.last_response = bytes(out)
                ctx.expires_at = now + LINGER
            if ctx.method == "INVITE":
                for b in ctx.branches:                               # section 16.7 step 10
                    if b.state == "proceeding":
                        actions += self._send_cancel(b)
                    elif b.state == "calling":
                        b.cancel_wanted = True
            return actions + self._maybe_finish(ctx, now)
        ctx.finals.append(response if synthetic else self._strip(response))
        if status >= 600 and not self.config.has_fault("retry-after-any-final"):
            ctx.got_6xx = True
            if ctx.method == "INVITE":
                for b in ctx.branches:
                    if b.state == "proceeding":
                        actions += self._send_cancel(b)
                    elif b.state == "calling":
                        b.cancel_wanted = True
        elif (status in RETRYABLE if retry is None else retry) and branch.group is not None:
            actions += self._start(ctx, branch.group, now)           # RFC 5626 section 7
        elif self.config.has_fault("retry-after-any-final") and branch.group is not None:
            # FAULT: retry-after-any-final: the instance's next binding after a 486 or a 6xx too
            actions += self._start(ctx, branch.group, now)           # RFC 5626 section 7
        # any other final: no other binding of this instance (section 7, MUST NOT)
        return actions + self._maybe_finish(ctx, now)

    def _maybe_finish(self, ctx: Context, now: float) -> list[Action]:
        if ctx.final_sent or any(b.state != "completed" for b in ctx.branches):
            return []
        ctx.final_sent = True
        ctx.expires_at = now + LINGER
        if ctx.cancelled:
            best = self._local(ctx.original, ctx.flow, 487)
        else:
            best = self._best(ctx)
        ctx.last_response = bytes(best)
        return [self._upstream(ctx, ctx.last_response)]

    def _best(self, ctx: Context) -> Response:
        """RFC 3261 section 16.7 step 6: a 6xx if any, else the lowest class, first received."""
        if not ctx.finals:
            return self._local(ctx.original, ctx.flow, 480, "no branch could be tried")
        sixes = [r for r in ctx.finals if r.status >= 600]
        best = sixes[0] if sixes else min(ctx.finals, key=lambda r: r.status // 100)
        if best.status == 503:
            return self._converted(best, 500, "Server Internal Error")
        if best.status == 430:
            # RFC 5626 section 11.5: 430 is meant for the authoritative proxy, not endpoints.
            return self._converted(best, 480, "Temporarily Unavailable")
        return best

    @staticmethod
    def _converted(response: Response, status: int, reason: str) -> Response:
        out = copy_message(response)
        out.status, out.reason = status, reason
        return out

    def _ack(self, branch: Branch, response: Response) -> Request:
        req = branch.request
        headers = [("Via", req.values("Via")[0])]
        headers += [("Route", r) for r in req.values("Route")]
        headers += [("Max-Forwards", "70"), ("From", req.get("From") or ""),
                    ("To", response.get("To") or req.get("To") or ""),
                    ("Call-ID", req.get("Call-ID") or ""),
                    ("CSeq", f"{req.cseq[0] if req.cseq else 1} ACK"), ("Content-Length", "0")]
        return Request(method="ACK", uri=req.uri, headers=headers)

    def _strip(self, response: Response) -> Response:
        out = copy_message(response)
        pop_value(out, "Via")                                     # section 16.7 step 3
        return out

    def _stray(self, response: Response) -> list[Action]:
        """Section 16.7 step 1 / 16.11: only a 2xx to INVITE with our Via on top is forwarded
        without a context, by the next Via."""
        cseq = response.cseq
        if not (200 <= response.status < 300 and cseq and cseq[1] == "INVITE"):
            return []
        try:
            top = parse_via(response.values("Via")[0])
        except (ParseError, IndexError):
            return []
        own = SipUri("sip", host=top.host, port=top.port)
        if not (is_own_uri(own, self.address) or names_listener(own, self.stream_addresses)):
            return []
        out = self._strip(response)
        try:
            nxt = parse_via(out.values("Via")[0])
        except (ParseError, IndexError):
            return []
        host = (nxt.received or nxt.host).strip("[]")
        port = int(nxt.rport) if nxt.rport and nxt.rport.isdigit() else (nxt.port or 5060)
        return [SendToHop(nxt.transport.lower() if nxt.transport.lower() in ("udp", "tcp") else "udp",
                          (host, port), bytes(out))]

    # -- stateless forwarding (ACK for 2xx) ---------------------------------------------------
    def _forward_stateless(self, request: Request, flow: FlowInfo) -> list[Action]:
        mf = max_forwards(request)
        if not mf:
            return []
        fwd = copy_message(request)
        if self._own_route(fwd):
            pop_value(fwd, "Route")
        routes = fwd.values("Route")
        uri = safe_uri(fwd.uri)
        if routes:
            try:
                target = Target(fwd.uri, hop=hop_of_uri(parse_name_addr(routes[0]).uri,
                                                                   _plain(flow.transport)))
            except ParseError:
                return []
        elif uri is not None and uri.is_sip and not (self.is_ours(uri) and uri.user is not None):
            if self.is_ours(uri):
                return []
            target = self._uri_target(uri, _plain(flow.transport))
        else:
            return []
        set_values(fwd, "Max-Forwards", [str(mf - 1)])
        branch = derived_branch(self._secret, request.top_branch, request.call_id)
        push_value(fwd, "Via", via_value(target.transport,
                                         sent_by(self.address, target.transport, self.stream_addresses),
                                         branch))
        data = bytes(fwd)
        if target.flow is not None:
            return [SendOnFlow(target.flow, data)]
        return [SendToHop(target.hop[0], target.hop[1], data)]

    # -- timers and transport errors ----------------------------------------------------------
    def next_deadline(self) -> float | None:
        times = []
        for b in self.branches.values():
            if b.state != "completed":
                times.append(b.deadline)
                if b.retransmit_at is not None:
                    times.append(b.retransmit_at)
        times += [c.expires_at for c in self.contexts.values() if c.expires_at is not None]
        return min(times) if times else None

    def on_timer(self, now: float) -> list[Action]:
        actions: list[Action] = []
        for b in list(self.branches.values()):
            if b.state == "completed":
                continue
            if b.deadline <= now:
                # Timer B/F/C fired: the branch behaves as if it got a 408 (RFC 3261 16.8).
                actions += self._timeout(b, now, 408)
            elif b.retransmit_at is not None and b.retransmit_at <= now:
                actions.append(self._send(b, b.data, None))
                if b.request.method == "INVITE":
                    b.interval *= 2                                  # Timer A
                else:
                    b.interval = min(b.interval * 2, T2)             # Timer E
                b.retransmit_at = now + b.interval
        for key, ctx in list(self.contexts.items()):
            if ctx.expires_at is not None and ctx.expires_at <= now:
                self._drop(key)
        return actions

    def _timeout(self, branch: Branch, now: float, status: int, note: str = "") -> list[Action]:
        ctx = branch.context
        synthetic = self._local(ctx.original, ctx.flow, status, note or None)
        return self._branch_final(branch, synthetic, now, synthetic=True)

    def send_failed(self, ref: object, now: float) -> list[Action]:
        """A branch could not be sent: RFC 3261 section 16.9, a 503 for that branch; for the
        RFC 5626 section 7 retry it counts like a 430 (the flow is gone)."""
        if not (isinstance(ref, tuple) and ref and ref[0] == "branch"):
            return []
        branch = self.branches.get(ref[1])
        if branch is None or branch.state == "completed":
            return []
        ctx = branch.context
        response = self._local(ctx.original, ctx.flow, 503, "transport error towards the target")
        return self._branch_final(branch, response, now, synthetic=True, retry=True)

    def flow_closed(self, flow: FlowInfo) -> None:
        """Nothing to do for contexts: a branch on a closed flow fails on send or times out."""

    # -- helpers ------------------------------------------------------------------------------
    def _store(self, ctx: Context, now: float) -> None:
        self.contexts[ctx.key] = ctx
        while len(self.contexts) > MAX_CONTEXTS:
            oldest = next(iter(self.contexts))
            self._drop(oldest)

    def _drop(self, key: object) -> None:
        ctx = self.contexts.pop(key, None)
        if ctx is not None:
            for b in ctx.branches:
                self.branches.pop(b.id, None)

    def _local(self, request: Request, flow: FlowInfo, status: int,
               warning: str | None = None) -> Response:
        try:
            top = parse_vias(request)[0]
        except (ParseError, IndexError):
            top = None
        return build_response(request, status, flow, top_via=top,
                              tag_secret=self.registrar.tag_secret,
                              server=self.registrar.server_header, warning=warning,
                              warn_agent=self.config.server_name)

    def _reply(self, request: Request, flow: FlowInfo, status: int,
               warning: str | None = None) -> list[Action]:
        response = self._local(request, flow, status, warning)
        data = bytes(response)
        return [SendOnFlow(flow, data, udp_destination(response, flow) if not flow.reliable else None)]

    def _final_local(self, ctx: Context, status: int, warning: str, now: float) -> list[Action]:
        response = self._local(ctx.original, ctx.flow, status, warning)
        ctx.final_sent = True
        ctx.last_response = bytes(response)
        ctx.expires_at = now + LINGER
        return [self._upstream(ctx, ctx.last_response)]

    def _upstream(self, ctx: Context, data: bytes) -> Action:
        """Responses go back over the flow the request came on (RFC 3261 section 18.2.2;
        for UDP to received/rport of the stamped Via, RFC 3581 section 4)."""
        if ctx.flow.reliable:
            return SendOnFlow(ctx.flow, data)
        try:
            response = parse_message(data)
            address = udp_destination(response, ctx.flow)
        except ParseError:
            address = ctx.flow.remote
        return SendOnFlow(ctx.flow, data, address)


__all__ = ["Branch", "Context", "Group", "Target", "TerminatingProxy"]
