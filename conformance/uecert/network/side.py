"""The network side of one UE case: the reference core (edge + S-CSCF) on free loopback ports,
tapped (:mod:`.tap`), with the case's behaviour and the network's script actions."""

from __future__ import annotations

import copy
import secrets
import socket
import time

from ...sip.framing import Message, Ping
from ...sip.stun import stun_response
from ...sut.config import SutConfig
from ...sut.flow import FlowInfo
from ...sut.server.reference import ReferenceCore
from ..drivers.base import NetworkInfo
from ..model import NetworkBehaviour, UeTimers
from ..observation import IN, OUT, PING, PONG, FlowKey
from .record import UeRecorder
from .tap import EdgeTap

STREAMS = ("tls", "ws", "wss")


class NetworkActionError(Exception):
    """The network side cannot do what the script asks (the case is inconclusive, with this)."""


def _mapped(text: str) -> tuple[str, int]:
    host, _, port = text.rpartition(":")
    return host.strip("[]"), int(port)


class _TappedCore(ReferenceCore):
    """The reference core whose keep-alive answers (CRLF pong, STUN) the side records and shapes."""

    side: "UeNetwork"

    def tap_edge(self, tap: EdgeTap) -> None:
        """UEs talk to ``tap`` in place of the edge (before start)."""
        self.edge = tap
        self._listeners[0].node = tap

    def wake(self) -> None:
        """Make the I/O loop look at the nodes' deadlines now (a queued network action)."""
        try:
            self._wake_w.send(b"x")
        except (OSError, AttributeError):
            pass

    def on_stun(self, data: bytes, flow: FlowInfo) -> bytes | None:
        side, rec = self.side, self.side.recorder
        if not side.is_ue(flow.remote):
            return super().on_stun(data, flow)
        rec.keepalive(IN, flow, data, PING, "stun")
        if side.dropping_pongs():
            return None
        mapped = side.stun_mapping(flow)
        reply = stun_response(data, mapped)
        if reply:
            rec.keepalive(OUT, flow, reply, PONG, "stun", mapped=tuple(mapped))
        return reply

    def _on_frames(self, conn, frames: list) -> None:
        side, rec = self.side, self.side.recorder
        for frame in frames:
            if isinstance(frame, Ping):
                with self._lock:
                    conn.listener.node.flow_activity(conn.flow, time.monotonic())
                ue = side.is_ue(conn.flow.remote)
                if ue:
                    rec.keepalive(IN, conn.flow, b"\r\n\r\n", PING, "crlf")
                if not (ue and side.dropping_pongs()):
                    self._tcp.send(conn, b"\r\n")          # RFC 5626 section 5.4: pong at once
                    if ue:
                        rec.keepalive(OUT, conn.flow, b"\r\n", PONG, "crlf")
            elif isinstance(frame, Message):
                self._deliver(conn.listener, frame.data, conn.flow)
            if conn not in self._tcp:
                return


