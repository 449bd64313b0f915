"""``storm: {flow: F, ues: N}`` (TP_ROB_003): N copies of F's UE (own AOR, instance, Call-ID, a flow
like F) register at once; then every one of those flows is dropped (its socket or connection
closed) and each UE registers again at once from a new flow with the same reg-id (a Reg1b wave,
the avalanche restart).  Every REGISTER must get a final response (engine/burst.py: a 503 is
retried once after its Retry-After, at most 1 s; a Digest challenge is answered); then each UE's
fetch must list exactly its new flow (none lost, the replaced one gone: RFC 5626 §6 ¶8 and ¶10)."""

from __future__ import annotations

import time

from ..cases.model import StepSpec
from ..engine.api import RunApi
from ..engine.burst import NO_LOSS, ROBUST, burst, register_request, settle
from ..meaning.results import StepResult
from ..meaning.verdict import FAIL, PASS, Finding
from ..sip.headers import parse_contacts
from ..ue.model import UE
from .flow_limit import clone_flow, contact_listed, sub_exchange
from .kind import StepKind


def _clone_ue(run, ue: UE, i: int) -> UE:
    t = run.target
    user = f"{ue.user}-s{i}"
    fmt = dict(user=user, domain=t.domain)
    new = UE(name=f"{ue.name}_s{i}", user=user, impu=t.identities.impu.format(**fmt),
             impi=t.identities.impi.format(**fmt), domain=ue.domain, instance=UE.new_instance())
    run.ues[new.name] = new
    return new


def storm(run: RunApi, step: StepSpec, result: StepResult) -> None:
    ue, template = run.flow(step.flow)
    count = int(step.options["ues"])
    timeout = float(step.options.get("timeout", run.target.timers.response))
    clones = [_clone_ue(run, ue, i) for i in range(1, count + 1)]
    t0 = time.monotonic()
    unanswered: list[str] = []
    bound: dict[str, str] = {}
    for wave in (1, 2):
        items = []
        for c in clones:
            flow = clone_flow(c, template, f"{c.name}_w{wave}", template.reg_id)
            ep, request = register_request(run, c, flow)
            items.append((flow.name, ep, request, c))
        if wave == 2:
            # The first wave's flows are gone (lost coverage, a restart).  Closed only now, once the
            # new sockets hold their ports: a new flow never reuses its old flow's port, so its
            # Contact always differs from the one it replaces (else "replaced" cannot be told).
            for c in clones:
                old = c.flows[f"{c.name}_w1"]
                ep = run.endpoints.get(old.name)
                if ep is not None:
                    ep.close()
                run.closed_flows.add(old.name)
        answers = burst(run, [(n, e, r) for n, e, r, _ in items], timeout)
        for (name, ep, request, c), outcome in zip(items, answers):
            full = (outcome[0], outcome[1], outcome[2], "" if outcome[0] else "no final response")
            request, full = settle(run, step, result, c, c.flows[name], ep, request, full)
            if full[0] is None:
                unanswered.append(f"{name} (wave {wave})")
            elif 200 <= full[0].status < 300:
                bound[c.name] = name
    elapsed = time.monotonic() - t0
    result.findings.append(Finding(
        check=f"every REGISTER of the storm answered ({count} UEs, 2 waves)", level="MUST", ref=ROBUST,
        outcome=FAIL if unanswered else PASS, expected=f"{2 * count} final responses",
        observed=(f"{len(unanswered)} without an answer, first: {', '.join(unanswered[:3])}" if unanswered
                  else f"all answered in {elapsed:.2f} s"), step=step.name, location=result.location))
    problems = []
    for c in clones:
        new, old = c.flows[f"{c.name}_w2"], c.flows[f"{c.name}_w1"]
        scratch = StepResult(name=step.name, action="fetch", flow=new.name, location=result.location)
        fetch = sub_exchange(run, step, "fetch", new.name, scratch, options={})
        result.findings.extend(f for f in scratch.findings if f.outcome == FAIL)
        if fetch is None or not 200 <= fetch.status < 300:
            problems.append(f"{c.name}: fetch {'unanswered' if fetch is None else fetch.status}")
            continue
        mine = [x for x in parse_contacts(fetch.values("Contact")) if not x.star and x.instance == c.instance]
        if bound.get(c.name) != new.name:
            continue                                 # its Reg1b was refused: nothing to expect
        if len(mine) != 1 or not contact_listed(fetch, c.contact_uri(new)) or contact_listed(fetch, c.contact_uri(old)):
            problems.append(f"{c.name}: {len(mine)} binding(s) of its instance"
                            + (", the replaced flow still listed" if contact_listed(fetch, c.contact_uri(old)) else "")
                            + ("" if contact_listed(fetch, c.contact_uri(new)) else ", its new flow missing"))
    result.findings.append(Finding(
        check="after the storm each UE has exactly its new flow bound", level="MUST", ref=NO_LOSS,
        outcome=FAIL if problems else PASS, expected="one binding per UE: the Reg1b flow",
        observed=("; ".join(problems[:3]) + (f" (+{len(problems) - 3} more)" if len(problems) > 3 else ""))
        if problems else f"{sum(1 for v in bound.values() if v.endswith('_w2'))} UEs checked",
        step=step.name, location=result.location))
    result.note = f"{count} UEs, 2 waves, {elapsed:.2f} s for the waves"


KIND = StepKind(
    name="storm",
    summary=("A registration storm (TP_ROB_003, steps/storm.py): 'ues' copies of the flow's UE register at once, "
             "their flows are dropped, they re-register at once from new flows (Reg1b); every REGISTER must be "
             "answered and each UE keep exactly its new flow."),
    schema={"$ref": "#/$defs/storm_action"}, needs_flow=True, live=storm, order=230,
    extra={"usage": "`storm: {flow: F, ues: N}`",
           "table": ("N copies of F's UE (own AOR and instance, a flow like F) register at once; their flows are "
                     "dropped and all register again at once from new flows (Reg1b); every REGISTER must be "
                     "answered (a challenge is answered, a 503 retried once after Retry-After, at most 1 s) and "
                     "each UE's fetch must list exactly its new flow (TP_ROB_003; loopback only, N at most 200)")})
