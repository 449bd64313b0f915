"""``close: FLOW``: the flow disappears as after lost coverage: its TCP connection is closed, its
UDP socket closed (later datagrams to it draw ICMP port unreachable).  ``{last_delivered: true}``
closes the flow that received the latest terminating request.

Over tls/ws/wss ``how:`` says how the connection ends (RFC 5626 §7: either way no more messages
will be delivered on the flow): ``graceful`` (default) a WebSocket Close, the TLS close_notify,
then FIN; ``abort`` none of them, the TCP connection just ends (engine/streamflow.py)."""

from __future__ import annotations

from ..cases.model import StepSpec
from ..engine.api import RunApi, StepNotPossible
from ..engine.nat_contact import owner_flow
from ..engine.peer import PEER_FLOW
from ..meaning.results import StepResult
from ..sip.errors import LocalProtocolError
from .kind import StepKind


def close(run: RunApi, step: StepSpec, result: StepResult) -> None:
    name = step.flow
    if step.options.get("last_delivered"):
        flows = [f for f, _, _ in run.deliveries if f != PEER_FLOW]
        if not flows:
            raise StepNotPossible("close: last_delivered, but no flow has received a request yet "
                                  "(an earlier delivery check says why)")
        name = owner_flow(flows[-1])   # a request routed to f1's Contact: f1 is the flow meant
    _, flow = run.flow(name)
    how = step.options.get("how", "graceful")
    ep = run.endpoints.get(flow.name)
    if how == "abort" and ep is not None and not hasattr(ep, "abort"):
        raise LocalProtocolError(f"close how: abort needs a tls, ws or wss flow; {flow.name} is {flow.transport}")
    run.endpoints.pop(flow.name, None)
    if ep is not None:
        ep.abort() if how == "abort" else ep.close()
    run.closed_flows.add(flow.name)
    result.flow = flow.name
    what = {"graceful": "closed", "abort": "dropped without close_notify / WebSocket Close"}[how]
    result.note = f"flow {flow.name} {what} ({flow.transport} {flow.local_ip}:{flow.local_port})"


def offline(replay, step: StepSpec, result: StepResult) -> None:
    name = step.flow
    if step.options.get("last_delivered"):
        if not replay.st.deliveries:
            raise LookupError("close: last_delivered, but no flow has received a request yet")
        name = replay.st.deliveries[-1].split("@contact", 1)[0]
    replay.st.closed.add(name)
    result.flow = name
    result.note = f"flow {name} closed"


KIND = StepKind(
    name="close",
    summary=("The flow disappears: its TCP connection is closed, its UDP socket stops answering (lost coverage). "
             "A flow name, or {last_delivered: true} for the flow that received the latest terminating request."),
    schema={"anyOf": [{"$ref": "#/$defs/flow_name"},
                      {"type": "object", "additionalProperties": False,
                       "properties": {"flow": {"description": "The flow to close.", "$ref": "#/$defs/flow_name"},
                                      "last_delivered": {"description": "Close the flow that received the latest terminating request.",
                                                         "const": True},
                                      "how": {"description": ("tls/ws/wss: graceful (default: WebSocket Close, TLS "
                                                              "close_notify, FIN) or abort (the TCP connection ends "
                                                              "with neither)."),
                                              "enum": ["graceful", "abort"]}}}],
            "x-expected": "a flow name, or {flow: NAME, how: graceful|abort} or {last_delivered: true}"},
    needs_flow=True, live=close, offline=offline, order=130,
    extra={"usage": "`close: FLOW`",
           "table": ("the flow disappears: its TCP connection is closed, its UDP socket stops answering (lost "
                     "coverage); `{last_delivered: true}`: the flow that received the latest terminating request; "
                     "`how: abort` (tls/ws/wss): without WebSocket Close or TLS close_notify")})
