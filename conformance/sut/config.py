"""Configuration of the embedded reference CSCF (the suite's default SUT).

The reference is meant to be *correct*; the only way to make it misbehave is to name a fault
from :data:`KNOWN_FAULTS`.  Each fault breaks exactly one rule so that the suite can prove that
the matching check notices it.
"""

from __future__ import annotations

from dataclasses import dataclass

MODES = ("rel8", "rel7", "rfc3261")
TOPOLOGIES = ("registrar", "edge", "core")
EDGE_MODES = ("rel8", "rel7")
TRANSPORTS = ("udp", "tcp")
#: Connection transports the reference can serve beside UDP/TCP (one listening port each).
STREAM_TRANSPORTS = ("tls", "ws", "wss")
#: The TLS port tried first when ``tls_port`` is 0 (RFC 3261 section 19.1.2; Wireshark decodes
#: SIP over TLS on it by port).
DEFAULT_TLS_PORT = 5061

#: Fault name -> what it breaks.  The code switched on by each name is marked ``FAULT:``.
KNOWN_FAULTS: dict[str, str] = {
    "omit-require-outbound":
        "never send Require: outbound (breaks RFC 5626 section 6, paragraph 8)",
    "replace-on-new-reg-id":
        "a new reg-id for an instance replaces that instance's bindings instead of adding one "
        "(breaks the (AOR, instance, reg-id) key of RFC 5626 section 6, paragraph 8)",
    "list-only-newest":
        "the 2xx lists only the most recently touched binding (breaks RFC 3261 section 10.3 step 8)",
    "keep-old-on-reg1b":
        "the same instance and reg-id from a new Contact URI with a new Call-ID adds a second "
        "binding instead of replacing the old one (breaks RFC 5626 section 6, paragraphs 8 and 10)",
    "path-without-ob-accepted":
        "apply outbound processing although the first Path URI lacks ;ob or Path is missing, "
        "and never send 439 (breaks RFC 5626 section 6, paragraph 3)",
    "require-without-supported":
        "send Require: outbound in every 2xx to REGISTER, even without Supported: outbound or "
        "without a usable reg-id (breaks RFC 5626 section 6, paragraphs 6 and 8; RFC 3261 8.2.4)",
    "path-without-ob":
        "the edge proxy, although the first hop of a REGISTER with reg-id, inserts its Path URI "
        "without ;ob (breaks RFC 5626 section 5.1)",
    "accept-forged-token":
        "the edge proxy delivers an incoming request whose flow token fails the HMAC check "
        "instead of refusing it with 403 (breaks RFC 5626 sections 5.2 and 5.3.1)",
    "keep-own-route":
        "the edge proxy forwards an incoming request over the token's flow with its own Route "
        "value (the one with the flow token) still on top (breaks RFC 3261 section 16.4: 'If the "
        "first value in the Route header field indicates this proxy, the proxy MUST remove that "
        "value from the request')",
    "route-to-replaced-flow":
        "on Reg1b (same instance and reg-id over a new flow) the S-CSCF keeps the replaced "
        "binding's Path and flow, so terminating requests go to the old flow (breaks RFC 5626 "
        "section 6 paragraph 10 and section 7)",
    "route-by-contact":
        "the S-CSCF routes a terminating request to the address of the registered Contact URI, "
        "ignoring the flow saved with the binding and the stored Path (breaks RFC 5626 section 7: "
        "MUST send the request over the same 'logical flow' saved with the binding; RFC 5626 "
        "section 6 and RFC 3327 section 5.4: the stored Path is the preloaded route)",
    "retry-after-any-final":
        "after any non-2xx final response from a branch (486, 603, ...) the S-CSCF tries the same "
        "instance's binding with another reg-id, as after 408 or 430 (breaks RFC 5626 section 7: "
        "MUST NOT forward the same request to another target representing the same AOR and "
        "instance-id)",
    "edge-route-by-uri":
        "the edge proxy forwards an incoming request with a valid flow token to the address of "
        "its Request-URI (the registered Contact) instead of over the flow the token names "
        "(breaks RFC 5626 section 5.3.1: forward the request over the logical flow the token "
        "identifies)",
    "no-crlf-pong":
        "a double-CRLF ping on TCP gets no pong (breaks RFC 5626 section 5.4)",
    "no-stun":
        "STUN Binding requests on the SIP UDP ports are ignored (breaks RFC 5626 sections 5.4 "
        "and 8)",
    "stun-unxored-port":
        "STUN Binding responses carry the source port in XOR-MAPPED-ADDRESS without the XOR "
        "(as MAPPED-ADDRESS would), so the mapped address decodes to a wrong port (breaks RFC "
        "5626 section 8 and RFC 5389 section 15.2)",
    "ignore-flow-timer":
        "Flow-Timer is still sent in the 2xx, but flows are never supervised: a flow silent for "
        "longer than Flow-Timer plus the grace period is never declared failed, so terminating "
        "requests still go to it (defeats the purpose of Flow-Timer, RFC 5626 sections 4.4.1 "
        "and 5.4; no MUST is broken)",
    "no-flow-grace":
        "flows are supervised without a grace period: a flow silent for exactly its Flow-Timer "
        "is declared failed (breaks RFC 5626 section 5.4: 'The server MUST wait for an amount "
        "of time larger than the Flow-Timer in order to have a grace period')",
    "accept-bad-icv":
        "the IMS P-CSCF accepts ESP packets whose ICV does not verify (RFC 4303 section 3.4.4 "
        "discards them; RFC 4303 is not in rfc/, so AKA-012 records it, TP_SEC_015)",
    "ignore-security-verify":
        "the IMS P-CSCF forwards a protected REGISTER whose Security-Verify does not mirror its "
        "Security-Server (breaks RFC 3329 section 2.3.1: 494 with the unmodified list)",
    "one-sa-set-per-ue":
        "the Rel-8 IMS P-CSCF keeps one SA set per UE (private identity): a registration from a "
        "second address replaces the first flow's SAs (the Rel-7 behaviour, problem P2: with "
        "outbound TS 24.229 5.1.1.2.1 says the new set 'will have no impact' on the existing "
        "sets, without a keyword: AKA-002 classifies it one-sa-set-per-ue)",
    "wrong-terminating-port":
        "the IMS P-CSCF sends terminating requests from its protected server port to the UE's "
        "protected client port (SA 2) instead of port_pc -> port_us (breaks TS 24.229 "
        "5.1.1.2.2 a): the UE receives requests on the second unidirectional flow); over TCP "
        "it opens a connection from port_pc to port_us instead of using the UE's connection "
        "(the seed paper's reading rather than TS 24.229 5.1.1.2.2 b): AKA-005[tcp] classifies "
        "it ports)",
    "keep-sec-agree":
        "the IMS P-CSCF forwards the protected REGISTER with sec-agree still in Require and "
        "Proxy-Require and with Security-Client/-Verify (breaks RFC 3329 section 2.3.1: a proxy "
        "MUST remove the sec-agree value, and the header when no value remains)",
    "commit-rejected-contacts":
        "a REGISTER with more than one non-zero Contact and a reg-id is answered 400 (RFC 5626 "
        "section 6 paragraph 5) but its bindings are stored all the same (breaks RFC 3261 "
        "section 8.2: a rejected request performs no state change; section 10.3: atomic)",
    "key-without-instance":
        "outbound bindings are keyed by (AOR, reg-id) without the instance-id, so another "
        "instance's registration with the same reg-id replaces the first (breaks the (AOR, "
        "instance-id, reg-id) binding of RFC 5626 section 6 paragraph 8)",
    "bind-despite-reject":
        "a REGISTER refused with 420 (Path without Supported: path), 423 (Interval Too Brief) or "
        "403 (the maximum number of flows reached) still adds or updates its bindings (breaks RFC 3261 section 10.3: a REGISTER is "
        "processed completely or not at all)",
    "fetch-strips-params":
        "the 2xx to a fetch (a REGISTER without Contact) lists each binding with its URI and "
        "expires only, without +sip.instance and reg-id (breaks RFC 3840 section 6: each Contact "
        "of a 200 to REGISTER includes all the feature parameters of that URI)",
    "accept-bad-credentials":
        "with digest_auth on, the registrar accepts Digest credentials whose response does not "
        "verify (a wrong password); missing credentials are still challenged (breaks RFC 3261 "
        "section 22 / RFC 2617 section 3.2.2: the registrar requires authentication)",
    "notify-only-newest":
        "the reg event notifier lists only the most recently registered or refreshed contact in "
        "every NOTIFY, full state included (breaks RFC 3680 section 4.3: full state is 'the list "
        "of all contacts bound to the address-of-record')",
    "notify-one-contact-per-instance":
        "the reg event notifier folds the flows of one instance into a single <contact> (the "
        "newest flow's), so a UE with two reg-ids shows one contact (breaks RFC 3680 section 4.3 "
        "full state and RFC 5626 section 6 paragraph 8: each (instance, reg-id) is a binding)",
    "notify-drops-unregistered":
        "a contact de-registered by a REGISTER is left out of the partial NOTIFY instead of being "
        "shown state=terminated event=unregistered (breaks RFC 3680 section 4.3: notifications "
        "'only contain information on the contacts whose state has changed')",
    "gruu-pub-per-flow":
        "the public GRUU is made per flow (per instance and reg-id) instead of one per AOR and "
        "instance (breaks RFC 5627 section 5.1: a new public GRUU only when there is no valid one "
        "for the AOR and instance ID)",
    "gruu-temp-survives-callid":
        "a REGISTER with a new Call-ID for an instance (and reg-id) does not invalidate the "
        "earlier temporary GRUUs, which keep routing (breaks RFC 5627 section 5.1: the registrar "
        "MUST invalidate all previously generated temporary GRUUs)",
    "gruu-route-all-flows":
        "a request to a GRUU is forked to every flow of the instance at once instead of one flow "
        "at a time (breaks RFC 5627 section 6.1 with RFC 5626 section 7: MUST NOT populate the "
        "target set with more than one contact with the same AOR and instance-id at a time)",
    "ws-no-subprotocol":
        "the WebSocket listeners accept the upgrade (101) without echoing Sec-WebSocket-Protocol: "
        "sip although the client offered it (breaks RFC 7118 section 4.1 with RFC 6455 section "
        "4.2.2: the accepted subprotocol is echoed in the handshake response)",
    "ws-route-by-contact":
        "the S-CSCF routes a terminating request for a binding registered over WebSocket (ws, "
        "wss) to the address of its Contact URI (a .invalid host) instead of over the flow the "
        "binding was registered on, so the request cannot be delivered (breaks RFC 7118 section "
        "5 with RFC 5626 section 7: MUST send the request over the same 'logical flow')",
    "tls-flow-survives-close":
        "a closed TLS connection (tls, wss; close_notify or not) is not reported as a failed "
        "flow: its bindings stay registered and listed as if the flow were alive (breaks RFC "
        "5626 section 7: 'the proxy MUST invalidate all the bindings in the target set that use "
        "that flow', a TCP socket closing being the example)",
}


