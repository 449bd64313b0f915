"""What a check looks at: one exchange (request sent, final response) and the UE's view.

Built the same way from a live run and from recorded messages (a pcap), so every check works
offline too.
"""

from __future__ import annotations

from dataclasses import dataclass, field

from ...sip.message import Request, Response


@dataclass
class Observation:
    """One thing a check looked at: did it conform (True/False), or was evidence missing (None)."""

    label: str
    ok: bool | None
    expected: str
    observed: str


@dataclass
class CheckContext:
    request: Request | None
    response: Response | None
    instance: str | None = None  # the UE's +sip.instance value, e.g. "<urn:uuid:...>"
    flow_contacts: dict[str, str] = field(default_factory=dict)  # flow -> Contact URI it registers
    flow_reg_ids: dict[str, int | None] = field(default_factory=dict)
    # Why there is no response, when there is none (timeout, connection reset, ...).
    no_response_reason: str = "no final response"
    # Terminating requests the UE flows received in this step: flow -> requests.
    deliveries: dict[str, list[Request]] = field(default_factory=dict)
    # The message a delivery check is about (the first delivered request, or the PEER's request
    # when none arrived), for reports to mark; None: the step's response.
    delivery_index: int | None = None
    flow_tokens: dict[str, str] = field(default_factory=dict)  # flow -> emulated edge's token
    closed_flows: set[str] = field(default_factory=set)  # flows the case closed
    # What the SUT forwarded to the tester's emulated registrar in this step (edge-only SUTs):
    # (request as received, the 2xx/4xx the emulated registrar answered).
    forwarded: list = field(default_factory=list)
    earlier_paths: list[str] = field(default_factory=list)  # top Path URIs of earlier 2xx, other flows
    flow_addresses: dict[str, tuple[str, int]] = field(default_factory=dict)  # flow -> local address
    flow_address_source: str = ""  # where the STUN step's expected flow address comes from
    # Keep-alives of this step: seconds from ping to pong (None: no pong), and the bound waited.
    pong_delay: float | None = None
    keepalive_bound: float = 0.0
    # STUN: the XOR-MAPPED-ADDRESS of the Binding response (None: no valid response), and why not.
    stun_mapped: tuple[str, int] | None = None
    stun_note: str = ""
    # A keep-alive step (one keep-alive or a loop): how many were sent and answered, why not all;
    # for a ping loop, which pings went unanswered.
    keepalive_sent: int = 0
    keepalive_answered: int = 0
    keepalive_note: str = ""
    pong_note: str = ""
    # IMS AKA / sec-agree (engine/secreg.sec_context): the UE's AKA verdict on the last
    # challenge, what it offered, its protected ports; "response": the ESP SA the final response
    # came over (None: in clear); "deliveries": flow -> the SA of each terminating request.
    sec: dict = field(default_factory=dict)
    # Network topologies (conformance/topology/): flow -> the distinct NAT mappings seen so far,
    # in order; the address the step's request came from as the SUT saw it (the NAT's mapping).
    mappings: dict[str, list[tuple[str, int]]] = field(default_factory=dict)
    request_source: tuple[str, int] | None = None
    # Requests from UE flows and dialogs (engine/dialogs.py): what was sent, by whom, what
    # reached REG-T, the request the callee got, the route set used; read by checks/routed.py.
    dialog: dict = field(default_factory=dict)
    # The UE's earlier REGISTER exchanges, in order: (final status or None, its Contact values)
    # (checks/unchanged.py: a rejected REGISTER changes no binding).
    register_history: list = field(default_factory=list)
    # flow -> the (host, port) its Contact advertises instead of its socket (engine/nat_contact.py);
    # deliveries there are named "<flow>@contact".
    contact_elsewhere: dict[str, tuple] = field(default_factory=dict)
    path_transform: bool = False  # the target declares path-transform (RFC 3327 §5.4 MAY)
    # flow -> (action, status, removal) of its earlier REGISTERs (checks/atomic.py)
    register_answers: dict[str, list] = field(default_factory=dict)
    # The GRUUs earlier 2xx to REGISTER gave their flows, in order (checks/gruu.py GruuSeen).
    gruu_history: list = field(default_factory=list)
    # A reg-event subscription (steps/subscribe.py, checks/reginfo.py): its name, event, AOR,
    # this step's NOTIFYs, all of them, the registration view after them, how long the step listened.
    reg_event: dict = field(default_factory=dict)
    # Flows over TLS/WebSocket connections (engine/stream_facts.py, checks/transport.py): flow ->
    # its transport, the answers to its WebSocket upgrade, the WebSocket messages of the step, how
    # the connection ended.
    stream: dict = field(default_factory=dict)
