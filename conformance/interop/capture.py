"""A bounded capture of a real client's traffic (I/O): dumpcap on the loopback interface with a
port filter and an autostop duration, stopped as soon as the exchange is over; then the TLS
session keys (an NSS key log) injected into the pcapng as a Decryption Secrets Block with
``editcap --inject-secrets tls,FILE``, so Wireshark, tshark and ``conformance analyze`` read the
SIP inside TLS without being told a key.
"""

from __future__ import annotations

import os
import shutil
import signal
import subprocess
import time
from pathlib import Path


def capture_missing() -> str | None:
    for tool in ("dumpcap", "editcap"):
        if shutil.which(tool) is None:
            return f"{tool} not found (Debian's wireshark-common / tshark)"
    return None


class Capture:
    """``dumpcap -i IFACE -f 'tcp port P or ...' -a duration:MAX -w PATH`` as a context manager."""

    def __init__(self, path: str | Path, ports: list[int], interface: str = "lo", max_seconds: int = 120,
                 host: str | None = None):
        """``host``: the address the ports are the server's on; only that endpoint is captured (a
        bare ``tcp port P`` also takes another process's connection from 127.0.0.x:P)."""
        self.path = Path(path)
        ports = sorted(set(int(p) for p in ports))
        if not ports:
            raise ValueError("a capture needs at least one port")
        if host is None:
            self.filter = " or ".join(f"tcp port {p}" for p in ports)
        else:
            self.filter = " or ".join(f"(tcp and ((src host {host} and src port {p}) or (dst host {host} and dst port {p})))"
                                      for p in ports)
        self.argv = [shutil.which("dumpcap") or "dumpcap", "-q", "-i", interface, "-f", self.filter,
                     "-a", f"duration:{int(max_seconds)}", "-w", str(self.path)]
        self.proc: subprocess.Popen | None = None
        self.stderr = ""

    def start(self, timeout: float = 10.0) -> "Capture":
        """Start dumpcap and wait (bounded) until it has written the file's header: from then on
        it captures."""
        if self.path.exists():
            self.path.unlink()
        self.proc = subprocess.Popen(self.argv, stdin=subprocess.DEVNULL, stdout=subprocess.DEVNULL,
                                     stderr=subprocess.PIPE, start_new_session=True)
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if self.proc.poll() is not None:
                self.stderr = self.proc.stderr.read().decode("utf-8", "replace")
                raise RuntimeError(f"dumpcap exited {self.proc.returncode}: {self.stderr.strip()}")
            if self.path.exists() and self.path.stat().st_size > 0:
                time.sleep(0.2)              # the header is written just before the capture loop
                return self
            time.sleep(0.05)
        self.stop()
        raise RuntimeError(f"dumpcap wrote nothing to {self.path} within {timeout} s")

    def stop(self, timeout: float = 10.0) -> Path:
        """Let the last packets in (a short pause), end dumpcap (SIGINT: it flushes and closes the
        file), SIGKILL after ``timeout``."""
        p = self.proc
        if p is None:
            return self.path
        if p.poll() is None:
            time.sleep(0.3)
            try:
                os.killpg(p.pid, signal.SIGINT)
            except ProcessLookupError:
                pass
            try:
                p.wait(timeout=timeout)
            except subprocess.TimeoutExpired:
                os.killpg(p.pid, signal.SIGKILL)
                p.wait(timeout=5)
        if p.stderr is not None:
            self.stderr = p.stderr.read().decode("utf-8", "replace")
            p.stderr.close()
        self.proc = None
        return self.path

    def __enter__(self):
        return self.start()

    def __exit__(self, *exc):
        self.stop()


def inject_secrets(pcap: str | Path, keylogs: list[str | Path], out: str | Path, timeout: float = 60.0) -> Path:
    """``editcap --inject-secrets tls,KEYLOG`` (the key logs concatenated into one beside
    ``out``): a pcapng whose Decryption Secrets Block holds the TLS keys."""
    out = Path(out)
    merged = out.with_suffix(".keys")
    with merged.open("w") as dst:
        for path in keylogs:
            if Path(path).is_file():
                dst.write(Path(path).read_text())
    if merged.stat().st_size == 0:
        raise ValueError(f"no TLS keys in {', '.join(map(str, keylogs))}")
    subprocess.run([shutil.which("editcap") or "editcap", "--inject-secrets", f"tls,{merged}", str(pcap), str(out)],
                   check=True, timeout=timeout, capture_output=True)
    return out