@dataclass
class SutConfig:
    """Settings of :class:`~conformance.sut.registrar.Registrar` and the server around it.

    ``mode`` is ``"rel8"`` (an S-CSCF implementing RFC 5626), ``"rel7"`` (a Rel-7 S-CSCF that
    knows nothing of outbound and replaces a UE's contact on a new initial registration, the
    problem P1 of the catalogue) or ``"rfc3261"`` (a plain RFC 3261 registrar: no outbound, a
    binding per Contact URI, nothing replaced; REG-030 classifies it plain-3261).  ``min_expires`` switches on 423 answers (RFC 3261 10.3 step 7);
    ``flow_timer`` switches on Flow-Timer in direct-flow outbound 2xx (RFC 5626 section 6 para 11).
    ``max_bindings`` and ``max_bindings_per_aor`` bound the binding table.

    Topology (what one :class:`~conformance.sut.server.reference.ReferenceCore` runs): ``"registrar"``
    (the S-CSCF alone, UEs or an emulated edge talk to it directly), ``"edge"`` (the edge proxy
    / P-CSCF alone, in front of the registrar at ``edge_next_hop`` = (host, port, transport)),
    or ``"core"`` (the edge on the advertised port and the S-CSCF on a second port, the edge's
    next hop being the S-CSCF over ``core_transport``).  ``edge_mode`` is ``"rel8"`` (RFC 5626
    edge: flow tokens, ;ob) or ``"rel7"`` (a Rel-7 P-CSCF: no outbound, one flow per UE, the
    problem P2).  ``flow_timer`` is also what the edge, as last proxy, MAY add to an outbound
    2xx (RFC 5626 section 5.4).  ``branch_timeout`` bounds each client transaction of the
    S-CSCF's terminating routing (Timer F/B, RFC 3261 section 17.1).  ``flow_token_key`` fixes
    the edge's HMAC key (RFC 5626 section 5.2), random per start when None.

    With ``flow_timer`` set, whoever sends the Flow-Timer (the edge, or a registrar with a
    direct flow) supervises the flow: silent (no SIP, no CRLF ping, no STUN) for longer than
    ``flow_timer + flow_grace`` seconds, it is declared failed (section 5.4: the server "MUST
    wait for an amount of time larger than the Flow-Timer in order to have a grace period");
    the edge forgets it (430 for its token), a registrar invalidates its bindings (section 7),
    and a TCP flow's connection is closed.  ``flow_grace`` must be positive.
    """

    mode: str = "rel8"
    domain: str = "ims.test"
    faults: frozenset[str] = frozenset()
    flow_timer: int | None = None
    flow_grace: float = 10.0
    min_expires: int | None = None
    max_expires: int = 3600 * 24 * 7
    default_expires: int = 3600
    require_path_support: bool = True
    server_name: str = "outbound-conformance-reference"
    max_bindings: int = 10_000
    max_bindings_per_aor: int = 64
    transaction_cache_size: int = 4096
    topology: str = "registrar"
    edge_mode: str = "rel8"
    edge_next_hop: tuple[str, int, str] | None = None
    core_transport: str = "tcp"
    branch_timeout: float = 4.0
    flow_token_key: str | None = None
    # IMS P-CSCF (the edge): IMS AKA and sec-agree (TS 33.203, TS 24.229), see sut/ims/proxy.py.
    ims: bool = False
    subscribers: dict | None = None           # impi ("*": any) -> ims.subscriber.Subscriber
    pcscf_algs: tuple = ()                    # (alg, ealg) preference; () = secagree.ALG_PAIRS
    # HTTP Digest (RFC 3261 §22, RFC 2617 MD5) required on REGISTER (sut/registrar/digestauth.py):
    # username -> password, or None for an unknown user; None switches authentication off.
    digest_auth: object = None
    # Local policies (RFC 5626 section 6 para 7; TS 24.229 5.4.1.2.2), see sut/registrar/register.py:
    # refuse registrations without instance-id and reg-id or whose first Path URI lacks ;ob, and
    # at most this many flows (outbound bindings) per (AOR, private identity, instance).
    reject_non_outbound: bool = False
    max_flows: int | None = None
    # RFC 3680 reg event notifier of the S-CSCF (sut/registrar/regevent.py) and RFC 5627 GRUUs
    # (sut/registrar/gruu.py); None = the mode's default (reg event: rel8 and rel7; GRUU: rel8).
    reg_event: bool | None = None
    gruu: bool | None = None
    # The IMS P-CSCF (ims: true, topology core) subscribes to the reg event of each UE it
    # registered at the S-CSCF (TS 24.229 5.2.3, sut/ims/regwatch.py) as ``pcscf_uri``.
    pcscf_reg_event: bool = False
    # TLS, WebSocket (RFC 7118) and WebSocket over TLS listeners beside UDP/TCP, served by the
    # node on the advertised port (the edge when there is one): None off, 0 a free port (TLS
    # tries 5061 first).  tls_cert/tls_key: the server's certificate and key (None: the suite's
    # test CA server pair, conformance.wire.testca); ws_auth: None, or a realm (or a whole
    # WWW-Authenticate value, 'Basic realm="x"'): the WebSocket upgrade is answered 401 until it
    # carries Authorization (RFC 7118 section 7);
    # tls_keylog: a file the server appends its TLS session keys to (NSS key log format).
    tls_port: int | None = None
    ws_port: int | None = None
    wss_port: int | None = None
    tls_cert: str | None = None
    tls_key: str | None = None
    ws_auth: str | None = None
    tls_keylog: str | None = None

    def __post_init__(self) -> None:
        if self.mode not in MODES:
            raise ValueError(f"unknown mode {self.mode!r}; valid modes: {', '.join(MODES)}")
        if isinstance(self.faults, str):
            raise ValueError("faults must be a collection of fault names, not one string")
        self.faults = frozenset(self.faults)
        unknown = sorted(self.faults - KNOWN_FAULTS.keys())
        if unknown:
            raise ValueError(
                f"unknown fault(s) {', '.join(unknown)}; valid faults: {', '.join(sorted(KNOWN_FAULTS))}")
        if not self.domain or not isinstance(self.domain, str):
            raise ValueError("domain must be a non-empty string")
        self.domain = self.domain.lower()
        for name in ("max_expires", "default_expires", "max_bindings", "max_bindings_per_aor",
                     "transaction_cache_size"):
            if getattr(self, name) <= 0:
                raise ValueError(f"{name} must be positive")
        if self.min_expires is not None and self.min_expires <= 0:
            raise ValueError("min_expires must be positive when set")
        if self.max_flows is not None and self.max_flows <= 0:
            raise ValueError("max_flows must be positive when set")
        if self.flow_timer is not None and self.flow_timer <= 0:
            raise ValueError("flow_timer must be positive when set")
        if not (isinstance(self.flow_grace, (int, float)) and self.flow_grace > 0):
            raise ValueError("flow_grace must be a positive number of seconds (RFC 5626 section 5.4: "
                             "the server waits longer than the Flow-Timer)")
        if self.topology not in TOPOLOGIES:
            raise ValueError(f"unknown topology {self.topology!r}; valid: {', '.join(TOPOLOGIES)}")
        if self.edge_mode not in EDGE_MODES:
            raise ValueError(f"unknown edge mode {self.edge_mode!r}; valid: {', '.join(EDGE_MODES)}")
        if self.core_transport not in TRANSPORTS:
            raise ValueError(f"core_transport must be one of {', '.join(TRANSPORTS)}")
        if self.edge_next_hop is not None:
            try:
                host, port, transport = self.edge_next_hop
                port = int(port)
            except (TypeError, ValueError):
                raise ValueError("edge_next_hop must be (host, port, transport)") from None
            if not host or not 0 < port < 65536 or str(transport).lower() not in TRANSPORTS:
                raise ValueError(f"bad edge_next_hop {self.edge_next_hop!r}")
            self.edge_next_hop = (str(host), port, str(transport).lower())
        if self.topology == "edge" and self.edge_next_hop is None:
            raise ValueError("topology 'edge' needs edge_next_hop (host, port, transport)")
        if not self.branch_timeout > 0:
            raise ValueError("branch_timeout must be positive")
        if self.ims and self.topology == "registrar":
            raise ValueError("ims (IMS AKA and sec-agree at the P-CSCF) needs topology edge or core")
        if self.pcscf_reg_event and not (self.ims and self.topology == "core"):
            raise ValueError("pcscf_reg_event needs ims and topology core (the reference P-CSCF "
                             "subscribes at the reference S-CSCF)")
        if self.flow_token_key is not None and not self.flow_token_key:
            raise ValueError("flow_token_key must not be empty when set")
        for name in ("tls_port", "ws_port", "wss_port"):
            value = getattr(self, name)
            if value is not None and not (isinstance(value, int) and 0 <= value < 65536):
                raise ValueError(f"{name} must be a port number (0: a free port) or None")
        if (self.tls_cert is None) != (self.tls_key is None):
            raise ValueError("tls_cert and tls_key go together")
        if self.ws_auth is not None and not self.ws_auth:
            raise ValueError("ws_auth must be a realm when set")

    @property
    def stream_ports(self) -> dict[str, int]:
        """The configured TLS / WS / WSS listeners, transport -> port (0: a free one)."""
        return {t: p for t, p in (("tls", self.tls_port), ("ws", self.ws_port),
                                  ("wss", self.wss_port)) if p is not None}

    @property
    def reg_event_on(self) -> bool:
        """The S-CSCF serves SUBSCRIBE for the reg event package (RFC 3680)."""
        return self.reg_event if self.reg_event is not None else self.mode in ("rel8", "rel7")

    @property
    def pcscf_uri(self) -> str:
        """The reference P-CSCF's own URI, a trusted watcher of every AOR at the S-CSCF."""
        return f"sip:pcscf@{self.domain}"

    @property
    def gruu_on(self) -> bool:
        """The registrar hands out GRUUs (RFC 5627 section 5) to REGISTERs with Supported: gruu."""
        return self.gruu if self.gruu is not None else self.mode == "rel8"

    def has_fault(self, name: str) -> bool:
        return name in self.faults

    @property
    def outbound(self) -> bool:
        """True when the registrar implements RFC 5626 (Rel-8 and later)."""
        return self.mode == "rel8"

    @property
    def supported_tags(self) -> tuple[str, ...]:
        """Option tags this registrar announces in Supported.  "gruu" is understood when GRUU is
        on (see :attr:`understood_tags`) but never announced: RFC 5627 section 5.2 "The
        registrar SHOULD NOT include the "gruu" option tag in the Require or Supported header
        field of the response"."""
        return ("path", "outbound") if self.outbound else ("path",)

    @property
    def understood_tags(self) -> tuple[str, ...]:
        """Option tags accepted in Require (RFC 3261 8.2.2.3; RFC 5627 section 5.1)."""
        return self.supported_tags + (("gruu",) if self.gruu_on else ())


__all__ = ["DEFAULT_TLS_PORT", "EDGE_MODES", "KNOWN_FAULTS", "MODES", "STREAM_TRANSPORTS", "TOPOLOGIES",
           "TRANSPORTS", "SutConfig"]
