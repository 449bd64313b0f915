"""A rejected REGISTER changes no binding (RFC 3261 §8.2: "If it is rejected, all state changes
MUST NOT be performed"; §10.3: REGISTER is "processed completely or not at all").

The check runs on a later 2xx (usually a fetch, a REGISTER without Contact, RFC 3261 §10.2.3)
and compares its Contact list with the list of the last 2xx the UE got *before* the rejected
request.  It looks only at the UE's REGISTER exchange just before this one: when that one was
not answered with an error (it was accepted, or got no answer), there is nothing to compare and
the check says nothing (the stimulus's own status expectation judges that).

The history is a list of ``(status or None, [Contact values])`` in the order of the exchanges,
filled by whoever builds the :class:`CheckContext` (:func:`remember`): live runs and the
offline re-judge alike.  Bindings are compared by Contact URI (RFC 3261 §19.1.4), +sip.instance
and reg-id; ``expires`` is ignored (it counts down).  With no 2xx before the rejected request the
UE had no binding (a case's AOR is its own, unique per run).
"""

from __future__ import annotations

from ...sip.errors import ParseError
from ...sip.headers import parse_contacts, uri_equal
from .context import CheckContext, Observation
from .kind import NO_ARGS, CheckKind

LABEL = "bindings unchanged by the rejected REGISTER"


def remember(history: list, response) -> None:
    """Append one REGISTER exchange's outcome (``response`` None: no final response)."""
    if response is None:
        history.append((None, []))
        return
    history.append((response.status, list(response.values("Contact"))))


def _bindings(values: list[str]):
    return [c for c in parse_contacts(values) if not c.star and c.uri is not None]


def _same(a, b) -> bool:
    return (uri_equal(a.uri, b.uri) and (a.instance or "").lower() == (b.instance or "").lower()
            and (a.reg_id or "") == (b.reg_id or ""))


def _diff(before, now) -> tuple[list, list]:
    """(gone, new): bindings of ``before`` missing from ``now`` and the reverse, as multisets."""
    left = list(now)
    gone = []
    for b in before:
        hit = next((i for i, n in enumerate(left) if _same(b, n)), None)
        if hit is None:
            gone.append(b)
        else:
            left.pop(hit)
    return gone, left


def _show(contacts) -> str:
    if not contacts:
        return "no binding"
    return " , ".join(str(c.uri) + (f";reg-id={c.reg_id}" if c.reg_id else "") for c in contacts)


def unchanged_check(args: dict, ctx: CheckContext) -> list[Observation]:
    history = ctx.register_history
    if not history:
        return []
    status, _ = history[-1]
    if status is None or status < 300:
        return []                          # the previous REGISTER was not rejected
    # No 2xx before: no binding (every case's AOR is its own, unique per run).
    before = next((values for st, values in reversed(history[:-1]) if st is not None and 200 <= st < 300), [])
    expected = "the bindings listed before the rejected REGISTER"
    if ctx.response is None:
        return [Observation(LABEL, None, expected, ctx.no_response_reason)]
    if not 200 <= ctx.response.status < 300:
        return [Observation(LABEL, None, expected, f"{ctx.response.status} {ctx.response.reason}: no binding list")]
    try:
        old, now = _bindings(before), _bindings(ctx.response.values("Contact"))
    except ParseError as exc:
        return [Observation(LABEL, None, expected, f"unparseable Contact: {exc}")]
    gone, new = _diff(old, now)
    if not gone and not new:
        return [Observation(LABEL, True, f"{expected} ({status} rejected it)", _show(now))]
    parts = []
    if gone:
        parts.append(f"removed: {_show(gone)}")
    if new:
        parts.append(f"added: {_show(new)}")
    return [Observation(LABEL, False, f"{expected} ({status} rejected it): {_show(old)}",
                        f"{'; '.join(parts)} (now {_show(now)})")]


KIND = CheckKind(
    name="unchanged",
    summary=(
        "After the UE's previous REGISTER was answered with an error (3xx-6xx), this 2xx lists the same "
        "bindings (Contact URI, +sip.instance, reg-id) as the last 2xx before it (RFC 3261 section 8.2: a "
        "rejected request changes no state). Says nothing when that REGISTER was not rejected."
    ),
    handler=unchanged_check,
    level="MUST",
    ref="RFC 3261 §8.2 ¶2",
    order=130,
    args_doc=(
        "`{}`: after the UE's previous REGISTER was answered with an error (3xx-6xx), this 2xx (e.g. a "
        "`fetch`) lists the bindings (Contact URI, +sip.instance, reg-id) of the last 2xx before it, none if "
        "there was none; nothing to judge when that REGISTER was not rejected"
    ),
    clause_doc="RFC 3261 §8.2 ¶2",
    schema=NO_ARGS,
)


__all__ = ["remember", "unchanged_check"]
