"""The reference UE's timers (a mixin of :class:`~.engine.Engine`): client transactions
(Timer E/F), the §4.5 retry, refresh, keep-alive, pong deadline and STUN retransmissions.
:meth:`Timers.next_deadline` and :meth:`Timers.on_timer` test the same conditions, so the loop
never wakes for nothing (and never spins on a deadline that cannot fire)."""

from __future__ import annotations

from ...sip.message import Request
from ...ue.transaction import RETRANSMIT, TIMEOUT
from .flow import REGISTERED, REMOVED, WAITING, UeFlow

STUN_RETRANSMISSIONS = 7  # RFC 5626 §4.4.2 / RFC 5389 §7.2.1


class Timers:
    def next_deadline(self) -> float | None:
        """The earliest moment :meth:`on_timer` has something to do (the same conditions)."""
        times = []
        for f in self.flows.values():
            if f.pending is not None:
                times.append(f.pending.txn.next_deadline())
            if f.status == WAITING:
                times.append(f.retry_at)
            if f.status != REGISTERED:
                continue
            if f.stun is not None:
                times.append(min(f.stun.next_at, f.stun.give_up_at))
            times += [f.keepalive_at, f.pong_deadline, f.refresh_at if f.pending is None else None]
        times += [p.txn.next_deadline() for _, p in self.others.values()]
        times = [t for t in times if t is not None]
        return min(times) if times else None

    def on_timer(self, now: float) -> None:
        for flow in list(self.flows.values()):
            self._flow_timers(flow, now)
        for branch, (flow, pending) in list(self.others.items()):
            event = pending.txn.on_timer(now)
            if event == RETRANSMIT and flow.sock is not None:
                self._resend(flow, pending.request)
            elif event == TIMEOUT or pending.txn.next_deadline() is None:
                self.others.pop(branch, None)

    def _resend(self, flow: UeFlow, req: Request) -> None:
        try:
            flow.send(req.to_bytes())
            self.rec(flow, "out", "sip", f"{req.method} (retransmission)", req)
        except OSError:
            pass

    def _flow_timers(self, flow: UeFlow, now: float) -> None:
        if flow.pending is not None:
            event = flow.pending.txn.on_timer(now)
            if event == RETRANSMIT:
                self._resend(flow, flow.pending.request)
            elif event == TIMEOUT:
                kind, flow.pending = flow.pending.kind, None
                why = f"no final response to the {kind} REGISTER"
                if kind.startswith("removal"):
                    self.rec(flow, "-", "note", f"{why}: closed anyway")
                    for f in (list(self.flows.values()) if kind == "removal-all" else [flow]):
                        self.close(f)
                        f.status = REMOVED
                elif kind == "initial":
                    self.attempt_failed(flow, why)
                else:
                    self.flow_failed(flow, why)
                self.run_queued(flow)
                return
        if flow.status == WAITING and flow.retry_at is not None and now >= flow.retry_at:
            self.attempt(flow)
            return
        if flow.status != REGISTERED:
            return
        if flow.refresh_at is not None and now >= flow.refresh_at and flow.pending is None:
            flow.refresh_at = None
            self.send_register(flow, "refresh")
        if flow.pong_deadline is not None and now >= flow.pong_deadline:
            self.flow_failed(flow, f"no CRLF pong within {self.cfg.pong_timeout:g} s (RFC 5626 §4.4.1)")
            return
        stun = flow.stun
        if stun is not None:
            if now >= stun.give_up_at:
                self.flow_failed(flow, "no STUN Binding response after 7 retransmissions (RFC 5626 §4.4.2)")
                return
            if now >= stun.next_at and stun.retransmissions < STUN_RETRANSMISSIONS:
                stun.retransmissions += 1
                stun.rto *= 2
                stun.next_at = (now + stun.rto if stun.retransmissions < STUN_RETRANSMISSIONS
                                else stun.give_up_at)
                try:
                    flow.send(stun.data)
                    self.rec(flow, "out", "stun", "Binding request (retransmission)")
                except OSError as exc:
                    self.flow_failed(flow, f"STUN not sent: {exc}")
                    return
        if flow.keepalive_at is not None and now >= flow.keepalive_at:
            self.send_keepalive(flow)


__all__ = ["STUN_RETRANSMISSIONS", "Timers"]
