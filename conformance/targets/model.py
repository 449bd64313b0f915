"""Target profiles: which SUT to test, where it listens, and what it declares it supports.

Loaded from ``targets/*.yaml`` by ``conformance.targets.loader`` (schema:
``conformance/schema/target.schema.yaml``).  See docs/targets.md.
"""

from __future__ import annotations

from dataclasses import dataclass, field

from ..uecert.model import UeProfile


@dataclass
class Identities:
    """Templates for the identities given to each UE of each case.

    ``{user}`` is made unique per case, UE and run (so cases are independent and can run in
    parallel); ``{domain}`` is the target's domain.
    """

    impu: str = "sip:{user}@{domain}"  # public identity, the AOR
    impi: str = "{user}@{domain}"  # private identity (Authorization username)
    user: str = "ue-{case}-{ue}-{run}"


@dataclass
class Timers:
    t1: float = 0.5  # RFC 3261 T1, for UDP retransmission (section 17.1.1)
    t2: float = 4.0
    response: float = 4.0  # bound on waiting for a final response to one request
    connect: float = 2.0  # bound on a TCP connect


@dataclass
class EmbeddedSut:
    """Run the embedded reference CSCF in-process for this target."""

    mode: str = "rel8"  # rel8 | rel7 (the registrar / S-CSCF)
    faults: list[str] = field(default_factory=list)
    # registrar: the S-CSCF alone; core: a P-CSCF (edge proxy) in front of it, UEs register at
    # the edge and the PEER sends terminating requests to the S-CSCF.
    topology: str = "registrar"
    edge_mode: str = "rel8"  # rel8 | rel7 (a Rel-7 P-CSCF: no outbound, one flow per UE)
    flow_timer: int | None = None
    flow_grace: float | None = None  # seconds beyond Flow-Timer before a silent flow fails (default 10)
    min_expires: int | None = None
    # The edge is an IMS P-CSCF: IMS AKA and sec-agree (the target's sec_agree.subscribers are its
    # HSS); pcscf_algs: its (alg, ealg) preference, empty for the default order.
    ims: bool = False
    pcscf_algs: list[tuple[str, str]] = field(default_factory=list)
    # The registrar requires HTTP Digest (MD5) on REGISTER, with the profile's auth: as its users
    digest_auth: bool = False
    # Local policies of the embedded registrar: refuse registrations without outbound (RFC 5626
    # section 6 para 7), and a maximum number of flows per instance (TS 24.229 5.4.1.2.2).
    reject_non_outbound: bool = False
    max_flows: int | None = None
    # RFC 3680 reg event notifier and RFC 5627 GRUUs; None: the mode's default (sut/config.py)
    reg_event: bool | None = None
    gruu: bool | None = None
    pcscf_reg_event: bool = False    # the IMS P-CSCF subscribes to the reg event (TS 24.229 5.2.3)
    # tls/ws/wss listeners (the target's transports and ports): the WebSocket upgrade answered
    # 401 until it carries Authorization (a realm, RFC 7118 section 7), the server's TLS key log
    ws_auth: str | None = None
    tls_keylog: str | None = None


@dataclass
class SecAgreeProfile:
    """What the UEs offer in Security-Client and their credentials (TS 33.203, TS 24.229)."""

    # (alg, ealg) pairs of the Security-Client, in order
    offer: list[tuple[str, str]] = field(default_factory=lambda: [
        ("hmac-sha-1-96", "aes-cbc"), ("hmac-sha-1-96", "null"), ("hmac-md5-96", "aes-cbc"),
        ("hmac-md5-96", "des-ede3-cbc"), ("hmac-md5-96", "null"), ("hmac-sha-1-96", "des-ede3-cbc")])
    # impi ("*" for any) -> conformance.ims.subscriber.Subscriber; default TS 35.208 test set 1
    subscribers: dict = field(default_factory=dict)


@dataclass
class DigestAuthProfile:
    """The UEs' HTTP Digest credentials (RFC 3261 §22.4, RFC 2617 MD5) for a SUT that declares
    ``digest-auth``: the username is the UE's private identity (``identities.impi``), the
    password ``credentials[impi]`` or else ``password`` with ``{impi}`` filled in (so generated
    identities need no provisioning: the SUT computes the same password from the username)."""

    password: str = "secret-{impi}"
    credentials: dict[str, str] = field(default_factory=dict)

    def password_for(self, impi: str) -> str:
        if impi in self.credentials:
            return self.credentials[impi]
        return self.password.replace("{impi}", impi)


