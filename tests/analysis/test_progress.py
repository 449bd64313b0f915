"""The progress line of ``conformance analyze`` and ``conformance replay`` (analysis/progress.py):
its formatting and throttling with a fake clock, the reader's hook, and real runs of both
commands on a pseudo-terminal (the line shows, then is blanked before the output) and piped
(no trace of it)."""

from __future__ import annotations

import fcntl
import io
import os
import select
import signal
import struct
import subprocess
import sys
import termios
import time
from pathlib import Path

import pytest

from conformance.analysis.analyzer import analyze
from conformance.analysis.capture import CaptureReader
from conformance.analysis.progress import (CaptureProgress, CountProgress, ProgressLine, Throttle, capture_line,
                                           count_line, eta, human_bytes, human_duration, wanted)

ROOT = Path(__file__).resolve().parents[2]
REPLAY_SAMPLE = ROOT / "pcaps/samples/reference-rel8/REG-004A-tcp.pcap"


class Clock:
    def __init__(self, t: float = 100.0):
        self.t = t

    def __call__(self) -> float:
        return self.t


def _generated(tmp_path_factory, messages: int) -> Path:
    """A registration load from benchmarks/gen_capture.py."""
    sys.path.insert(0, str(ROOT / "benchmarks"))
    try:
        from gen_capture import generate
    finally:
        sys.path.pop(0)
    path = tmp_path_factory.mktemp("progress") / "load.pcap"
    generate(path, messages, min(300, messages // 4), 0.1, refresh=30.0, expires=60)
    return path


@pytest.fixture(scope="module")
def capture(tmp_path_factory) -> Path:
    """About 4.7 MB: more than one of the reader's 4 MB chunks."""
    return _generated(tmp_path_factory, 9000)


@pytest.fixture(scope="module")
def small(tmp_path_factory) -> Path:
    """About 0.8 MB, for the runs of the command."""
    return _generated(tmp_path_factory, 1500)


def test_sizes_and_durations_read_as_people_write_them():
    assert [human_bytes(n) for n in (0, 999, 1000, 12_345, 4_194_304, 541_000_000, 2_300_000_000)] == [
        "0 B", "999 B", "1.0 kB", "12.3 kB", "4.2 MB", "541 MB", "2.3 GB"]
    assert [human_duration(s) for s in (0, 9.6, 65, 599, 3723)] == ["0:00", "0:10", "1:05", "9:59", "1:02:03"]


def test_eta_at_the_pace_so_far():
    assert eta(100, 400, 10.0) == pytest.approx(30.0)
    assert eta(0, 400, 10.0) is None and eta(100, None, 10.0) is None
    assert eta(1, 400, 0.1) is None  # too early to say


def test_capture_line_names_bytes_percent_packets_rate_time_and_processes():
    line = capture_line("analyze", 229_000_000, 541_000_000, 421_312, 17.5, processes=2)
    assert line.startswith("analyze: 42% 229/541 MB, 421,312 packets, 24,075/s, 0:18, ~")
    assert line.endswith(" left, 2 processes")
    assert "~0:24 left" in line  # 17.5 s * (541 - 229) / 229
    one = capture_line("analyze", 10, 20, 5, 1.0)
    assert "processes" not in one and one.startswith("analyze: 50% 10/20 B, ")
    assert capture_line("x", 999_000, 1_200_000, 0, 0.0) == "x: 83% 999 kB/1.2 MB, 0 packets, 0:00"
    # all read: the work goes on (the last events, the other processes, the merge)
    assert capture_line("x", 20, 20, 5, 1.0).endswith(", finishing")
    # a gzip file: the bytes read are not those of the file
    assert capture_line("x", None, 20, 4096, 2.0) == "x: 4,096 packets, 2,048/s, 0:02"
    # a second reading (the split gave up): rate and estimate from its own start
    again = capture_line("x", 10, 20, 1000, 30.0, pass_seconds=2.0)
    assert "500/s" in again and "0:30" in again and "~0:02 left" in again


def test_count_line_for_the_replay():
    assert count_line("replay", 250, 1000, "requests", 5.0) == (
        "replay: 250 of 1,000 requests (25%), 50/s, 0:05, ~0:15 left")
    assert count_line("r", 0, 0, "requests", 0.0) == "r: 0 of 0 requests, 0:00"


def test_throttle_allows_one_draw_per_interval():
    clock = Clock()
    th = Throttle(0.25, clock)
    seen = []
    for _ in range(24):  # 3 s in steps of 0.125 s (exact in binary)
        seen.append(th.ready())
        clock.t += 0.125
    assert seen[:3] == [True, False, True] and sum(seen) == 12


def test_nothing_is_written_when_not_wanted():
    out = io.StringIO()
    assert not wanted(out) and not wanted(out, force=None)  # not a terminal
    assert wanted(out, force=True) and not wanted(out, quiet=True, force=False)
    with CaptureProgress(out, False, "analyze c", 100) as p:
        p(50, 10)
    assert out.getvalue() == ""


def test_a_terminal_is_wanted_unless_quiet_or_dumb(monkeypatch):
    master, slave = os.openpty()
    try:
        with os.fdopen(slave, "w", closefd=False) as tty:
            monkeypatch.setenv("TERM", "xterm")
            assert wanted(tty) and not wanted(tty, quiet=True) and wanted(tty, quiet=True, force=True)
            monkeypatch.setenv("TERM", "dumb")
            assert not wanted(tty)
    finally:
        os.close(master)
        os.close(slave)


def test_the_line_is_rewritten_in_place_cut_to_the_width_and_blanked_even_on_an_exception():
    out = io.StringIO()
    clock = Clock()
    with pytest.raises(KeyboardInterrupt):
        with ProgressLine(out, True, clock=clock, width=21) as line:
            assert line.show("a long line that does not fit")
            assert not line.show("throttled")
            clock.t += 0.25
            assert line.show("short")
            raise KeyboardInterrupt
    assert out.getvalue() == "\ra long line that doe" + "\rshort" + " " * 15 + "\r" + " " * 5 + "\r"


def test_capture_progress_draws_at_once_then_throttled_and_restarts_its_pace_for_a_second_reading():
    out = io.StringIO()
    clock = Clock()
    p = CaptureProgress(out, True, "analyze", 1000, clock=clock, width=200).__enter__()
    assert out.getvalue() == "\ranalyze: 0% 0 B/1.0 kB, 0 packets, 0:00"
    clock.t += 1.0
    p(400, 4000, processes=2)
    assert out.getvalue().endswith("\ranalyze: 40% 400 B/1.0 kB, 4,000 packets, 4,000/s, 0:01, "
                                   "~0:02 left, 2 processes")
    p(500, 5000, processes=2)  # within 0.2 s: not drawn
    assert "5,000" not in out.getvalue()
    clock.t += 1.0
    p(100, 1000)  # the split gave up; one process reads from the start
    assert out.getvalue().rstrip().endswith("10% 100 B/1.0 kB, 1,000 packets, 0:02")  # too early for a rate
    p.clear()
    assert out.getvalue().endswith("\r")


def test_count_progress_shows_the_start_at_once():
    out = io.StringIO()
    clock = Clock()
    p = CountProgress(out, True, "replay", "requests", clock=clock, width=200)
    p(0, 3)
    p(1, 3)  # throttled
    assert out.getvalue() == "\rreplay: 0 of 3 requests (0%), 0:00"


def test_the_reader_reports_its_bytes_and_packets_at_each_chunk(capture):
    calls = []
    reader = CaptureReader(capture)
    reader.on_progress = lambda b, n: calls.append((b, n))
    segments = sum(1 for _ in reader)
    size = capture.stat().st_size
    assert segments and len(calls) >= 3  # the start, the 4 MB chunk, the end
    assert calls == sorted(calls) and calls[0][1] == 0 and calls[-1] == (size, reader.stats.packets)
    # the record-at-a-time loop (pcapng, gzip) every 4,096 records
    calls.clear()
    reader = CaptureReader(capture, chunked=False)
    reader.on_progress = lambda b, n: calls.append((b, n))
    for _ in reader:
        pass
    assert [n for _, n in calls] == list(range(4096, reader.stats.packets + 1, 4096))
    assert all(0 < b < size for b, _ in calls)


@pytest.mark.skipif(not hasattr(os, "fork"), reason="the split analysis forks")
def test_the_split_analysis_reports_process_0s_reading_with_the_processes(small):
    capture = small
    calls = []
    a = analyze(str(capture), processes=2, on_progress=lambda b, n, processes=1: calls.append((b, n, processes)))
    assert a.processes and len(a.processes) == 2  # it did split
    assert calls and {k for _, _, k in calls} == {2} and calls[-1][0] == capture.stat().st_size


def _on_terminal(argv: list[str], timeout: float = 60.0, interrupt_at: bytes | None = None) -> tuple[int, bytes]:
    """Run ``argv`` with stdout and stderr on a pseudo-terminal: its exit status and all it wrote
    (``interrupt_at``: SIGINT to its process group, as Ctrl-C, once it has written that)."""
    master, slave = os.openpty()
    fcntl.ioctl(slave, termios.TIOCSWINSZ, struct.pack("HHHH", 50, 200, 0, 0))  # 50 rows, 200 columns
    env = {**os.environ, "PYTHONPATH": str(ROOT), "TERM": "xterm"}
    proc = subprocess.Popen(argv, stdin=subprocess.DEVNULL, stdout=slave, stderr=slave, cwd=ROOT, env=env,
                            start_new_session=True)
    os.close(slave)
    out = bytearray()
    deadline = time.monotonic() + timeout
    try:
        while time.monotonic() < deadline:
            ready, _, _ = select.select([master], [], [], 0.5)
            if ready:
                try:
                    chunk = os.read(master, 65536)
                except OSError:  # EIO: the child side is closed
                    break
                if not chunk:
                    break
                out += chunk
                if interrupt_at is not None and interrupt_at in out:
                    os.killpg(proc.pid, signal.SIGINT)
                    interrupt_at = None
            elif proc.poll() is not None:
                break
        return proc.wait(timeout=max(1.0, deadline - time.monotonic())), bytes(out)
    finally:
        if proc.poll() is None:
            os.killpg(proc.pid, signal.SIGTERM)
            try:
                proc.wait(timeout=5)
            except subprocess.TimeoutExpired:
                os.killpg(proc.pid, signal.SIGKILL)
                proc.wait()
        os.close(master)


def _piped(argv: list[str]) -> subprocess.CompletedProcess:
    env = {**os.environ, "PYTHONPATH": str(ROOT), "TERM": "xterm"}
    return subprocess.run(argv, cwd=ROOT, env=env, capture_output=True, text=True, timeout=120)


def _after_progress(out: bytes) -> str:
    """What a terminal shows once the progress line is blanked: the text after the last blanking."""
    text = out.decode().replace("\r\n", "\n")
    head, sep, tail = text.rpartition("\r")
    assert sep and head.rpartition("\r")[2].strip() == ""  # the line was blanked with spaces
    return tail


def test_analyze_on_a_terminal_shows_progress_then_the_clean_report_and_piped_shows_none(small):
    capture = small
    argv = [sys.executable, "-m", "conformance", "analyze", str(capture), "-j", "1"]
    code, out = _on_terminal(argv)
    assert code == 0, out
    size = human_bytes(capture.stat().st_size)
    assert f"\ranalyze: 0% 0 B/{size}, 0 packets, 0:00".encode() in out
    report = _after_progress(out)
    assert report.startswith(f"{capture}: pcap, ") and report.rstrip().endswith("verdict: PASS")
    piped = _piped(argv)
    assert piped.returncode == 0 and piped.stderr == "" and "\r" not in piped.stdout
    assert piped.stdout == report  # the same report, with no trace of the progress line
    # -q on a terminal: the verdict alone, no progress; --progress forces it even when piped
    code, out = _on_terminal(argv + ["-q"])
    assert code == 0 and out == b"verdict: PASS\r\n"
    forced = _piped(argv + ["--progress"])
    assert forced.stderr.startswith("\nanalyze: 0% ") and forced.stdout == report  # (\r read as \n)


def test_replay_on_a_terminal_shows_progress_and_piped_shows_none(tmp_path):
    argv = [sys.executable, "-m", "conformance", "replay", str(REPLAY_SAMPLE), "--target",
            "targets/reference-rel8.yaml", "--output", str(tmp_path / "new.pcap")]
    code, out = _on_terminal(argv)
    assert code == 0, out
    assert b"\rreplay (reading): 0% " in out
    assert b"\rreplay: 0 of 3 requests (0%)" in out
    report = _after_progress(out)
    assert report.count(" same\n") == 3 and "3 request(s) replayed, 0 answer(s) differ" in report
    piped = _piped(argv + ["-q"])
    assert piped.returncode == 0 and "\r" not in piped.stdout + piped.stderr
    assert piped.stdout.startswith("3 request(s) replayed, 0 answer(s) differ") and " same" not in piped.stdout


def test_ctrl_c_leaves_the_terminal_line_clean(capture):
    """Ctrl-C (SIGINT to the process group) as the progress line is drawn: the line blanked, one
    line saying so, exit 130.  One process: the split's first line comes just before its forks,
    and a SIGINT that lands inside ``os.fork`` is lost in the interpreter's after-fork hooks."""
    argv = [sys.executable, "-m", "conformance", "analyze", str(capture), "-j", "1"]
    code, out = _on_terminal(argv, interrupt_at=b"\ranalyze: 0% ")
    assert code == 130, out
    assert _after_progress(out) == "conformance analyze: interrupted\n"
