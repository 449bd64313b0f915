"""The driver interface: what the runner asks of any UE."""

from __future__ import annotations

from dataclasses import dataclass, field


class DriverError(Exception):
    """The UE could not be started / driven (missing binary, died): the case is inconclusive."""


class ActionNotSupported(DriverError):
    """This driver cannot carry out the action (e.g. baresip cannot be told to move address)."""


@dataclass
class NetworkInfo:
    """Where the network side listens, for the UE's configuration (its outbound proxy)."""

    domain: str  # the home domain: the REGISTER's Request-URI host
    edge: dict[str, tuple[str, int]]  # transport -> (host, port) of the edge (P-CSCF)
    aor: str  # sip:user@domain
    impi: str  # the private identity / digest username
    password: str
    ue_addresses: list[str] = field(default_factory=list)  # the loopback addresses the UE may use
    transport: str = "udp"  # the transport this item runs over
    ca_file: str | None = None  # the test CA for tls / wss
    ws_path: str = "/"


class UeDriver:
    """Start a UE pointed at the network, tell it what to do, stop it.  Every call is bounded.

    Subclasses implement what they can; the defaults raise :class:`ActionNotSupported`.
    ``capabilities`` lists the actions the driver can perform (``register``, ``add_flow``,
    ``move``, ``deregister``, ``deregister_all``, ``call``, ``stop``) for the applicability test.
    """

    name = "abstract"
    actions: tuple[str, ...] = ()

    def __init__(self, profile, target):
        self.profile = profile
        self.target = target

    def start(self, net: NetworkInfo, *, workdir) -> None:
        """Start the UE (it registers as booted).  ``workdir``: a folder for its files and logs."""
        raise ActionNotSupported(f"{self.name}: start")

    def register(self, flow: int = 1, address: str | None = None) -> None:
        raise ActionNotSupported(f"{self.name}: register")

    def add_flow(self, address: str) -> None:
        raise ActionNotSupported(f"{self.name}: add_flow")

    def move(self, flow: int, address: str) -> None:
        raise ActionNotSupported(f"{self.name}: move")

    def deregister(self, flow: int | None = None, *, all: bool = False) -> None:
        raise ActionNotSupported(f"{self.name}: deregister")

    def call(self, to: str) -> None:
        raise ActionNotSupported(f"{self.name}: call")

    def stop(self) -> None:
        """Stop the UE (always safe to call twice; SIGTERM then SIGKILL within a bound)."""

    def logs(self) -> str:
        """The UE's own log, for the report when a case fails (may be empty)."""
        return ""
