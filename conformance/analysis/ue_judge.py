"""The UE checks run on each UE of a capture (``conformance analyze``), as plain data.

Every check of ``conformance.uecert.checks`` judgeable from a capture (``offline``) runs on each
UE's observation (ue_observe.py) with default arguments; a check with nothing to judge is
inconclusive (``run_ue_check``), never a pass.  A check that needs a capability the UE does not
show is not applicable: offline, a UE shows ``outbound`` when a REGISTER of it carries a reg-id,
a ``+sip.instance`` or ``Supported: outbound``, ``sec-agree`` with ``Security-Client``, ``gruu``
with ``Supported: gruu``; every other capability a check needs (keep-alive kinds, ...) is taken as
declared by a UE that shows outbound, so that a UE claiming outbound is held to all of it.  With
a UE target profile (``analyze --target``, ``role: ue``), its declared capabilities are used instead.
A check that raises is reported inconclusive with the error (a capture never stops the analysis).
"""

from __future__ import annotations

from ..catalogue.clauses import ClauseError, load_clauses, quote_of
from ..meaning.verdict import INCONCLUSIVE, Finding, combine
from ..sip.errors import ParseError
from ..uecert.checks import UeCheckContext, load_all, run_ue_check
from ..uecert.observation import Observation
from .reading import contacts_of, hvalues, instance_of
from .ue_flows import flow_timeline
from .ue_observe import UeObservation, UeObserver, observations

SHOWN = ("outbound", "sec-agree", "gruu")  # capabilities read from the UE's traffic


def shown_capabilities(obs: Observation) -> list[str]:
    caps: set[str] = set()
    for e in obs.requests("REGISTER"):
        req = e.msg
        tags = {t.strip().lower() for t in hvalues(req, "supported")}
        if "outbound" in tags:
            caps.add("outbound")
        if "gruu" in tags:
            caps.add("gruu")
        if "security-client" in req.header_index():
            caps.add("sec-agree")
        try:
            if any(c.reg_id is not None or instance_of(c) for c in contacts_of(req) if not c.star):
                caps.add("outbound")
        except ParseError:
            pass
    return sorted(caps)


def judge_ue(u: UeObservation, *, strict: bool = False, capabilities: list[str] | None = None,
             clauses: dict | None = None) -> dict:
    """``capabilities``: what the UE's target profile declares (None: read from its traffic).
    ``clauses``: the catalogue's clauses (``load_clauses()``, read once for every UE)."""
    checks = load_all()
    caps = shown_capabilities(u.obs)
    if capabilities is not None:
        declared = set(capabilities)
    else:
        declared = set(caps)
        if "outbound" in declared:
            declared |= {n for c in checks.values() for n in c.needs if n not in SHOWN}
    ctx = UeCheckContext(strict=strict, capabilities=tuple(sorted(declared)), location="capture")
    results, findings = [], []
    for name in sorted(checks):
        check = checks[name]
        if not check.offline:
            continue
        missing = [n for n in check.needs if n not in declared]
        if missing:
            results.append({"check": name, "level": check.level, "ref": check.ref, "verdict": "not applicable",
                            "why": f"the UE's traffic shows no {', '.join(missing)}", "counts": {}})
            continue
        try:
            found = run_ue_check(name, {}, u.obs, ctx, quote=quote_of(check.ref, clauses))
        except Exception as exc:  # a check meeting a capture it was not written for
            found = [Finding(check=check.summary, level=check.level, ref=check.ref, outcome=INCONCLUSIVE,
                             expected=check.summary, observed=f"the check could not judge this capture: "
                                                              f"{type(exc).__name__}: {exc}")]
        counts: dict[str, int] = {}
        for f in found:
            f.step = name
            counts[f.outcome] = counts.get(f.outcome, 0) + 1
        results.append({"check": name, "level": check.level, "ref": check.ref,
                        "verdict": str(combine(found).verdict), "counts": counts})
        findings += found
    verdict = str(combine(findings).verdict) if findings else "not applicable"
    return {"aor": u.aor, "instance": u.instance, "contact": u.contact, "capabilities": caps,
            "verdict": verdict, "truncated": u.truncated, "flows": flow_timeline(u.obs, u.instance),
            "checks": results, "findings": [f.to_dict() for f in findings]}


def judge_the_ues(a, observer: UeObserver, strict: bool, capabilities: list[str] | None = None) -> None:
    """Fill ``a.ues`` / ``a.ue_note`` of an Analysis (result.py) from what the observer kept."""
    ues, a.ue_note = observations(observer, a.reassembler.conn_log)
    try:
        clauses = load_clauses()  # merged once, not for every check of every UE
    except (ClauseError, OSError):
        clauses = {}  # quote_of: no quotes
    a.ues = [judge_ue(u, strict=strict, capabilities=capabilities, clauses=clauses) for u in ues]


def ue_summary(ue: dict) -> dict[str, int]:
    """Checks by verdict (pass / fail / inconclusive / not applicable) and findings by outcome."""
    out: dict[str, int] = {}
    for c in ue["checks"]:
        out[c["verdict"]] = out.get(c["verdict"], 0) + 1
    return out

