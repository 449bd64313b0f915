"""The thin driver that carries out a :class:`~.model.TopologySpec`: network namespaces, veth
pairs, addresses, routes, an nftables NAT and conntrack timeouts, with ``ip``, ``nft``,
``sysctl`` and ``conntrack``.  Needs root (CAP_SYS_ADMIN and CAP_NET_ADMIN).

Sockets keep the namespace they were created in, so the suite drives every namespace from one
process: :meth:`Topology.socket` creates a socket in a helper thread that entered the namespace
(``setns``), and :meth:`Topology.run_in` runs a function there (the embedded reference CSCF is
started that way: its server thread, created in the namespace, stays in it).

Names are ``cft<pid>x<hex>-<role>``: :func:`cleanup_stale` removes what a killed run left
behind (its pid no longer exists).  :meth:`Topology.down` deletes the namespaces, after killing
any process still inside (a managed SUT that did not stop); the veths and the nftables table
live inside them and go with them.  Every live topology is also taken down
at interpreter exit.
"""

from __future__ import annotations

import atexit
import ipaddress
import os
import re
import shutil
import signal
import socket
import subprocess
import threading
import uuid

from .capture import NatCapture
from .nsenter import in_namespace
from .model import ALLOWED_NETS, V4, TopologySpec

PREFIX = "cft"
NFT_TABLE = "cftnat"
_NAME_RE = re.compile(rf"^{PREFIX}(\d+)x[0-9a-f]+-\w+$")
_live: set["Topology"] = set()
_lock = threading.Lock()


class TopologyUnavailable(Exception):
    """The topology cannot be created here (not root, tools missing, no netns support)."""


def unavailable_reason() -> str | None:
    """Why namespace topologies cannot be created on this host, or None."""
    if os.name != "posix" or not os.path.exists("/proc/self/ns/net"):
        return "network namespaces need Linux"
    if os.geteuid() != 0:
        return "network-namespace topologies need root (CAP_NET_ADMIN, CAP_SYS_ADMIN)"
    missing = [t for t in ("ip", "nft", "conntrack", "sysctl") if shutil.which(t) is None]
    if missing:
        return (f"missing tool(s) {', '.join(missing)} (Debian: apt-get install iproute2 nftables "
                "conntrack procps; scripts/install-tools.sh does it)")
    return None


def _run(cmd: list[str], *, input_: str | None = None, check: bool = True) -> subprocess.CompletedProcess:
    proc = subprocess.run(cmd, input=input_, capture_output=True, text=True, timeout=30)
    if check and proc.returncode != 0:
        raise TopologyUnavailable(f"{' '.join(cmd)} failed: {(proc.stderr or proc.stdout).strip()}")
    return proc


def _check_address(ip: str) -> None:
    addr = ipaddress.ip_address(ip)
    if not any(addr in net for net in ALLOWED_NETS):
        raise ValueError(f"{ip} is outside 198.18.0.0/15 and 2001:db8::/32")


