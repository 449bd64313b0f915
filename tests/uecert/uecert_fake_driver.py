"""A small fake UE driver for the runner tests (until the reference UE is merged): real
REGISTERs (conformance.ue.model.build_register) over UDP/TCP from the target's UE addresses,
a reader thread that answers network requests with 200, and two test checks registered under
names no real check uses.  ``FakeDriver.fault``: "no-supported-outbound" leaves Supported out."""

from __future__ import annotations

import threading

from conformance.sip.message import Request, Response
from conformance.uecert.checks import UE_CHECKS, UeOutcome, ue_check
from conformance.uecert.drivers import DRIVERS
from conformance.uecert.drivers.base import UeDriver

from uecert_fake_ue import WireFlow, new_ue

DRIVERS.setdefault("fake", "uecert_fake_driver:FakeDriver")


class FakeDriver(UeDriver):
    name = "fake"
    actions = ("register", "add_flow", "deregister", "stop")
    fault: str | None = None

    def start(self, net, *, workdir) -> None:
        self.net = net
        user = net.aor.split(":", 1)[1].split("@", 1)[0]
        self.ue = new_ue(user, net.domain)
        self.flows: list[WireFlow] = []
        self.log: list[str] = []
        self._stop = threading.Event()
        self._add(net.ue_addresses[0])
        self._thread = threading.Thread(target=self._serve, daemon=True)
        self._thread.start()

    def _supported(self):
        return ("path",) if self.fault == "no-supported-outbound" else ("path", "outbound")

    def _add(self, address: str) -> None:
        n = len(self.flows) + 1
        f = WireFlow(self.ue, f"flow{n}", n, address, self.net.transport, self.net.edge[self.net.transport])
        self.flows.append(f)
        f.register(supported=self._supported(), wait=0)
        self.log.append(f"flow {n} REGISTER from {address}")

    def register(self, flow: int = 1, address: str | None = None) -> None:
        self.flows[flow - 1].register(supported=self._supported(), wait=0)

    def add_flow(self, address: str) -> None:
        self._add(address)

    def deregister(self, flow: int | None = None, *, all: bool = False) -> None:
        for f in (self.flows if all or flow is None else [self.flows[flow - 1]]):
            f.register(expires=0, supported=self._supported(), wait=0)

    def _serve(self) -> None:
        while not self._stop.is_set():
            for f in list(self.flows):
                for msg in f.read():
                    if isinstance(msg, Request) and msg.method != "ACK":
                        f.send(_ok(msg))

    def stop(self) -> None:
        if getattr(self, "_stop", None) is None:
            return
        self._stop.set()
        self._thread.join(2)
        for f in self.flows:
            f.close()

    def logs(self) -> str:
        return "\n".join(getattr(self, "log", []))


def _ok(req: Request) -> bytes:
    headers = [("Via", v) for v in req.values("Via")]
    headers += [("From", req.get("From")), ("To", req.get("To") + ";tag=fakeue"), ("Call-ID", req.call_id),
                ("CSeq", req.get("CSeq")), ("Content-Length", "0")]
    return bytes(Response(status=200, reason="OK", headers=headers))


def _supported_outbound(obs, args, ctx):
    return [UeOutcome("outbound" in (e.msg.get("Supported") or ""), "Supported: outbound",
                      e.msg.get("Supported") or "no Supported", e.index, f"REGISTER #{e.index}")
            for e in obs.requests("REGISTER")]


def _registers(obs, args, ctx):
    n = len(list(obs.requests("REGISTER")))
    return [UeOutcome(n >= int(args.get("at_least", 1)), f"at least {args.get('at_least', 1)} REGISTER(s)",
                      f"{n}")]


if "test_fake_supported_outbound" not in UE_CHECKS:
    ue_check("test_fake_supported_outbound", level="MUST", ref="RFC 5626 §4.2.1 (test)",
             summary="Supported: outbound in REGISTER (test check)")(_supported_outbound)
    ue_check("test_fake_registers", level="MUST", ref="RFC 5626 §4.2.1 (test)",
             summary="REGISTERs counted (test check)")(_registers)
