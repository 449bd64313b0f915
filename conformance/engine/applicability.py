"""Whether a case applies to a target, and the result of one that does not."""

from __future__ import annotations

from ..cases.model import CaseSpec
from ..meaning.results import CaseResult
from ..meaning.verdict import Verdict
from ..sip.transports import is_stacked
from ..targets.model import Target
from .esptcp import unavailable_reason


STACKED_ORDER = ("tls", "ws", "wss")


def item_transports(case: CaseSpec, target: Target | None) -> list[str]:
    """The case's items: its own transports, and for a case that runs over TCP also tls, ws and
    wss where the target declares them (a flow over them is a connection as TCP's is); udp/tcp
    items are as they were, so existing expected tables keep their rows."""
    out = list(case.transports)
    declared = list(getattr(target, "transports", None) or [])
    if "tcp" in out:
        out += [t for t in STACKED_ORDER if t in declared and t not in out]
    return out


def not_applicable_reason(case: CaseSpec, transport: str, target: Target) -> str | None:
    """Why a case does not apply to a target (from its declared capabilities), or None."""
    missing = [c for c in case.applies_to if not target.declares(c)]
    if missing:
        return (f"target '{target.name}' does not declare capability "
                f"{', '.join(repr(m) for m in missing)} required by {case.id}")
    policy = [c for c in getattr(case, "applies_unless", ()) if target.declares(c)]
    if policy:
        return (f"target '{target.name}' declares the local policy {', '.join(repr(p) for p in policy)}, "
                f"under which {case.id}'s stimulus is refused by design")
    wanted = getattr(case, "topology", None) or []
    if wanted:
        topo = getattr(target, "topology", None)
        if topo is None:
            return (f"target '{target.name}' declares no network topology; {case.id} needs "
                    f"{', '.join(wanted)} (topology: in the target, docs/topologies.md)")
        lacking = topo.missing(wanted)
        if lacking:
            return f"topology {topo.name} of target '{target.name}' offers no {', '.join(lacking)} (needed by {case.id})"
    topo = getattr(target, "topology", None)
    if topo is not None and target.role == "registrar" and any(s.action == "peer_request" for s in case.steps):
        # The tester's emulated edge proxy (EP-T) shares its flow's address: behind a NAT its Path
        # names a private address the SUT cannot reach with a terminating request (RFC 3327
        # routes by Path, not the flow); registrations through it are fine.
        for ue in case.ues.values():
            for f in ue.flows.values():
                if f.edge is not None and f.address <= len(target.ue_addresses) \
                        and topo.behind_nat(target.ue_addresses[f.address - 1]):
                    return (f"flow {f.name} of {case.id} has an emulated edge proxy, which behind the NAT of "
                            f"topology {topo.name} cannot be reached by the SUT's terminating request (its Path names a private address)")
    if transport not in target.transports:
        return f"target '{target.name}' does not offer transport {transport}"
    if target.role not in case.roles:
        return f"{case.id} is written for role {'/'.join(case.roles)}; target role is {target.role}"
    stacked = stacked_reason(case, transport)
    if stacked:
        return stacked
    return unavailable_reason(case, transport)   # TCP over ESP needs the TUN gateway


def stacked_reason(case: CaseSpec, transport: str) -> str | None:
    """Why a case cannot run with flows over tls / ws / wss: a step kind that acts on raw
    datagrams or TCP segments (its ``transports``), or IMS sec-agree (ESP protects UDP and TCP,
    TS 33.203 §7; TLS is another security mechanism of RFC 3329)."""
    from ..steps import KINDS   # the registry imports the step modules (and they the engine)

    flows = {f.name: (f.transport or transport) for ue in case.ues.values() for f in ue.flows.values()}
    if not any(is_stacked(t) for t in flows.values()):
        return None
    if "sec-agree" in case.applies_to:
        return (f"{case.id} uses IMS sec-agree with ESP over UDP/TCP (TS 33.203 §7); it does not run over "
                f"{transport}")
    for step in case.steps:
        kind = KINDS.get(step.action)
        if kind is None or kind.transports is None:
            continue
        t = flows.get(step.flow or "", transport)
        if is_stacked(t) and t not in kind.transports:
            return (f"step {step.name} ({step.action}) acts on {'/'.join(kind.transports)} flows only"
                    f"{': ' + kind.transport_reason if kind.transport_reason else ''}; flow {step.flow} is {t}")
    return None


def not_applicable_result(case: CaseSpec, transport: str, target: Target, reason: str) -> CaseResult:
    return CaseResult(
        id=f"{case.id}[{transport}]", case_id=case.id, title=case.title, purpose=case.purpose,
        transport=transport, verdict=Verdict.NOT_APPLICABLE, reason=reason,
        requirements=list(case.requirements), references=list(case.references),
        test_purposes=list(case.test_purposes), target=target.name, location=str(case.location or ""))
