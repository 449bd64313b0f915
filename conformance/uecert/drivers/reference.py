"""The reference UE (conformance.uecert.refue) as a driver: the agent runs in this process, on
its own thread (no subprocess: nothing to install, and its trace is at hand for the report).

``start`` builds the agent from the network's :class:`~.base.NetworkInfo` and the profile, and
returns once flow 1's first REGISTER has left (the agent registers as booted).  The instance
URN is the profile's ``instance`` if set, else one kept in ``workdir/reference-ue.instance``
across restarts (RFC 5626 §4.1); fault ``instance-changes`` makes a new one at each start.
``profile.fault`` names a deliberate fault (:data:`conformance.uecert.refue.FAULTS`);
``profile.options`` may set ``expires``, ``pong_timeout``, ``stun_rto``, ``transaction_timeout``
(seconds, see :class:`~conformance.uecert.refue.agent.RefUeConfig`).  Addresses given to
actions are ``n`` / ``"IPn"`` (1-based index into ``net.ue_addresses``) or a literal IP.
"""

from __future__ import annotations

import os
import re
import uuid
from pathlib import Path

from ..refue.agent import RefUe, RefUeConfig
from ..refue.config import TRANSPORTS
from .base import DriverError, NetworkInfo, UeDriver

INSTANCE_FILE = "reference-ue.instance"
LOG_FILE = "reference-ue.log"
OPTIONS = ("expires", "pong_timeout", "stun_rto", "transaction_timeout", "t1", "t2", "server_name")
#: How long ``start`` waits for the first REGISTER to leave.
FIRST_REGISTER_TIMEOUT = 5.0


def normalise_instance(value: str) -> str:
    """``<urn:...>`` as the Contact's +sip.instance carries it (RFC 5626 §4.1)."""
    value = value.strip().strip('"')
    return value if value.startswith("<") else f"<{value}>"


class ReferenceUeDriver(UeDriver):
    name = "reference"
    actions = ("register", "add_flow", "move", "deregister", "deregister_all", "call", "stop")

    def __init__(self, profile, target):
        super().__init__(profile, target)
        self.agent: RefUe | None = None
        self.net: NetworkInfo | None = None
        self.workdir: Path | None = None
        self._log_text = ""

    # -- lifecycle ------------------------------------------------------------------------------
    def start(self, net: NetworkInfo, *, workdir) -> None:
        if self.agent is not None and self.agent.running:
            raise DriverError("reference UE: already started")
        if net.transport not in TRANSPORTS or net.transport not in net.edge:
            raise DriverError(f"reference UE: transport {net.transport!r} not supported (it speaks "
                              f"{', '.join(TRANSPORTS)}) or the network has no edge for it")
        self.net = net
        self.workdir = Path(workdir)
        self.workdir.mkdir(parents=True, exist_ok=True)
        options = dict(getattr(self.profile, "options", None) or {})
        unknown = sorted(set(options) - set(OPTIONS))
        if unknown:
            raise DriverError(f"reference UE: unknown option(s) {', '.join(unknown)} (known: {', '.join(OPTIONS)})")
        try:
            config = RefUeConfig(
                aor=net.aor, impi=net.impi, password=net.password, domain=net.domain,
                edge={t: tuple(a) for t, a in net.edge.items()}, transport=net.transport,
                addresses=list(net.ue_addresses) or ["127.0.0.1"], instance=self._instance(),
                timers=self.profile.timers, fault=getattr(self.profile, "fault", None),
                ca_file=net.ca_file, ws_path=net.ws_path or "/",
                **{k: int(v) if k == "expires" else v if k == "server_name" else float(v) for k, v in options.items()})
        except (TypeError, ValueError) as exc:
            raise DriverError(f"reference UE: {exc}") from exc
        self.agent = RefUe(config)
        self.agent.start()
        if not self.agent.wait_for(lambda tr: any(t.kind in ("sip", "failed") and t.direction in ("out", "-")
                                                  for t in tr), FIRST_REGISTER_TIMEOUT):
            self.stop()
            raise DriverError(f"reference UE: no REGISTER sent within {FIRST_REGISTER_TIMEOUT:g} s")

    def _instance(self) -> str:
        fault = getattr(self.profile, "fault", None)
        if fault == "instance-changes":  # FAULT: instance-changes (a new URN at each start)
            return f"<urn:uuid:{uuid.uuid4()}>"
        if getattr(self.profile, "instance", None):
            return normalise_instance(self.profile.instance)
        path = self.workdir / INSTANCE_FILE
        if path.is_file():
            text = path.read_text().strip()
            if text:
                return normalise_instance(text)
        value = f"<urn:uuid:{uuid.uuid4()}>"
        tmp = path.with_suffix(".tmp")
        tmp.write_text(value + "\n")
        os.replace(tmp, path)
        return value

    def stop(self) -> None:
        agent, self.agent = self.agent, None
        if agent is None:
            return
        agent.stop()
        self._log_text = agent.logs()
        if self.workdir is not None:
            try:
                (self.workdir / LOG_FILE).write_text(self._log_text + "\n")
            except OSError:
                pass

    def logs(self) -> str:
        return self.agent.logs() if self.agent is not None else self._log_text

    # -- actions --------------------------------------------------------------------------------
    def _address(self, address) -> str | None:
        if self.agent is None or not self.agent.running:
            raise DriverError("reference UE: not running")
        if address is None:
            return None
        text = str(address).strip()
        m = re.fullmatch(r"(?i)(?:ip)?(\d+)", text)
        if m:
            pool = list(self.net.ue_addresses) if self.net else []
            n = int(m.group(1))
            if not 1 <= n <= len(pool):
                raise DriverError(f"reference UE: address {address!r}: the target declares {len(pool)} UE address(es)")
            return pool[n - 1]
        return text

    def _do(self, action: str, *args, **kwargs):
        if self.agent is None or not self.agent.running:
            raise DriverError("reference UE: not running")
        try:
            return getattr(self.agent, action)(*args, **kwargs)
        except (RuntimeError, ValueError, TimeoutError) as exc:
            raise DriverError(f"reference UE: {exc}") from exc

    def register(self, flow: int = 1, address: str | None = None) -> None:
        self._do("register", int(flow), self._address(address))

    def add_flow(self, address: str) -> None:
        self._do("add_flow", self._address(address))

    def move(self, flow: int, address: str) -> None:
        self._do("move", int(flow), self._address(address))

    def deregister(self, flow: int | None = None, *, all: bool = False) -> None:  # noqa: A002
        self._do("deregister", None if flow is None else int(flow), all=all)

    def call(self, to: str) -> None:
        self._do("call", to)


__all__ = ["ReferenceUeDriver", "normalise_instance"]
