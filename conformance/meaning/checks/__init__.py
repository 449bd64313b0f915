"""Checks: what the cited clause requires of a response, as plain functions.

Each check kind has a default normative level and clause; a case may override both.  Checks see
only a :class:`CheckContext` (the request sent and the response received), never the SUT or the
reference implementation, so they judge live runs and recorded pcaps alike.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Callable

from ..verdict import Finding, grade
from .atomic import atomic_check
from .contacts import contacts_check, expires_check, reg_ids_check
from .context import CheckContext, Observation
from .generic import flow_timer_check, header_check
from .forwarded import forwarded_check
from .keepalive import keepalive_check, pong_check, stun_mapped_check, via_keep_check
from .path import path_check
from .secagree import aka_challenge_check, answered_check, dropped_check, forwarded_sec_check, protected_check, \
    sa_unused_check, security_server_check
from .secresponse import sec_response_check, sec_response_ref
from .tags import default_ref_require, option_tag_check
from .terminating import by_flow_check, delivered_check
from .routed import default_ref as routed_ref, routed_check
from .unchanged import unchanged_check
from .nat import nat_mapping_check, via_received_check


@dataclass(frozen=True)
class CheckKind:
    name: str
    fn: Callable[[dict, CheckContext], list[Observation]]
    level: str
    ref: Callable[[dict], "str | None"]  # None: the kind has no usual clause, a case gives ``ref:``


def _const(text: str | None) -> Callable[[dict], str | None]:
    return lambda args: text


def _contacts_ref(args: dict) -> str:
    """``instance: all`` is RFC 3840 §6 ("each Contact header field value MUST include all of the
    feature parameters"); the rest of the list is RFC 3261 §10.3 step 8."""
    refs = []
    if set(args) - {"instance"}:
        refs.append("RFC 3261 §10.3 step 8")
    if "instance" in args:
        refs.append("RFC 3840 §6")
    return "; ".join(refs) or "RFC 3261 §10.3 step 8"


CHECKS: dict[str, CheckKind] = {
    k.name: k
    for k in (
        CheckKind("require", option_tag_check("Require"), "MUST", default_ref_require),
        CheckKind("supported", option_tag_check("Supported"), "MAY", _const("RFC 3261 §20.37")),
        CheckKind("contacts", contacts_check, "MUST", _contacts_ref),
        CheckKind("reg_ids", reg_ids_check, "MAY", _const("RFC 5626 §9.2")),
        CheckKind("path", path_check, "MAY", _const("RFC 3327 §5.3")),
        CheckKind("header", header_check, "MUST", _const(None)),
        CheckKind("flow_timer", flow_timer_check, "MAY", _const("RFC 5626 §10")),
        CheckKind("expires", expires_check, "MUST", _const("RFC 3261 §10.3 step 8")),
        CheckKind("atomic", atomic_check, "MUST", _const("RFC 3261 §10.3 (processed atomically)")),
        CheckKind("delivered", delivered_check, "MUST", _const("RFC 5626 §7")),
        CheckKind("by_flow", by_flow_check, "MUST", _const("RFC 5626 §7 ¶2")),
        CheckKind("pong", pong_check, "MUST", _const("RFC 5626 §5.4 ¶2")),
        CheckKind("stun_mapped", stun_mapped_check, "MUST", _const("RFC 5626 §8 ¶2")),
        CheckKind("keepalive", keepalive_check, "MUST", _const("RFC 5626 §5.4 ¶2; RFC 5626 §8 ¶3")),
        CheckKind("via_keep", via_keep_check, "MUST", _const("RFC 6223 §4.4; RFC 6223 §5")),
        CheckKind("via_received", via_received_check, "MUST", _const("RFC 3581 §4")),
        CheckKind("nat_mapping", nat_mapping_check, "MUST", _const(None)),
        CheckKind("forwarded", forwarded_check, "MUST", _const("RFC 5626 §5.1")),
        CheckKind("aka_challenge", aka_challenge_check, "MUST",
                  _const("RFC 3261 §22.4 item 8; RFC 3310 §3.1-3.3")),
        CheckKind("security_server", security_server_check, "MUST", _const("TS 24.229 5.1.1.5.1")),
        CheckKind("protected", protected_check, "MUST", _const("TS 24.229 5.1.1.2.2 a)")),
        CheckKind("dropped", dropped_check, "MUST", _const(None)),
        CheckKind("answered", answered_check, "MAY", _const("TS 24.229 5.1.1.2.1")),
        CheckKind("sa_unused", sa_unused_check, "MUST",
                  _const("robustness criterion (TP_SEC_006: no SA from the changed values)")),
        CheckKind("forwarded_sec", forwarded_sec_check, "MUST", _const("RFC 3329 §2.3.1")),
        CheckKind("routed", routed_check, "MAY", routed_ref),
        CheckKind("unchanged", unchanged_check, "MUST", _const("RFC 3261 §8.2 ¶2")),
        CheckKind("sec_response", sec_response_check, "MUST", sec_response_ref),
        # the loader turns {in: 4xx | [codes]} into a list of codes
        CheckKind("status", lambda args, ctx: [status_check(list(args["in"]), ctx)], "MUST", _const(None)),
    )
}


def status_check(allowed: list[int], ctx: CheckContext) -> Observation:
    def show(codes: list[int]) -> str:
        if len(codes) > 3 and codes == list(range(codes[0], codes[-1] + 1)):
            return f"{codes[0]}-{codes[-1]}"
        return " or ".join(map(str, codes))

    expected = f"status {show(allowed)}"
    if ctx.response is None:
        return Observation("final response status", None, expected, ctx.no_response_reason)
    r = ctx.response
    return Observation("final response status", r.status in allowed, expected, f"{r.status} {r.reason}")


def run_check(kind: str, args, ctx: CheckContext, *, level: str | None = None, ref: str | None = None,
              strict: bool = False, step: str = "", location: str = "",
              message_index: int | None = None) -> list[Finding]:
    """Run one check kind and grade each observation into a :class:`Finding`."""
    spec = CHECKS[kind]
    args = args if isinstance(args, dict) else {}
    lvl = level or spec.level
    clause = ref or spec.ref(args) or ""
    return [
        Finding(check=o.label, level=lvl, ref=clause, outcome=grade(o.ok, lvl, strict),
                expected=o.expected, observed=o.observed, step=step, location=location,
                message_index=message_index)
        for o in spec.fn(args, ctx)
    ]


__all__ = ["CHECKS", "CheckContext", "CheckKind", "Observation", "run_check", "status_check"]
