"""The real clients as processes (I/O): JsSIP's driver under Node and baresip. Every wait has a
bound; ``stop()`` ends the process (SIGTERM, then SIGKILL after a bound) and is safe to call
twice; the classes are context managers so a test leaves nothing running.
"""

from __future__ import annotations

import os
import selectors
import shutil
import signal
import subprocess
import time
from pathlib import Path

from .baresip import BaresipAccount, BaresipLog, LogReader, RegEvent, files
from .jssip import CLIENT_DIR, JssipOutcome, JssipTranscript, parse_line


def jssip_missing(node: str = "node", client_dir: Path = CLIENT_DIR) -> str | None:
    """Why the JsSIP client cannot run here (None: it can)."""
    if shutil.which(node) is None:
        return f"{node} not found (Node.js 18+; scripts/install-clients.sh)"
    if not (client_dir / "register.js").is_file():
        return f"{client_dir}/register.js missing (a checkout of the repository is needed)"
    for module in ("jssip", "ws"):
        if not (client_dir / "node_modules" / module / "package.json").is_file():
            return f"npm module {module} not installed in {client_dir} (scripts/install-clients.sh runs npm ci)"
    return None


def baresip_missing(binary: str = "baresip", modules_dir: str | None = None) -> str | None:
    """Why baresip cannot run here (None: it can)."""
    if shutil.which(binary) is None:
        return f"{binary} not found (Debian's baresip-core; scripts/install-clients.sh)"
    from .baresip import MODULES_DIR
    folder = Path(modules_dir or MODULES_DIR)
    for module in ("account.so", "uuid.so", "g711.so"):
        if not (folder / module).is_file():
            return f"baresip module {folder / module} missing"
    return None


class _Process:
    """A child whose stdout is read line by line with a deadline on every read."""

    def __init__(self, argv: list[str], cwd: str | None = None, env: dict | None = None,
                 stdin: bool = False):
        self.argv = argv
        self._cwd, self._env, self._stdin = cwd, env, stdin
        self.proc: subprocess.Popen | None = None
        self._sel: selectors.BaseSelector | None = None
        self._buf = b""
        self._eof = False
        self.output: list[str] = []

    def start(self) -> None:
        self.proc = subprocess.Popen(self.argv, cwd=self._cwd, env=self._env,
                                     stdin=subprocess.PIPE if self._stdin else subprocess.DEVNULL,
                                     stdout=subprocess.PIPE, stderr=subprocess.STDOUT,
                                     start_new_session=True)
        os.set_blocking(self.proc.stdout.fileno(), False)
        self._sel = selectors.DefaultSelector()
        self._sel.register(self.proc.stdout, selectors.EVENT_READ)

    def read_line(self, deadline: float) -> str | None:
        """The next line (newline removed, CR kept), or None at the deadline or the end."""
        while True:
            idx = self._buf.find(b"\n")
            if idx >= 0:
                line, self._buf = self._buf[:idx], self._buf[idx + 1:]
                text = line.decode("utf-8", "replace")
                self.output.append(text)
                return text
            if self._eof:
                if self._buf:
                    text, self._buf = self._buf.decode("utf-8", "replace"), b""
                    self.output.append(text)
                    return text
                return None
            left = deadline - time.monotonic()
            if left <= 0 or self._sel is None:
                return None
            if not self._sel.select(min(left, 0.5)):
                continue
            try:
                chunk = os.read(self.proc.stdout.fileno(), 65536)
            except BlockingIOError:
                continue
            if not chunk:
                self._eof = True
            self._buf += chunk

    def terminate(self, grace: float) -> int | None:
        """SIGTERM (to its process group), wait ``grace`` seconds, then SIGKILL; the exit code."""
        p = self.proc
        if p is None:
            return None
        if p.poll() is None:
            try:
                os.killpg(p.pid, signal.SIGTERM)
            except ProcessLookupError:
                pass
            try:
                p.wait(timeout=grace)
            except subprocess.TimeoutExpired:
                try:
                    os.killpg(p.pid, signal.SIGKILL)
                except ProcessLookupError:
                    pass
                p.wait(timeout=5)
        return p.returncode

    def close(self) -> None:
        if self._sel is not None:
            self._sel.close()
            self._sel = None
        if self.proc is not None:
            for stream in (self.proc.stdout, self.proc.stdin):
                if stream is not None:
                    stream.close()


