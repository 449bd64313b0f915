"""Helpers of the reference-UE tests: the embedded reference (core topology) on a free loopback
port, a reference UE pointed at it, and questions about the UE's trace."""

from __future__ import annotations

import contextlib
import socket

from conformance.sip.headers import parse_contacts, parse_option_tags
from conformance.sut.config import SutConfig
from conformance.sut.server.reference import ReferenceCore
from conformance.uecert.model import UeTimers
from conformance.uecert.refue.agent import RefUe, RefUeConfig

AOR = "sip:alice@ims.test"
INSTANCE = "<urn:uuid:00000000-0000-4000-8000-0000000000a1>"
ADDRESSES = ["127.0.0.21", "127.0.0.22", "127.0.0.23"]
FAST = UeTimers(max_time=2.0, base_time_all_failed=0.2, base_time_not_all_failed=0.6)


@contextlib.contextmanager
def reference_core(**config):
    config.setdefault("topology", "core")
    core = ReferenceCore(SutConfig(**config)).start()
    try:
        yield core
    finally:
        core.stop()


def edge_of(core) -> dict:
    return {t: (core.host, p) for t, p in core.ports.items()}


@contextlib.contextmanager
def reference_ue(edge: dict, transport: str, **kw):
    kw.setdefault("timers", FAST)
    kw.setdefault("expires", 3600)
    cfg = RefUeConfig(aor=AOR, impi="alice@ims.test", password=kw.pop("password", "secret"), domain="ims.test",
                      edge=edge, transport=transport, addresses=list(ADDRESSES),
                      instance=kw.pop("instance", INSTANCE), **kw)
    ue = RefUe(cfg).start()
    try:
        yield ue
    finally:
        ue.stop()
    assert ue.error is None, ue.logs()          # no internal error in the engine


# -- the trace ----------------------------------------------------------------------------------
def sent(ue, method: str | None = None, kind: str | None = None) -> list:
    """SIP requests the UE sent (kind: the text's "(initial)", "(refresh)"...)."""
    return [t for t in list(ue.trace) if t.kind == "sip" and t.direction == "out" and t.msg is not None
            and getattr(t.msg, "method", None) and (method is None or t.msg.method == method)
            and (kind is None or f"({kind})" in t.text)]


def registers(ue, kind: str | None = None) -> list:
    return sent(ue, "REGISTER", kind)


def ok_registrations(ue) -> int:
    return sum(1 for t in list(ue.trace) if t.kind == "note" and t.text.startswith("registered"))


def contact(trace_entry):
    return parse_contacts(trace_entry.msg)[0]


def supported(trace_entry) -> list[str]:
    return parse_option_tags(trace_entry.msg, "Supported")


def of_kind(ue, kind: str, flow: int | None = None) -> list:
    return [t for t in list(ue.trace) if t.kind == kind and (flow is None or t.flow == flow)]


def gaps(times: list[float]) -> list[float]:
    return [b - a for a, b in zip(times, times[1:])]


def wait_count(ue, fn, count: int, timeout: float) -> bool:
    return ue.wait_for(lambda tr: len(fn()) >= count, timeout)


def close_from_network(core, ue_local: tuple) -> bool:
    """The network closes the TCP connection whose UE end is ``ue_local`` (the UE sees EOF)."""
    for conn in core._tcp:  # noqa: SLF001 - a test's handle on the reference's connections
        if tuple(conn.flow.remote) == tuple(ue_local):
            conn.sock.shutdown(socket.SHUT_RDWR)
            return True
    return False
