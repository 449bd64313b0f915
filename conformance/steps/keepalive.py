"""``keepalive: FLOW``: the flow's own keep-alive, a CRLF ping on TCP and a STUN Binding Request on
UDP (RFC 5626 §4.4.1, §4.4.2), once or in a loop."""

from __future__ import annotations

from ..cases.model import StepSpec
from ..engine.api import RunApi
from ..meaning.results import StepResult
from ..sip.transports import is_stream
from .kind import StepKind
from .ping import ping
from .stun import stun


def keepalive(run: RunApi, step: StepSpec, result: StepResult) -> None:
    """The flow's keep-alive: a CRLF ping on TCP, STUN on UDP (RFC 5626 §4.4.1)."""
    _, flow = run.flow(step.flow)
    (ping if is_stream(flow.transport) else stun)(run, step, result)


KIND = StepKind(
    name="keepalive",
    summary=("The flow's keep-alive: a CRLF ping on TCP, a STUN Binding Request on UDP (RFC 5626 section 4.4.1), "
             "or a loop of them."),
    schema={"$ref": "#/$defs/keepalive_action"}, needs_flow=True, live=keepalive, order=110,
    extra={"keepalive_loop": True, "usage": "`keepalive: FLOW`", "table": "the flow's keep-alive: `ping` on TCP, `stun` on UDP"})
