"""Locust user class: REGISTER load beyond one machine, on `conformance load`'s UE model.

    pip install 'outbound-conformance[load]'
    locust -f conformance/load/locust_user.py --headless -u 200 -r 50 -t 60s --host 127.0.0.1:5060
    # distributed: one master, workers on other machines
    locust -f conformance/load/locust_user.py --master --headless --expect-workers 4 -u 2000 -r 200 -t 5m --host SUT:5060
    locust -f conformance/load/locust_user.py --worker --master-host MASTER

Each Locust user is one UE (``RegisterSession``): it registers its flow(s) once (name
``initial``), then refreshes every ``LOAD_REFRESH`` seconds (name ``refresh``).  Locust reports
request counts, failures by reason and response times per name, aggregated over the workers.
Environment: ``LOAD_TRANSPORT`` (udp | tcp), ``LOAD_FLOWS`` (1, or 2 for Reg2), ``LOAD_REFRESH``
(seconds, default 1), ``LOAD_DOMAIN`` (default ims.test), ``LOAD_ADDRESSES`` (comma-separated
local addresses, default 127.0.0.11,127.0.0.12), ``LOAD_COUNT_FILE`` (a worker appends the
number of requests it fired when it stops: the project's test checks the master's aggregate).
"""

from __future__ import annotations

import os

from locust import User, between, events, task  # noqa: F401  (between: for subclasses)

from conformance.load.session import RegisterSession

_fired = {"n": 0}


def _host_port(host: str | None) -> tuple[str, int]:
    """``127.0.0.1:5060``, ``sip:host:port`` or ``[::1]:5060`` (port 5060 when none)."""
    host = (host or "127.0.0.1:5060").removeprefix("sip:")
    if host.startswith("["):
        h, _, rest = host[1:].partition("]")
        return h, int(rest.lstrip(":") or 5060)
    h, sep, p = host.rpartition(":")
    return (h, int(p)) if sep else (host, 5060)


class RegisterUser(User):
    """One UE: initial registration of each flow, then refreshes."""

    host = os.environ.get("LOAD_HOST", "127.0.0.1:5060")

    def wait_time(self) -> float:
        return float(os.environ.get("LOAD_REFRESH", "1"))

    def on_start(self) -> None:
        host, port = _host_port(self.host)
        addrs = tuple(a for a in os.environ.get("LOAD_ADDRESSES", "127.0.0.11,127.0.0.12").split(",") if a)
        self.session = RegisterSession(host, port, transport=os.environ.get("LOAD_TRANSPORT", "udp"),
                                       domain=os.environ.get("LOAD_DOMAIN", "ims.test"), addresses=addrs,
                                       flows=int(os.environ.get("LOAD_FLOWS", "1")))
        for i in range(len(self.session.flows)):
            self._register(i, "initial")

    def on_stop(self) -> None:
        self.session.close()

    @task
    def refresh(self) -> None:
        for i in range(len(self.session.flows)):
            self._register(i, "refresh")

    def _register(self, flow: int, name: str) -> None:
        status, seconds, failure = self.session.register(flow)
        _fired["n"] += 1
        self.environment.events.request.fire(
            request_type="REGISTER", name=name, response_time=seconds * 1000.0, response_length=0,
            exception=RuntimeError(failure) if failure else None, context={"status": status})


@events.quitting.add_listener
def _count(environment, **_kw) -> None:
    path = os.environ.get("LOAD_COUNT_FILE")
    if path and _fired["n"]:
        with open(path, "a", encoding="utf-8") as f:
            f.write(f"{os.getpid()} {_fired['n']}\n")
