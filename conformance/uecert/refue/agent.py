"""The reference UE as a live agent: one thread, one selector loop, every wait bounded.

The driver (or a test) calls :meth:`RefUe.start`, then commands — :meth:`register`,
:meth:`add_flow`, :meth:`move`, :meth:`deregister`, :meth:`call` — each carried out by the loop
thread (the call returns once the loop took it up, within :data:`COMMAND_TIMEOUT`), and
:meth:`stop`.  What crossed the UE's sockets is in :attr:`RefUe.trace` (time, flow, what), and
:meth:`RefUe.wait_for` waits, bounded, for a condition on it.

The SIP side is in :mod:`.engine` (REGISTER, responses, keep-alives, recovery; :mod:`.timers`); this module is
the thread, the clock and the command queue.  ``clock`` and ``rng`` are injectable.
"""

from __future__ import annotations

import queue
import random
import selectors
import socket
import threading
import time

from .config import RefUeConfig, Trace
from .engine import Engine

COMMAND_TIMEOUT = 5.0
#: The loop wakes at least this often (timers are checked on every wake).
MAX_SLEEP = 0.2


class RefUe:
    """The reference UE (see the module notes)."""

    def __init__(self, config: RefUeConfig, *, clock=time.monotonic, rng: random.Random | None = None,
                 on_trace=None):
        self.config = config
        self.clock = clock
        self.on_trace = on_trace  # called (on the loop thread) with each Trace as it is recorded
        self.trace: list[Trace] = []
        self._cond = threading.Condition()
        self.engine = Engine(config, clock=clock, rng=rng or random.Random(), record=self._record,
                             before_close=self._unregister)
        self._commands: queue.Queue = queue.Queue()
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None
        self._sel: selectors.BaseSelector | None = None
        self._wake_r = self._wake_w = None
        self._registered_socks: dict = {}
        self.error: BaseException | None = None

    # -- lifecycle ----------------------------------------------------------------------------
    def start(self) -> "RefUe":
        """Start the loop; flow 1 registers as booted."""
        if self._thread is not None:
            raise RuntimeError("already started")
        self._sel = selectors.DefaultSelector()
        self._wake_r, self._wake_w = socket.socketpair()
        self._wake_r.setblocking(False)
        self._sel.register(self._wake_r, selectors.EVENT_READ, None)
        self._stop.clear()
        self._thread = threading.Thread(target=self._run, name="reference-ue", daemon=True)
        self._thread.start()
        self._command(self.engine.boot)
        return self

    def stop(self, timeout: float = 5.0) -> None:
        """Stop the loop and close every socket (no de-registration: a power-off).  Idempotent."""
        if self._thread is None:
            return
        self._stop.set()
        self._wake()
        self._thread.join(timeout)
        self._thread = None
        self.engine.close_all()
        self._sel.close()
        for s in (self._wake_r, self._wake_w):
            s.close()

    @property
    def running(self) -> bool:
        return self._thread is not None and self._thread.is_alive()

    # -- commands (any thread) ----------------------------------------------------------------
    def register(self, flow: int = 1, address: str | None = None) -> None:
        self._command(self.engine.register, flow, address)

    def add_flow(self, address: str) -> int | None:
        """A new flow from ``address``; its number, or None when the UE refrains (no outbound)."""
        return self._command(self.engine.add_flow, address)

    def move(self, flow: int, address: str) -> None:
        self._command(self.engine.move, flow, address)

    def deregister(self, flow: int | None = None, *, all: bool = False) -> None:  # noqa: A002
        self._command(self.engine.deregister, flow, all)

    def call(self, to: str, method: str = "INVITE") -> None:
        self._command(self.engine.call, to, method)

    def fail_flow(self, flow: int, why: str = "told to") -> None:
        """Treat a flow as failed now (for tests and tools)."""
        self._command(self.engine.flow_failed, flow, why)

    def _command(self, fn, *args):
        if not self.running:
            raise RuntimeError("the reference UE is not running")
        done = threading.Event()
        box: dict = {}
        self._commands.put((fn, args, done, box))
        self._wake()
        if not done.wait(COMMAND_TIMEOUT):
            raise TimeoutError(f"the reference UE did not take up {fn.__name__} within {COMMAND_TIMEOUT:g} s")
        if "error" in box:
            raise box["error"]
        return box.get("value")

    def _wake(self) -> None:
        try:
            self._wake_w.send(b"x")
        except OSError:
            pass

    # -- observation --------------------------------------------------------------------------
    def _record(self, entry: Trace) -> None:
        with self._cond:
            self.trace.append(entry)
            self._cond.notify_all()
        if self.on_trace is not None:
            self.on_trace(entry)

    def wait_for(self, predicate, timeout: float) -> bool:
        """Wait (bounded) until ``predicate(trace)`` holds; whether it did."""
        end = time.monotonic() + timeout
        with self._cond:
            while not predicate(self.trace):
                left = end - time.monotonic()
                if left <= 0:
                    return False
                self._cond.wait(min(left, 0.2))
        return True

    def logs(self) -> str:
        with self._cond:
            return "\n".join(str(t) for t in self.trace)

    # -- the loop -----------------------------------------------------------------------------
    def _run(self) -> None:
        while not self._stop.is_set():
            self._sync_selector()
            deadline = self.engine.next_deadline()
            timeout = MAX_SLEEP if deadline is None else max(0.0, min(MAX_SLEEP, deadline - self.clock()))
            for key, _ in self._sel.select(timeout):
                if key.data is None:
                    self._drain_commands()
                else:
                    self._guarded(self.engine.on_readable, key.data, key.fileobj)
            self._guarded(self.engine.on_timer, self.clock())
        self._drain_commands()

    def _guarded(self, fn, *args) -> None:
        """One event; an error in the engine is recorded (and kept in ``error``), the loop goes on."""
        try:
            fn(*args)
        except Exception as exc:  # noqa: BLE001 - the UE keeps running; the trace says what broke
            self.error = exc
            self._record(Trace(self.clock(), 0, None, self.config.transport, None, "-", "note",
                               f"internal error in {fn.__name__}: {exc!r}"))

    def _drain_commands(self) -> None:
        try:
            while self._wake_r.recv(4096):
                pass
        except OSError:
            pass
        while True:
            try:
                fn, args, done, box = self._commands.get_nowait()
            except queue.Empty:
                return
            try:
                if self._stop.is_set():
                    raise RuntimeError("the reference UE is stopping")
                box["value"] = fn(*args)
            except Exception as exc:  # noqa: BLE001 - handed to the caller
                box["error"] = exc
            done.set()

    def _unregister(self, sock) -> None:
        """Called by the engine before it closes a socket (its descriptor may be reused at once)."""
        if sock in self._registered_socks:
            try:
                self._sel.unregister(sock)
            except (KeyError, ValueError, OSError):
                pass
            del self._registered_socks[sock]

    def _sync_selector(self) -> None:
        """Register the flows' current sockets with the selector (they change on recovery)."""
        want = {f.sock: f for f in self.engine.flows.values() if f.sock is not None}
        for sock in [s for s in self._registered_socks if s not in want or s.fileno() < 0]:
            try:
                self._sel.unregister(sock)
            except (KeyError, ValueError, OSError):
                pass
            del self._registered_socks[sock]
        for sock, flow in want.items():
            if sock not in self._registered_socks:
                self._sel.register(sock, selectors.EVENT_READ, flow)
                self._registered_socks[sock] = flow


__all__ = ["COMMAND_TIMEOUT", "RefUe", "RefUeConfig", "Trace"]
