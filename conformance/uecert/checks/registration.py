"""UE checks on REGISTER contents (RFC 5626 §4.1, §4.2.1, §4.2.3; TS 24.229 5.1.1.2.1)."""

from __future__ import annotations

import re

from ...sut.registrar.bindings import instance_key
from ..registrations import Reg, end_of, option_tags, registrations
from . import UeOutcome, ue_check

URN_RE = re.compile(r"^urn:[a-z0-9][a-z0-9-]{0,31}:[a-z0-9()+,\-.:=@;$_!*'%/?#]+$", re.I)
UUID_URN_RE = re.compile(r"^urn:uuid:[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$", re.I)
MAX_REG_ID = 2 ** 31 - 1  # RFC 5626 §10: reg-id 1 to (2^31 - 1)


def bare(instance: str) -> str:
    v = instance.strip()
    return v[1:-1] if v.startswith("<") and v.endswith(">") else v


def after_439(regs: list[Reg], reg: Reg) -> bool:
    """Sent after a 439: the UA MAY re-attempt without outbound (§4.2.1), not judged as outbound."""
    return any(r.status == 439 and r.time < reg.time for r in regs)


def own_registers(regs: list[Reg]) -> list[Reg]:
    """REGISTERs with the UE's own Contact (not Contact: *, not a fetch, not after a 439)."""
    return [r for r in regs if not r.star and r.contact is not None and not after_439(regs, r)]


@ue_check("instance_urn", level="MUST",
          ref="RFC 5626 §4.1 (a URN that identifies the device); RFC 5626 §4.2.1 (instance-id in REGISTER)",
          summary="REGISTER Contact carries +sip.instance with a URN", needs=("outbound",))
def instance_urn(obs, args, ctx) -> list[UeOutcome]:
    out = []
    for r in own_registers(registrations(obs).regs):
        inst = r.instance
        if inst is None:
            out.append(UeOutcome(False, "Contact with a +sip.instance parameter (a URN)",
                                 f"Contact {r.contact} has no +sip.instance", r.index, r.what()))
            continue
        ok = bool(URN_RE.match(bare(inst)))
        out.append(UeOutcome(ok, "+sip.instance a URN (urn:<NID>:<NSS>, RFC 2141)",
                             f'+sip.instance="{inst}"' + ("" if ok else " is not a URN"), r.index, r.what()))
    return out


@ue_check("instance_uuid", level="SHOULD", ref="RFC 5626 §4.1 (a UUID URN)",
          summary="+sip.instance is a UUID URN (RFC 4122)", needs=("outbound",))
def instance_uuid(obs, args, ctx) -> list[UeOutcome]:
    seen: dict[str, Reg] = {}
    for r in own_registers(registrations(obs).regs):
        if r.instance and r.instance not in seen:
            seen[r.instance] = r
    return [UeOutcome(bool(UUID_URN_RE.match(bare(inst))), "urn:uuid:xxxxxxxx-xxxx-xxxx-xxxx-xxxxxxxxxxxx",
                      f'+sip.instance="{inst}"', r.index, r.what()) for inst, r in seen.items()]


@ue_check("instance_stable", level="MUST",
          ref="RFC 5626 §4.1 (persistent, unchanged when moving); RFC 5626 §4.1 (a URN that identifies the device)",
          summary="one +sip.instance for all flows, re-registrations and restarts", needs=("outbound",))
def instance_stable(obs, args, ctx) -> list[UeOutcome]:
    regs = [r for r in own_registers(registrations(obs).regs) if r.instance]
    if not regs:
        return []
    first = regs[0]
    ref_inst, origin = first.instance, f"the first REGISTER #{first.index}"
    if obs.instance:
        ref_inst, origin = obs.instance, "the profile"
    out, flows = [], set()
    for r in regs:
        flows.add(r.flow)
        if instance_key(r.instance) != instance_key(ref_inst):
            out.append(UeOutcome(False, f'+sip.instance="{ref_inst}" as in {origin}',
                                 f'+sip.instance="{r.instance}"', r.index, r.what()))
    if not out and (len(regs) > 1 or obs.instance):
        out.append(UeOutcome(True, f'+sip.instance="{ref_inst}" in every REGISTER',
                             f"the same in {len(regs)} REGISTERs over {len(flows)} flow(s)", regs[-1].index))
    return out


def _tag_check(regs: list[Reg], tag: str) -> list[UeOutcome]:
    out = []
    for r in regs:
        tags = option_tags(r.msg, "Supported")
        ok = tags is not None and tag in tags
        seen = "unparseable" if tags is None else (", ".join(tags) or "absent")
        out.append(UeOutcome(ok, f"Supported: {tag}", f"Supported: {seen}", r.index, r.what()))
    return out


@ue_check("supported_outbound", level="MUST", ref="RFC 5626 §4.2.1 (Supported: outbound in REGISTER)",
          summary="REGISTER carries Supported: outbound", needs=("outbound",))
def supported_outbound(obs, args, ctx) -> list[UeOutcome]:
    return _tag_check(own_registers(registrations(obs).regs), "outbound")


@ue_check("supported_path", level="MUST", ref="RFC 5626 §4.2.1 (Supported: path)",
          summary="REGISTER carries Supported: path", needs=("outbound",))
def supported_path(obs, args, ctx) -> list[UeOutcome]:
    return _tag_check(registrations(obs).regs, "path")


