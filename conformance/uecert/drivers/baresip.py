"""baresip (Debian's baresip-core 1.0.0) as the UE under test, driven over its ctrl_tcp module.

The files baresip reads (``config``, ``accounts``, ``uuid``) come from
:mod:`conformance.interop.baresip`; this driver adds the modules ``menu`` (the commands) and
``ctrl_tcp`` (JSON in netstrings on a loopback port, :mod:`.ctrl_tcp`) and points the account at
the edge of the item's transport: ``<sip:user@domain;transport=T>;outbound="sip:EDGE;transport=T"
;sipnat=outbound;regint=N;auth_user=IMPI;auth_pass=...``.

What baresip 1.0.0 can be told (its commands, read from the binary and its menu module):

* ``start``: ``baresip -f WORKDIR -s -t MAX`` registers the account as booted (flow 1, reg-id 1);
* ``deregister``: ``uadel AOR`` deletes the user agent, and libre's registration client sends
  its REGISTER with ``Expires: 0`` on the way out (RFC 5626 §4.2.2 removal of the flow);
* ``register``: after a ``deregister``, ``uanew ACCOUNT-LINE`` creates the user agent again and
  it registers (a new Call-ID, the same instance and reg-id 1).  1.0.0 has no command that
  refreshes a live registration (``uareg`` came in later releases): it refreshes on its own,
  before its ``regint`` runs out, so ``register`` on a registered flow is not supported;
* ``call``: ``dial URI`` sends an INVITE (a dialog-forming request, RFC 5626 §4.3);
  1.0.0 has no command that sends a MESSAGE;
* ``stop``: ``quit`` (it de-registers, then exits), SIGTERM then SIGKILL after a bound.

Not supported, and why: ``add_flow`` and ``move`` (baresip binds one local address,
``net_interface``/``sip_listen``, at start and has no command to add or change one; its second
flow would come only from a second ``outbound2=`` proxy written before start), and
``deregister {all: true}`` (it never sends ``Contact: *``).  Its CRLF keep-alive interval is the
Flow-Timer but never below 20 s (libre; docs/real-clients.md).
"""

from __future__ import annotations

import shutil
import uuid
from pathlib import Path

from ...interop.baresip import MODULES_DIR, BaresipAccount, BaresipLog, files, read_log
from ...interop.clients import baresip_missing
from .base import ActionNotSupported, DriverError, NetworkInfo
from .ctrl_tcp import CtrlTcp
from .process import ProcessUeDriver, UeProcess, ca_file_for, free_port

TRANSPORTS = ("udp", "tcp", "tls")
#: the extra modules the driver needs beside interop.baresip's account/uuid/g711
CONTROL_MODULES = ("menu.so", "ctrl_tcp.so")


def instance_for(profile, aor: str) -> str:
    """The profile's instance-id, or one derived from the AOR: the same for every case and every
    restart of this UE, as a real device keeps its ``uuid`` file (RFC 5626 §4.1)."""
    if getattr(profile, "instance", None):
        return profile.instance
    return f"urn:uuid:{uuid.uuid5(uuid.NAMESPACE_URL, 'baresip:' + aor)}"


