"""What a load benchmark reads around each step: the SUT's CPU time (its processes' utime + stime
from /proc/<pid>/stat), the datagrams its UDP socket dropped (the ``drops`` column of
/proc/net/udp and /proc/net/udp6 for its port), the CPU of the child a step ran (the tool:
``RUSAGE_CHILDREN`` before and after), and the machine's tshark yardstick."""

from __future__ import annotations

import os
import resource
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

_TICK = os.sysconf("SC_CLK_TCK") if hasattr(os, "sysconf") else 100


def proc_cpu(pid: int) -> float | None:
    """utime + stime of a process (all its threads), seconds; None when it is gone."""
    try:
        stat = Path(f"/proc/{pid}/stat").read_text()
    except OSError:
        return None
    fields = stat[stat.rindex(")") + 2:].split()
    return (int(fields[11]) + int(fields[12])) / _TICK


def children_of(pid: int) -> list[int]:
    out = []
    for d in Path("/proc").iterdir():
        if not d.name.isdigit():
            continue
        try:
            stat = (d / "stat").read_text()
        except OSError:
            continue
        if int(stat[stat.rindex(")") + 2:].split()[1]) == pid:
            out.append(int(d.name))
    return out


def proc_net_rows(*tables: str):
    """The rows of /proc/net/<table> (``udp``, ``udp6``, ``tcp`` ...) as (table, fields); a table
    that cannot be read is skipped."""
    for name in tables:
        try:
            lines = Path(f"/proc/net/{name}").read_text().splitlines()[1:]
        except OSError:
            continue
        for line in lines:
            yield name, line.split()


def local_port(fields: list[str]) -> int:
    """The local port of a /proc/net row (``ADDR:PORT`` in hex)."""
    return int(fields[1].rsplit(":", 1)[1], 16)


def udp_drops(port: int) -> int | None:
    """Datagrams dropped by the UDP sockets bound on ``port`` (IPv4 and IPv6), None without /proc."""
    total, seen = 0, False
    for _, f in proc_net_rows("udp", "udp6"):
        if local_port(f) == port:
            total += int(f[-1])
            seen = True
    return total if seen else None


def children_cpu() -> float:
    r = resource.getrusage(resource.RUSAGE_CHILDREN)
    return r.ru_utime + r.ru_stime


class SutProbe:
    """The SUT's processes: ``main_pid()`` gives the main process (Kamailio's pid file, or the
    reference's Popen); its direct children (Kamailio's workers) are counted with it."""

    def __init__(self, main_pid, port: int):
        self.main_pid, self.port = main_pid, port

    def pids(self) -> list[int]:
        pid = self.main_pid()
        return [pid, *children_of(pid)] if pid else []

    def read(self) -> dict:
        pids = self.pids()
        cpu = [proc_cpu(p) for p in pids]
        return {"pids": len(pids), "cpu_s": sum(c for c in cpu if c is not None) if pids else None,
                "udp_drops": udp_drops(self.port)}

    @staticmethod
    def delta(before: dict, after: dict) -> dict:
        d = lambda k: (None if before[k] is None or after[k] is None  # noqa: E731
                       else round(after[k] - before[k], 3))
        return {"cpu_s": d("cpu_s"), "udp_drops": d("udp_drops"), "pids": after["pids"]}


def kamailio_pid(run_dir: Path):
    def pid() -> int | None:
        try:
            return int((run_dir / "kamailio.pid").read_text().strip())
        except (OSError, ValueError):
            return None
    return pid


def tshark_yardstick(messages: int, root: Path) -> dict | None:
    """Seconds tshark takes to dissect a generated capture of ``messages`` REGISTER/200 messages
    (benchmarks/gen_capture.py), median of 3: a machine's speed, for comparing figures across
    machines.  None without tshark."""
    tshark = shutil.which("tshark")
    if tshark is None:
        return None
    with tempfile.TemporaryDirectory() as tmp:
        cap = Path(tmp) / "yardstick.pcap"
        subprocess.run([sys.executable, str(root / "benchmarks" / "gen_capture.py"), "-n", str(messages),
                        "--aors", str(max(10, messages // 100)), "-o", str(cap)], cwd=root, check=True,
                       capture_output=True, timeout=600)
        times = []
        for _ in range(3):
            t0 = time.perf_counter()
            subprocess.run([tshark, "-r", str(cap), "-Y", "sip", "-T", "fields", "-e", "frame.number"],
                           stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, check=True, timeout=600)
            times.append(time.perf_counter() - t0)
    return {"messages": messages, "runs_s": [round(t, 3) for t in times],
            "median_s": round(statistics.median(times), 3),
            "command": "tshark -r CAPTURE -Y sip -T fields -e frame.number",
            "capture": f"gen_capture.py -n {messages} --aors {max(10, messages // 100)}"}
