"""An error changes no binding: the ``atomic`` check (RFC 3261 §10.3, "processed atomically").

A REGISTER answered with an error (420, 423, 403, 4xx of a local policy...) must leave the
bindings as they were: "a particular REGISTER request is either processed completely or not at
all".  A fetch afterwards shows it.  The check needs the history of the flow's REGISTERs, kept
per flow as ``(action, status, removal)`` entries (``note_answer``): the flow's binding is
expected exactly when the latest REGISTER of the flow that got a 2xx added or refreshed it
(a removal or no 2xx at all: not expected).  Errors in between change nothing.
"""

from __future__ import annotations

from ...sip.errors import ParseError
from .contacts import contact_list, same_uri, show_contacts
from .context import CheckContext, Observation
from .kind import CheckKind

#: Actions whose answer the history keeps (a fetch changes nothing, deregister_all every flow).
_ACTIONS = ("register", "refresh", "deregister", "deregister_all")


def note_answer(history: dict, step, flow_name: str, ue_flows, response, request=None) -> None:
    """Record the final answer of a REGISTER step in ``history`` (flow -> list of entries).  A
    ``send`` step counts when it sent a REGISTER with a Contact (a removal with expires 0)."""
    action = step.action
    if action == "send" and request is not None and getattr(request, "method", "") == "REGISTER":
        contacts = request.values("Contact")
        if not contacts or contacts[0].strip().startswith("*"):
            return
        zero = "".join(contacts).replace(" ", "").lower()
        removal = "expires=0;" in zero + ";" or (request.get("Expires") or "").strip() == "0"
        status = response.status if response is not None else None
        history.setdefault(flow_name, []).append(("register", status, removal))
        return
    if action not in _ACTIONS or flow_name is None:
        return
    status = response.status if response is not None else None
    removal = step.action == "deregister" or step.options.get("expires") == 0
    names = list(ue_flows) if step.action == "deregister_all" else [flow_name]
    for name in names:
        history.setdefault(name, []).append((step.action, status, removal or step.action == "deregister_all"))


def expected_listed(entries) -> tuple[bool, str]:
    """(listed?, why) from a flow's history: the latest 2xx decides; errors change nothing."""
    for action, status, removal in reversed(entries or []):
        if status is not None and 200 <= status < 300:
            return (not removal, f"its latest accepted REGISTER ({action}, {status}) "
                                 + ("removed it" if removal else "added it"))
    answers = ", ".join(str(s) if s is not None else "no answer" for _, s, _ in entries or []) or "none"
    return False, f"no REGISTER of the flow was accepted (answers: {answers})"


def atomic_check(args: dict, ctx: CheckContext) -> list[Observation]:
    flow = args["flow"]
    uri = ctx.flow_contacts.get(flow)
    label = f"binding of flow {flow} as the answers left it"
    want, why = expected_listed(ctx.register_answers.get(flow))
    expected = (f"a Contact for <{uri}>" if want else f"no Contact for <{uri}>") + f" ({why})"
    if ctx.response is None:
        return [Observation(label, None, expected, ctx.no_response_reason)]
    if uri is None:
        return [Observation(label, None, expected, f"flow {flow} never sent a REGISTER")]
    try:
        contacts = contact_list(ctx)
    except ParseError as exc:
        return [Observation(label, False, expected, f"unparseable Contact: {exc}")]
    listed = any(c.uri is not None and not c.star and same_uri(uri, c.uri) for c in contacts)
    return [Observation(label, listed == want, expected, show_contacts(contacts, ctx.instance))]


KIND = CheckKind(
    name="atomic",
    summary=(
        "The flow's binding is listed exactly when the flow's latest REGISTER that got a 2xx added it: an "
        "error changes no binding (RFC 3261 section 10.3)."
    ),
    handler=atomic_check,
    level="MUST",
    ref="RFC 3261 §10.3 (processed atomically)",
    order=110,
    flow_args=("flow",),
    args_doc=(
        "`{flow: FLOW}`: FLOW's Contact is listed exactly when the flow's latest REGISTER that got a 2xx "
        "(register/refresh, not a removal) added it: a REGISTER answered with an error changes no binding "
        "(use it on a fetch after the error)"
    ),
    clause_doc="RFC 3261 §10.3 (processed atomically)",
    schema={
        "type": "object",
        "additionalProperties": False,
        "required": ["flow"],
        "properties": {
            "flow": {"description": "The flow whose binding to look for.", "$ref": "#/$defs/flow_name"},
        },
    },
)


__all__ = ["atomic_check", "expected_listed", "note_answer"]
