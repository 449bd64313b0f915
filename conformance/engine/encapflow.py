"""A UE flow's protected ports carrying UDP-encapsulated ESP (RFC 3948) in tunnel mode: the
``mod=UDP-enc-tun`` of TS 33.203 Annex M, for a UE behind a NAT.

Ordinary UDP sockets bound to port_uc and port_us carry the ESP packets (no raw sockets: the
flow works inside a network namespace, through a kernel NAT, and without root), so the NAT
maps each protected port like any UDP flow:

* sending: SIP from port_uc to the P-CSCF's port_ps, as an inner IPv4/UDP packet (the UE's own
  address, the SA's ports) sealed on SA 1 and sent as the UDP payload (RFC 3948 §2.1);
* receiving: on port_us (SA 3: what the P-CSCF sends, TS 24.229 5.1.1.2.2 a)) and port_uc
  (SA 2); NAT-keepalives and non-ESP payloads are recorded and ignored, ESP is checked (SPI,
  replay window, ICV, inner selectors) and its SIP handed to the runner with the SA in ``meta``;
* NAT-keepalives (one 0xFF octet, RFC 3948 §2.3, §4) from both ports: at once when the SA set is
  installed, so that the NAT has a mapping for port_us before the P-CSCF answers there, and
  whenever :meth:`keepalive` is called (the ``esp_keepalive`` step);
* the same deliberate faults as :class:`~.espflow.EspFlowEndpoint` (``mode``).

The endpoint stands in for the raw-socket flow in :class:`~.flowsec.FlowSec`: ``mailbox``
keeps the SPIs the sec-agree steps claim (no hub to tell), ``use`` takes the SA set, and
``modes`` is what the UE offers in Security-Client (UDP-enc-tun first, then trans).  When the
P-CSCF chooses transport mode nonetheless, nothing is sent: every send fails with the reason.
"""

from __future__ import annotations

import socket
from dataclasses import replace

from ..ims import udpencap
from ..ims.endpoint import EspEndpoint
from ..ims.errors import EspError
from ..ims.esp import EspCodec
from ..ims.secagree import UDP_ENC_TUN
from ..sip.framing import classify_datagram
from .transport import Addr, Incoming, TransportError, WireHook

MAX_DATAGRAM = 65535


class SpiBook:
    """What a :class:`~conformance.ims.espio.Mailbox` offers the sec-agree steps (the SPIs a flow
    claimed), without the raw-socket hub: encapsulated ESP arrives on the flow's own sockets."""

    def __init__(self):
        self.spis: set[tuple[int, str | None]] = set()

    def claim(self, spi: int, dst: str | None = None) -> None:
        self.spis.add((spi, dst))

    def release(self, spi: int, dst: str | None = None) -> None:
        self.spis.discard((spi, dst))


