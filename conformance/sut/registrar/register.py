"""REGISTER processing of the reference registrar: RFC 3261 section 10.3, RFC 5626 section 6,
RFC 3327 section 5.3, and the Rel-7 replacement rule of TS 24.229 5.1.1.2.1 f) / NOTE 7.

Sans-IO and atomic: the function works on a copy of the AOR's bindings and commits it only
when every contact was processed (RFC 3261 section 10.3: "either processed completely or not
at all").  Any refusal is raised as :class:`Reject` and leaves the table untouched.

Fault hooks are marked ``FAULT:``; each is a one-line deviation switched on by name.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field, replace
from urllib.parse import unquote

from ...sip.errors import ParseError
from ...sip.headers import NameAddr, SipUri, Via, parse_auth, parse_contacts, parse_name_addr, \
    parse_option_tags, parse_uri, uri_equal
from ...sip.message import Request
from ..common.routing import canonical_aor
from ..config import SutConfig
from ..flow import FlowInfo
from .bindings import Binding, BindingTable, TableFull, instance_key

MAX_DELTA = 2 ** 32 - 1          # RFC 3261 section 20.19 / 10.2.1.1 cap on delta-seconds
_DIGITS = re.compile(r"^[0-9]+$")
# RFC 5626 section 10: c-p-instance = "+sip.instance" EQUAL DQUOTE "<" instance-val ">" DQUOTE,
# instance-val = 1*uric (RFC 3261 section 25.1: reserved / unreserved / escaped).
_INSTANCE = re.compile(r'^"<[A-Za-z0-9;/?:@&=+$,\-_.!~*\'()%]+>"$')


@dataclass
class Reject(Exception):
    """Stop processing and answer with this status (the table is not changed)."""

    status: int
    warning: str | None = None
    headers: list[tuple[str, str]] = field(default_factory=list)
    reason: str | None = None


@dataclass
class _Contact:
    value: NameAddr
    expires: int                  # granted expiry, 0 for a removal
    outbound: bool = False        # keyed by (instance, reg-id) -- RFC 5626 section 6 para 8
    instance: str | None = None
    reg_id: int | None = None


def _served(host: str, config: SutConfig, flow: FlowInfo) -> bool:
    host = host.lower().strip("[]")
    return host == config.domain or host == flow.local[0].strip("[]").lower()


def _option_tags(request: Request, name: str) -> set[str]:
    try:
        return set(parse_option_tags(request.values(name)))
    except ParseError as exc:
        raise Reject(400, f"malformed {name}: {exc.reason}") from None


def _requested_expiry(contact: NameAddr, header: int | None, config: SutConfig) -> int:
    """RFC 3261 section 10.3 step 7: the Contact expires parameter, else the Expires header,
    else the local default."""
    if contact.has_param("expires"):
        raw = contact.param("expires")
        if raw is None or not _DIGITS.match(raw):
            raise Reject(400, f"invalid Contact expires parameter {raw!r}")
        return min(int(raw), MAX_DELTA)
    if header is not None:
        return header
    return config.default_expires


def _expires_header(request: Request) -> int | None:
    value = request.get("Expires")
    if value is None:
        return None
    value = value.strip()
    if not _DIGITS.match(value):
        raise Reject(400, f"invalid Expires header {value!r}")
    return min(int(value), MAX_DELTA)


def _reg_id(raw: str | None) -> int:
    """RFC 5626 section 10: reg-id = 1*DIGIT, "MUST NOT be 0 and MUST be less than 2^31"."""
    if raw is None or not _DIGITS.match(raw) or not 0 < int(raw) < 2 ** 31:
        raise Reject(400, f"invalid reg-id {raw!r} (RFC 5626 section 10: 1 to 2^31-1)")
    return int(raw)


class RegisterProcessor:
    """One REGISTER request against the table; call :meth:`run` to get the 2xx headers."""

    def __init__(self, config: SutConfig, table: BindingTable, request: Request, vias: list[Via],
                 flow: FlowInfo, now: float, gruu=None):
        self.config, self.table, self.request = config, table, request
        self.gruu = gruu          # a GruuRegistry (RFC 5627) or None
        self.gruu_ops: list[tuple[Binding, list[Binding]]] = []   # applied after the commit
        self.vias, self.flow, self.now = vias, flow, now
        self.call_id = request.get("Call-ID") or ""
        self.cseq = request.cseq[0] if request.cseq else 0
        self.ob_applied = False   # outbound processing applied to a reg-id Contact (para 6, 8)
        self.late_reject: Reject | None = None   # FAULT bind-despite-reject: refuse after commit

    # -- the steps ---------------------------------------------------------------------------
    def run(self) -> list[tuple[str, str]]:
        self._check_request_uri()                                    # step 1
        # Step 2 (Require, RFC 3261 8.2.2.3) is done by the Registrar for every method.
        aor = self._aor()                                            # step 5
        supported = _option_tags(self.request, "Supported")
        paths = self._paths(supported)                               # RFC 3327 section 5.3
        contacts = self._contacts()
        bindings = self.table.bindings(aor, self.now)
        if contacts and contacts[0].star:
            bindings = self._remove_all(contacts, bindings)          # step 6
        elif contacts:
            planned = self._plan(contacts, supported, paths)         # step 7 and RFC 5626 s6
            self._gruu_loops(aor, planned)                           # RFC 5627 section 5.1
            bindings = self._apply(aor, planned, bindings, paths)
        if contacts:
            try:
                self.table.commit(aor, bindings, self.now)           # step 7, last paragraph
            except TableFull as exc:
                raise Reject(503, f"binding table full: {exc}", [("Retry-After", "60")]) from None
            if self.gruu is not None:                                # RFC 5627 section 5.1
                for new, previous in self.gruu_ops:
                    self.gruu.registered(aor, new, previous, self.call_id, self.cseq,
                                         "gruu" in supported)
        if self.late_reject is not None:
            raise self.late_reject                                   # FAULT: refused, yet bound
        return self._answer(aor, supported, paths)                   # step 8

    def _check_request_uri(self) -> None:
        """Step 1: only bindings of our own domain are kept here (the S-CSCF does not forward
        REGISTER).  The domain may be named by the configured name or by our own address."""
        try:
            uri = parse_uri(self.request.uri)
        except ParseError as exc:
            raise Reject(400, f"malformed Request-URI: {exc.reason}") from None
        if not uri.is_sip:
            raise Reject(416, f"Request-URI scheme {uri.scheme!r} is not sip/sips")
        if not _served(uri.host, self.config, self.flow):
            raise Reject(404, f"domain {uri.host!r} is not served here")

    def _aor(self) -> str:
        """Step 5: the AOR comes from To, must belong to our domain (else 404), and is made
        canonical."""
        try:
            to = parse_name_addr(self.request.get("To") or "")
        except ParseError as exc:
            raise Reject(400, f"malformed To: {exc.reason}") from None
        if not to.uri.is_sip:
            raise Reject(404, f"AOR scheme {to.uri.scheme!r} is not sip/sips")
        if to.uri.host.lower() != self.config.domain:
            raise Reject(404, f"AOR domain {to.uri.host!r} is not {self.config.domain!r}")
        if to.uri.user is None:
            raise Reject(404, "AOR has no user part")
        return canonical_aor(to.uri)

    def _paths(self, supported: set[str]) -> list[str]:
        """RFC 3327 section 5.3: Path present but no Supported: path -> the recommended policy is
        420 naming path.  The values are checked to be name-addrs (section 4: Route syntax)."""
        paths = self.request.values("Path")
        for value in paths:
            try:
                parse_name_addr(value)
            except ParseError as exc:
                raise Reject(400, f"malformed Path: {exc.reason}") from None
        if paths and "path" not in supported and self.config.require_path_support:
            self._refuse(Reject(420, "Path received without Supported: path", [("Unsupported", "path")]))
        return paths

    def _refuse(self, reject: Reject) -> None:
        """Refuse the request; with the fault bind-despite-reject, only after the commit."""
        if not self.config.has_fault("bind-despite-reject"):
            raise reject
        self.late_reject = self.late_reject or reject                # FAULT: keep processing

    def _contacts(self) -> list[NameAddr]:
        try:
            contacts = parse_contacts(self.request)
        except ParseError as exc:
            raise Reject(400, f"malformed Contact: {exc.reason}") from None
        for c in contacts:
            if c.duplicate_params:
                # RFC 3261 section 7.3.1: "any given parameter-name MUST NOT appear more than once".
                raise Reject(400, f"Contact parameter repeated: {', '.join(c.duplicate_params)}")
        if any(c.star for c in contacts):
            # Step 6: a "*" must be the only Contact.  RFC 3261 section 25: STAR takes no params.
            if len(contacts) != 1:
                raise Reject(400, "Contact: * combined with other Contact values")
            if contacts[0].params:
                raise Reject(400, "Contact: * carries parameters")
        return contacts

    def _remove_all(self, contacts: list[NameAddr], bindings: list[Binding]) -> list[Binding]:
        """Step 6: "*" needs Expires: 0; a binding with another Call-ID is removed, one with the
        same Call-ID only when the CSeq is higher, otherwise the request fails."""
        if _expires_header(self.request) != 0:
            raise Reject(400, "Contact: * requires Expires: 0")
        for b in bindings:
            if b.call_id == self.call_id and self.cseq <= b.cseq:
                raise Reject(500, f"CSeq {self.cseq} is not higher than {b.cseq} of a binding "
                                  "with this Call-ID")
        return []

    def _plan(self, contacts: list[NameAddr], supported: set[str], paths: list[str]) -> list[_Contact]:
        cfg = self.config
        header = _expires_header(self.request)
        planned = []
        for c in contacts:
            requested = _requested_expiry(c, header, cfg)
            # Step 7: 423 "if and only if" 0 < requested < 3600 and below the configured minimum.
            if cfg.min_expires and 0 < requested < 3600 and requested < cfg.min_expires:
                self._refuse(Reject(423, f"expiry {requested} below {cfg.min_expires}",
                                    [("Min-Expires", str(cfg.min_expires))]))
            planned.append(_Contact(c, min(requested, cfg.max_expires)))
        if cfg.outbound:
            self._outbound(planned, supported, paths)
            if cfg.reject_non_outbound:
                self._outbound_only(planned, supported)
        return planned

    def _gruu_loops(self, aor: str, planned: list[_Contact]) -> None:
        """RFC 5627 section 5.1, for a Contact with +sip.instance and a non-zero expiry when GRUU
        is on: a Contact URI equivalent to the AOR, or a GRUU of this domain, or not a SIP URI
        "MUST" be rejected with 403 (a routing loop)."""
        if self.gruu is None:
            return
        for p in planned:
            if p.expires == 0 or not p.value.has_param("+sip.instance"):
                continue
            uri = p.value.uri
            if not uri.is_sip:
                raise Reject(403, "a Contact with +sip.instance must be a SIP URI (RFC 5627 section 5.1)")
            own_gruu = uri.has_param("gr") and _served(uri.host, self.config, self.flow)
            if uri_equal(uri, parse_uri(aor)) or own_gruu:
                raise Reject(403, "the Contact is the AOR or one of its GRUUs: a routing loop "
                                  "(RFC 5627 section 5.1)")

    def _outbound_only(self, planned: list[_Contact], supported: set[str]) -> None:
        """RFC 5626 section 6 para 7: "The registrar MAY be configured with local policy to reject
        any registrations that do not include the instance-id and reg-id, or with Path header
        field values that do not contain the "ob" URI parameter" (removals stay allowed).  Without
        Supported: outbound the answer is 421 with Require: outbound (RFC 3261 section 21.4.16),
        otherwise 403."""
        if all(p.outbound or p.expires == 0 for p in planned):
            return
        if "outbound" not in supported:
            raise Reject(421, "local policy: registrations must use outbound (RFC 5626)",
                         [("Require", "outbound")])
        raise Reject(403, "local policy: registrations must use outbound (instance-id, reg-id, "
                          "a first Path URI with ;ob)")

    def _outbound(self, planned: list[_Contact], supported: set[str], paths: list[str]) -> None:
        """RFC 5626 section 6, paragraphs 3 to 5 and 8: decide which Contacts are outbound."""
        first_hop = len(self.vias) == 1                              # para 3: from the Via
        ob = first_hop
        if not first_hop and paths:
            top = parse_name_addr(paths[0]).uri                      # para 3: the first Path URI;
            ob = top.is_sip and top.has_param("ob")                 # "ob" is a SIP URI parameter
        if self.config.has_fault("path-without-ob-accepted"):
            ob = True                                                # FAULT: ignore missing ;ob
        for p in planned:
            raw_instance = p.value.param("+sip.instance")
            if p.value.has_param("+sip.instance") and not _INSTANCE.match(raw_instance or ""):
                raise Reject(400, f"malformed +sip.instance {raw_instance!r} (RFC 5626 section 10)")
        if not ob:
            # Para 3: no outbound processing; 439 if reg-id and Supported: outbound, else the
            # reg-id is ignored.
            if "outbound" in supported and any(p.value.has_param("reg-id") for p in planned):
                raise Reject(439, "not the first hop and the first Path URI lacks ;ob")
            return
        for p in planned:
            if not p.value.has_param("reg-id"):
                continue
            if not p.value.has_param("+sip.instance"):
                continue                                             # para 4: reg-id ignored
            p.outbound, p.instance, p.reg_id = True, p.value.instance, _reg_id(p.value.reg_id)
        live = [p for p in planned if p.expires > 0]
        if len(live) > 1 and any(p.outbound for p in live):
            if self.config.has_fault("commit-rejected-contacts"):
                aor = self._aor()                                    # FAULT: store, then refuse
                self.table.commit(aor, self._apply(aor, planned, self.table.bindings(aor, self.now), paths),
                                  self.now)
            # Para 5: a reg-id registration registers a single flow.
            raise Reject(400, "more than one non-zero Contact in a registration with reg-id")
        self.ob_applied = any(p.outbound for p in planned)

    def _impi(self, aor: str) -> str:
        """The private identity: Authorization username if present, else the AOR (the
        reference does not authenticate; TS 24.229 5.4.1.2.2 identifies the UE this way)."""
        value = self.request.get("Authorization")
        if value:
            try:
                username = parse_auth(value).get("username")
            except ParseError as exc:
                raise Reject(400, f"malformed Authorization: {exc.reason}") from None
            if username:
                return username
        return aor

    def _apply(self, aor: str, planned: list[_Contact], bindings: list[Binding],
               paths: list[str]) -> list[Binding]:
        cfg = self.config
        impi = self._impi(aor)
        direct = len(self.vias) == 1
        current = list(bindings)
        fresh: set[int] = set()
        if cfg.mode == "rel7" and any(p.expires > 0 for p in planned):
            # TS 24.229 5.1.1.2.1 f) and NOTE 7 (a Rel-7 S-CSCF): a new initial registration from
            # the same private identity replaces that identity's earlier contact(s).
            current = [b for b in current if not (b.impi == impi and b.call_id != self.call_id)]
        for p in planned:
            if p.outbound:   # RFC 5626 section 6 para 8: key (AOR, instance-id, reg-id)
                key = instance_key(p.instance)
                match = [b for b in current if b.outbound and b.reg_id == p.reg_id
                         and (b.instance_key == key or cfg.has_fault("key-without-instance"))]  # FAULT
            else:            # RFC 3261 section 10.3 step 7: key (AOR, Contact URI), 19.1.4 rules
                match = [b for b in current if not b.outbound and uri_equal(b.contact.uri, p.value.uri)]
            for b in match:
                if id(b) in fresh:
                    continue                 # written by an earlier Contact of this request
                if b.call_id == self.call_id and self.cseq <= b.cseq:
                    # Step 7: same Call-ID and a CSeq not higher: "the update MUST be aborted".
                    raise Reject(500, f"CSeq {self.cseq} is not higher than {b.cseq} of the "
                                      "binding with this Call-ID")
            new = Binding(
                aor=aor, contact=p.value, instance=p.value.instance, reg_id=p.reg_id,
                call_id=self.call_id, cseq=self.cseq, expires_at=self.now + p.expires,
                path=tuple(paths), flow=self.flow, impi=impi, outbound=p.outbound, direct=direct,
                touched=self.table.next_touch())
            fresh.add(id(new))
            if p.expires > 0 and new.instance is not None:
                self.gruu_ops.append((new, list(bindings)))          # RFC 5627 section 5.1
            if p.expires == 0:
                current = [b for b in current if not any(b is m for m in match)]  # step 7
            elif match:
                if (cfg.has_fault("keep-old-on-reg1b") and p.outbound
                        and match[0].call_id != self.call_id
                        and not uri_equal(match[0].contact.uri, p.value.uri)):
                    current.append(new)                              # FAULT: keep the old flow
                    continue
                if (cfg.has_fault("route-to-replaced-flow") and p.outbound
                        and match[0].call_id != self.call_id):
                    # FAULT: Reg1b keeps the replaced binding's Path and flow (para 10 says
                    # the flow information MUST be updated), so routing uses the old flow.
                    new = replace(new, path=match[0].path, flow=match[0].flow,
                                  direct=match[0].direct)
                # Step 7 "updated otherwise"; RFC 5626 para 10: the flow data is refreshed too.
                current = [new if b is match[0] else b for b in current
                           if not any(b is m for m in match[1:])]
            else:
                if cfg.has_fault("replace-on-new-reg-id") and p.outbound:
                    current = [b for b in current if not (b.outbound and b.instance_key == key)]
                current.append(new)                                  # step 7: added
        if cfg.max_flows:
            self._flow_limit(planned, bindings, current, impi)
        return current

    def _flow_limit(self, planned: list[_Contact], before: list[Binding], after: list[Binding],
                    impi: str) -> None:
        """TS 24.229 5.4.1.2.2: "If the maximum number of simultaneously registration flows
        allowed [...] is reached, then the S-CSCF shall reject the REGISTER by generating a 403
        (Forbidden) response" -- per (IMPU, IMPI, instance); a replacement (Reg1b) adds none."""
        def flows(bindings: list[Binding], key: str) -> int:
            return sum(1 for b in bindings if b.outbound and b.instance_key == key and b.impi == impi)

        for key in {instance_key(p.instance) for p in planned if p.outbound and p.expires > 0}:
            if flows(after, key) > self.config.max_flows and flows(after, key) > flows(before, key):
                self._refuse(Reject(403, f"maximum number of flows ({self.config.max_flows}) reached "
                                         "for this instance (TS 24.229 5.4.1.2.2)"))

    # -- the 2xx -----------------------------------------------------------------------------
    def _answer(self, aor: str, supported: set[str], paths: list[str]) -> list[tuple[str, str]]:
        cfg = self.config
        headers: list[tuple[str, str]] = []
        listed = self.table.bindings(aor, self.now)
        if cfg.has_fault("list-only-newest") and listed:
            listed = [max(listed, key=lambda b: b.touched)]          # FAULT: hide older bindings
        bare = cfg.has_fault("fetch-strips-params") and not self.request.values("Contact")
        gruus = self.gruu if "gruu" in supported else None          # RFC 5627 section 5.2
        for b in listed:                     # step 8: every current binding, with "expires"
            value = render_contact(b, self.now, gruus)
            if bare:                                                 # FAULT: feature params dropped
                value = str(NameAddr(uri=b.contact.uri, params={"expires": str(b.remaining(self.now))}))
            headers.append(("Contact", value))
        # RFC 5626 section 6 para 8 and para 6; RFC 3261 8.2.4 (no extension without Supported).
        require_ob = self.ob_applied and "outbound" in supported
        if cfg.has_fault("omit-require-outbound"):
            require_ob = False                                       # FAULT
        if cfg.has_fault("require-without-supported"):
            require_ob = True                                        # FAULT
        if require_ob:
            headers.append(("Require", "outbound"))
            if cfg.flow_timer and len(self.vias) == 1:
                headers.append(("Flow-Timer", str(cfg.flow_timer)))  # para 11: direct flow only
        if paths and "path" in supported:
            headers.extend(("Path", v) for v in paths)               # RFC 3327 section 5.3
        return headers


def render_contact(binding: Binding, now: float, gruus=None) -> str:
    """A Contact value for a 2xx: the stored URI and parameters (RFC 5626 section 6 para 8,
    RFC 3840 section 6) with ``expires`` replaced by the remaining lifetime (step 8).  With
    ``gruus`` (a GruuRegistry, the REGISTER had Supported: gruu) a binding with an instance gets
    its "pub-gruu" and the newest "temp-gruu" as quoted strings (RFC 5627 section 5.2); any
    pub-gruu/temp-gruu the UA sent is never echoed (section 5.1: MUST be ignored)."""
    c: NameAddr = binding.contact
    params = {k: v for k, v in c.params.items() if k not in ("expires", "pub-gruu", "temp-gruu")}
    if gruus is not None and binding.instance is not None:
        pub, temp = gruus.pub_gruu(binding), gruus.temp_gruu(binding)
        if pub is not None:
            params["pub-gruu"] = f'"{pub}"'
        if temp is not None:
            params["temp-gruu"] = f'"{temp}"'
    params["expires"] = str(binding.remaining(now))
    return str(NameAddr(uri=c.uri, display=c.display, params=params))


__all__ = ["Reject", "RegisterProcessor", "render_contact"]
