"""One UE registering synchronously: the load generator's UE model for one user at a time.

``RegisterSession`` owns a UE (AOR, +sip.instance) with one flow (reg-id 1) or two (reg-id 1 and
2, from two addresses: Reg2), each with its socket, and sends a REGISTER per call, waiting
(bounded) for the final response.  Blocking sockets with a timeout: under gevent (Locust's
workers) they are cooperative.  Requests come from the same templates as ``conformance load``.
"""

from __future__ import annotations

import re
import secrets
import socket
import time
import uuid

from ..cases.model import FlowSpec
from ..ue.model import UE, FlowState, RegDialog
from ..sip.framing import Message, StreamFramer
from .templates import Template, options

_BRANCH_RE = re.compile(rb"branch=([^;,\s]+)")


class RegisterSession:
    def __init__(self, host: str, port: int, *, transport: str = "udp", domain: str = "ims.test",
                 addresses: tuple[str, ...] = ("127.0.0.11", "127.0.0.12"), flows: int = 1,
                 expires: int = 600, timeout: float = 5.0, user: str | None = None):
        self.dst = (host, port)
        self.transport = transport
        self.timeout = timeout
        user = user or f"locust-{secrets.token_hex(5)}"
        self.ue = UE(name="ue", user=user, impu=f"sip:{user}@{domain}", impi=f"{user}@{domain}", domain=domain,
                     instance=f"<urn:uuid:{uuid.uuid4()}>")
        self.flows: list[tuple[FlowState, socket.socket, Template, StreamFramer | None]] = []
        for i in range(flows):
            ip = addresses[i % len(addresses)]
            spec = FlowSpec(name=f"f{i + 1}", address=i + 1, reg_id=i + 1, transport=transport)
            st = FlowState(spec=spec, local_ip=ip, transport=transport)
            st.dialog = RegDialog(call_id=f"{user}-{i + 1}@{secrets.token_hex(4)}")
            kind = socket.SOCK_DGRAM if transport == "udp" else socket.SOCK_STREAM
            s = socket.socket(socket.AF_INET6 if ":" in ip else socket.AF_INET, kind)
            s.settimeout(timeout)
            s.bind((ip, 0))
            if transport == "tcp":
                s.connect(self.dst)
            st.local_port = st.port_uc = st.port_us = s.getsockname()[1]
            self.flows.append((st, s, Template(self.ue, st, options(expires)),
                               StreamFramer() if transport == "tcp" else None))

    def register(self, flow: int = 0) -> tuple[int | None, float, str | None]:
        """One REGISTER on a flow: (final status or None, seconds, failure reason or None)."""
        st, s, tmpl, framer = self.flows[flow]
        st.dialog.cseq += 1
        branch = b"z9hG4bK" + secrets.token_hex(8).encode()
        data = tmpl.render(branch, st.dialog.cseq)
        t0 = time.perf_counter()
        deadline = t0 + self.timeout
        try:
            if framer is None:
                s.sendto(data, self.dst)
            else:
                s.sendall(data)
            resend = t0 + 0.5
            while True:
                now = time.perf_counter()
                if now >= deadline:
                    return None, now - t0, "timeout"
                s.settimeout(max(0.001, min(deadline, resend if framer is None else deadline) - now))
                try:
                    chunk = s.recv(65535)
                except socket.timeout:
                    if framer is None and time.perf_counter() >= resend:  # Timer E, once per T1
                        s.sendto(data, self.dst)
                        resend = time.perf_counter() + 0.5
                    continue
                if framer is not None:
                    if not chunk:
                        return None, time.perf_counter() - t0, "TCP connection closed by the SUT"
                    msgs = [f.data for f in framer.feed(chunk) if isinstance(f, Message)]
                else:
                    msgs = [chunk]
                for m in msgs:
                    b = _BRANCH_RE.search(m)
                    if not m.startswith(b"SIP/2.0 ") or b is None or b.group(1) != branch:
                        continue
                    status = int(m[8:11])
                    if status >= 200:
                        ok = 200 <= status < 300
                        reason = None if ok else m[8:m.find(b"\r\n")].decode("utf-8", "replace")
                        return status, time.perf_counter() - t0, reason
        except OSError as exc:
            return None, time.perf_counter() - t0, f"transport: {exc.strerror or exc}"

    def close(self) -> None:
        for _, s, _, _ in self.flows:
            s.close()
