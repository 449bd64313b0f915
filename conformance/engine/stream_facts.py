"""What the flows' TLS/WebSocket connections showed, for the checks (``CheckContext.stream``,
meaning/checks/transport.py): per tls/ws/wss flow its transport, the answers to its WebSocket
upgrade, the WebSocket messages the SUT sent it during the current step, how it ended.

Reads the run's endpoints (engine/streamflow.py's StreamEndpoint: its ``stack`` and
``close_reason``; ``upgrade_answers`` where the endpoint keeps them, e.g. a 401 before the 101)
and the message list; no I/O."""

from __future__ import annotations

STREAMS = ("tls", "ws", "wss")
WEBSOCKETS = ("ws", "wss")


def upgrade_answers(ep) -> list[dict]:
    """The answers to the flow's WebSocket upgrade, in order ([] when none was seen)."""
    kept = getattr(ep, "upgrade_answers", None)
    if kept:
        return [dict(a) for a in kept]
    ws = getattr(getattr(ep, "stack", None), "ws", None)
    if ws is not None and getattr(ws, "ready", False):
        return [{"status": 101, "subprotocol": getattr(ws, "subprotocol", None)}]
    return []


def stream_facts(run) -> dict:
    out: dict[str, dict] = {}
    step = getattr(run, "current_step", None)
    for ue in run.ues.values():
        for flow in ue.flows.values():
            if flow.transport not in STREAMS:
                continue
            ep = run.endpoints.get(flow.name)
            facts = {"transport": flow.transport,
                     "closed": getattr(ep, "close_reason", None) if ep is not None else
                     ("closed by the case" if flow.name in run.closed_flows else None)}
            if flow.transport in WEBSOCKETS:
                facts["upgrade"] = upgrade_answers(ep) if ep is not None else []
                facts["ws_messages"] = [m.text.encode("utf-8") for m in run.messages
                                        if m.step == step and m.direction == "received" and m.flow == flow.name
                                        and m.transport in WEBSOCKETS and m.text]
            out[flow.name] = facts
    return out
