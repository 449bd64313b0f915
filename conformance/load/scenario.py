"""What a load run sends: UEs, their flows, the ramp, the refreshes and the mixes (data only)."""

from __future__ import annotations

from dataclasses import asdict, dataclass, field

# The default turn over UDP: a turn's datagrams leave in one sendmmsg, and every clump wakes the
# registrar's workers; 2 ms clumps cost load about a fifth less CPU per transaction than 1 ms ones
# and let Kamailio keep up more often (benchmarks/load_vs_sipp.py A/Bs, README).
UDP_TURN_MS = 2.0
STREAM_TURN_MS = 1.0  # TCP, TLS, WS, WSS: one send() per connection per turn
# Over the streams, at lower rates the default turn lengthens (up to MAX_TURN_FACTOR times) so
# that a turn carries about STREAM_CLUMP requests, what a 1 ms turn carries at 12,000 new UEs/s
# with their refreshes: a turn costs a wake-up from its sleep, with cold caches, whatever it
# carries, and each send() wakes the registrar's TCP reader.  Against Kamailio at 6,000 new
# UEs/s this took load's CPU per transaction from 20.4 to 13.8 us and Kamailio's from 52.3 to
# 43.5 us (benchmarks/load_vs_sipp.py, --load-args A/B).  Not over UDP: there a longer turn is
# a larger clump in the registrar's socket buffer, and the same A/B measured no gain in CPU.
STREAM_CLUMP = 24
MAX_TURN_FACTOR = 2.0


@dataclass
class LoadScenario:
    host: str = "127.0.0.1"
    port: int = 5060
    transport: str = "udp"  # udp | tcp | tls | ws | wss
    domain: str = "ims.test"
    ue_addresses: list[str] = field(default_factory=lambda: ["127.0.0.11", "127.0.0.12", "127.0.0.13"])
    ues: int = 1000  # UEs (each one AOR and one +sip.instance)
    rate: float = 500.0  # initial registrations started per second (the ramp), flows counted
    reg2_share: float = 0.0  # share of UEs that register a second flow (reg-id 2, second address: Reg2)
    refreshes: int = 1  # refreshes per flow after its initial registration (-1: until the end)
    refresh_interval: float = 1.0  # seconds from a flow's 2xx to its next refresh
    reg1b_share: float = 0.0  # share of refreshes sent as Reg1b: same reg-id from another address
    storm_at: float | None = None  # seconds after the start: every registered flow refreshes at once
    expires: int = 600
    duration: float | None = None  # stop sending new transactions after this many seconds
    max_outstanding: int = 5000  # transactions in progress at once
    tcp_connections: int = 0  # TCP: connections per local address shared by the flows (0: one per flow)
    timeout: float = 8.0  # a transaction without final response by then fails ("timeout")
    t1: float = 0.5  # RFC 3261 Timer T1 (UDP retransmissions)
    t2: float = 4.0
    # the loop's shortest turn: what comes due within it leaves together (None: the default for
    # the transport and the offered rate, ``default_turn_ms``; the generator fills it in)
    turn_ms: float | None = None
    udp_connect: bool = True  # UDP sockets connected to the SUT (it answers from its address and port)
    udp_batch: bool = True  # connected UDP: a turn's datagrams in one sendmmsg, responses by recvmmsg (Linux)
    user_prefix: str = "load"
    auth_password: str | None = None  # answer 401/407 Digest challenges (MD5) with this password
    run_token: str = ""
    # tls / wss: what the UEs trust (a CA file, or None for the system's), the name checked in the
    # server's certificate; ws / wss: the upgrade's resource and Host (RFC 7118)
    tls_ca: str | None = None
    tls_server_name: str | None = None
    tls_verify: bool = True
    ws_path: str = "/"
    ws_host: str | None = None

    def to_dict(self) -> dict:
        return asdict(self)

    @property
    def offered_transactions(self) -> int | None:
        """REGISTER transactions the scenario asks for (None when refreshes run until the end)."""
        if self.refreshes < 0:
            return None
        flows = self.ues + int(round(self.ues * self.reg2_share))
        return flows * (1 + self.refreshes)

    @property
    def offered_rate(self) -> float:
        """REGISTERs per second offered: the ramp's, its Reg2 flows', and their refreshes
        overlapping the ramp (one in flight per flow at a time)."""
        return self.rate * (1 + self.reg2_share) * (2 if self.refreshes else 1)

    def default_turn_ms(self) -> float:
        """The turn when none is given: UDP_TURN_MS over UDP; over the streams STREAM_TURN_MS,
        longer, up to MAX_TURN_FACTOR times, where the offered rate fills such a turn with fewer
        than STREAM_CLUMP requests."""
        if self.transport == "udp":
            return UDP_TURN_MS
        offered = self.offered_rate
        high = STREAM_TURN_MS * MAX_TURN_FACTOR
        if offered <= 0:
            return high
        return min(high, max(STREAM_TURN_MS, round(STREAM_CLUMP * 1000.0 / offered, 3)))
