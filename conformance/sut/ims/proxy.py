"""The reference IMS P-CSCF: the edge proxy with IMS AKA and sec-agree, sans-IO.

:class:`ImsEdgeProxy` is :class:`~conformance.sut.edge.proxy.EdgeProxy` plus the TS 33.203 / TS 24.229 security
set-up between UE and P-CSCF.  For the lab it also plays the authentication part of the
S-CSCF/HSS: it holds the subscriber table (``SutConfig.subscribers``, ``"*"`` for any IMPI) and
one AuC per IMPI (:class:`~conformance.ims.aka.AuthCentre`).

Initial REGISTER (unprotected, on the ordinary port, with ``sec-agree`` in Require or
Proxy-Require)
  * more than one Via: 502, no sec-agree (RFC 3329 §2.3.2: "If there are several Via entries,
    the server is not the first-hop SIP entity, and it MUST NOT use this mechanism");
  * a Security-Client without a usable ``ipsec-3gpp`` entry, or with no (alg, ealg) in common:
    494 with our full list (RFC 3329 §2.3.1, "even if there are no common security
    mechanisms");
  * otherwise a 401 with ``WWW-Authenticate: Digest ... algorithm=AKAv1-MD5, qop="auth"``, the
    nonce = base64(RAND || AUTN) (RFC 3310 §3.2; qop: RFC 3261 §22.4 item 8), without ck/ik
    (TP_SEC_002), and ``Security-Server`` with our spi-c/spi-s/port-c/port-s and the first pair
    of our preference the UE offered (TS 33.203 practice, departing from RFC 3329 §2.3.1, see
    :func:`~conformance.ims.secagree.server_mechanisms`).  The four SAs are derived at once
    (the temporary set, TS 33.203 7.2) and their inbound SPIs claimed.
  * ``auts`` answering one of our nonces: the AUTS is checked with K and the SQN adopted, then a
    fresh challenge (RFC 3310 §3.2: "the server MUST use it to generate a new challenge");
    an AUTS that does not verify: 403.
  * an empty ``response`` without ``auts`` answering one of our nonces: the UE found the
    network's MAC wrong (TS 24.229 5.1.1.5.1); the temporary SAs go and the answer is 403
    (the S-CSCF rule, TS 24.229 5.4.1.2.3, is [M]: not read).

Protected traffic (ESP to ``port_ps``, :meth:`receive_esp`)
  * unknown SPI, failed ICV (RFC 4303 §3.4.4), a sequence number the replay window refuses
    (RFC 4303 §3.4.3), inner ports other than the SA's selectors: dropped, logged;
  * REGISTER: ``Security-Verify`` must mirror the Security-Server sent to this UE, else 494 with
    the unmodified list (RFC 3329 §2.3.1: "If modification of the list is detected, the server
    MUST respond to the client with a 494 [...] This response MUST include the server's
    unmodified list"; a missing Security-Verify is read as modified).  Over the temporary set
    the ``Security-Client`` must also be the one of the challenged REGISTER, else the same 494
    (the TS 24.229 5.2.2 P-CSCF comparison, [M]: not read; TP_SEC_006).  Over the temporary set the
    Digest response must verify with XRES as raw octets (RFC 3310 §3.3, RFC 4169 §3), else 403;
    then the set is established.  Forwarded with ``sec-agree`` removed from Require and
    Proxy-Require (RFC 3329 §2.3.1 proxy rule), without Security-Client/-Verify (TS 24.228
    flows), with ``integrity-protected="yes"`` in Authorization (TS 24.229 5.4.1.1);
  * everything else as the edge proxy does, on the protected flow (UE:port_uc -> P:port_ps).
* Datagrams in clear on ``port_ps`` / ``port_pc``: dropped (TS 33.203 / TS 24.229 [M]).
* A REGISTER from the unprotected port forwarded without sec-agree (the lab relaxation below)
  leaves with ``integrity-protected="no"`` in its Authorization, whatever the UE put there: the
  S-CSCF picks its procedure from that value (TS 24.229 5.4.1.1), which only the P-CSCF may set
  (TS 24.229 5.2.2 [M]; TP_SEC_013).
* Towards the UE (UDP): requests leave from ``port_pc`` to the UE's ``port_us`` over SA 3;
  responses too when outbound is in use (TS 24.229 5.1.1.2.2 a): "The second unidirectional flow
  is used by the UE to receive the requests and responses from the P-CSCF"); without outbound
  the text read does not choose, and a response goes where the UE's Via says (RFC 3261 §18.2.2,
  RFC 3581 §4): SA 3 to port_us, or SA 2 from port_ps to port_uc for a UE that pairs
  classically (:func:`udp_sa_toward_ue`).  Both inbound SAs (1 and 4) are listened on, so a UE
  may answer our requests from port_uc or from port_us.

SA lifetimes (salifetime.py): a temporary set lives for reg-await-auth, an established one
for its registration plus 30 s (the UE's rule of TS 24.229 5.1.1.5.1; the P-CSCF's is [M]).

SA sets: Rel-8 (``edge_mode: rel8``) keeps one set per flow (TS 24.229 5.1.1.2.1: with
RFC 5626 the new set "will have no impact on the existing set"); a new set from the same UE
address replaces that address's old one.  Rel-7 (``edge_mode: rel7``, or the fault
``one-sa-set-per-ue``) keeps one set per IMPI: a second registration deletes the first's SAs
(problem P2).  Registrations without sec-agree are still served as by the plain edge (a lab
relaxation, so that the outbound cases run against this profile too).

With ``pcscf_reg_event`` (topology core) the P-CSCF subscribes to the reg event of each IMPU it
registered at the S-CSCF (TS 24.229 5.2.3, regwatch.py): the NOTIFYs are answered here, and an
established SA set whose contacts are all shown terminated is deleted.
"""