class BaresipDriver(ProcessUeDriver):
    """Options (``ue.options``): ``binary`` (baresip), ``modules_dir``, ``regint`` (the Expires it
    asks for, 600), ``max_seconds`` (its own ``-t`` bound, 3600), ``command_timeout`` (5 s),
    ``stop_timeout`` (how long ``quit`` may take before SIGTERM, 5 s), ``outbound`` (true:
    ``sipnat=outbound``)."""

    name = "baresip"
    actions = ("register", "deregister", "call", "stop")
    one_flow_reason = "baresip binds one local address at start and has no command to add or change one"

    def __init__(self, profile, target):
        super().__init__(profile, target)
        opts = dict(getattr(profile, "options", None) or {})
        self.binary = str(opts.get("binary", "baresip"))
        self.modules_dir = str(opts.get("modules_dir", MODULES_DIR))
        self.regint = int(opts.get("regint", 600))
        self.max_seconds = int(opts.get("max_seconds", 3600))
        self.command_timeout = float(opts.get("command_timeout", 5.0))
        self.stop_timeout = float(opts.get("stop_timeout", 5.0))
        self.outbound = bool(opts.get("outbound", True))
        self.account: BaresipAccount | None = None
        self.ctrl: CtrlTcp | None = None
        self._proc: UeProcess | None = None
        self._ua_present = False

    # -- what is missing ---------------------------------------------------------------------
    def missing(self) -> str | None:
        """Why baresip cannot be driven here (None: it can)."""
        why = baresip_missing(self.binary, self.modules_dir)
        if why:
            return why
        for module in CONTROL_MODULES:
            if not (Path(self.modules_dir) / module).is_file():
                return f"baresip module {Path(self.modules_dir) / module} missing (baresip-core ships it)"
        return None

    def account_for(self, net: NetworkInfo, ctrl_port: int) -> BaresipAccount:
        if net.transport not in TRANSPORTS:
            raise ActionNotSupported(f"baresip 1.0 has no SIP transport {net.transport!r} (it has {', '.join(TRANSPORTS)})")
        if net.transport not in net.edge:
            raise DriverError(f"the network has no edge listener for {net.transport}")
        local = net.ue_addresses[0] if net.ue_addresses else "127.0.0.1"
        user = net.aor.split(":", 1)[1].split("@", 1)[0]
        return BaresipAccount(
            aor=net.aor, proxy=tuple(net.edge[net.transport]), ca_file=ca_file_for(net) or "",
            instance=instance_for(self.profile, net.aor), listen_port=free_port(local),
            regint=self.regint, transport=net.transport, outbound=self.outbound,
            # without auth_pass baresip 1.0 asks for one on its stdin and its account module
            # fails; a placeholder is sent only if the network challenges (it then fails, 403)
            auth_pass=net.password or "no-password-given",
            auth_user=net.impi if net.impi and net.impi != user else None,
            modules_dir=self.modules_dir, local_address=local, extra_modules=CONTROL_MODULES,
            extra_config=(("ctrl_tcp_listen", f"127.0.0.1:{ctrl_port}"),))

    # -- the actions ---------------------------------------------------------------------------
    def start(self, net: NetworkInfo, *, workdir) -> None:
        why = self.missing()
        if why:
            raise DriverError(why)
        if self._proc is not None and self._proc.alive:
            raise DriverError("baresip is already running")
        workdir = Path(workdir)
        workdir.mkdir(parents=True, exist_ok=True)
        ctrl_port = free_port("127.0.0.1")
        self.account = self.account_for(net, ctrl_port)
        for name, text in files(self.account).items():
            (workdir / name).write_text(text)
        argv = [shutil.which(self.binary) or self.binary, "-f", str(workdir), "-s", "-t", str(self.max_seconds)]
        self._proc = UeProcess(argv, workdir / "baresip.out", cwd=workdir)
        self._proc.start()
        try:
            self.ctrl = CtrlTcp(("127.0.0.1", ctrl_port), connect_timeout=10.0, alive=lambda: self._proc.alive)
        except DriverError as exc:
            self.stop()
            raise DriverError(f"{exc}; baresip said: {self._tail()}") from exc
        self._ua_present = True

    def _command(self, name: str, params: str = "") -> dict:
        if self.ctrl is None or self._proc is None or not self._proc.alive:
            raise DriverError(f"baresip is not running (exit {self._proc.returncode if self._proc else None})")
        reply = self.ctrl.command(name, params, timeout=self.command_timeout)
        if not reply.get("ok", False):
            raise DriverError(f"baresip refused {name} {params}: {reply.get('data', '')}".strip())
        return reply

    def _account_line(self) -> str:
        return files(self.account)["accounts"].strip()

    def register(self, flow: int = 1, address: str | None = None) -> None:
        if flow != 1 or (address is not None and address != self.account.local_address):
            raise ActionNotSupported("baresip registers one flow from the address it was started with")
        if self._ua_present:
            raise ActionNotSupported("baresip 1.0.0 has no command to refresh a live registration "
                                     "(it refreshes on its own before regint runs out)")
        self._command("uanew", self._account_line())
        self._ua_present = True

    def deregister(self, flow: int | None = None, *, all: bool = False) -> None:
        if all:
            raise ActionNotSupported("baresip never sends Contact: * (it removes its own binding)")
        if flow not in (None, 1):
            raise ActionNotSupported("baresip has one flow")
        if not self._ua_present:
            return
        self._command("uadel", self.account.aor)
        self._ua_present = False

    def call(self, to: str) -> None:
        self._command("dial", to)

    def stop(self) -> None:
        proc = self._proc
        if proc is None:
            return
        if proc.alive and self.ctrl is not None and not self.ctrl.closed:
            try:
                self.ctrl.command("quit", timeout=min(self.command_timeout, 3.0))
            except DriverError:
                pass                            # it may close the connection before answering
            proc.wait(self.stop_timeout)
        proc.terminate(grace=2.0)
        if self.ctrl is not None:
            self.ctrl.close()
        self._ua_present = False

    # -- what it said ------------------------------------------------------------------------------
    def events(self) -> list[dict]:
        """ctrl_tcp's events so far (REGISTER_OK, REGISTER_FAIL, CALL_..., as baresip names them)."""
        return list(self.ctrl.events) if self.ctrl is not None else []

    def wait_event(self, kind: str, timeout: float, since: int = 0) -> dict | None:
        if self.ctrl is None:
            return None
        return self.ctrl.wait_event(lambda ev: ev.get("type") == kind, timeout, since)

    def trace(self) -> BaresipLog:
        """Its SIP trace (``-s``) and registration lines, read back from its output."""
        return read_log(self.logs(), self.account.proxy if self.account else ("", 0))

    def _tail(self, lines: int = 15) -> str:
        return " | ".join(self.logs().strip().splitlines()[-lines:])
