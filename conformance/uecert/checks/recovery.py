"""UE flow-recovery checks (RFC 5626 §4.5, RFC 3261 §21.5.4): the same reg-id for the
registration that replaces a failed (or moved) flow, the back-off between failed attempts, and
Retry-After honoured."""

from __future__ import annotations

from ..backoff import bounds
from ..model import UeTimers
from ..registrations import REMOVAL, Reg, end_of, flow_failures, header_int, registrations, ue_actions
from . import UeOutcome, ue_check


def _replacement(regs: list[Reg], old: Reg, t: float) -> Reg | None:
    """The UE's first registration for ``old``'s instance and AOR after ``t`` that is not a
    removal and not sent over the old connection (over UDP the UE may keep its socket: the same
    flow key is a new flow there)."""
    for r in regs:
        if (r.time > t and not r.star and r.kind != REMOVAL and r.aor == old.aor and r.instance
                and r.instance == old.instance and not (r.flow == old.flow and r.flow.transport != "udp")):
            return r
    return None


def _held_on(regs: list[Reg], flow, t: float) -> Reg | None:
    """The registration held over ``flow`` at ``t`` (the last 2xx-ed one, unless removed)."""
    held = None
    for r in regs:
        if r.time > t or not r.ok or r.flow != flow:
            continue
        held = None if r.kind == REMOVAL else r
    return held


def _same_reg_id(regs, old: Reg, t: float, why: str, index) -> UeOutcome:
    new = _replacement(regs, old, t)
    expected = f"reg-id={old.reg_id} (as REGISTER #{old.index}) in the registration replacing {old.flow}"
    if new is None:
        return UeOutcome(None, expected, f"no new registration after {why}", index, str(old.flow))
    return UeOutcome(new.reg_id == old.reg_id, expected,
                     f"REGISTER #{new.index} over {new.flow}: reg-id={new.reg_id} "
                     f"({new.time - t:.1f} s after {why})", new.index, new.what())


@ue_check("recovery_same_reg_id", level="MUST",
          ref="RFC 5626 §4.5 (the same reg-id as the registration it replaces)",
          summary="the registration replacing a failed flow has the same reg-id", needs=("outbound",))
def recovery_same_reg_id(obs, args, ctx) -> list[UeOutcome]:
    regs = registrations(obs).regs
    out = []
    for f in flow_failures(obs):
        old = _held_on(regs, f.flow, f.time)
        if old is not None and old.reg_id is not None:
            out.append(_same_reg_id(regs, old, f.start, f.why, f.index))
    return out


@ue_check("move_same_reg_id", level="MUST",
          ref="RFC 5626 §4.5 (the same reg-id as the registration it replaces); "
              "RFC 5626 §4.1 (persistent, unchanged when moving)",
          summary="lost coverage (Reg1b): the new address registers the same instance and reg-id", needs=("move",))
def move_same_reg_id(obs, args, ctx) -> list[UeOutcome]:
    regs = registrations(obs).regs
    out = []
    moves = [t for t, _ in ue_actions(obs, "ue.move")]
    if not moves:  # offline: the old flow failed, or its binding re-registered, from another address
        moves = [f.time for f in flow_failures(obs)
                 if any(r.time > f.time and r.flow.ue[0] != f.flow.ue[0] for r in regs)]
        moves += [r.time - 1e-6 for r in regs if r.replaces is not None and r.replaces.flow.ue[0] != r.flow.ue[0]
                  and not any(m <= r.time for m in moves)]
    for t in moves:
        held = [r for r in regs if r.ok and r.time <= t and r.reg_id is not None and r.kind != REMOVAL]
        if not held:
            continue
        old = held[-1]
        o = _same_reg_id(regs, old, t, "the move", None)
        new = _replacement(regs, old, t)
        if new is None:
            # another instance is a changed instance-id, not "no registration"
            other = next((r for r in regs if r.time > t and not r.star and r.kind != REMOVAL), None)
            if other is not None:
                o = UeOutcome(False, o.expected, f"REGISTER #{other.index} with +sip.instance={other.instance}, "
                              f"reg-id={other.reg_id} (instance was {old.instance})", other.index, other.what())
        out.append(o)
    return out


