"""A progress line for long offline work (``conformance analyze``, ``conformance replay``).

On a terminal, one line on stderr that rewrites itself in place (``\\r``): bytes of the capture
read and its size, packets so far, the rate, time elapsed and an estimate of the time left, the
processes when the analysis is split.  Nothing when stderr is not a terminal (piped, redirected,
CI) or with ``-q``, unless ``--progress`` forces it; ``--no-progress`` turns it off.

Sans-IO where it can be: the formatting is plain functions, :class:`Throttle` takes its clock,
:class:`ProgressLine` writes to the stream it is given and is told whether to show anything.  The
work calls back cheaply and rarely (the capture reader once per 4 MB chunk, or every 4,096
records of a pcapng; the replay once per request) and the throttle draws at most
``1 / interval`` times a second.  The line is blanked with spaces (no escape sequence, so that
``less`` and dumb terminals show it as well) before the command prints its output, also when the
work ends with an exception or Ctrl-C (use it as a context manager).
"""

from __future__ import annotations

import os
import time
from typing import Callable, TextIO

INTERVAL = 0.2  # seconds between two draws at most 5 a second


def wanted(stream: TextIO, *, quiet: bool = False, force: bool | None = None) -> bool:
    """Whether to show progress on ``stream``: ``force`` (--progress / --no-progress) decides
    when given; else a terminal (not TERM=dumb) and not ``quiet``."""
    if force is not None:
        return force
    if quiet or os.environ.get("TERM") == "dumb":
        return False
    try:
        return stream.isatty()
    except (AttributeError, ValueError, OSError):  # closed or not a file
        return False


def human_bytes(n: float) -> str:
    """1,000-based units as file managers and ``ls -h --si`` show them: 999 B, 12.3 kB, 541 MB."""
    for unit in ("B", "kB", "MB", "GB", "TB"):
        if abs(n) < 1000 or unit == "TB":
            break
        n /= 1000
    if unit == "B":
        return f"{int(n)} B"
    return f"{n:.1f} {unit}" if abs(n) < 100 else f"{n:.0f} {unit}"


def human_duration(seconds: float) -> str:
    """m:ss, or h:mm:ss from an hour."""
    s = max(0, int(seconds + 0.5))
    h, rest = divmod(s, 3600)
    m, s = divmod(rest, 60)
    return f"{h}:{m:02d}:{s:02d}" if h else f"{m}:{s:02d}"


def eta(done: float, total: float | None, seconds: float) -> float | None:
    """Seconds left at the average pace so far (None: no total, nothing done yet, or too early)."""
    if not total or done <= 0 or seconds < 0.5:
        return None
    return max(0.0, seconds * (total - done) / done)


def capture_line(name: str, read: int | None, size: int | None, packets: int, seconds: float,
                 pass_seconds: float | None = None, processes: int = 1) -> str:
    """``analyze: 42% 229/541 MB, 421,312 packets, 24,100/s, 0:17, ~0:23 left, 2 processes``.
    ``seconds``: since the command began; ``pass_seconds``: since this reading of the file began
    (the rate and the estimate; a split analysis that gives up reads the file again)."""
    pace = seconds if pass_seconds is None else pass_seconds
    parts = []
    if read is not None and size:
        pct = min(100, int(100 * read / size))
        done, whole = human_bytes(read), human_bytes(size)
        if done.split()[-1] == whole.split()[-1]:  # 54.5/107 MB
            done = done.split()[0]
        parts.append(f"{pct}% {done}/{whole}")
    elif read is not None:
        parts.append(human_bytes(read))
    parts.append(f"{packets:,} packets")
    if pace > 0:
        parts.append(f"{packets / pace:,.0f}/s")
    parts.append(human_duration(seconds))
    if read is not None and size and read >= size:
        parts.append("finishing")
    else:
        left = eta(read or 0, size, pace)
        if left is not None:
            parts.append(f"~{human_duration(left)} left")
    if processes > 1:
        parts.append(f"{processes} processes")
    return f"{name}: " + ", ".join(parts)


def count_line(name: str, done: int, total: int, noun: str, seconds: float) -> str:
    """``replay: 1,234 of 50,000 requests (2%), 310/s, 0:04, ~2:37 left``."""
    parts = [f"{done:,} of {total:,} {noun}" + (f" ({int(100 * done / total)}%)" if total else "")]
    if seconds > 0:
        parts.append(f"{done / seconds:,.0f}/s")
    parts.append(human_duration(seconds))
    left = eta(done, total, seconds)
    if left is not None and done < total:
        parts.append(f"~{human_duration(left)} left")
    return f"{name}: " + ", ".join(parts)


