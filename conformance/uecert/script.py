"""Playing a UE case's script: ``ue.*`` lines become driver calls, ``network.*`` lines network
side actions, ``await.*`` lines bounded waits on the observation.  Each line becomes a
:class:`~conformance.meaning.results.StepResult` with a note of what happened.

Exceptions a line may raise, for the runner to map onto a verdict:
:class:`~conformance.uecert.drivers.base.ActionNotSupported` (the UE cannot be told this),
:class:`~conformance.uecert.drivers.base.DriverError`, :class:`~conformance.uecert.network.NetworkActionError`.
"""

from __future__ import annotations

import threading
import time

from ..meaning.results import StepResult
from .drivers.base import DriverError
from .awaits import answered, answered_registers, keepalives, registers
from .model import UeAction

MAX_WAIT = 900.0        # no await waits longer (a long case's RFC timers)
DEFAULT_WITHIN = 10.0
DRIVER_CALL_BOUND = 60.0  # seconds any driver call may take (start: plus ue.start_timeout)
SETTLE = 0.1            # after an awaited REGISTER's answer left, before the next line


class ScriptStop(Exception):
    """The script cannot go on (the UE never registered): the case is inconclusive, with this."""


def driver_action(action: UeAction) -> str:
    """The driver capability (``UeDriver.actions``) a ``ue.*`` line needs."""
    if action.name == "deregister" and action.args.get("all"):
        return "deregister_all"
    return action.name


class ScriptPlayer:
    def __init__(self, driver, network, net_info, *, addresses: list[str], aor: str, workdir,
                 start_timeout: float, peer_aor: str):
        self.driver, self.network, self.net_info = driver, network, net_info
        self.rec = network.recorder
        self.addresses, self.aor, self.workdir = addresses, aor, workdir
        self.start_timeout, self.peer_aor = start_timeout, peer_aor
        self.last_request: str | None = None
        self._mark = 0.0  # awaits count what came from here on (seconds, as Event.time)

    def _since(self, events) -> int:
        return sum(1 for e in events if e.time >= self._mark)

    def _call(self, name: str, *args, **kwargs):
        """A driver call, bounded: a driver that never returns makes the case inconclusive
        instead of hanging the run (the call's thread is left to the driver's stop)."""
        box: dict = {}

        def target():
            try:
                box["value"] = getattr(self.driver, name)(*args, **kwargs)
            except BaseException as exc:  # noqa: BLE001 - handed to the runner's thread
                box["error"] = exc

        worker = threading.Thread(target=target, name=f"ue-driver-{name}", daemon=True)
        worker.start()
        worker.join(DRIVER_CALL_BOUND + (self.start_timeout if name == "start" else 0))
        if worker.is_alive():
            raise DriverError(f"driver.{name} did not return within "
                              f"{DRIVER_CALL_BOUND + (self.start_timeout if name == 'start' else 0):g} s")
        if "error" in box:
            raise box["error"]
        return box.get("value")

    def play(self, script: list[UeAction], steps: list[StepResult]) -> None:
        for i, action in enumerate(script, 1):
            step = StepResult(name=f"{i}. {action.actor}.{action.name}", action=f"{action.actor}.{action.name}",
                              flow=None, location=str(action.location or ""))
            steps.append(step)
            self.rec.rec.current_step = step.name
            if action.actor != "await":
                # an await counts from the last ue/network line on (what it caused may come before
                # the await starts); the checks read the UE's instructions in obs.actions
                self._mark = self.rec.now()
                if action.actor == "ue":
                    self.rec.note(f"ue.{action.name}", action.args)
            step.note = getattr(self, f"_{action.actor}")(action) or ""

    # -- address helpers ---------------------------------------------------------------------
    def _address(self, value) -> str | None:
        """``address: 2`` / ``IP2`` -> the target's second UE address; None stays None."""
        if value is None:
            return None
        text = str(value)
        n = int(text[2:]) if text.upper().startswith("IP") else int(text)
        if not 1 <= n <= len(self.addresses):
            raise ScriptStop(f"address {value} is not among the target's {len(self.addresses)} ue_addresses")
        return self.addresses[n - 1]

    # -- ue.* --------------------------------------------------------------------------------
    def _ue(self, a: UeAction) -> str:
        args = a.args
        if a.name == "start":
            before = len(registers(self.rec.obs))
            self._call("start", self.net_info, workdir=self.workdir)
            if not self.rec.wait_for(lambda: len(registers(self.rec.obs)) > before, self.start_timeout):
                raise ScriptStop(f"the UE sent no REGISTER within {self.start_timeout:g} s of being started "
                                 "(ue.start_timeout)")
            return "UE started; it registered"
        if a.name == "register":
            self._call("register", int(args.get("flow", 1)), self._address(args.get("address")))
        elif a.name == "add_flow":
            self._call("add_flow", self._address(args.get("address", 2)))
        elif a.name == "move":
            self._call("move", int(args.get("flow", 1)), self._address(args["address"]))
        elif a.name == "deregister":
            if args.get("all"):
                self._call("deregister", None, all=True)
            else:
                self._call("deregister", int(args.get("flow", 1)))
        elif a.name == "call":
            self._call("call", str(args.get("to", self.peer_aor)))
        elif a.name == "stop":
            self._call("stop")
        return f"driver.{a.name}({', '.join(f'{k}={v}' for k, v in args.items())})"

    # -- network.* ---------------------------------------------------------------------------
    def _network(self, a: UeAction) -> str:
        n, args = self.network, a.args
        if a.name == "close_flow":
            key = n.close_flow(int(args.get("flow", 1)))
            return f"closed flow {args.get('flow', 1)} ({key})"
        if a.name == "send_request":
            self.last_request = n.send_request(self.aor, str(args.get("method", "MESSAGE")))
            return f"{args.get('method', 'MESSAGE')} to {self.aor} (Call-ID {self.last_request})"
        if a.name == "notify_deregistered":
            n.notify_deregistered()
            return "NOTIFY sent"
        n.behave(dict(args))
        return f"behaviour now {args}"

    # -- await.* -----------------------------------------------------------------------------
    def _await(self, a: UeAction) -> str:
        args, obs = a.args, self.rec.obs
        within = min(float(args.get("within", args.get("seconds", DEFAULT_WITHIN))), MAX_WAIT)
        if a.name == "time":
            time.sleep(within)
            return f"observed {within:g} s"
        if a.name in ("register", "keepalives"):
            count = int(args.get("count", 1 if a.name == "register" else 2))
            if a.name == "register":
                kind = str(args.get("kind", "any"))
                what, select = f"{kind} REGISTER(s) answered", lambda: answered_registers(obs, kind)
            else:
                flow = self.network.flow(int(args["flow"])) if "flow" in args else None
                what, select = "keep-alive(s)", lambda: keepalives(obs, flow)
            got = self.rec.wait_for(lambda: self._since(select()) >= count, within)
            with self.rec.lock:
                seen = self._since(select())
            if got and a.name == "register":
                time.sleep(SETTLE)               # the answer, sent as recorded, reaches the UE
            self._mark = self.rec.now()          # the next await counts from here
            return f"{seen} {what} within {within:g} s" + ("" if got else f" (awaited {count})")
        # response
        if self.last_request is None:
            return "no network request to await an answer to"
        got = self.rec.wait_for(lambda: answered(obs, self.last_request), within)
        return "the UE answered" if got else f"no answer within {within:g} s"