def _all_failed(regs: list[Reg], failed: Reg, t: float, failures) -> bool:
    """Whether, at ``t``, no other flow of the UE holds a registration that has not failed."""
    others = {}
    for r in regs:
        if r.time <= t and r.ok and r.key != failed.key and not r.star:
            others[r.key] = None if r.kind == REMOVAL else r
    for r in others.values():
        if r is not None and not any(f.flow == r.flow and f.time <= t for f in failures):
            return False
    return True


@ue_check("recovery_backoff", level="MUST", ref="RFC 5626 §4.5 (wait at least the retry delay)",
          summary="after a failed registration attempt, the next one waits at least W/2 (§4.5 formula)",
          needs=("outbound",))
def recovery_backoff(obs, args, ctx) -> list[UeOutcome]:
    timers = obs.timers if isinstance(obs.timers, UeTimers) else UeTimers()
    tol = float(args.get("tolerance", 0.1))
    regs = registrations(obs).regs
    failures = flow_failures(obs)
    out = []
    consecutive: dict[tuple, int] = {}
    for i, r in enumerate(regs):
        key = r.key
        if r.ok:
            consecutive[key] = 0
            continue
        if not r.failed:
            continue
        n = consecutive[key] = consecutive.get(key, 0) + 1
        t0 = r.response.time
        all_failed = bool(args["all_failed"]) if "all_failed" in args else _all_failed(regs, r, t0, failures)
        low, high = bounds(n, all_failed, timers)
        base = timers.base_time_all_failed if all_failed else timers.base_time_not_all_failed
        which = "all flows failed" if all_failed else "another flow up"
        expected = (f"the next attempt at least {low:g} s after the {r.status} (packet {r.response.index}): "
                    f"W = min(max-time {timers.max_time:g}, base-time {base:g} s ({which}) * 2^{n}) = {high:g} s")
        nxt = next((x for x in regs[i + 1:] if x.key == key or (x.aor == r.aor and x.instance == r.instance
                                                                   and x.kind != REMOVAL)), None)
        if nxt is None:
            span = end_of(obs) - t0
            out.append(UeOutcome(None, expected, f"no further attempt in {span:.1f} s", r.response.index, r.what()))
            continue
        wait = nxt.time - t0
        ok = wait >= low - tol
        note = "" if not ok or wait <= high + tol else f" (longer than W = {high:g} s: allowed)"
        out.append(UeOutcome(ok, expected, f"REGISTER #{nxt.index} {wait:.2f} s after it{note}", nxt.index,
                             nxt.what()))
    return out


@ue_check("retry_after", level="SHOULD", ref="RFC 3261 §21.5.4 (503: no request to that server for Retry-After)",
          summary="after a 503 with Retry-After, no request to that server before it elapses", needs=("outbound",))
def retry_after(obs, args, ctx) -> list[UeOutcome]:
    tol = float(args.get("tolerance", 0.1))
    out = []
    for r in registrations(obs).regs:
        if r.status != 503:
            continue
        ra = header_int(r.response.msg, "Retry-After")
        if ra is None:
            continue
        t0 = r.response.time
        nxt = next((e for e in obs.sip("in") if e.is_request and e.time > t0 and e.flow.net == r.flow.net), None)
        expected = f"no request to {r.flow.net[0]}:{r.flow.net[1]} for Retry-After: {ra} s (packet {r.response.index})"
        if nxt is None:
            out.append(UeOutcome(None, expected, f"no request in the {end_of(obs) - t0:.1f} s after it",
                                 r.response.index, r.what()))
            continue
        wait = nxt.time - t0
        out.append(UeOutcome(wait >= ra - tol, expected, f"{nxt.msg.method} #{nxt.index} {wait:.2f} s after it",
                             nxt.index, str(nxt.flow)))
    return out