class EncapFlowEndpoint:
    """port_uc's socket (``fileno``); :attr:`us` reads port_us's."""

    transport = "udp"
    modes = (UDP_ENC_TUN, "trans")

    def __init__(self, uc: socket.socket, us: socket.socket, on_wire: WireHook,
                 make_socket=socket.socket, ports: set | None = None):
        self.uc_sock, self.us_sock = uc, us
        self.make_socket = make_socket      # for a new port_uc (inside the UE's namespace)
        self.ports = ports if ports is not None else set()   # every protected port used
        self.local: Addr = tuple(uc.getsockname()[:2])
        self.port_us = us.getsockname()[1]
        self.on_wire = on_wire
        self.mailbox = SpiBook()
        self.sec = None                     # the FlowSec (engine/flowsec.py) this endpoint serves
        self.endpoint: EspEndpoint | None = None
        self.pcscf: Addr | None = None      # (address, port_ps)
        self.pcscf_pc: Addr | None = None   # (address, port_pc)
        self.refused = ""                   # why nothing can be sent (the P-CSCF chose trans)
        self.mode: str | None = None
        self.last_payload: bytes | None = None
        self.keepalives = 0
        self.closed = False
        self.us = _PortUs(self)

    def use(self, endpoint: EspEndpoint, pcscf: Addr) -> None:
        """Switch to a new SA set (called once the 401's Security-Server is read)."""
        server = getattr(self.sec, "server", None)
        self.endpoint, self.pcscf = endpoint, tuple(pcscf)
        self.pcscf_pc = (pcscf[0], server.port_c) if server is not None else None
        self.refused = ""
        if server is not None and server.mode != UDP_ENC_TUN.lower():
            self.refused = (f"the P-CSCF chose mod={server.mod or 'trans'} (transport mode), but "
                            f"this flow carries ESP in UDP only (udp_encap: mod={UDP_ENC_TUN}, "
                            "TS 33.203 Annex M)")
            return
        self.keepalive()   # open the NAT's mappings of port_uc and port_us (RFC 3948 §4)

    def fileno(self) -> int:
        return self.uc_sock.fileno()

    def renew_port_uc(self) -> int:
        """A new port_uc after a failed challenge (TS 24.229 5.1.1.5.1); the old socket is closed
        once the new one is bound, so the two differ."""
        new = self.make_socket(self.uc_sock.family, socket.SOCK_DGRAM)
        try:
            new.bind((self.local[0], 0))
            new.setblocking(False)
        except OSError:
            new.close()
            raise
        old, self.uc_sock = self.uc_sock, new
        old.close()
        self.local = tuple(new.getsockname()[:2])
        self.ports.add(self.local[1])
        return self.local[1]

    # -- sending -------------------------------------------------------------------------------
    def _sendto(self, sock: socket.socket, payload: bytes, dst: Addr, what: str) -> None:
        try:
            sock.sendto(payload, dst)
        except OSError as exc:
            raise TransportError(f"UDP send to {dst[0]}:{dst[1]} failed: {exc.strerror}") from None
        self.on_wire("sent", "udp", tuple(sock.getsockname()[:2]), dst, payload, what)

    def keepalive(self) -> int:
        """One NAT-keepalive from each protected port to its P-CSCF port; how many were sent."""
        if self.pcscf is None or self.refused:
            return 0
        sent = 0
        for sock, dst in ((self.uc_sock, self.pcscf), (self.us_sock, self.pcscf_pc)):
            if dst is not None:
                self._sendto(sock, udpencap.KEEPALIVE, dst, "keepalive")
                sent += 1
        self.keepalives += sent
        return sent

    def send(self, data: bytes, dst: Addr | None = None) -> None:
        if self.endpoint is None or self.pcscf is None:
            raise TransportError("no SA set with the P-CSCF")
        if self.refused:
            raise TransportError(self.refused)
        dst = self.pcscf                    # always port_ps (TS 24.229 5.1.1.2.2 a))
        if self.mode == "unprotected":
            self._sendto(self.uc_sock, data, dst, "message")
            return
        if self.mode == "replay" and self.last_payload is not None:
            payload = self.last_payload
        else:
            try:
                payload = self._seal(data, dst)
            except EspError as exc:
                raise TransportError(f"cannot protect: {exc}") from None
        self._sendto(self.uc_sock, payload, dst, "message")
        if self.mode is None:
            self.last_payload = payload

    def _seal(self, data: bytes, dst: Addr) -> bytes:
        sa = self.endpoint.sas.for_ports(self.local[1], dst[1])
        if sa is None:
            raise EspError(f"no SA for ports {self.local[1]} -> {dst[1]}")
        if self.mode == "wrong_spi":
            # a correct ICV under an SPI the P-CSCF never chose
            codec = EspCodec.from_sa(replace(sa, spi=(sa.spi ^ 0x5A5A5A5A) or 0x100))
            return codec.seal(1, udpencap.PROTO_IPV4, udpencap.inner_packet(sa, data))
        payload = udpencap.seal_tunnel(self.endpoint, sa, data)
        if self.mode == "tamper_icv":
            payload = payload[:-1] + bytes([payload[-1] ^ 0x01])
        return payload

    # -- receiving -----------------------------------------------------------------------------
    def read(self) -> list[Incoming]:
        return self.read_from(self.uc_sock)

    def read_from(self, sock: socket.socket) -> list[Incoming]:
        out: list[Incoming] = []
        local = tuple(sock.getsockname()[:2])
        while True:
            try:
                payload, src = sock.recvfrom(MAX_DATAGRAM)
            except (BlockingIOError, InterruptedError):
                return out
            except OSError as exc:          # e.g. an ICMP error queued on the socket
                out.append(Incoming("garbage", b"", self.pcscf or ("?", 0), f"socket error: {exc}"))
                return out
            src = tuple(src[:2])
            self.on_wire("received", "udp", src, local, payload, "message")
            out.append(self._incoming(payload, src))

    def _incoming(self, payload: bytes, src: Addr) -> Incoming:
        kind = udpencap.classify(payload)
        if kind != "esp" or self.endpoint is None:
            what = {"keepalive": "NAT-keepalive (RFC 3948 §2.3), ignored",
                    "non-esp": "non-ESP marker (IKE, RFC 3948 §2.2): no IKE here, ignored",
                    "malformed": "too short for ESP (RFC 3948 §2.1), ignored",
                    "esp": "ESP before any SA set, ignored"}[kind]
            return Incoming("garbage", b"", src, f"UDP-encapsulated: {what}")
        try:
            inbound, data = udpencap.open_tunnel(self.endpoint, payload)
        except EspError as exc:
            return Incoming("garbage", b"", src, f"ESP-in-UDP packet refused: {exc}")
        sa = inbound.sa
        meta = {"sa": sa.number, "spi": sa.spi, "src": sa.src, "sport": sa.sport, "dst": sa.dst,
                "dport": sa.dport, "port_us": self.port_us, "port_uc": self.local[1],
                "seq": inbound.packet.seq, "encap": f"{src[0]}:{src[1]}"}
        kind = {"sip": "message", "stun": "stun", "keepalive": "pong"}.get(
            classify_datagram(data), "garbage")
        return Incoming(kind, data, (sa.src, sa.sport),
                        f"ESP-in-UDP from {src[0]}:{src[1]}, SA {sa.number} (SPI {sa.spi:#x}) "
                        f"{sa.src}:{sa.sport} -> {sa.dst}:{sa.dport}", meta=meta)

    def close(self) -> None:
        if not self.closed:
            self.closed = True
            for s in (self.uc_sock, self.us_sock):
                s.close()


class _PortUs:
    """port_us of an :class:`EncapFlowEndpoint` as a second runner endpoint (its own fileno);
    sending goes through the flow (port_uc -> port_ps)."""

    transport = "udp"

    def __init__(self, flow: EncapFlowEndpoint):
        self.flow = flow
        self.local: Addr = tuple(flow.us_sock.getsockname()[:2])

    @property
    def closed(self) -> bool:
        return self.flow.closed

    def fileno(self) -> int:
        return self.flow.us_sock.fileno()

    def read(self) -> list[Incoming]:
        return self.flow.read_from(self.flow.us_sock)

    def send(self, data: bytes, dst: Addr | None = None) -> None:
        self.flow.send(data, dst)

    def close(self) -> None:
        self.flow.close()