class Throttle:
    """``ready()`` is true at most once per ``interval`` seconds of ``clock``."""

    def __init__(self, interval: float = INTERVAL, clock: Callable[[], float] = time.monotonic):
        self.interval, self.clock = interval, clock
        self.last: float | None = None

    def ready(self) -> bool:
        now = self.clock()
        if self.last is not None and now - self.last < self.interval:
            return False
        self.last = now
        return True


class ProgressLine:
    """One line on ``stream`` rewritten in place, or nothing when not ``enabled``.  A context
    manager: the line is blanked on leaving, whatever the way out (an exception, Ctrl-C)."""

    def __init__(self, stream: TextIO, enabled: bool, *, interval: float = INTERVAL,
                 clock: Callable[[], float] = time.monotonic, width: int | None = None):
        self.stream, self.enabled, self.clock = stream, enabled, clock
        self.throttle = Throttle(interval, clock)
        self.width = width
        self.shown = 0  # characters of the line on screen
        self.t0 = clock()

    def elapsed(self) -> float:
        return self.clock() - self.t0

    def _columns(self) -> int:
        if self.width is not None:
            return self.width
        try:
            columns = os.get_terminal_size(self.stream.fileno()).columns
        except (AttributeError, ValueError, OSError):
            columns = 0
        if columns <= 0:  # not a terminal, or one that does not know its size (0 x 0)
            env = os.environ.get("COLUMNS", "")
            columns = int(env) if env.isdigit() and int(env) > 0 else 80
        return columns

    def show(self, text: str, *, now: bool = False) -> bool:
        """Draw ``text`` if enabled and the throttle allows (``now``: whatever the throttle says).
        Cut to the terminal's width less one (a line that wraps cannot be rewritten)."""
        if not self.enabled or not (self.throttle.ready() or now):
            return False
        text = text[:max(10, self._columns() - 1)]
        pad = " " * max(0, self.shown - len(text))
        self.shown = max(self.shown, len(text))  # what the blank must cover if Ctrl-C cuts the write short
        self._write("\r" + text + pad)
        self.shown = len(text)
        return True

    def clear(self) -> None:
        if self.enabled and self.shown:
            self._write("\r" + " " * self.shown + "\r")
            self.shown = 0

    def _write(self, s: str) -> None:
        try:
            self.stream.write(s)
            self.stream.flush()
        except (OSError, ValueError):  # the terminal went away: no more progress
            self.enabled = False

    def begin(self) -> None:
        """The first line, on entering (none by default)."""

    def __enter__(self) -> "ProgressLine":
        try:
            self.begin()
        except BaseException:  # Ctrl-C while drawing: __exit__ is not called
            self.clear()
            raise
        return self

    def __exit__(self, *exc) -> None:
        self.clear()


class CaptureProgress(ProgressLine):
    """The reader's ``on_progress(bytes_read, packets, processes=1)`` drawn as :func:`capture_line`."""

    def __init__(self, stream: TextIO, enabled: bool, name: str, size: int | None, **kw):
        super().__init__(stream, enabled, **kw)
        self.name, self.size = name, size
        self.processes = 0
        self.pass_t0 = self.t0

    def begin(self) -> None:
        self.show(capture_line(self.name, 0, self.size, 0, 0.0), now=True)

    def __call__(self, bytes_read: int | None, packets: int, processes: int = 1) -> None:
        if not self.enabled:
            return
        if processes != self.processes:  # a new reading of the file (the split gave up: once more serially)
            if self.processes:
                self.pass_t0 = self.clock()
            self.processes = processes
        if self.throttle.ready():  # the line is formatted only when it is drawn
            now = self.clock()
            self.show(capture_line(self.name, bytes_read, self.size, packets, now - self.t0, now - self.pass_t0,
                                   processes), now=True)


class CountProgress(ProgressLine):
    """``on_step(done, total)`` of a replay drawn as :func:`count_line`."""

    def __init__(self, stream: TextIO, enabled: bool, name: str, noun: str, **kw):
        super().__init__(stream, enabled, **kw)
        self.name, self.noun = name, noun
        self.t0 = self.clock()

    def __call__(self, done: int, total: int) -> None:
        if self.enabled and (self.throttle.ready() or done == 0):
            self.show(count_line(self.name, done, total, self.noun, self.elapsed()), now=True)


def add_options(parser) -> None:
    """``--progress`` / ``--no-progress`` on a command's argument parser (dest ``progress``)."""
    import argparse

    parser.add_argument("--progress", action=argparse.BooleanOptionalAction, default=None,
                        help="a progress line on stderr (default: when stderr is a terminal and not -q)")