@ue_check("reg_id_present", level="MUST", ref="RFC 5626 §4.2.1 (a distinct reg-id per flow)",
          summary="REGISTER Contact with +sip.instance carries a reg-id (1 to 2^31-1)", needs=("outbound",))
def reg_id_present(obs, args, ctx) -> list[UeOutcome]:
    out = []
    for r in own_registers(registrations(obs).regs):
        if not r.instance:
            continue
        rid = r.reg_id
        ok = rid is not None and rid.isdigit() and 1 <= int(rid) <= MAX_REG_ID
        out.append(UeOutcome(ok, "Contact ;reg-id=N (1 to 2^31-1)",
                             f"reg-id={rid}" if rid is not None else f"Contact {r.contact} has no reg-id",
                             r.index, r.what()))
    return out


@ue_check("star_no_instance", level="MUST", ref="RFC 5626 §4.2.3 (no instance-id or reg-id with Contact: *)",
          summary="Contact: * carries neither +sip.instance nor reg-id", needs=("deregister",))
def star_no_instance(obs, args, ctx) -> list[UeOutcome]:
    out = []
    for r in registrations(obs).regs:
        if not r.star:
            continue
        bad = [p for c in r.contacts for p in ("+sip.instance", "reg-id") if c.has_param(p)]
        out.append(UeOutcome(not bad, "Contact: * without +sip.instance or reg-id",
                             "Contact: " + ", ".join(str(c) for c in r.contacts), r.index, r.what()))
    return out


@ue_check("call_id_per_flow", level="MAY", ref="RFC 5626 §4.2.1 (a unique Call-ID per flow)",
          summary="each flow's registration uses its own Call-ID", needs=("multi-flow",))
def call_id_per_flow(obs, args, ctx) -> list[UeOutcome]:
    firsts: dict[tuple, Reg] = {}
    for r in own_registers(registrations(obs).regs):
        if r.instance and r.reg_id is not None and r.kind == "initial" and r.replaces is None:
            firsts.setdefault(r.key, r)
    if len(firsts) < 2:
        return []
    by_call: dict[str | None, list[Reg]] = {}
    for r in firsts.values():
        by_call.setdefault(r.call_id, []).append(r)
    out = []
    for call_id, rs in by_call.items():
        if len(rs) > 1:
            out.append(UeOutcome(False, "a Call-ID of its own for each reg-id",
                                 f"Call-ID {call_id} for reg-ids " + ", ".join(str(r.reg_id) for r in rs),
                                 rs[1].index, rs[1].what()))
    if not out:
        out.append(UeOutcome(True, "a Call-ID of its own for each reg-id",
                             f"{len(firsts)} reg-ids, {len(by_call)} Call-IDs", None))
    return out


@ue_check("on_439", level="MAY", ref="RFC 5626 §4.2.1 (439: MAY re-attempt without outbound)",
          summary="what the UE does after a 439 (recorded)", needs=("outbound",))
def on_439(obs, args, ctx) -> list[UeOutcome]:
    regs = registrations(obs).regs
    out = []
    for r in regs:
        if r.status != 439:
            continue
        later = [x for x in regs if x.time > r.response.time and x.aor == r.aor]
        if not later:
            out.append(UeOutcome(True, "no outbound REGISTER through the same first hop again",
                                 "no REGISTER after the 439", r.response.index, r.what()))
            continue
        nxt = later[0]
        ok = nxt.reg_id is None
        out.append(UeOutcome(ok, "a re-attempt without the outbound mechanism (no reg-id), or none",
                             f"REGISTER #{nxt.index} {'without' if ok else 'with'} reg-id "
                             f"{'' if ok else nxt.reg_id} {nxt.time - r.response.time:.1f} s after the 439",
                             nxt.index, nxt.what()))
    return out


@ue_check("no_outbound_one_flow", level="MUST",
          ref="TS 24.229 5.1.1.2.1 (f) (no outbound in the 2xx: no additional flows)",
          summary="after a 2xx without Require: outbound, no additional flow is registered",
          needs=("multi-flow",))
def no_outbound_one_flow(obs, args, ctx) -> list[UeOutcome]:
    regs = registrations(obs).regs
    legacy = next((r for r in regs if r.ok and not r.star and r.reg_id is not None and r.instance
                   and "outbound" in (option_tags(r.msg, "Supported") or []) and not r.require_outbound), None)
    if legacy is None:
        return []
    t0 = legacy.response.time
    extra = [r for r in regs if r.time > t0 and r.kind == "initial" and r.replaces is None and not r.star
             and r.aor == legacy.aor and r.key != legacy.key]
    if extra:
        x = extra[0]
        return [UeOutcome(False, "no REGISTER for an additional flow after the 2xx without Require: outbound "
                          f"(packet {legacy.response.index})",
                          f"REGISTER #{x.index} adds Contact {x.contact} from {x.flow}", x.index, x.what())]
    asked = [t for t, _ in obs.network_actions("ue.add_flow") if t > t0]
    observed = f"{end_of(obs) - t0:.1f} s observed after the 2xx, no additional flow"
    if not asked:  # nothing provoked an additional flow: no evidence either way
        return [UeOutcome(None, "one flow only", observed + " (the UE was not asked to add one)",
                          legacy.response.index, legacy.what())]
    return [UeOutcome(True, "one flow only", observed + " although the UE was asked to add one",
                      legacy.response.index, legacy.what())]