@dataclass
class ManagedSut:
    """An external SUT the suite starts and stops itself (e.g. a Kamailio profile)."""

    start: list[str]  # command, run from the target file's directory
    stop: list[str] | None = None
    ready_timeout: float = 20.0


@dataclass
class MangleSpec:
    """A mangling proxy in front of the SUT (conformance/mangler): the UEs talk to it."""

    fault: str
    delay: float | None = None  # seconds, for late_answer / delay / reorder
    count: int = 300  # unsolicited messages per response
    interval: float = 0.02  # seconds between bytes of a dribble
    host: str = "127.0.0.1"  # where the proxy listens
    port: int = 0  # 0: any free port
    seed: int = 5626


@dataclass
class TlsProfile:
    """What the tester trusts and shows on TLS/WSS flows (conformance.wire.tlsconf.TlsClient)."""

    ca: str | None = "test-ca"  # a file (resolved against the profile's folder) or test-ca
    server_name: str | None = None  # None: the target's domain
    client_cert: str | None = None
    client_key: str | None = None
    verify: bool = True


@dataclass
class WsProfile:
    """The WebSocket upgrade (RFC 6455 §4.1, RFC 7118 §4) of ws/wss flows."""

    path: str = "/"
    host: str | None = None  # None: the target's domain


@dataclass
class Target:
    name: str
    description: str = ""
    role: str = "registrar"  # registrar | edge | core | ue (the suite plays the network)
    host: str = "127.0.0.1"
    port: int = 5060  # 0 with an embedded SUT: pick a free port
    transports: list[str] = field(default_factory=lambda: ["udp", "tcp"])
    # Where tls / ws / wss are served (udp and tcp use ``port``); 0 with an embedded SUT: free.
    ports: dict[str, int] = field(default_factory=dict)
    tls: TlsProfile = field(default_factory=TlsProfile)
    ws: WsProfile = field(default_factory=WsProfile)
    domain: str = "ims.test"
    capabilities: list[str] = field(default_factory=list)
    ue_addresses: list[str] = field(default_factory=lambda: ["127.0.0.11", "127.0.0.12", "127.0.0.13"])
    identities: Identities = field(default_factory=Identities)
    timers: Timers = field(default_factory=Timers)
    strict: bool = False  # SHOULD violations fail instead of warn
    # Where the tester's PEER sends terminating requests (the S-CSCF / authoritative proxy);
    # None: the SUT's address.  peer_address: the PEER's own local address.
    peer_host: str | None = None
    peer_port: int | None = None
    peer_address: str = "127.0.0.30"
    # Role edge: where the tester's emulated registrar (REG-T) listens; the SUT forwards
    # registrations there (an embedded edge is pointed at it automatically; port 0: any).
    regt_host: str = "127.0.0.40"
    regt_port: int = 0
    regt_transport: str = "udp"
    embedded: EmbeddedSut | None = None
    managed: ManagedSut | None = None
    mangle: MangleSpec | None = None
    # After this many consecutive cases in which nothing at all came from the SUT, the rest of the
    # run is not attempted: each remaining case is inconclusive, "SUT dead" (0: never give up).
    sut_dead_after: int = 5
    # The operator's maximum number of flows per (IMPU, IMPI, instance) the SUT declares (with
    # capability max-flows; TS 24.229 5.4.1.2.2): the flow_limit step registers up to it.
    max_flows: int | None = None
    sec_agree: SecAgreeProfile = field(default_factory=SecAgreeProfile)
    auth: DigestAuthProfile = field(default_factory=DigestAuthProfile)
    path: str = ""  # the file it came from
    # A network-namespace topology created for the run (conformance.topology.TopologySpec), and
    # the SUT's address in the other family for dual-stack flows.
    topology: object | None = None
    alt_host: str | None = None
    # Role ue: the UE under test (how it is driven, its timers); host is the network side's address
    ue: UeProfile | None = None

    def port_of(self, transport: str) -> int:
        """The SUT's port for a transport: ``port`` for udp/tcp, ``ports[transport]`` else (the
        loader requires it for a declared tls/ws/wss, except that tls defaults to 5061, RFC 3261
        §19.1.2, and an embedded SUT picks free ports)."""
        if transport in ("udp", "tcp"):
            return self.port
        return self.ports.get(transport, 5061 if transport == "tls" and self.embedded is None else 0)

    def declares(self, capability: str) -> bool:
        return capability in self.capabilities
