"""Start and stop the system under test a target profile describes.

An embedded target runs the reference CSCF in this process (on a free port when the profile
says port 0); a managed target runs the profile's start/stop commands and waits, bounded, until
the SUT listens (with a topology: inside its SUT namespace, ``ip netns exec``, the environment
naming the namespace, ``CONFORMANCE_NETNS``, and the address, ``CONFORMANCE_SUT_HOST``); any
other target is assumed to be running already.
"""

from __future__ import annotations

import os
import socket
import subprocess
import time
from pathlib import Path

from ..targets.model import Target


class SutStartError(Exception):
    pass


class SutController:
    def __init__(self, target: Target):
        self.target = target
        self._embedded = None
        self._managed_started = False
        self.address: tuple[str, int] = (target.host, target.port)
        # Where the PEER sends terminating requests (the S-CSCF); the target may say otherwise.
        self.peer_address: tuple[str, int] = (target.peer_host or target.host, target.peer_port or target.port)
        self.started = False
        self._relay = None
        self.sut_address: tuple[str, int] | None = None  # the SUT itself, behind a mangling proxy
        # A running topology (conformance/topology/netns.Topology): the embedded reference is
        # started inside its SUT namespace (its sockets and server thread live there).
        self.topology = None
        # the profile's tls/ws/wss ports as written (0: free): start() writes the real ones back
        # into target.ports, a restart asks for the written ones again
        self._asked_ports = dict(target.ports)

    def start(self, next_hop: tuple[str, int, str] | None = None) -> tuple[str, int]:
        """Start the SUT; ``next_hop`` points an embedded edge at the tester's emulated registrar."""
        if self.started:
            return self.address
        t = self.target
        if t.embedded is not None:
            from ..sut.config import SutConfig
            from ..sut.server.reference import ReferenceCore

            kwargs = dict(mode=t.embedded.mode, domain=t.domain, faults=frozenset(t.embedded.faults),
                          topology=t.embedded.topology, edge_mode=t.embedded.edge_mode)
            if t.embedded.topology == "edge":
                kwargs["edge_next_hop"] = next_hop
            if t.embedded.flow_timer is not None:
                kwargs["flow_timer"] = t.embedded.flow_timer
            if t.embedded.flow_grace is not None:
                kwargs["flow_grace"] = t.embedded.flow_grace
            if t.embedded.min_expires is not None:
                kwargs["min_expires"] = t.embedded.min_expires
            if t.embedded.digest_auth:
                kwargs["digest_auth"] = t.auth.password_for
            if t.embedded.reject_non_outbound:
                kwargs["reject_non_outbound"] = True
            if t.embedded.max_flows is not None:
                kwargs["max_flows"] = t.embedded.max_flows
            if t.embedded.reg_event is not None:
                kwargs["reg_event"] = t.embedded.reg_event
            if t.embedded.gruu is not None:
                kwargs["gruu"] = t.embedded.gruu
            if t.embedded.pcscf_reg_event:
                kwargs["pcscf_reg_event"] = True
            # tls / ws / wss listeners where the profile declares them (ports: 0 or absent = free)
            for transport in ("tls", "ws", "wss"):
                if transport in t.transports:
                    kwargs[f"{transport}_port"] = self._asked_ports.get(transport, 0)
            if t.embedded.ws_auth:
                kwargs["ws_auth"] = t.embedded.ws_auth
            if t.embedded.tls_keylog:
                kwargs["tls_keylog"] = t.embedded.tls_keylog
            if t.embedded.ims:
                # the IMS P-CSCF authenticates with the profile's subscribers (its HSS)
                kwargs.update(ims=True, subscribers=t.sec_agree.subscribers or None,
                              pcscf_algs=tuple(t.embedded.pcscf_algs))
            try:
                cfg = SutConfig(**kwargs)
                self._embedded = ReferenceCore(cfg, host=t.host, port=t.port, alt_host=t.alt_host)
                if self.topology is not None:
                    self.topology.run_in("sut", self._embedded.start)
                else:
                    self._embedded.start()
            except (OSError, ValueError) as exc:
                raise SutStartError(f"cannot start the embedded reference CSCF on {t.host}:{t.port}: {exc}") from exc
            # UEs talk to the edge (or the S-CSCF alone); the PEER reaches the S-CSCF.
            self.address = tuple(self._embedded.address)[:2]
            # the real ports of tls / ws / wss go back into the profile the tester reads
            for transport, port in self._embedded.ports.items():
                if transport in ("tls", "ws", "wss"):
                    t.ports[transport] = port
            self.peer_address = tuple(self._embedded.core_address or self._embedded.address)[:2]
            if self._embedded.core_address is None and next_hop is not None:
                self.peer_address = next_hop[:2]  # edge alone: the "S-CSCF" is the tester's REG-T
        elif t.managed is not None:
            self._run(t.managed.start, "start")
            self._managed_started = True
            self._wait_listening(t.managed.ready_timeout)
        self.started = True
        if t.mangle is not None:
            self._start_mangler()
        return self.address

    def _start_mangler(self) -> None:
        """Put the mangling proxy of ``target.mangle`` between the UEs and the SUT."""
        from ..mangler.relay import Relay, closed_udp_port
        from ..mangler.rules import FaultSpec

        m = self.target.mangle
        self.sut_address = self.address
        if m.fault == "port_unreachable":
            self.address = (m.host, closed_udp_port(m.host))
            return
        spec = FaultSpec(fault=m.fault, delay=m.delay, count=m.count, interval=m.interval, host=m.host,
                         port=m.port, seed=m.seed)
        try:
            self._relay = Relay(spec, self.address, tuple(self.target.transports)).start()
        except OSError as exc:
            self.stop()
            raise SutStartError(f"cannot start the mangling proxy on {m.host}:{m.port}: {exc}") from exc
        self.address = self._relay.address

    def _cwd(self) -> Path:
        return Path(self.target.path).resolve().parent if self.target.path else Path.cwd()

    def _run(self, cmd: list[str], what: str) -> None:
        env = None
        if self.topology is not None:
            # a managed SUT inside the topology: its commands run in the SUT namespace and learn
            # the namespace and the address to listen on from the environment
            name = self.topology.names["sut"]
            cmd = ["ip", "netns", "exec", name, *cmd]
            env = dict(os.environ, CONFORMANCE_NETNS=name, CONFORMANCE_SUT_HOST=self.target.host)
        try:
            proc = subprocess.run(cmd, cwd=self._cwd(), capture_output=True, text=True, timeout=300, env=env)
        except (OSError, subprocess.TimeoutExpired) as exc:
            raise SutStartError(f"{what} command {cmd!r} failed: {exc}") from exc
        if proc.returncode != 0:
            raise SutStartError(f"{what} command {cmd!r} exited {proc.returncode}: "
                                f"{(proc.stderr or proc.stdout).strip()[-2000:]}")

    def _wait_listening(self, timeout: float) -> None:
        deadline = time.monotonic() + timeout
        last = ""
        while time.monotonic() < deadline:
            try:
                if self.topology is not None:      # the SUT's address lives in its namespace
                    family = socket.AF_INET6 if ":" in self.address[0] else socket.AF_INET
                    s = self.topology.socket(self.address[0], family, socket.SOCK_STREAM, role="sut")
                    s.settimeout(0.5)
                    with s:
                        s.connect(self.address)
                    return
                with socket.create_connection(self.address, timeout=0.5):
                    return
            except OSError as exc:
                last = str(exc)
            time.sleep(0.1)
        raise SutStartError(f"SUT did not listen on {self.address[0]}:{self.address[1]}/tcp within "
                            f"{timeout:g} s ({last})")

    def stop(self) -> None:
        if self._relay is not None:
            self._relay.stop()
            self._relay = None
        if self._embedded is not None:
            self._embedded.stop()
            self._embedded = None
        if self._managed_started and self.target.managed and self.target.managed.stop:
            try:
                self._run(self.target.managed.stop, "stop")
            except SutStartError:
                pass
        self._managed_started = False
        self.started = False
