"""Any UE with a command line: the profile says which command does what.

``ue.managed`` (or ``ue.options``; ``managed`` wins) maps an action to a command line:

    ue:
      driver: command
      managed:
        start: "myphone --proxy {edge_host}:{edge_port} --transport {transport} --aor {aor} --log {workdir}/phone.log"
        register: "myphone-ctl register"
        deregister: "myphone-ctl unregister"
        stop: "myphone-ctl quit"
      options: {command_timeout: 10, stop_timeout: 5}

``start`` is the UE itself: a process that runs until ``stop`` (its output goes to
``WORKDIR/ue.out``); every other line runs to completion within ``command_timeout`` (its output
appended to ``WORKDIR/commands.out``; a non-zero exit is a DriverError naming the command).
After ``stop`` (or without one) the UE process gets ``stop_timeout`` s, then SIGTERM, then SIGKILL.

A line is split like a shell would (shlex), then each word's placeholders are filled:
{edge_host} {edge_port} {transport} {aor} {user} {domain} {impi} {password} {instance}
{ca_file} {ws_path} {workdir} {ue_address} (the first UE address), and per action {flow}
{address} {to} {all}.  The driver can do the actions whose lines the profile gives (``actions``).
"""

from __future__ import annotations

import shlex
import subprocess
from pathlib import Path

from .base import ActionNotSupported, DriverError, NetworkInfo, UeDriver
from .process import UeProcess

ACTION_KEYS = ("register", "add_flow", "move", "deregister", "deregister_all", "call", "stop")


class _Values(dict):
    def __missing__(self, key):
        raise KeyError(key)


def fill(line: str, values: dict) -> list[str]:
    """``line`` split into words, each word's placeholders filled (DriverError naming an unknown one)."""
    try:
        words = shlex.split(line)
    except ValueError as exc:
        raise DriverError(f"command line {line!r}: {exc}") from exc
    try:
        return [word.format_map(_Values(values)) for word in words]
    except KeyError as exc:
        raise DriverError(f"command line {line!r}: unknown placeholder {{{exc.args[0]}}} "
                          f"(known: {', '.join(sorted(values))})") from None
    except (ValueError, IndexError) as exc:
        raise DriverError(f"command line {line!r}: {exc}") from exc


class CommandDriver(UeDriver):
    name = "command"

    def __init__(self, profile, target):
        super().__init__(profile, target)
        opts = dict(getattr(profile, "options", None) or {})
        managed = dict(getattr(profile, "managed", None) or {})
        self.lines = {k: str(v) for k, v in {**opts, **managed}.items() if k in ("start", *ACTION_KEYS) and v}
        self.command_timeout = float(opts.get("command_timeout", 10.0))
        self.stop_timeout = float(opts.get("stop_timeout", 5.0))
        self.actions = tuple(k for k in ACTION_KEYS if k in self.lines) + (("stop",) if "stop" not in self.lines else ())
        self.values: dict[str, str] = {}
        self.workdir: Path | None = None
        self._proc: UeProcess | None = None

    def start(self, net: NetworkInfo, *, workdir) -> None:
        if "start" not in self.lines:
            raise DriverError("the command driver needs ue.managed.start (the command that runs the UE)")
        if net.transport not in net.edge:
            raise DriverError(f"the network has no edge listener for {net.transport}")
        self.workdir = Path(workdir)
        self.workdir.mkdir(parents=True, exist_ok=True)
        host, port = net.edge[net.transport]
        user, _, domain = net.aor.split(":", 1)[1].partition("@")
        self.values = {
            "edge_host": host, "edge_port": str(port), "transport": net.transport, "aor": net.aor,
            "user": user, "domain": net.domain or domain, "impi": net.impi, "password": net.password,
            "instance": self.profile.instance or "", "ca_file": net.ca_file or "", "ws_path": net.ws_path,
            "workdir": str(self.workdir), "ue_address": net.ue_addresses[0] if net.ue_addresses else "127.0.0.1",
        }
        self._proc = UeProcess(fill(self.lines["start"], self.values), self.workdir / "ue.out", cwd=self.workdir)
        self._proc.start()

    def run(self, action: str, **extra) -> str:
        """Run the action's command line to completion (bounded); its output."""
        line = self.lines.get(action)
        if line is None:
            raise ActionNotSupported(f"the profile gives no command for {action} (ue.managed.{action})")
        if self.workdir is None:
            raise DriverError("the UE was not started")
        argv = fill(line, {**self.values, **{k: "" if v is None else str(v) for k, v in extra.items()}})
        try:
            done = subprocess.run(argv, cwd=self.workdir, capture_output=True, text=True,
                                  timeout=self.command_timeout, stdin=subprocess.DEVNULL)
        except subprocess.TimeoutExpired:
            raise DriverError(f"{action}: {argv[0]} did not finish within {self.command_timeout:g} s") from None
        except OSError as exc:
            raise DriverError(f"{action}: cannot run {argv[0]}: {exc}") from exc
        with open(self.workdir / "commands.out", "a") as log:
            log.write(f"$ {shlex.join(argv)}  (exit {done.returncode})\n{done.stdout}{done.stderr}")
        if done.returncode != 0:
            raise DriverError(f"{action}: {shlex.join(argv)} exited {done.returncode}: {(done.stderr or done.stdout)[-500:]}")
        return done.stdout

    def register(self, flow: int = 1, address: str | None = None) -> None:
        self.run("register", flow=flow, address=address or self.values.get("ue_address"))

    def add_flow(self, address: str) -> None:
        self.run("add_flow", address=address)

    def move(self, flow: int, address: str) -> None:
        self.run("move", flow=flow, address=address)

    def deregister(self, flow: int | None = None, *, all: bool = False) -> None:
        if all:
            self.run("deregister_all", all="true")
        else:
            self.run("deregister", flow=flow or 1)

    def call(self, to: str) -> None:
        self.run("call", to=to)

    def stop(self) -> None:
        proc = self._proc
        if proc is None:
            return
        if proc.alive and "stop" in self.lines:
            try:
                self.run("stop")
            except DriverError:
                pass                        # the process is ended below all the same
        proc.wait(self.stop_timeout if proc.alive else 0)
        proc.terminate(grace=2.0)

    @property
    def alive(self) -> bool:
        return self._proc is not None and self._proc.alive

    def logs(self) -> str:
        text = self._proc.output() if self._proc is not None else ""
        if self.workdir is not None and (self.workdir / "commands.out").is_file():
            text += "\n--- commands ---\n" + (self.workdir / "commands.out").read_text(errors="replace")
        return text
