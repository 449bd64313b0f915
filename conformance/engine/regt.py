"""The tester's emulated registrar (the catalogue's REG-T), for testing an edge proxy alone.

The SUT (a P-CSCF / edge proxy) is configured to forward registrations to this address.  The
sockets live for the whole session (the SUT keeps sending to the same place); each case lends
them, records what arrives in its own message list and pcap, and answers with a fresh registrar
of RFC 5626 §6 behaviour (the reference's registrar rules, used here as test equipment, not as
a judge: the checks look at what the SUT forwarded and relayed).
"""

from __future__ import annotations

import socket

from ..sip.message import Request, Response


class EmulatedRegistrar:
    def __init__(self, host: str = "127.0.0.40", port: int = 0, transport: str = "udp"):
        family = socket.AF_INET6 if ":" in host else socket.AF_INET
        self.transport = transport
        for _ in range(20):  # UDP and TCP on the same port number
            udp = socket.socket(family, socket.SOCK_DGRAM)
            udp.bind((host, port))
            chosen = udp.getsockname()[1]
            tcp = socket.socket(family, socket.SOCK_STREAM)
            tcp.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
            try:
                tcp.bind((host, chosen))
            except OSError:
                udp.close()
                tcp.close()
                if port:
                    raise
                continue
            break
        else:  # pragma: no cover - twenty collisions in a row
            raise OSError("no port free for UDP and TCP at once")
        tcp.listen(16)
        for s in (udp, tcp):
            s.setblocking(False)
        self.udp, self.tcp = udp, tcp
        self.address = (host, chosen)

    def new_core(self, domain: str):
        """A fresh registrar for one case (per-case state: cases stay independent)."""
        from ..sut.config import SutConfig
        from ..sut.registrar.registrar import Registrar

        return Registrar(SutConfig(mode="rel8", domain=domain, server_name="conformance-suite REG-T"))

    def drain(self) -> None:
        """Drop datagrams left over from an earlier case."""
        while True:
            try:
                self.udp.recvfrom(65535)
            except OSError:
                return

    def close(self) -> None:
        self.udp.close()
        self.tcp.close()


def answer(core, request: Request, transport: str, local, remote, conn_id, now: float) -> Response | None:
    from ..sut.flow import FlowInfo

    return core.handle(request, FlowInfo(transport, tuple(local), tuple(remote), conn_id), now)
