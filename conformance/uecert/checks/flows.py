"""UE checks on how REGISTERs relate across flows: distinct reg-ids (RFC 5626 §4.2.1), an added
flow (Reg2), refreshes and removals (§4.2.2)."""

from __future__ import annotations

from ..registrations import INITIAL, REMOVAL, Reg, failed_by, flow_failures, registrations, ue_actions, ue_traffic_after
from . import UeOutcome, ue_check


def _alive(obs, old: Reg, t: float, failures) -> str:
    """Why ``old``'s flow is known to be in use at ``t`` ("" when not known)."""
    if failed_by(obs, old.flow, t, failures):
        return ""
    told = [a for a, _ in ue_actions(obs, "ue.add_flow") if old.time < a <= t]
    moved = [a for a, _ in ue_actions(obs, "ue.move") if old.time < a <= t]
    if moved:
        return ""
    used = ue_traffic_after(obs, old.flow, t)
    if used is not None:
        return f"{old.flow} still in use by the UE (packet {used.index})"
    if told:
        return f"the UE was told to add a flow at {told[0]:.1f} s"
    return ""


def _held_at(regs: list[Reg], t: float) -> dict[tuple, Reg]:
    held: dict[tuple, Reg] = {}
    for r in regs:
        if r.time > t or not r.ok:
            continue
        if r.star:
            held = {k: v for k, v in held.items() if k[0] != r.aor}
        elif r.kind == REMOVAL:
            held.pop(r.key, None)
        else:
            held[r.key] = r
    return held


@ue_check("reg_id_distinct", level="MUST", ref="RFC 5626 §4.2.1 (a distinct reg-id per flow)",
          summary="a distinct reg-id per flow of the same instance and AOR", needs=("multi-flow",))
def reg_id_distinct(obs, args, ctx) -> list[UeOutcome]:
    regs = registrations(obs).regs
    failures = flow_failures(obs)
    out, keys = [], {}
    for r in regs:
        if r.kind != INITIAL or r.reg_id is None or not r.instance:
            continue
        old = r.replaces
        if old is None:
            keys.setdefault((r.aor, r.key[1]), {})[r.key[2]] = r
            continue
        why = _alive(obs, old, r.time, failures)
        if why:
            out.append(UeOutcome(False, f"a reg-id other than {old.reg_id} (used by REGISTER #{old.index} "
                                 f"over {old.flow}) for a new flow",
                                 f"reg-id={r.reg_id} reused over {r.flow}; {why}", r.index, r.what()))
        elif not failed_by(obs, old.flow, r.time, failures) and not ue_actions(obs, "ue.move"):
            out.append(UeOutcome(None, "a distinct reg-id per concurrent flow",
                                 f"reg-id={r.reg_id} re-registered over {r.flow}; whether {old.flow} was "
                                 "still in use is not known", r.index, r.what()))
    for (aor, _), by_reg in keys.items():
        flows = {x.flow for x in by_reg.values()}
        if len(by_reg) > 1 and len(flows) > 1 and not out:
            out.append(UeOutcome(True, "a distinct reg-id per flow",
                                 ", ".join(f"reg-id={k} over {v.flow}" for k, v in by_reg.items()), None))
    return out


@ue_check("add_flow_new_reg_id", level="MUST", ref="RFC 5626 §4.2.1 (a distinct reg-id per flow)",
          summary="an added flow (Reg2) registers with a new reg-id, the old flow kept", needs=("multi-flow",))
def add_flow_new_reg_id(obs, args, ctx) -> list[UeOutcome]:
    regs = registrations(obs).regs
    triggers = [t for t, _ in ue_actions(obs, "ue.add_flow")]
    if not triggers:  # offline: a REGISTER from another address while a held flow is in use
        for r in regs:
            held = _held_at(regs, r.time - 1e-9)
            if r.kind == INITIAL and r.instance and any(
                    h.flow.ue[0] != r.flow.ue[0] and ue_traffic_after(obs, h.flow, r.time) for h in held.values()):
                triggers.append(r.time - 1e-9)
                break
    out = []
    for t in triggers:
        held = {k: h for k, h in _held_at(regs, t).items() if len(k) == 3}
        new = next((r for r in regs if r.time > t and r.kind == INITIAL and r.instance
                    and all(r.flow != h.flow for h in held.values())), None)
        if new is None or not held:
            out.append(UeOutcome(None, "a REGISTER for the added flow",
                                 "no REGISTER over a new flow after it" if held else "no flow held before it", None))
            continue
        olds = ", ".join(f"reg-id={h.reg_id} over {h.flow}" for h in held.values())
        kept = [f"{h.flow}: packet {e.index}" for h in held.values() if (e := ue_traffic_after(obs, h.flow, new.time))]
        note = f"; the old flow still used ({', '.join(kept)})" if kept else "; the old flow not used again"
        ok = new.key not in held
        out.append(UeOutcome(ok, f"a reg-id other than those held ({olds})",
                             f"reg-id={new.reg_id} over {new.flow}{note}", new.index, new.what()))
    return out


@ue_check("refresh_same_flow", level="MAY",
          ref="RFC 5626 §4.2.2 (refresh and removal: same instance, reg-id and flow)",
          summary="refreshes and removals reuse instance and reg-id; refreshes go over the same flow",
          needs=("outbound",))
def refresh_same_flow(obs, args, ctx) -> list[UeOutcome]:
    view = registrations(obs)
    failures = flow_failures(obs)
    out = []
    for r in view.regs:
        if r.star:
            continue
        base = [p for p in view.by_call_id(r.call_id)
                if p.time < r.time and p.ok and p.aor == r.aor and p.kind != REMOVAL]
        if not base:
            continue
        p = base[-1]
        if r.flow != p.flow and failed_by(obs, p.flow, r.time, failures):
            continue  # a recovery keeping the Call-ID, not a refresh
        same_ids = r.instance == p.instance and r.reg_id == p.reg_id
        same_flow = r.flow == p.flow or r.kind == REMOVAL
        what = "removal" if r.kind == REMOVAL else "refresh"
        out.append(UeOutcome(same_ids and same_flow,
                             f"the {what} of REGISTER #{p.index}: reg-id={p.reg_id}, its +sip.instance"
                             + ("" if r.kind == REMOVAL else f", over {p.flow}"),
                             f"reg-id={r.reg_id}, +sip.instance={r.instance} over {r.flow}", r.index, r.what()))
    return out