class UeNetwork:
    """Start with :meth:`start`, stop with :meth:`stop` (safe twice).  ``recorder`` holds the
    observation; ``behaviour`` may change under way (:meth:`behave`)."""

    def __init__(self, behaviour: NetworkBehaviour, *, domain: str = "ims.test", host: str = "127.0.0.1",
                 transport: str = "udp", timers: UeTimers | None = None, recorder: UeRecorder | None = None,
                 password_for=None):
        # A copy: `network.behave` changes it under way, and the case's own behaviour is shared by
        # its items (ID[tcp], ID[ws], ...): a reject left from one item must not greet the next.
        self.behaviour = copy.deepcopy(behaviour)
        self.domain, self.host, self.transport = domain, host, transport
        self.timers = timers or UeTimers()
        self.recorder = recorder or UeRecorder()
        self.recorder.obs.behaviour = self.behaviour
        self.recorder.obs.timers = self.timers
        self.password_for = password_for
        self.core: _TappedCore | None = None
        self.tap: EdgeTap | None = None
        self._peer: socket.socket | None = None
        self._core_address: tuple[str, int] | None = None

    # -- lifecycle ---------------------------------------------------------------------------
    def _config(self) -> SutConfig:
        b = self.behaviour
        expires = b.expires or self.timers.register_expires or None
        kw = {}
        if self.transport in STREAMS:
            kw[f"{self.transport}_port"] = 0
        return SutConfig(mode="rel8" if b.outbound else "rel7", domain=self.domain, topology="core",
                         edge_mode="rel8" if b.path_ob else "rel7", flow_timer=b.flow_timer,
                         max_expires=expires or SutConfig.max_expires,
                         default_expires=min(expires or SutConfig.default_expires, SutConfig.default_expires),
                         gruu=b.gruu, core_transport="udp",
                         digest_auth=self.password_for if b.auth else None, **kw)

    def start(self) -> "UeNetwork":
        if self.behaviour.sec_agree:
            raise NetworkActionError("the UE network side has no sec-agree (IMS AKA) P-CSCF yet")
        core = _TappedCore(self._config(), host=self.host)
        core.side = self
        self.tap = EdgeTap(core.edge, self.recorder, self)
        core.tap_edge(self.tap)
        core.start()
        self.core = core
        self._core_address = core.core_address
        return self

    def stop(self) -> None:
        if self.core is not None:
            self.core.stop()
            self.core = None
        if self._peer is not None:
            self._peer.close()
            self._peer = None

    def __enter__(self):
        return self.start()

    def __exit__(self, *exc):
        self.stop()

    # -- where things are --------------------------------------------------------------------
    @property
    def edge(self) -> dict[str, tuple[str, int]]:
        return {t: (self.host, p) for t, p in self.core.ports.items()}

    def edge_address(self, transport: str) -> tuple[str, int]:
        return self.host, self.core.ports.get(transport, self.core.port)

    def is_ue(self, address) -> bool:
        """Anything but the S-CSCF (the edge's next hop) and the network's own peer."""
        address = tuple(address)
        if self._core_address is not None and address == tuple(self._core_address):
            return False
        return not (self._peer is not None and address == self._peer.getsockname()[:2])

    def info(self, aor: str, impi: str, password: str, ue_addresses: list[str], *, ca_file=None,
             ws_path: str = "/") -> NetworkInfo:
        return NetworkInfo(domain=self.domain, edge=self.edge, aor=aor, impi=impi, password=password,
                           ue_addresses=list(ue_addresses), transport=self.transport, ca_file=ca_file,
                           ws_path=ws_path)

    # -- behaviour ---------------------------------------------------------------------------
    def dropping_pongs(self) -> bool:
        b = self.behaviour
        return b.drop_pongs and self.recorder.now() >= (b.drop_pongs_after or 0.0)

    def stun_mapping(self, flow: FlowInfo) -> tuple[str, int]:
        b = self.behaviour
        if b.stun_mapped and (b.stun_mapped_after is None or self.recorder.now() >= b.stun_mapped_after):
            return _mapped(b.stun_mapped)
        return tuple(flow.remote)

    def behave(self, changes: dict) -> None:
        for k, v in changes.items():
            if not hasattr(self.behaviour, k):
                raise NetworkActionError(f"network.behave: no behaviour {k!r}")
            setattr(self.behaviour, k, v)
        if "flow_timer" in changes and self.core is not None:
            self.core.config.flow_timer = changes["flow_timer"]
        self.recorder.note("network.behave", changes)

    # -- network actions ---------------------------------------------------------------------
    def registered_flows(self) -> list[FlowKey]:
        """The UE's flows, numbered by their first REGISTER (flow 1 first)."""
        with self.recorder.lock:
            out: list[FlowKey] = []
            for e in self.recorder.obs.requests("REGISTER"):
                if e.flow not in out:
                    out.append(e.flow)
            return out

    def flow(self, n: int) -> FlowKey:
        flows = self.registered_flows()
        if not 1 <= n <= len(flows):
            raise NetworkActionError(f"no flow {n}: the UE registered {len(flows)} flow(s)")
        return flows[n - 1]

    def close_flow(self, n: int = 1) -> FlowKey:
        key = self.flow(n)
        info = self.tap.flows.get(key)
        if info is None:
            raise NetworkActionError(f"flow {n} ({key}) is not known to the edge")
        self.recorder.note("network.close_flow", {"flow": n, "key": str(key)})
        self.tap.close(info)
        self.core.wake()
        return key

    def send_request(self, aor: str, method: str = "MESSAGE") -> str:
        """A request to the AOR from a peer through the S-CSCF, which routes it over the
        registered flow (RFC 5626 section 7); returns its Call-ID."""
        if method not in ("MESSAGE", "OPTIONS"):
            raise NetworkActionError(f"network.send_request: {method} is not sent (MESSAGE or OPTIONS)")
        if self._peer is None:
            self._peer = socket.socket(socket.AF_INET6 if ":" in self.host else socket.AF_INET, socket.SOCK_DGRAM)
            self._peer.bind((self.host, 0))
        host, port = self._peer.getsockname()[:2]
        call_id = f"net-{secrets.token_hex(6)}@{host}"
        body = b"hello from the network" if method == "MESSAGE" else b""
        lines = [f"{method} {aor} SIP/2.0", f"Via: SIP/2.0/UDP {host}:{port};branch=z9hG4bK{secrets.token_hex(6)};rport",
                 "Max-Forwards: 70", f"From: <sip:network@{self.domain}>;tag={secrets.token_hex(4)}", f"To: <{aor}>",
                 f"Call-ID: {call_id}", f"CSeq: 1 {method}"]
        if body:
            lines.append("Content-Type: text/plain")
        lines.append(f"Content-Length: {len(body)}")
        self._peer.sendto(("\r\n".join(lines) + "\r\n\r\n").encode() + body, self._core_address)
        self.recorder.note("network.send_request", {"method": method, "call_id": call_id})
        return call_id

    def notify_deregistered(self) -> None:
        raise NetworkActionError("network.notify_deregistered: the UE network side sends no reg-event "
                                 "NOTIFY yet (the UE would have to subscribe first)")