from __future__ import annotations

import base64
import binascii
import os
import struct
from dataclasses import dataclass, field
from typing import Callable

from ...ims.aka import AuthCentre, AuthVector
from ...ims.digest import build_challenge, rspauth, verify_credentials
from ...ims.endpoint import EspEndpoint, SelectorMismatch
from ...ims.errors import AkaError, BadIcv, EspError, SecAgreeError
from ...ims.ippkt import ipv4_unwrap, udp_parse
from ...ims.sa import SaSet, derive_sas
from ...ims.secagree import ALG_PAIRS, IpsecMechanism, format_security, new_spi, parse_ipsec, \
    server_mechanisms, verify_mismatches
from ...ims.subscriber import DEFAULT_SUBSCRIBERS, lookup
from ...sip.errors import ParseError
from ...sip.headers import format_auth, parse_auth, parse_contacts, parse_name_addr, \
    parse_option_tags, parse_security, parse_vias
from ...sip.message import Request, Response, parse_message
from ..actions import Action, ClaimSpi, ReleaseSpi, SendIp, SendOnFlow, SendToHop
from ..common.responses import build_response
from ..common.routing import canonical_aor, udp_destination
from ..config import SutConfig
from ..edge.proxy import EdgeProxy
from ..flow import FlowInfo
from .salifetime import REG_AWAIT_AUTH, granted_expiry, next_lifetime
from .regwatch import RegWatcher
from .tcp import ProtectedTcpMixin
from .udpencap import UdpEncapMixin

MAX_SA_SETS = 4096

__all__ = ["ImsEdgeProxy", "SaRecord"]


@dataclass(eq=False)
class SaRecord:
    """One SA set with a UE: temporary while ``vector`` waits for its answer, then established."""

    impi: str
    ue_ip: str
    client: list[IpsecMechanism]
    server: list[IpsecMechanism]
    sas: SaSet
    endpoint: EspEndpoint
    vector: AuthVector
    nonce: str
    realm: str
    established: bool = False
    expires_at: float | None = None    # when the set is deleted (salifetime.py)
    lifetime_from_registration: bool = False
    mode: str = "trans"          # or UDP-enc-tun: ESP in UDP through a NAT (udpencap.py)
    public_ip: str | None = None  # UDP-enc-tun: the UE's address as the P-CSCF sees it (its NAT's)
    outer: dict = field(default_factory=dict)    # UDP-enc-tun: SA number (1, 4) -> that port's mapping
    learned: set = field(default_factory=set)    # UDP-enc-tun: the SA numbers whose mapping was seen
    outbound: bool | None = None  # the last 2xx to a REGISTER over this set had Require: outbound
    contacts: set = field(default_factory=set)   # contact addresses registered over this set
    auth_info: dict | None = None   # the authenticated REGISTER's digest values, until its 2xx
    flow: FlowInfo = field(init=False)

    def __post_init__(self):
        sa1 = self.sas[1]
        self.flow = FlowInfo("udp", (sa1.dst, sa1.dport), (sa1.src, sa1.sport))

    @property
    def inbound_spis(self) -> list[int]:
        return [s.spi for s in self.sas.inbound("pcscf")]


