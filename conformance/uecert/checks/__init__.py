"""UE checks (sans-IO): each judges an :class:`~conformance.uecert.observation.Observation`.

A check module registers its checks with :func:`ue_check`::

    @ue_check("instance_stable", level="MUST", ref="RFC 5626 §4.1 (...)", clause="...")
    def instance_stable(obs, args, ctx) -> list[Verdict_]:
        ...

A check function returns a list of :class:`UeOutcome` (one per thing judged: per REGISTER, per
flow, per interval): ``ok`` True / False / None (no evidence: inconclusive), what was expected
and observed, and the packet number it is about.  :func:`run_ue_check` grades each with the
check's level (``conformance.meaning.verdict.grade``: MUST fails, SHOULD warns, MAY records) and
the clause's quoted sentence, into :class:`~conformance.meaning.verdict.Finding` s.

The ``ref`` of every check names a clause of ``conformance/catalogue/clauses/ue.yaml`` (the
sentence quoted verbatim, its keyword deciding the level: a check cannot be stronger than its
sentence).  A check that depends on a UE capability lists it in ``needs`` (not applicable when
the UE does not declare it, RFC 5626 duties bind a UE that claims outbound).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any, Callable

from ...meaning.verdict import Finding, grade


@dataclass
class UeOutcome:
    ok: bool | None
    expected: str
    observed: str
    index: int | None = None  # packet number the outcome is about
    what: str = ""  # e.g. "REGISTER #3 (flow 127.0.0.11:5060/udp)"


@dataclass
class UeCheckContext:
    strict: bool = False
    capabilities: tuple[str, ...] = ()  # what the UE declares
    location: str = ""  # YAML file:line of the check


@dataclass(frozen=True)
class UeCheck:
    name: str
    level: str  # MUST | SHOULD | MAY
    ref: str  # a clause ref of catalogue/clauses/ue.yaml
    summary: str  # one line: what is checked
    fn: Callable[..., list[UeOutcome]]
    needs: tuple[str, ...] = ()  # UE capabilities without which the check is not applicable
    offline: bool = True  # judgeable from a capture (conformance analyze) as well as live


UE_CHECKS: dict[str, UeCheck] = {}


def ue_check(name: str, *, level: str, ref: str, summary: str, needs: tuple[str, ...] = (),
             offline: bool = True):
    def deco(fn):
        if name in UE_CHECKS:
            raise ValueError(f"UE check {name!r} registered twice")
        UE_CHECKS[name] = UeCheck(name, level, ref, summary, fn, tuple(needs), offline)
        return fn
    return deco


def run_ue_check(kind: str, args: dict[str, Any] | None, obs, ctx: UeCheckContext, *,
                 level: str | None = None, ref: str | None = None, quote: str = "") -> list[Finding]:
    """Findings of one check over ``obs`` (a check with no outcome at all is inconclusive)."""
    check = UE_CHECKS[kind]
    lvl, where = level or check.level, ref or check.ref
    if not quote:
        from ...catalogue.clauses import quote_of

        quote = quote_of(where)  # the sentence(s) of clauses/ue.yaml the check enforces
    outcomes = check.fn(obs, dict(args or {}), ctx)
    if not outcomes:
        outcomes = [UeOutcome(None, check.summary, "nothing in the observation to judge")]
    findings = []
    for o in outcomes:
        outcome = grade(o.ok, lvl, ctx.strict)
        findings.append(Finding(check=f"{check.summary}" + (f" ({o.what})" if o.what else ""), level=lvl,
                                ref=where, outcome=outcome, expected=o.expected, observed=o.observed,
                                message_index=o.index, location=ctx.location,
                                quote=quote if outcome not in ("pass",) else ""))
    return findings


def load_all() -> dict[str, UeCheck]:
    """Import every check module (each registers its checks) and return the registry."""
    import importlib
    import pkgutil

    for mod in pkgutil.iter_modules(__path__):
        importlib.import_module(f"{__name__}.{mod.name}")
    return UE_CHECKS
