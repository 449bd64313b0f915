"""JsSIP 3.13 under Node (clients/jssip/control.js) as the UE under test, over ws / wss.

``node control.js AOR URL CA INSTANCE EXPIRES MAX`` connects to the edge's WebSocket listener
for the item's transport and registers as booted (reg-id 1, the profile's instance); the driver
writes one command a line on its stdin (``register``, ``unregister``, ``unregister-all``,
``message URI``, ``quit``) and reads its JSON event lines back from its output file.

Not supported, and why: ``add_flow`` and ``move`` (JsSIP keeps one WebSocket and hard-codes
reg-id 1; it cannot open a second flow or choose its local address), ``register`` of a flow other
than 1.  JsSIP sends no keep-alive of its own (docs/real-clients.md): it does not declare
``crlf-keepalive``.
"""

from __future__ import annotations

import json
import os
import shutil
import time
import uuid
from pathlib import Path

from ...interop.clients import jssip_missing
from ...interop.jssip import CLIENT_DIR
from .base import ActionNotSupported, DriverError, NetworkInfo
from .process import ProcessUeDriver, UeProcess, ca_file_for, wait_until

TRANSPORTS = ("ws", "wss")


class JssipDriver(ProcessUeDriver):
    """Options (``ue.options``): ``node`` (node), ``client_dir`` (clients/jssip), ``expires``
    (600), ``max_seconds`` (3600), ``command_timeout`` (5 s), ``stop_timeout`` (6 s)."""

    name = "jssip"
    actions = ("register", "deregister", "deregister_all", "call", "stop")
    one_flow_reason = "JsSIP keeps one WebSocket, hard-codes reg-id 1 and cannot choose its local address"

    def __init__(self, profile, target):
        super().__init__(profile, target)
        opts = dict(getattr(profile, "options", None) or {})
        self.node = str(opts.get("node", "node"))
        self.client_dir = Path(opts.get("client_dir", CLIENT_DIR))
        self.expires = int(opts.get("expires", 600))
        self.max_seconds = int(opts.get("max_seconds", 3600))
        self.command_timeout = float(opts.get("command_timeout", 5.0))
        self.stop_timeout = float(opts.get("stop_timeout", 6.0))
        self._proc: UeProcess | None = None
        self.url = ""

    def missing(self) -> str | None:
        why = jssip_missing(self.node, self.client_dir)
        if why is None and not (self.client_dir / "control.js").is_file():
            why = f"{self.client_dir}/control.js missing"
        return why

    def start(self, net: NetworkInfo, *, workdir) -> None:
        why = self.missing()
        if why:
            raise DriverError(why)
        if net.transport not in TRANSPORTS:
            raise ActionNotSupported(f"JsSIP runs over WebSocket only (ws, wss), not {net.transport}")
        if net.transport not in net.edge:
            raise DriverError(f"the network has no edge listener for {net.transport}")
        host, port = net.edge[net.transport]
        host_part = f"[{host}]" if ":" in host else host
        path = net.ws_path if net.ws_path.startswith("/") else "/" + net.ws_path
        self.url = f"{net.transport}://{host_part}:{port}{path}"
        instance = self.profile.instance or f"urn:uuid:{uuid.uuid5(uuid.NAMESPACE_URL, 'jssip:' + net.aor)}"
        env = {k: v for k, v in os.environ.items() if k not in ("DEBUG", "WS_AUTH")}
        if net.password:
            env["SIP_PASSWORD"] = net.password
            env["SIP_AUTH_USER"] = net.impi or net.aor.split(":", 1)[1].split("@", 1)[0]
        argv = [shutil.which(self.node) or self.node, str(self.client_dir / "control.js"), net.aor,
                self.url, ca_file_for(net) or "-", instance, str(self.expires), str(self.max_seconds)]
        workdir = Path(workdir)
        self._proc = UeProcess(argv, workdir / "jssip.out", cwd=self.client_dir, env=env, stdin=True)
        self._proc.start()
        if self.wait_event("ready", self.command_timeout * 2) is None:
            self.stop()
            raise DriverError(f"JsSIP did not start within {self.command_timeout * 2:g} s: {self.logs()[-2000:]}")

    # -- its output ----------------------------------------------------------------------------
    def events(self) -> list[dict]:
        out = []
        for line in self.logs().splitlines():
            if line.startswith("{"):
                try:
                    out.append(json.loads(line))
                except json.JSONDecodeError:
                    continue
        return out

    def wait_event(self, name: str, timeout: float, since: int = 0, **match) -> dict | None:
        """The first event ``name`` (with ``match``'s fields) from index ``since`` on, bounded."""
        found: list[dict] = []

        def seen() -> bool:
            for ev in self.events()[since:]:
                if ev.get("event") == name and all(ev.get(k) == v for k, v in match.items()):
                    found.append(ev)
                    return True
            return not self.alive and name != "stopped"

        wait_until(seen, timeout, step=0.05)
        return found[0] if found else None

    # -- the actions ---------------------------------------------------------------------------
    def _send(self, line: str) -> None:
        if self._proc is None:
            raise DriverError("JsSIP is not running")
        since = len(self.events())
        self._proc.send_line(line)
        cmd = line.split()[0]
        if self.wait_event("ack", self.command_timeout, since, command=cmd) is None:
            errors = [e for e in self.events()[since:] if e.get("event") == "error"]
            raise DriverError(f"JsSIP did not take {cmd!r}: {errors or 'no answer within the bound'}")

    def register(self, flow: int = 1, address: str | None = None) -> None:
        if flow != 1 or address is not None:
            raise ActionNotSupported("JsSIP has one WebSocket flow (reg-id 1) from an address it does not choose")
        self._send("register")

    def deregister(self, flow: int | None = None, *, all: bool = False) -> None:
        if flow not in (None, 1):
            raise ActionNotSupported("JsSIP has one flow")
        self._send("unregister-all" if all else "unregister")

    def call(self, to: str) -> None:
        self._send(f"message {to}")

    def stop(self) -> None:
        proc = self._proc
        if proc is None:
            return
        if proc.alive:
            try:
                proc.send_line("quit")
            except DriverError:
                pass
            deadline = time.monotonic() + self.stop_timeout
            proc.wait(deadline - time.monotonic())
        proc.terminate(grace=2.0)