def _tags(msg, name: str) -> list[str]:
    try:
        return parse_option_tags(msg.values(name))
    except ParseError:
        return []


def _integrity(request: Request, value: str) -> Request:
    """A copy with ``integrity-protected=value`` in Authorization (TS 24.229 5.4.1.1: the S-CSCF
    keys its procedure on it); an unparseable Authorization is left as it is."""
    work = Request(method=request.method, uri=request.uri, headers=list(request.headers),
                   body=request.body, version=request.version)
    header = work.get("Authorization")
    if header:
        try:
            auth = parse_auth(header)
        except ParseError:
            return work
        params = dict(auth.params)
        params["integrity-protected"] = value
        work.set("Authorization", format_auth(auth.scheme, params))
    return work


def registered_with_outbound(data: bytes) -> bool | None:
    """For a 2xx to REGISTER: whether it carries ``Require: outbound`` (the UE then uses the
    RFC 5626 flow of TS 24.229 5.1.1.2.2); None for any other message."""
    head = data.split(b"\r\n\r\n", 1)[0]
    if not head.startswith(b"SIP/2.0 2"):
        return None
    try:
        msg = parse_message(data)
    except ParseError:
        return None
    if (msg.get("CSeq") or "").split()[-1:] != ["REGISTER"]:
        return None
    return "outbound" in [t.lower() for t in _tags(msg, "Require")]


def with_authentication_info(data: bytes, rec) -> bytes:
    """The 2xx to the REGISTER that answered the challenge, with Authentication-Info (RFC 3261
    §20.6: a UAS MAY include it; RFC 2617 §3.2.3: rspauth, cnonce and nc of the request;
    RFC 3310 §3.5: XRES as the password).  Other messages are returned as they are; the record
    forgets the values once that final response has gone."""
    info = rec.auth_info
    try:
        msg = parse_message(data)
    except ParseError:
        return data
    if not isinstance(msg, Response) or msg.get("Call-ID") != info.get("call_id") or \
            (msg.get("CSeq") or "").split()[-1:] != ["REGISTER"] or msg.status < 200:
        return data
    rec.auth_info = None
    if msg.status >= 300:
        return data
    value = rspauth(username=info["username"] or "", realm=info["realm"] or "", password=rec.vector.xres,
                    uri=info["uri"] or "", nonce=info["nonce"] or "", qop=info["qop"], nc=info["nc"],
                    cnonce=info["cnonce"])
    params = {"rspauth": value}
    if info.get("qop"):
        params.update(qop=info["qop"], nc=info["nc"], cnonce=info["cnonce"])
    msg.add("Authentication-Info", ", ".join(f'{k}="{v}"' if k in ("rspauth", "cnonce") else f"{k}={v}"
                                             for k, v in params.items()))
    return bytes(msg)


def contact_addresses(request: Request) -> set:
    """The Contact URIs of a REGISTER (not ``*``), as compared for "previously registered"."""
    try:
        return {str(c.uri).lower() for c in parse_contacts(request) if not c.star and c.uri is not None}
    except ParseError:
        return set()


def new_contacts_without_reg_id(request: Request, registered: set) -> list[str]:
    """Contact URIs of a protected re-REGISTER that carry no reg-id, are not removals
    (expires=0) and were not registered before (TS 24.229 5.4.1.2.2, TP_REG_029)."""
    try:
        contacts = [c for c in parse_contacts(request) if not c.star and c.uri is not None]
    except ParseError:
        return []
    header_expires = (request.get("Expires") or "").strip()
    out = []
    for c in contacts:
        expires = c.params.get("expires") or header_expires
        if c.has_param("reg-id") or expires == "0" or str(c.uri).lower() in registered:
            continue
        out.append(str(c.uri))
    return out