class JssipClient:
    """``node register.js AOR URL CA INSTANCE EXPIRES HOLD`` (clients/jssip); ``keylog`` makes
    Node write the TLS session keys (``--tls-keylog``); ``ws_auth`` ("user:password") answers a
    401 on the WebSocket upgrade (RFC 7118 §7) with Basic credentials on the next connection."""

    def __init__(self, aor: str, url: str, ca_file: str, instance: str, expires: int = 300,
                 hold: float = 30.0, keylog: str | None = None, node: str = "node",
                 client_dir: Path = CLIENT_DIR, ws_auth: str | None = None):
        argv = [shutil.which(node) or node]
        if keylog:
            argv.append(f"--tls-keylog={keylog}")
        argv += [str(client_dir / "register.js"), aor, url, ca_file, instance, str(expires), str(hold)]
        env = dict(os.environ)
        env.pop("DEBUG", None)                   # JsSIP's debug module stays quiet
        env.pop("WS_AUTH", None)
        if ws_auth is not None:
            env["WS_AUTH"] = ws_auth
        self._p = _Process(argv, cwd=str(client_dir), env=env, stdin=True)
        self.outcome: JssipOutcome | None = None
        self.transcript: JssipTranscript | None = None

    @property
    def output(self) -> list[str]:
        return self._p.output

    def start(self) -> "JssipClient":
        self._p.start()
        return self

    def _next(self, deadline: float):
        while True:
            line = self._p.read_line(deadline)
            if line is None:
                return None
            if line.startswith("{"):
                return parse_line(line)

    def wait_outcome(self, timeout: float = 20.0) -> JssipOutcome | None:
        """The registration's outcome (None: nothing within ``timeout``)."""
        deadline = time.monotonic() + timeout
        while self.outcome is None:
            item = self._next(deadline)
            if item is None:
                return None
            if isinstance(item, JssipOutcome):
                self.outcome = item
            elif isinstance(item, JssipTranscript):
                self.transcript = item
                return None
        return self.outcome

    def stop(self, timeout: float = 10.0) -> JssipTranscript | None:
        """De-register and close (a line on the driver's stdin ends its hold), read its
        transcript, and end the process."""
        p = self._p
        if p.proc is None:
            return self.transcript
        if self.transcript is None and p.proc.poll() is None:
            try:
                p.proc.stdin.write(b"stop\n")
                p.proc.stdin.flush()
            except (BrokenPipeError, OSError):
                pass
        deadline = time.monotonic() + timeout
        while self.transcript is None:
            item = self._next(deadline)
            if item is None:
                break
            if isinstance(item, JssipTranscript):
                self.transcript = item
            elif self.outcome is None:
                self.outcome = item
        p.terminate(grace=2.0)
        p.close()
        return self.transcript

    def __enter__(self):
        return self.start()

    def __exit__(self, *exc):
        self.stop()


class BaresipClient:
    """``baresip -f DIR -s -t MAX``: the account's files written into ``workdir``; the SIP trace
    and the registration lines read as they come (``log``)."""

    def __init__(self, account: BaresipAccount, workdir: str | Path, max_seconds: int = 120,
                 binary: str = "baresip"):
        self.account = account
        self.workdir = Path(workdir)
        self.workdir.mkdir(parents=True, exist_ok=True)
        for name, text in files(account).items():
            (self.workdir / name).write_text(text)
        argv = [shutil.which(binary) or binary, "-f", str(self.workdir), "-s", "-t", str(int(max_seconds))]
        self._p = _Process(argv, cwd=str(self.workdir))
        self._reader = LogReader(account.proxy)

    @property
    def log(self) -> BaresipLog:
        return self._reader.log

    def start(self) -> "BaresipClient":
        self._p.start()
        return self

    def wait_registration(self, timeout: float = 20.0) -> RegEvent | None:
        """The account's first registration outcome (None: none within ``timeout``)."""
        deadline = time.monotonic() + timeout
        name = self.account.user_at_domain
        while True:
            ev = self.log.first(name)
            if ev is not None:
                return ev
            line = self._p.read_line(deadline)
            if line is None:
                return None
            self._reader.feed_line(line)

    def pump(self, seconds: float) -> None:
        """Keep reading its output for ``seconds`` (while it holds the flow)."""
        deadline = time.monotonic() + seconds
        while True:
            line = self._p.read_line(deadline)
            if line is None:
                return
            self._reader.feed_line(line)

    def stop(self, timeout: float = 6.0) -> BaresipLog:
        """SIGTERM (baresip de-registers, then exits), its last output read, SIGKILL after
        ``timeout``."""
        p = self._p
        if p.proc is None:
            return self.log
        if p.proc.poll() is None:
            try:
                os.killpg(p.proc.pid, signal.SIGTERM)
            except ProcessLookupError:
                pass
        deadline = time.monotonic() + timeout
        while True:
            line = p.read_line(deadline)
            if line is None:
                break
            self._reader.feed_line(line)
        p.terminate(grace=1.0)
        p.close()
        return self.log

    def __enter__(self):
        return self.start()

    def __exit__(self, *exc):
        self.stop()
