"""The UEs of a case and their endpoints: identities from the target profile, one socket (or
connection) per flow, made in the flow's network namespace when a topology owns its address.
"""

from __future__ import annotations

from ..sip.errors import LocalProtocolError
from ..sip.transports import is_stacked
from ..ue.model import UE, FlowState
from .nat_contact import open_contact
from .recording import safe_name
from .shared_socket import shared_endpoint
from .streamsetup import STREAM_TRANSPORTS, open_stream
from .transport import Addr, TcpEndpoint, UdpEndpoint


class Setup:
    """The UE half of a case run (mixed into :class:`~conformance.engine.runner.CaseRun`)."""

    def __init__(self) -> None:
        self.ues: dict[str, UE] = {}
        self.endpoints: dict[str, UdpEndpoint | TcpEndpoint] = {}   # or StreamEndpoint (tls/ws/wss)
        self.closed_flows: set[str] = set()
        self.mappings: dict[str, list[Addr]] = {}  # flow -> distinct NAT mappings seen, in order

    def make_ues(self) -> None:
        t = self.target
        for name, spec in self.case.ues.items():
            user = t.identities.user.format(case=safe_name(self.case.id.lower()) + "-" + self.transport,
                                            ue=name, run=self.run_token, domain=t.domain)
            fmt = dict(user=user, domain=t.domain)
            ue = UE(name=name, user=user, impu=t.identities.impu.format(**fmt),
                    impi=t.identities.impi.format(**fmt), domain=t.domain,
                    instance=UE.new_instance() if spec.instance else None)
            if getattr(spec, "aor_of", None):   # a second instance of another UE's AOR
                other = self.ues[spec.aor_of]
                ue.user, ue.impu, ue.impi = other.user, other.impu, other.impi
            for fname, fspec in spec.flows.items():
                if fspec.address > len(t.ue_addresses):
                    raise LocalProtocolError(
                        f"flow {fname} uses address {fspec.address} but target '{t.name}' lists only "
                        f"{len(t.ue_addresses)} ue_addresses")
                ue.flows[fname] = FlowState(spec=fspec, local_ip=t.ue_addresses[fspec.address - 1],
                                            transport=fspec.transport or self.transport,
                                            edge=self.emulated_edge(fspec))
                if getattr(fspec, "port", None):
                    ue.flows[fname].local_port = fspec.port
            self.ues[name] = ue

    def emulated_edge(self, fspec):
        """The tester's edge proxy (EP-T) for a flow, given the SUT's role.

        A registrar-only SUT gets the edge the case describes.  A SUT with its own edge proxy in
        front (role ``core`` or ``edge``) is the edge: a case's ordinary outbound edge is not
        emulated then (cases that need a broken first hop are written for role registrar only).
        """
        edge = fspec.edge
        if edge is None or self.target.role == "registrar" or edge.in_front:
            return edge
        return None

    def flow(self, name: str) -> tuple[UE, FlowState]:
        for ue in self.ues.values():
            if name in ue.flows:
                return ue, ue.flows[name]
        raise LocalProtocolError(f"unknown flow {name!r}")

    def sock_factory(self, ip: str, site: int = 1):
        """How to make a socket for local address ``ip``: inside its namespace when a topology
        owns it, else an ordinary socket (None)."""
        if self.topology is None:
            return None
        try:
            role = self.topology.role_of(ip)
        except KeyError:
            return None
        if role == "ue" and site > 1:
            role = f"ue{site}"
        return lambda family, kind: self.topology.socket(ip, family, kind, role=role)

    def sut_for(self, ip: str) -> Addr:
        """Where a flow from ``ip`` reaches the SUT: its address in that family (dual-stack)."""
        alt = getattr(self.target, "alt_host", None)
        if alt and (":" in alt) == (":" in ip) and (":" in self.sut[0]) != (":" in ip):
            return (alt, self.sut[1])
        return self.sut

    def dst_of(self, ep) -> Addr:
        """Where an endpoint's messages go: a tls/ws/wss connection's far end (the SUT's port for
        that transport), else the SUT's address for the endpoint's family."""
        if is_stacked(getattr(ep, "transport", "")):
            return tuple(ep.remote)
        return self.sut_for(ep.local[0])

    def flow_mapping(self, flow: FlowState) -> Addr | None:
        """The flow's address as the SUT sees it: its NAT mapping behind a NAT, else its own."""
        if flow.local_port is None:
            return None
        local = (flow.local_ip, flow.local_port)
        if self.topology is None:
            return local
        proto = "udp" if flow.transport == "udp" else "tcp"   # tls / ws / wss run over TCP
        mapped = self.topology.mapping(local, proto, site=getattr(flow.spec, "site", 1))
        if mapped is not None:
            seen = self.mappings.setdefault(flow.name, [])
            if not seen or seen[-1] != tuple(mapped):
                seen.append(tuple(mapped))
        return tuple(mapped) if mapped else None

    def endpoint(self, flow: FlowState, *, new_connection: bool = False):
        """The flow's socket (or connection), opened on first use or when ``new_connection``."""
        if getattr(flow.spec, "socket", None):   # the flow shares another flow's socket
            return shared_endpoint(self, flow, new_connection)
        ep = self.endpoints.get(flow.name)
        if ep is not None and (new_connection or ep.closed):
            ep.close()
            ep = None
        if ep is None:
            if flow.transport == "udp":
                port = flow.local_port or 0
                ep = UdpEndpoint(flow.local_ip, self.on_wire, port=port,
                                 sock_factory=self.sock_factory(flow.local_ip, getattr(flow.spec, "site", 1)))
            elif flow.transport in STREAM_TRANSPORTS:
                ep = open_stream(self, flow)   # tls / ws / wss (engine/streamsetup.py)
            else:
                ep = TcpEndpoint(flow.local_ip, self.sut_for(flow.local_ip), self.on_wire, self.target.timers.connect,
                                 sock_factory=self.sock_factory(flow.local_ip, getattr(flow.spec, "site", 1)))
            self.endpoints[flow.name] = ep
            self.closed_flows.discard(flow.name)
            flow.local_port = ep.local[1]
            flow.port_uc = flow.port_us = ep.local[1]
            open_contact(self, flow)   # a Contact elsewhere, as behind a NAT (engine/nat_contact.py)
        return ep
