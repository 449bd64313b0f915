"""A UE's process for the drivers of real clients: its output goes to a file in the workdir (no
pipe to fill during a long case), it is ended SIGTERM-then-SIGKILL within a bound, and a free
loopback port can be picked for its control interface."""

from __future__ import annotations

import os
import signal
import socket
import subprocess
import time
from pathlib import Path

from .base import ActionNotSupported, DriverError, UeDriver


def free_port(host: str = "127.0.0.1", kind: int = socket.SOCK_STREAM) -> int:
    """A port free on ``host`` right now (the usual small race: the UE binds it moments later)."""
    family = socket.AF_INET6 if ":" in host else socket.AF_INET
    with socket.socket(family, kind) as s:
        s.bind((host, 0))
        return s.getsockname()[1]


class UeProcess:
    """``argv`` started in its own process group, stdout and stderr appended to ``log_path``."""

    def __init__(self, argv: list[str], log_path: str | Path, *, cwd: str | Path | None = None,
                 env: dict | None = None, stdin: bool = False):
        self.argv = [str(a) for a in argv]
        self.log_path = Path(log_path)
        self._cwd, self._env, self._stdin = cwd, env, stdin
        self.proc: subprocess.Popen | None = None

    def start(self) -> None:
        self.log_path.parent.mkdir(parents=True, exist_ok=True)
        with open(self.log_path, "ab") as out:
            try:
                self.proc = subprocess.Popen(self.argv, cwd=self._cwd, env=self._env,
                                             stdin=subprocess.PIPE if self._stdin else subprocess.DEVNULL,
                                             stdout=out, stderr=subprocess.STDOUT, start_new_session=True)
            except OSError as exc:
                raise DriverError(f"cannot start {self.argv[0]}: {exc}") from exc

    @property
    def alive(self) -> bool:
        return self.proc is not None and self.proc.poll() is None

    def send_line(self, line: str) -> None:
        """A line on the UE's stdin (DriverError when it is gone)."""
        if not self.alive or self.proc.stdin is None:
            raise DriverError(f"{self.argv[0]} is not running (exit {self.returncode})")
        try:
            self.proc.stdin.write(line.encode() + b"\n")
            self.proc.stdin.flush()
        except OSError as exc:
            raise DriverError(f"{self.argv[0]}: stdin closed ({exc})") from exc

    def wait(self, timeout: float) -> int | None:
        """The exit code once it ended within ``timeout`` s (None: still running)."""
        if self.proc is None:
            return None
        try:
            return self.proc.wait(timeout=max(0.0, timeout))
        except subprocess.TimeoutExpired:
            return None

    @property
    def returncode(self) -> int | None:
        return self.proc.poll() if self.proc is not None else None

    def terminate(self, grace: float = 3.0) -> int | None:
        """SIGTERM to its group, ``grace`` s, then SIGKILL; safe to call twice."""
        p = self.proc
        if p is None:
            return None
        if p.poll() is None:
            self._signal(signal.SIGTERM)
            if self.wait(grace) is None:
                self._signal(signal.SIGKILL)
                self.wait(5.0)
        else:
            self._signal(signal.SIGKILL)       # children it left in its group
        if p.stdin is not None:
            try:
                p.stdin.close()
            except OSError:
                pass
        return p.returncode

    def _signal(self, sig) -> None:
        try:
            os.killpg(self.proc.pid, sig)
        except (ProcessLookupError, PermissionError):
            pass

    def output(self) -> str:
        try:
            return self.log_path.read_text(errors="replace")
        except OSError:
            return ""


def wait_until(predicate, timeout: float, step: float = 0.05) -> bool:
    """Poll ``predicate`` until it is true or ``timeout`` s passed."""
    deadline = time.monotonic() + timeout
    while True:
        if predicate():
            return True
        if time.monotonic() >= deadline:
            return False
        time.sleep(step)


def ca_file_for(net) -> str | None:
    """The CA a UE trusts for ``net``'s TLS / WSS edge: NetworkInfo's, else the suite's test CA
    (the network side serves the test CA's server pair), None over udp / tcp / ws."""
    if net.ca_file:
        return net.ca_file
    if net.transport in ("tls", "wss"):
        from ...wire.testca import ensure_test_ca

        return str(ensure_test_ca().ca_cert)
    return None


class ProcessUeDriver(UeDriver):
    """A driver whose UE is one :class:`UeProcess` (``_proc``) that keeps one flow from one
    address: ``add_flow`` and ``move`` are refused with ``one_flow_reason``."""

    one_flow_reason = "this UE keeps one flow from the address it was started with"
    _proc: UeProcess | None = None

    def add_flow(self, address: str) -> None:
        raise ActionNotSupported(f"{self.name}: no add_flow: {self.one_flow_reason}")

    def move(self, flow: int, address: str) -> None:
        raise ActionNotSupported(f"{self.name}: no move: {self.one_flow_reason}")

    @property
    def alive(self) -> bool:
        return self._proc is not None and self._proc.alive

    def logs(self) -> str:
        return self._proc.output() if self._proc is not None else ""
