"""A UE flow's protected ports as an endpoint of the runner: UDP over user-space ESP.

Looks like :class:`~.transport.UdpEndpoint` to the runner (``send``, ``read``, ``fileno``,
``local``, ``closed``, ``close``), so exchanges, retransmissions and terminating requests work
unchanged.  Underneath:

* sending: the datagram goes from ``port_uc`` to the P-CSCF's ``port_ps`` (TS 24.229
  5.1.1.2.2 a): the first unidirectional flow carries "the requests and responses to the
  P-CSCF") as UDP inside ESP over SA 1, built with :class:`~conformance.ims.endpoint.EspEndpoint`
  and sent as a whole IPv4 packet through the process's raw-socket hub
  (:mod:`conformance.ims.espio`);
* receiving: the flow's mailbox gets ESP for the UE's inbound SPIs (spi_uc, spi_us); each packet
  is checked (SPI, replay window, ICV, selectors) and its UDP payload handed to the runner, with
  the SA it came over in ``Incoming.meta``;
* deliberate faults for negative cases (``mode``): ``unprotected`` (the datagram in clear from
  port_uc to port_ps), ``replay`` (the last ESP packet again, byte for byte), ``tamper_icv``
  (one ICV bit flipped), ``wrong_spi`` (sealed with a correct ICV under an SPI the P-CSCF never
  chose).

Every ESP packet is reported to ``on_packet(direction, ip_packet)`` as sent or received, so the
case's pcap holds the ESP packets themselves (decrypted by Wireshark with the keys written
beside it).
"""

from __future__ import annotations

import socket
from dataclasses import replace
from typing import Callable

from ..ims.endpoint import EspEndpoint
from ..ims.errors import EspError
from ..ims.esp import PROTO_ESP, PROTO_UDP, EspCodec
from ..ims.espio import Mailbox
from ..ims.ippkt import ipv4_wrap, udp_build
from ..sip.framing import classify_datagram
from .transport import Addr, Incoming, TransportError, WireHook

MODES = (None, "unprotected", "replay", "tamper_icv", "wrong_spi")


class EspFlowEndpoint:
    transport = "udp"

    def __init__(self, mailbox: Mailbox, local_ip: str, port_uc: int, port_us: int,
                 clear_uc: socket.socket, on_wire: WireHook,
                 on_packet: Callable[[str, bytes], None], spi_source: Callable[[], int]):
        self.mailbox = mailbox
        self.local: Addr = (local_ip, port_uc)
        self.port_us = port_us
        self.clear_uc = clear_uc           # the kernel socket reserving port_uc (clear sends)
        self.on_wire, self.on_packet, self.spi_source = on_wire, on_packet, spi_source
        self.endpoint: EspEndpoint | None = None
        self.pcscf: Addr | None = None     # (address, port_ps)
        self.mode: str | None = None
        self.last_packet: bytes | None = None
        self.closed = False

    def use(self, endpoint: EspEndpoint, pcscf: Addr) -> None:
        """Switch to a new SA set (its inbound SPIs are claimed by the caller)."""
        self.endpoint, self.pcscf = endpoint, pcscf

    def fileno(self) -> int:
        return self.mailbox.fileno()

    def send(self, data: bytes, dst: Addr | None = None) -> None:
        if self.endpoint is None or self.pcscf is None:
            raise TransportError("no SA set with the P-CSCF")
        dst = self.pcscf                    # always port_ps (TS 24.229 5.1.1.2.2 a))
        if self.mode == "unprotected":
            try:
                self.clear_uc.sendto(data, dst)
            except OSError as exc:
                raise TransportError(f"UDP send to {dst[0]}:{dst[1]} failed: {exc.strerror}") from None
            self.on_wire("sent", "udp", self.local, dst, data, "message")
            return
        if self.mode == "replay" and self.last_packet is not None:
            packet = self.last_packet
        else:
            try:
                packet = self._seal(data, dst)
            except EspError as exc:
                raise TransportError(f"cannot protect: {exc}") from None
        try:
            self.mailbox.send(packet)
        except EspError as exc:
            raise TransportError(str(exc)) from None
        if self.mode is None:
            self.last_packet = packet
        self.on_packet("sent", packet)

    def _seal(self, data: bytes, dst: Addr) -> bytes:
        ep = self.endpoint
        src_ip, sport = self.local
        seg = udp_build(src_ip, dst[0], sport, dst[1], data)
        if self.mode == "wrong_spi":
            sa = ep.sas.for_ports(sport, dst[1])
            if sa is None:
                raise EspError(f"no SA for ports {sport} -> {dst[1]}")
            other = self.spi_source()
            esp = EspCodec.from_sa(replace(sa, spi=other)).seal(1, PROTO_UDP, seg)
        else:
            _, esp = ep.protect(sport, dst[1], PROTO_UDP, seg)
            if self.mode == "tamper_icv":
                esp = esp[:-1] + bytes([esp[-1] ^ 0x01])
        return ipv4_wrap(src_ip, dst[0], PROTO_ESP, esp)

    def read(self) -> list[Incoming]:
        out: list[Incoming] = []
        for packet in self.mailbox.read():
            self.on_packet("received", packet)
            if self.endpoint is None:
                continue
            try:
                inbound, data = self.endpoint.unprotect_ipv4(packet)
            except EspError as exc:
                out.append(Incoming("garbage", b"", (self.pcscf or ("?", 0)),
                                    f"ESP packet refused: {exc}"))
                continue
            sa = inbound.sa
            meta = {"sa": sa.number, "spi": sa.spi, "src": sa.src, "sport": sa.sport,
                    "dst": sa.dst, "dport": sa.dport, "port_us": self.port_us,
                    "port_uc": self.local[1], "seq": inbound.packet.seq}
            kind = {"sip": "message", "stun": "stun", "keepalive": "pong"}.get(
                classify_datagram(data), "garbage")
            out.append(Incoming(kind, data, (sa.src, sa.sport),
                                f"ESP SA {sa.number} (SPI {sa.spi:#x}) {sa.src}:{sa.sport} -> "
                                f"{sa.dst}:{sa.dport}", meta=meta))
        return out

    def close(self) -> None:
        if not self.closed:
            self.closed = True
            self.mailbox.close()