def udp_sa_toward_ue(outbound: bool | None, port: int, port_uc: int) -> int:
    """Which SA a UDP response for the UE leaves over (3 or 2).

    With outbound in use (the 2xx to REGISTER had ``Require: outbound``) TS 24.229 5.1.1.2.2 a)
    says where the UE receives: "The second unidirectional flow is used by the UE to receive the
    requests and responses from the P-CSCF": SA 3, port_pc -> port_us.  Without outbound that
    sentence does not apply and the P-CSCF's own text (TS 33.203 7, TS 24.229 5.2.2) is not read
    ([M]), so the response goes where the UE's Via says (RFC 3261 §18.2.2: "using the port
    indicated in the sent-by value"; RFC 3581 §4 with rport: to the source port, "from the same
    address and port that the corresponding request was received on"): to port_uc from port_ps
    (SA 2, the classic pairing of a UE that expects its responses on the request's SA pair), or
    to port_us from port_pc (SA 3).  Requests always go over SA 3 (the only SA to port_us)."""
    if outbound:
        return 3
    return 2 if port == port_uc else 3


class ImsEdgeProxy(ProtectedTcpMixin, UdpEncapMixin, EdgeProxy):
    """The edge proxy with IMS AKA and sec-agree.  ``port_ps`` / ``port_pc`` are the protected
    server and client ports (set by the server once bound); ``rand`` and ``spi_source`` are
    injectable for tests."""

    def __init__(self, config: SutConfig | None = None, *args,
                 rand: Callable[[int], bytes] = os.urandom,
                 spi_source: Callable[[set], int] | None = None, **kwargs):
        super().__init__(config, *args, **kwargs)
        self.port_ps: int | None = None
        self.port_pc: int | None = None
        self.rand = rand
        self.spi_source = spi_source or (lambda avoid: new_spi(avoid=avoid))
        self.subscribers = dict(self.config.subscribers or DEFAULT_SUBSCRIBERS)
        self.aucs: dict[str, AuthCentre] = {}
        self.by_spi: dict[int, SaRecord] = {}
        self.by_flow: dict[FlowInfo, SaRecord] = {}
        self.by_nonce: dict[str, SaRecord] = {}
        self.dropped: list[str] = []          # why protected-port traffic was dropped (bounded)
        # TS 24.229 5.2.3: our own reg event subscriptions at the S-CSCF (regwatch.py)
        self.regwatch = RegWatcher(self.config.domain) if self.config.pcscf_reg_event else None

    @property
    def algs(self) -> tuple:
        return tuple(self.config.pcscf_algs) or ALG_PAIRS

    def _drop(self, why: str) -> list[Action]:
        self.dropped.append(why)
        del self.dropped[:-200]
        self.log.append(f"dropped: {why}")
        del self.log[:-1000]
        return []

    # -- entry points --------------------------------------------------------------------------
    def receive(self, data: bytes, flow: FlowInfo, now: float, wall: float | None = None) -> list[Action]:
        if flow.transport == "tcp" and flow.local[1] == self.port_ps and self.port_ps is not None:
            return self.receive_tcp(data, flow, now)    # it came through the TUN gateway
        if flow.transport == "udp" and flow.local[1] in (self.port_ps, self.port_pc):
            encap = self.receive_encap(data, flow, now)      # RFC 3948 ESP-in-UDP, keep-alives
            if encap is not None:
                return encap
            # TS 33.203 / TS 24.229 [M]: nothing unprotected is accepted on the protected ports
            return self._drop(f"unprotected datagram from {flow.remote[0]}:{flow.remote[1]} on "
                              f"protected port {flow.local[1]}")
        try:
            message = parse_message(data)
        except ParseError:
            message = None
        if self.regwatch is not None and isinstance(message, Request) and self.regwatch.owns_request(message):
            return self._watched_notify(message, flow)
        if isinstance(message, Request) and message.method == "REGISTER" and \
                "sec-agree" in _tags(message, "Require") + _tags(message, "Proxy-Require"):
            self.supervisor.activity(flow, now)
            try:
                return self.protect(self._initial(message, flow, now), now)
            except Exception as exc:  # noqa: BLE001 - as EdgeProxy.receive
                return self._reply(message, flow, 500, f"internal error: {exc!r}")
        if isinstance(message, Request) and message.method == "REGISTER" and message.get("Authorization"):
            data = bytes(_integrity(message, "no"))     # TS 24.229 5.2.2 [M]: not the UE's to set
        return self.protect(super().receive(data, flow, now, wall), now)

    def on_timer(self, now: float) -> list[Action]:
        actions: list[Action] = []
        for rec in [r for r in self.by_nonce.values() if r.expires_at is not None and r.expires_at <= now]:
            self.log.append(f"SA set of {rec.impi} at {rec.ue_ip} expired")    # salifetime.py
            del self.log[:-1000]
            actions += self._remove(rec)
        return actions + self.protect(super().on_timer(now), now)

    def next_deadline(self) -> float | None:
        times = [r.expires_at for r in self.by_nonce.values() if r.expires_at is not None]
        other = super().next_deadline()
        return min(times + ([other] if other is not None else [])) if times or other is not None else None

    def send_failed(self, ref: object, now: float) -> list[Action]:
        return self.protect(super().send_failed(ref, now), now)

    def receive_esp(self, packet: bytes, now: float) -> list[Action]:
        """An IPv4/ESP packet for one of our SPIs."""
        try:
            src, dst, proto, esp = ipv4_unwrap(packet)
        except EspError as exc:
            return self._drop(f"malformed IP packet: {exc}")
        if proto != 50 or len(esp) < 8:
            return self._drop("not ESP")
        spi, seq = struct.unpack_from("!II", esp)
        rec = self.by_spi.get(spi)
        if rec is None:
            return self._drop(f"ESP with unknown SPI {spi:#x} from {src}")
        try:
            opened = rec.endpoint.unprotect(esp).packet
        except BadIcv as exc:
            if not self.config.has_fault("accept-bad-icv"):
                return self._drop(f"{exc} (RFC 4303 §3.4.4)")
            # FAULT: decrypt and use the packet although its ICV failed
            try:
                opened = rec.endpoint.receiver.codec(spi).open(esp, verified=True)
            except EspError as exc2:
                return self._drop(f"unusable packet: {exc2}")
        except SelectorMismatch as exc:
            return self._drop(f"{exc} (RFC 4301 §5.2 inbound selector check)")
        except EspError as exc:
            return self._drop(f"{exc}")
        if opened.next_header == 6:
            return self.inject_tcp(src, dst, opened.payload)     # TCP: back into the TUN (tcp.py)
        try:
            if opened.next_header != 17:
                raise EspError(f"next header {opened.next_header} is neither UDP nor TCP")
            data = udp_parse(opened.payload)[2]
        except EspError as exc:
            return self._drop(f"{exc}")
        return self._protected_message(data, rec, now)

    def _protected_message(self, data: bytes, rec, now: float) -> list[Action]:
        """A SIP message that arrived under ``rec``'s SAs (ESP or UDP-encapsulated ESP)."""
        try:
            message = parse_message(data)
        except ParseError:
            return self._drop("protected datagram is not SIP")
        self.supervisor.activity(rec.flow, now)
        if isinstance(message, Response):
            return self.protect(self._response(message, rec.flow, now), now)
        try:
            if message.method == "REGISTER":
                actions = self._protected_register(message, rec, now)
            else:
                actions = self._request(message, rec.flow, now)
        except Exception as exc:  # noqa: BLE001
            actions = [] if message.method == "ACK" else \
                self._reply(message, rec.flow, 500, f"internal error: {exc!r}")
        return self.protect(actions, now)

    # -- our reg event subscriptions (TS 24.229 5.2.3, regwatch.py) ------------------------------
    def _response(self, response: Response, flow: FlowInfo, now: float) -> list[Action]:
        if self.regwatch is not None and self.regwatch.owns_response(response):
            self.regwatch.on_response(response)
            return []
        actions = super()._response(response, flow, now)
        if self.regwatch is not None:
            actions += self._watch(response)
        return actions

    def _watch(self, response: Response) -> list[Action]:
        """After a 2xx to REGISTER that left a contact bound: subscribe to the IMPU's reg event
        at the S-CSCF (our next hop), once per IMPU."""
        cseq = response.cseq
        if not (cseq and cseq[1] == "REGISTER" and 200 <= response.status < 300
                and response.values("Contact") and self.next_hop is not None):
            return []
        try:
            impu = canonical_aor(parse_name_addr(response.get("To") or "").uri)
        except (ParseError, AttributeError):
            return []
        data = self.regwatch.subscribe(impu, self.address, self.core_transport)
        if data is None:
            return []
        return [SendToHop(self.core_transport, (self.next_hop[0], self.next_hop[1]), data)]

    def _watched_notify(self, request: Request, flow: FlowInfo) -> list[Action]:
        """A NOTIFY of our subscription: 200, then the terminated contacts are forgotten and an
        established SA set left without a contact is deleted."""
        status, gone = self.regwatch.on_notify(request)
        actions = self._reply(request, flow, status)
        for rec in list(self.by_nonce.values()):
            if rec.contacts & set(gone):
                rec.contacts -= set(gone)
                if not rec.contacts and rec.established:
                    self.log.append(f"SA set of {rec.impi} at {rec.ue_ip} deleted: its contacts "
                                    "were terminated (reg event, TS 24.229 5.2.3)")
                    del self.log[:-1000]
                    actions += self._remove(rec)
        return actions

    # -- the initial REGISTER -------------------------------------------------------------------
    def _initial(self, request: Request, flow: FlowInfo, now: float) -> list[Action]:
        try:
            vias = parse_vias(request)
        except ParseError:
            return []
        if not vias:
            return []
        if len(vias) > 1:
            return self._reply(request, flow, 502, "sec-agree only with the first hop (RFC 3329 §2.3.2)")
        try:
            auth = parse_auth(request.get("Authorization")) if request.get("Authorization") else None
        except ParseError:
            auth = None
        impi = (auth.get("username") if auth else None) or self._ue_key(request) or ""
        sub = lookup(self.subscribers, impi)
        if sub is None:
            return self._reply(request, flow, 403, f"unknown private identity {impi}")
        auc = self.aucs.get(impi)
        if auc is None:
            auc = self.aucs[impi] = AuthCentre(sub.algo(), sub.sqn, sub.amf)
        actions: list[Action] = []
        old = self.by_nonce.get(auth.get("nonce") or "") if auth else None
        if old is not None and old.impi == impi and not old.established:
            actions += self._remove(old)
            auts = auth.get("auts")
            if auts is not None:
                try:
                    auc.resync(old.vector.rand, base64.b64decode(auts, validate=True))
                except (AkaError, binascii.Error, ValueError) as exc:
                    return actions + self._reply(request, flow, 403, f"AUTS does not verify: {exc}")
            elif not (auth.get("response") or ""):
                # The UE could not authenticate the network (TS 24.229 5.1.1.5.1).
                return actions + self._reply(request, flow, 403, "network authentication failed at the UE")
        try:
            client = parse_ipsec(request.values("Security-Client"))
        except SecAgreeError as exc:
            return actions + self._494(request, flow, f"unusable Security-Client: {exc}")
        if not client:
            return actions + self._494(request, flow, "no ipsec-3gpp mechanism in Security-Client")
        avoid = set(self.by_spi)
        spi_c = self.spi_source(avoid)
        spi_s = self.spi_source(avoid | {spi_c})
        mode = self.choose_mode(request, flow, client)      # trans, or UDP-enc-tun behind a NAT
        in_mode = [m for m in client if m.mode == mode.lower()]
        try:
            server = server_mechanisms(in_mode, spi_c=spi_c, spi_s=spi_s, port_c=self.port_pc,
                                       port_s=self.port_ps, supported=self.algs, mod=mode)
        except SecAgreeError as exc:
            return actions + self._494(request, flow, str(exc))
        chosen = next(m for m in in_mode if m.pair == server[0].pair)
        vector = auc.next_vector(self.rand(16))
        ue_addr = self.inner_ue_addr(request, flow, mode)
        sas = derive_sas(chosen, server[0], ck=vector.ck, ik=vector.ik, ue_addr=ue_addr,
                         pcscf_addr=flow.local[0])
        rec = SaRecord(impi, ue_addr, client, server, sas, EspEndpoint(sas, "pcscf"),
                       vector, vector.nonce(), self.config.domain, mode=mode)
        if mode != "trans":
            self.start_encap(rec, flow)
        rec.expires_at = now + REG_AWAIT_AUTH          # the temporary set (salifetime.py)
        actions += self._add(rec)
        challenge = build_challenge(rec.realm, rec.nonce)
        actions += self._reply_with(request, flow, 401, [("WWW-Authenticate", challenge),
                                                         ("Security-Server", format_security(server))])
        return actions

    def _494(self, request: Request, flow: FlowInfo, why: str) -> list[Action]:
        avoid = set(self.by_spi)
        spi_c = self.spi_source(avoid)
        spi_s = self.spi_source(avoid | {spi_c})
        full = server_mechanisms([], spi_c=spi_c, spi_s=spi_s, port_c=self.port_pc or 1,
                                 port_s=self.port_ps or 1, supported=self.algs, ims=False)
        return self._reply_with(request, flow, 494, [("Security-Server", format_security(full))],
                                warning=why)

    # -- protected REGISTER ----------------------------------------------------------------------
    def _protected_register(self, request: Request, rec: SaRecord, now: float) -> list[Action]:
        try:
            verify = parse_security(request.values("Security-Verify"))
        except ParseError:
            verify = None
            mismatches = ["unparseable Security-Verify"]
        else:
            mismatches = [m.detail for m in verify_mismatches(rec.server, verify)]
        if mismatches and not self.config.has_fault("ignore-security-verify"):
            # RFC 3329 §2.3.1: 494 with the server's unmodified list
            return self._reply_with(request, rec.flow, 494,
                                    [("Security-Server", format_security(rec.server))],
                                    warning="Security-Verify does not mirror Security-Server: "
                                            + "; ".join(mismatches))
        # else (or FAULT ignore-security-verify): proceed
        actions: list[Action] = []
        if not rec.established:
            # TS 24.229 5.2.2 [M]: over a temporary set the Security-Client must be the one of the
            # challenged REGISTER ("potential man-in-the-middle attack"): 494 as for Security-Verify
            try:
                got = parse_security(request.values("Security-Client"))
                changed = [m.detail for m in verify_mismatches(rec.client, got)] if got else \
                    ["no Security-Client"]
            except ParseError:
                changed = ["unparseable Security-Client"]
            if changed:
                return self._reply_with(request, rec.flow, 494,
                                        [("Security-Server", format_security(rec.server))],
                                        warning="Security-Client differs from the challenged REGISTER's: "
                                                + "; ".join(changed))
            try:
                auth = parse_auth(request.get("Authorization") or "")
            except ParseError:
                auth = None
            if auth is None or auth.get("nonce") != rec.nonce:
                return self._reply(request, rec.flow, 403, "no answer to the challenge of this SA set")
            if not verify_credentials(auth, password=rec.vector.xres, method="REGISTER",
                                      body=request.body or b""):
                return self._reply(request, rec.flow, 403, "Digest AKAv1-MD5 response does not verify")
            rec.auth_info = {k: auth.get(k) for k in ("username", "realm", "uri", "nonce", "qop", "nc",
                                                     "cnonce")} | {"call_id": request.get("Call-ID")}
            rec.established = True
            actions += self._establish(rec)
        else:
            new = new_contacts_without_reg_id(request, self._registered_contacts(rec.impi))
            if new:
                # TS 24.229 5.4.1.2.2 (the S-CSCF's rule, played here with the authentication
                # part): "if the REGISTER request does not contain a "reg-id" header field
                # parameter and the contact address indicated in the Contact header field was
                # not previously registered, send a 403"
                return self._reply(request, rec.flow, 403,
                                   "a new contact without reg-id over an existing SA set: "
                                   + ", ".join(new) + " (TS 24.229 5.4.1.2.2)")
        rec.contacts |= contact_addresses(request)
        work = self._forwardable(request)
        return actions + self._request(work, rec.flow, now)

    def _registered_contacts(self, impi: str) -> set:
        return {c for r in self.by_nonce.values() if r.impi == impi and r.established for c in r.contacts}

    def _forwardable(self, request: Request) -> Request:
        """sec-agree out of Require/Proxy-Require (RFC 3329 §2.3.1), no Security-Client/-Verify,
        ``integrity-protected="yes"`` in Authorization (TS 24.229 5.4.1.1)."""
        if self.config.has_fault("keep-sec-agree"):
            return _integrity(request, "yes")    # FAULT: sec-agree and Security-* forwarded
        work = Request(method=request.method, uri=request.uri, headers=list(request.headers),
                       body=request.body, version=request.version)
        for name in ("Require", "Proxy-Require"):
            tags = [t for t in work.values(name) if t.strip().lower() != "sec-agree"]
            work.remove(name)
            if tags:
                work.add(name, ", ".join(tags))
        work.remove("Security-Verify")
        work.remove("Security-Client")
        return _integrity(work, "yes")

    # -- SA sets ---------------------------------------------------------------------------------
    def _add(self, rec: SaRecord) -> list[Action]:
        actions: list[Action] = []
        while len(self.by_nonce) >= MAX_SA_SETS:
            actions += self._remove(next(iter(self.by_nonce.values())))
        self.by_nonce[rec.nonce] = rec
        for spi in rec.inbound_spis:
            self.by_spi[spi] = rec
            actions.append(ClaimSpi(spi))
        return actions

    def _remove(self, rec: SaRecord) -> list[Action]:
        self.by_nonce.pop(rec.nonce, None)
        if self.by_flow.get(rec.flow) is rec:
            del self.by_flow[rec.flow]
        out: list[Action] = []
        for spi in rec.inbound_spis:
            if self.by_spi.get(spi) is rec:
                del self.by_spi[spi]
                out.append(ReleaseSpi(spi))
        return out

    def _establish(self, rec: SaRecord) -> list[Action]:
        """The set is in use; older sets it replaces go (see the module text)."""
        per_ue = self.rel7 or self.config.has_fault("one-sa-set-per-ue")
        rec.expires_at = None     # no longer reg-await-auth: the 2xx to REGISTER sets the lifetime
        actions: list[Action] = []
        for other in list(self.by_nonce.values()):
            if other is rec or other.impi != rec.impi or not other.established:
                continue
            if per_ue or other.ue_ip == rec.ue_ip:
                actions += self._remove(other)
        self.by_flow[rec.flow] = rec
        return actions

    # -- sending ---------------------------------------------------------------------------------
    def protect(self, actions: list[Action], now: float) -> list[Action]:
        """Messages for protected flows leave over SA 3 (port_pc -> port_us) as ESP."""
        out: list[Action] = []
        for a in actions or []:
            if isinstance(a, SendOnFlow) and a.flow.reliable and a.flow.local[1] == self.port_ps \
                    and not a.data.startswith(b"SIP/2.0 ") and self.port_ps is not None:
                out += self.route_tcp_request(a)    # the UE's connection, or port_pc -> port_us
                continue
            if not (isinstance(a, SendOnFlow) and not a.flow.reliable
                    and a.flow.local[1] == self.port_ps and self.port_ps is not None):
                out.append(a)
                continue
            rec = self.by_flow.get(a.flow) or next(
                (r for r in self.by_nonce.values() if r.flow == a.flow), None)
            if rec is None:
                # the flow's SA set is gone: nothing can be sent on it
                out += super().send_failed(a.ref, now) if a.ref is not None else []
                continue
            is_request = not a.data.startswith(b"SIP/2.0 ")
            if not is_request and rec.auth_info is not None:
                a = SendOnFlow(a.flow, with_authentication_info(a.data, rec), a.address, a.ref)
            granted = None if is_request else granted_expiry(a.data, rec.ue_ip, rec.sas[3].dport)
            if granted is not None:                    # the registration's lifetime + 30 s
                rec.expires_at = next_lifetime(rec.expires_at, rec.lifetime_from_registration, granted, now)
                rec.lifetime_from_registration = True
            if rec.mode != "trans":
                out.append(self.send_encap(rec, a.data, a.ref, is_request=is_request))
                continue
            sa = self._sa_toward_ue(rec, a, is_request)
            packet = rec.endpoint.protect_udp(sa.sport, sa.dport, a.data)
            out.append(SendIp(packet, ref=a.ref))
        return out

    def _sa_toward_ue(self, rec: SaRecord, action: SendOnFlow, is_request: bool):
        """The SA a UDP message for the UE leaves over (see :func:`udp_sa_toward_ue`)."""
        if is_request:
            if self.config.has_fault("wrong-terminating-port"):
                return rec.sas[2]                            # FAULT: SA 2
            return rec.sas[3]
        outbound = registered_with_outbound(action.data)
        if outbound is not None:
            rec.outbound = outbound
        port = (action.address or rec.flow.remote)[1]
        return rec.sas[udp_sa_toward_ue(rec.outbound, port, rec.sas[2].dport)]

    def _reply_with(self, request: Request, flow: FlowInfo, status: int,
                    headers: list[tuple[str, str]], warning: str | None = None) -> list[Action]:
        try:
            top = parse_vias(request)[0]
        except (ParseError, IndexError):
            return []
        response = build_response(request, status, flow, top_via=top, tag_secret=self.tag_secret,
                                  server=f"{self.config.server_name} edge ({self.config.edge_mode}, ims)",
                                  reason={494: "Security Agreement Required", 401: "Unauthorized",
                                          502: "Bad Gateway"}.get(status),
                                  headers=headers, warning=warning, warn_agent=self.config.server_name)
        self.log.append(f"{request.summary()} -> {response.summary()}")
        del self.log[:-1000]
        return [SendOnFlow(flow, bytes(response),
                           None if flow.reliable else udp_destination(response, flow))]
