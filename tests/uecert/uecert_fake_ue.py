"""A tiny UE for the runner and network tests: real REGISTERs (conformance.ue.model.build_register)
over real UDP / TCP sockets on loopback, to the network side's edge; every wait is bounded."""

from __future__ import annotations

import socket
import time

from conformance.cases.model import FlowSpec
from conformance.sip.framing import Message, StreamFramer
from conformance.sip.message import Response, parse_message
from conformance.ue.model import UE, FlowState, RegDialog, RegisterOptions, build_register, new_branch


class WireFlow:
    """One flow of the fake UE: a socket from ``local_ip`` to the edge."""

    def __init__(self, ue: UE, name: str, reg_id: int | None, local_ip: str, transport: str,
                 edge: tuple[str, int]):
        self.ue, self.transport, self.edge = ue, transport, edge
        if transport == "udp":
            self.sock = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
            self.sock.bind((local_ip, 0))
        else:
            self.sock = socket.create_connection(edge, timeout=2, source_address=(local_ip, 0))
            self.framer = StreamFramer()
        self.sock.settimeout(0.2)
        self.state = FlowState(FlowSpec(name, 1, reg_id), local_ip, transport,
                               local_port=self.sock.getsockname()[1])
        self.state.dialog = RegDialog(call_id=f"{name}-{new_branch()}@{local_ip}")
        ue.flows[name] = self.state
        self.inbox: list = []

    def send(self, data: bytes) -> None:
        if self.transport == "udp":
            self.sock.sendto(data, self.edge)
        else:
            self.sock.sendall(data)

    def register(self, expires: int = 600, *, supported=("path", "outbound"), kind: str = "register",
                 reg_id="flow", wait: float = 3.0) -> Response | None:
        self.state.dialog.next_cseq()
        req = build_register(self.ue, self.state, RegisterOptions(kind=kind, expires=expires,
                                                                  supported=list(supported), reg_id=reg_id),
                             branch=new_branch())
        self.send(bytes(req))
        return self.response(wait) if wait else None

    def response(self, wait: float = 3.0) -> Response | None:
        deadline = time.monotonic() + wait
        while time.monotonic() < deadline:
            for msg in self.read():
                if isinstance(msg, Response) and msg.status >= 200:
                    return msg
        return None

    def read(self) -> list:
        """Whatever arrived within 0.2 s (messages; CRLF pongs as b"\\r\\n")."""
        try:
            data = self.sock.recv(65536)
        except (socket.timeout, BlockingIOError):
            return []
        except OSError:
            return []
        if self.transport == "udp":
            return [parse_message(data)] if data.strip() else [data]
        if not data:
            self.closed = True
            return []
        out = []
        for frame in self.framer.feed(data):
            out.append(parse_message(frame.data) if isinstance(frame, Message) else b"\r\n")
        return out

    def close(self) -> None:
        try:
            self.sock.close()
        except OSError:
            pass


def new_ue(aor_user: str = "alice", domain: str = "ims.test", instance: str | None = None) -> UE:
    return UE("ue1", aor_user, f"sip:{aor_user}@{domain}", f"{aor_user}@{domain}", domain,
              instance or UE.new_instance())