class Topology:
    """A running topology (``up()`` ... ``down()``; also a context manager)."""

    def __init__(self, spec: TopologySpec):
        self.spec = spec
        self.tag = f"{PREFIX}{os.getpid()}x{uuid.uuid4().hex[:6]}"
        self.names = {role: f"{self.tag}-{role}" for role in spec.namespaces()}
        self.public_v4 = V4["nat_out"]
        self.capture: NatCapture | None = None
        self.is_up = False

    # -- lifecycle --------------------------------------------------------------------------
    def __enter__(self) -> "Topology":
        return self.up()

    def __exit__(self, *exc) -> None:
        self.down()

    def up(self) -> "Topology":
        reason = unavailable_reason()
        if reason:
            raise TopologyUnavailable(reason)
        with _lock:
            _live.add(self)
        try:
            self._build()
        except BaseException:
            self.down()
            raise
        self.is_up = True
        return self

    def _ns(self, role: str, *cmd: str, check: bool = True, input_: str | None = None):
        return _run(["ip", "netns", "exec", self.names[role], *cmd], check=check, input_=input_)

    def _build(self) -> None:
        spec = self.spec
        for role in spec.namespaces():
            _run(["ip", "netns", "add", self.names[role]])
            self._ns(role, "ip", "link", "set", "lo", "up")
            self._ns(role, "sysctl", "-qw", "net.ipv6.conf.all.accept_dad=0", "net.ipv6.conf.default.accept_dad=0",
                     check=False)
        for ns, ifname, peer_ns, peer_if in spec.links():
            _run(["ip", "link", "add", ifname, "netns", self.names[ns], "type", "veth",
                  "peer", "name", peer_if, "netns", self.names[peer_ns]])
        for ns, ifname, cidr in spec.addresses():
            _check_address(cidr.split("/")[0])
            extra = ["nodad"] if ":" in cidr else []
            self._ns(ns, "ip", "addr", "add", cidr, "dev", ifname, *extra)
        for ns, ifname, peer_ns, peer_if in spec.links():
            self._ns(ns, "ip", "link", "set", ifname, "up")
            self._ns(peer_ns, "ip", "link", "set", peer_if, "up")
        for ns, cmd in spec.commands():
            self._ns(ns, *cmd)
        self._ns("nat", "nft", "-f", "-", input_=spec.ruleset(NFT_TABLE))
        self._ns("nat", "sysctl", "-qw", *spec.sysctls())
        self.capture = NatCapture(self.path("nat"), [ifn for n, i, pn, pi in spec.links()
                                                      for (ns_, ifn) in ((n, i), (pn, pi)) if ns_ == "nat"])
        self.capture.start()

    def down(self) -> None:
        """Remove every namespace of the topology (with its veths and nftables table); safe to
        call twice and after a failed ``up``."""
        if self.capture is not None:
            self.capture.stop()
            self.capture = None
        existing = set(list_namespaces())
        for name in self.names.values():
            if name in existing:
                kill_inside(name)
                _run(["ip", "netns", "del", name], check=False)
        self.is_up = False
        with _lock:
            _live.discard(self)

    # -- using it ---------------------------------------------------------------------------
    def path(self, role: str) -> str:
        return f"/run/netns/{self.names[role]}"

    def role_of(self, ip: str) -> str:
        return self.spec.role_of(ip)

    def run_in(self, role: str, fn, *args):
        return in_namespace(self.path(role), fn, *args)

    def socket(self, ip: str, family: int, kind: int, role: str | None = None) -> socket.socket:
        """A socket in the namespace that owns ``ip`` (or ``role``)."""
        return self.run_in(role or self.role_of(ip), socket.socket, family, kind)

    def flush(self) -> None:
        """Forget every NAT mapping (conntrack -F in the NAT namespace)."""
        self._ns("nat", "conntrack", "-F", check=False)
        for fam in ("ipv4", "ipv6"):
            self._ns("nat", "conntrack", "-F", "-f", fam, check=False)

    def rebind(self) -> tuple[str, str]:
        """The NAT's public IPv4 address changes (198.18.2.1 <-> 198.18.2.3) and every mapping
        is forgotten: the UE's next packet gets a new mapping (a NAT rebinding).  Returns
        (old, new) public address."""
        old = self.public_v4
        new = V4["nat_out_alt"] if old == V4["nat_out"] else V4["nat_out"]
        # the old address first: deleting a primary address also deletes its secondaries
        self._ns("nat", "ip", "addr", "del", f"{old}/24", "dev", "out0")
        self._ns("nat", "ip", "addr", "add", f"{new}/24", "dev", "out0")
        self.public_v4 = new
        self.flush()
        return old, new

    def conntrack(self) -> str:
        return self._ns("nat", "conntrack", "-L", check=False).stdout

    def mapping(self, local: tuple[str, int], transport: str, site: int = 1) -> tuple[str, int] | None:
        """Where the NAT mapped the flow at ``local`` (in UE namespace ``site``) lately, from
        the NAT capture; ``local`` itself when that address is not behind the NAT."""
        if not self.spec.behind_nat(local[0]):
            return tuple(local)
        if self.capture is None:
            return None
        return self.capture.mapping(local, transport, iface=f"in{site - 1}")


def kill_inside(name: str) -> list[int]:
    """SIGKILL what still runs inside the namespace ``name`` (a managed SUT that did not stop):
    deleting the namespace alone would leave such processes running in it, unreachable."""
    killed = []
    for pid in _run(["ip", "netns", "pids", name], check=False).stdout.split():
        try:
            os.kill(int(pid), signal.SIGKILL)
            killed.append(int(pid))
        except (ValueError, ProcessLookupError, PermissionError):
            pass
    return killed


def list_namespaces() -> list[str]:
    proc = _run(["ip", "netns", "list"], check=False)
    return [line.split()[0] for line in proc.stdout.splitlines() if line.strip()]


def leftovers() -> list[str]:
    """Namespaces of this suite still present (any run)."""
    return [n for n in list_namespaces() if _NAME_RE.match(n)]


def cleanup_stale() -> list[str]:
    """Delete namespaces left by runs whose process is gone; returns their names."""
    removed = []
    for name in leftovers():
        pid = int(_NAME_RE.match(name).group(1))
        if pid != os.getpid() and not os.path.exists(f"/proc/{pid}"):
            kill_inside(name)
            _run(["ip", "netns", "del", name], check=False)
            removed.append(name)
    return removed


@atexit.register
def _down_all() -> None:
    with _lock:
        live = list(_live)
    for topo in live:
        try:
            topo.down()
        except Exception:  # noqa: BLE001 - best effort at exit
            pass
