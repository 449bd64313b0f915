"""Two flows of one UE on one local socket (flow option ``socket: OTHER``).

RFC 5626 section 9.2 shows one UA registering two reg-ids with the same Contact URI
(``<sip:bob@192.0.2.2;transport=tcp>``), over two edge proxies: "the Contact URI is not used
for binding comparisons" (section 6 paragraph 8), so the registrar must keep two bindings.  A flow
with ``socket: f1`` sends from f1's endpoint (its address and port; over TCP its connection),
so its Contact URI is f1's; each flow keeps its own reg-id, Call-ID and emulated edge (its own
Path token).  What arrives on the socket is recorded under the owner flow.
"""

from __future__ import annotations

from ..sip.errors import LocalProtocolError


def shared_endpoint(run, flow, new_connection: bool = False):
    """The owner flow's endpoint (opened if needed); ``flow`` takes its local port."""
    owner_name = flow.spec.socket
    try:
        ue_owner, owner = run.flow(owner_name)
    except LocalProtocolError:
        raise LocalProtocolError(f"flow {flow.name}: socket: {owner_name} is not a flow of this case") from None
    if owner is flow or getattr(owner.spec, "socket", None):
        raise LocalProtocolError(f"flow {flow.name}: socket: {owner_name} must name a flow with its own socket")
    if owner.local_ip != flow.local_ip or owner.transport != flow.transport:
        raise LocalProtocolError(f"flow {flow.name}: socket: {owner_name} has another address or transport")
    ep = run.endpoint(owner, new_connection=new_connection)
    flow.local_port = owner.local_port
    flow.port_uc = flow.port_us = owner.local_port
    return ep


__all__ = ["shared_endpoint"]
