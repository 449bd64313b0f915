"""``packet:``: a SIP request crafted with Scapy as layers with their fields, for what an ordinary
socket cannot send -- the request in IP fragments (RFC 3261 §18.1.1, TP_REG_037), from a source
address and port that are another flow's (TP_EDGE_010/011, inside the suite's namespaces only),
or inside ESP with a chosen SPI and sequence number.

The packets (:mod:`conformance.engine.packet_build`) go out through Scapy's L3 raw socket, made inside the network
namespace of the sending flow's address when the target has a topology.  The request is then
answered and judged like any other: the exchange runs through a :class:`CraftedEndpoint` that
puts the crafted packets on the wire (again, for a UDP retransmission) and writes each into the
case pcap; the answer comes back on the ordinary endpoint of the flow whose address and port the
packet claims (its Via has ``rport``, RFC 3581).  A raw socket needs root (CAP_NET_RAW): without
it the step is inconclusive with that reason -- the case applies to the target, only the tester
cannot craft the stimulus.
"""

from __future__ import annotations

import ipaddress
import uuid
from dataclasses import dataclass, replace
from typing import TYPE_CHECKING

from ..engine.dialogs import collect_routed, judge_routed
from ..engine.registration import RegistrationState
from ..engine.transport import TransportError
from ..meaning.verdict import INCONCLUSIVE, Finding
from ..sip.errors import LocalProtocolError, ParseError
from ..sip.headers import parse_name_addr
from ..sip.message import Request, parse_message
from ..topology.model import ALLOWED_NETS
from ..ue.model import RegDialog, RegisterOptions, build_register, new_branch
from .kind import StepKind
if TYPE_CHECKING:
    from ..engine.packet_build import Datagram

__all__ = ["KIND", "Addressing", "CraftedEndpoint", "addressing", "template_fields"]


def crafting():
    """Scapy and the packet builder, loaded by the first packet: step that runs.  The registry
    imports every step module at start-up, and a run without packet: steps must not pay for
    Scapy's import (about half a second, in every ``conformance run``)."""
    from ..engine import packet_build

    return packet_build

_FLOW_OR_NAME = {"type": "string", "minLength": 1}

SCHEMA = {
    "type": "object",
    "x-expected": "a mapping with 'flow:' and 'sip:', optionally ip, udp, esp, timeout",
    "additionalProperties": False,
    "required": ["flow", "sip"],
    "properties": {
        "flow": {"description": "The flow that writes the request (its UE, Via, Call-ID).",
                 "$ref": "#/$defs/flow_name"},
        "ip": {
            "description": "The IP layer.",
            "type": "object", "additionalProperties": False,
            "properties": {
                "src": {"description": "The source address: flow (the step's flow, the default), another flow's "
                                       "name (its address: a spoofed source), or an address literal; anything "
                                       "but the flow's own address needs a target with a topology.",
                        **_FLOW_OR_NAME},
                "fragment": {"description": "Send the datagram in IP fragments of at most this many octets "
                                            "each (IP header included); absent: one packet.",
                             "type": "integer", "minimum": 56, "maximum": 65535},
                "ttl": {"description": "IPv4 TTL / IPv6 hop limit.", "type": "integer", "minimum": 1, "maximum": 255},
                "id": {"description": "The IP identification (IPv6: the fragment header's); default random.",
                       "type": "integer", "minimum": 0, "maximum": 4294967295},
            },
        },
        "udp": {
            "description": "The UDP layer.",
            "type": "object", "additionalProperties": False,
            "properties": {
                "sport": {"description": "The source port: flow (the port of ip.src's flow, the default), a flow "
                                         "name, or a number.",
                          "anyOf": [_FLOW_OR_NAME, {"type": "integer", "minimum": 1, "maximum": 65535}]},
                "dport": {"description": "The destination port: sut (the default) or a number; the destination "
                                         "address is always the SUT's.",
                          "anyOf": [{"const": "sut"}, {"type": "integer", "minimum": 1, "maximum": 65535}]},
            },
        },
        "esp": {
            "description": "Wrap the UDP datagram in ESP (transport mode) with this SPI and sequence number, "
                           "NULL-protected (no SA of the flow is used).",
            "type": "object", "additionalProperties": False, "required": ["spi", "seq"],
            "properties": {
                "spi": {"description": "The SPI.", "type": "integer", "minimum": 0, "maximum": 4294967295},
                "seq": {"description": "The sequence number.", "type": "integer", "minimum": 0, "maximum": 4294967295},
            },
        },
        "sip": {
            "description": "The SIP message.",
            "type": "object", "additionalProperties": False, "required": ["template"],
            "properties": {
                "template": {"description": "register (the flow's REGISTER, as register: builds it) or the message "
                                            "text with {placeholders}: call_id (the flow's registration), new_call_id, cseq, branch, tag, user, aor, "
                                            "domain, via, contact, instance, sut, aor_UE, contact_FLOW, path_FLOW.",
                             "type": "string", "minLength": 1},
                "pad": {"description": "Pad the message to this many octets with an X-Pad header.",
                        "type": "integer", "minimum": 1, "maximum": 1048576},
            },
        },
        "timeout": {"description": "Seconds to wait for the final response (default from the target).",
                    "type": "number", "exclusiveMinimum": 0},
    },
}


# -- where the packet comes from and where its answer arrives ---------------------------------
@dataclass(frozen=True)
class Addressing:
    src: str
    sport: int
    dst: str
    dport: int
    #: the flow whose address and port the packet claims (its endpoint gets the answer), or None
    answer_flow: str | None
    #: the source is not the step's own flow's address and port
    spoofed: bool


def addressing(options: dict, flow: str, flows: dict[str, tuple[str, int]], sut: tuple[str, int]) -> Addressing:
    """Resolve ``ip.src``, ``udp.sport`` and ``udp.dport`` (flow names, ``flow``, ``sut``,
    literals) against the flows' local addresses; ``flows`` holds every flow with a bound
    socket.  Raises :class:`LocalProtocolError` for a name that is no such flow."""
    ip, udp = options.get("ip") or {}, options.get("udp") or {}

    def flow_addr(name: str) -> tuple[str, int]:
        if name not in flows:
            raise LocalProtocolError(f"packet: flow {name} has no socket yet (register it first)")
        return flows[name]

    src_spec = str(ip.get("src", "flow"))
    src_flow = flow if src_spec == "flow" else (src_spec if _is_name(src_spec) else None)
    src = flow_addr(src_flow)[0] if src_flow else str(ipaddress.ip_address(src_spec))
    sport_spec = udp.get("sport", "flow")
    if isinstance(sport_spec, int):
        sport = sport_spec
    else:
        owner = (src_flow or flow) if sport_spec == "flow" else str(sport_spec)
        sport = flow_addr(owner)[1]
    if (":" in src) != (":" in sut[0]):
        raise LocalProtocolError(f"packet: the source {src} and the SUT's address {sut[0]} are of different IP versions")
    dport = sut[1] if udp.get("dport", "sut") == "sut" else int(udp["dport"])
    answer = next((name for name, addr in flows.items() if tuple(addr) == (src, sport)), None)
    return Addressing(src, sport, sut[0], dport, answer, (src, sport) != tuple(flow_addr(flow)))


def _is_name(text: str) -> bool:
    try:
        ipaddress.ip_address(text)
    except ValueError:
        return True
    return False


def spoof_refusal(addr: Addressing, own_ip: str, has_topology: bool) -> str | None:
    """Why this source may not be sent here, or None: a source other than the flow's own address
    only inside the suite's namespaces, and only from their documentation ranges."""
    if addr.src == own_ip:
        return None
    if not has_topology:
        return (f"the source {addr.src} is not the flow's address {own_ip}: a spoofed source is sent only "
                "inside the suite's network namespaces (a target with a topology), never on the host's loopback")
    if not any(ipaddress.ip_address(addr.src) in net for net in ALLOWED_NETS):
        return f"the source {addr.src} is outside the topology's 198.18.0.0/15 and 2001:db8::/32"
    return None


# -- the message ---------------------------------------------------------------------------
def template_fields(ue, flow, ues: dict, paths: dict[str, str], sut: tuple[str, int]) -> dict[str, object]:
    """What a text template may name: the writing flow's registration dialog and identities,
    every UE's AOR, every registered flow's Contact and Path URI (the edge's, with its token)."""
    host = f"[{sut[0]}]" if ":" in sut[0] else sut[0]
    fields: dict[str, object] = {
        "call_id": flow.dialog.call_id, "new_call_id": f"{uuid.uuid4().hex}@{flow.local_ip}", "cseq": flow.dialog.cseq, "branch": new_branch(),
        "tag": flow.dialog.from_tag, "user": ue.user, "aor": ue.impu, "domain": ue.domain,
        "via": flow.host_port(), "contact": ue.contact_uri(flow), "instance": ue.instance or "",
        "sut": f"{host}:{sut[1]}"}
    for other in ues.values():
        fields[f"aor_{other.name}"] = other.impu
        for f in other.flows.values():
            if f.local_port is not None:
                fields[f"contact_{f.name}"] = other.contact_uri(f)
    fields.update({f"path_{name}": uri for name, uri in paths.items()})
    return fields


def _message(run, step, ue, flow) -> Request:
    sip = step.options["sip"]
    if flow.dialog is None:
        flow.dialog = RegDialog(call_id=f"{uuid.uuid4().hex}@{flow.local_ip}")
    flow.dialog.next_cseq()
    if sip["template"] == "register":
        request = build_register(ue, flow, RegisterOptions(), branch=new_branch())
        data = request.to_bytes()
    else:
        paths = run.state(RegistrationState).last_path
        try:
            data = crafting().fill_template(sip["template"], template_fields(ue, flow, run.ues, paths, run.sut_for(flow.local_ip)))
        except KeyError as exc:
            raise LocalProtocolError(f"packet: {exc.args[0]}") from None
    if "pad" in sip:
        data = crafting().pad_message(data, int(sip["pad"]))
    try:
        request = parse_message(data)
    except ParseError as exc:
        raise LocalProtocolError(f"packet: the template is not a SIP request: {exc}") from None
    if not isinstance(request, Request):
        raise LocalProtocolError("packet: the template is a response, not a request")
    return request


# -- the wire ------------------------------------------------------------------------------
class CraftedEndpoint:
    """Stands for a flow's socket in the exchange: ``send`` puts the step's crafted packets on
    the wire instead (and again for a retransmission, RFC 3261 §17.1.2.2); the answer arrives on
    the real endpoint of the flow the packet claims to come from."""

    transport = "udp"

    def __init__(self, run, datagram: Datagram, raw_socket, answer_ep=None):
        self.run, self.datagram, self.raw, self.answer_ep = run, datagram, raw_socket, answer_ep
        self.local = (datagram.src, datagram.sport)
        self.sent: list[int] = []   # how many IP packets each send put on the wire

    @property
    def closed(self) -> bool:
        return self.answer_ep is not None and self.answer_ep.closed

    def send(self, data: bytes, dst) -> None:
        packets = crafting().build(replace(self.datagram, payload=data))
        for pkt in packets:
            wire = bytes(pkt)
            if self.raw.send(pkt) != len(wire):   # Scapy logs a socket error and returns 0
                raise TransportError(f"raw IP send of {len(wire)} octets to {dst[0]} failed (see the log)")
            self.run.pcap.raw_ip(self.run.wall(), wire)
        self.sent.append(len(packets))


def raw_socket(run, flow, ipv6: bool):
    """Scapy's L3 raw socket, in the namespace of the flow's address when a topology owns it.
    Its receiving half (an AF_PACKET socket seeing every frame) is closed at once: answers come
    back on the flows' own sockets."""
    from scapy.layers.inet6 import L3RawSocket6    # Scapy only when a packet is sent (see crafting)
    from scapy.supersocket import L3RawSocket

    cls = L3RawSocket6 if ipv6 else L3RawSocket
    topo = run.topology
    role = None
    if topo is not None:
        try:
            role = topo.role_of(flow.local_ip)
        except KeyError:
            role = None
    if role is None:
        sock = cls()
    else:
        site = getattr(flow.spec, "site", 1)
        sock = topo.run_in(f"ue{site}" if role == "ue" and site > 1 else role, cls)
    sock.ins.close()
    return sock


def _inconclusive(step, result, why: str) -> None:
    result.note = why
    result.findings.append(Finding(
        check="crafted packet sent", level="MAY", ref="steps/packet.py (Scapy raw IP socket)", outcome=INCONCLUSIVE,
        expected="the crafted packets on the wire", observed=why, step=step.name, location=result.location))


def _describe(addr: Addressing, ep: CraftedEndpoint, d: Datagram, own: str) -> str:
    parts = []
    n = ep.sent[0] if ep.sent else 0
    parts.append(f"{n} IP fragments of at most {d.fragment} octets" if n > 1 else "one IP packet (Scapy)")
    if addr.spoofed:
        parts.append(f"source spoofed as {addr.answer_flow or addr.src} (the step's flow is {own})")
    if d.esp is not None:
        parts.append(f"ESP SPI {d.esp.spi:#x} seq {d.esp.seq}")
    return "; ".join(parts)


def live(run, step, result) -> None:
    o = step.options
    ue, flow = run.flow(step.flow)
    if flow.transport != "udp":
        raise LocalProtocolError(f"packet: crafts UDP datagrams; flow {flow.name} is {flow.transport} "
                                 "(the case declares transports: [udp])")
    run.endpoint(flow)   # the flow's socket bound: its port is the default source port
    flows = {f.name: (f.local_ip, f.local_port) for u in run.ues.values() for f in u.flows.values()
             if f.local_port is not None}
    addr = addressing(o, flow.name, flows, run.sut_for(flow.local_ip))
    refusal = spoof_refusal(addr, flow.local_ip, run.topology is not None)
    if refusal:
        _inconclusive(step, result, refusal)
        return
    request = _message(run, step, ue, flow)
    ip, esp = o.get("ip") or {}, o.get("esp")
    build = crafting()
    datagram = build.Datagram(addr.src, addr.dst, addr.sport, addr.dport, request.to_bytes(), fragment=ip.get("fragment"),
                        ttl=ip.get("ttl"), ip_id=ip.get("id"),
                        esp=build.EspFields(esp["spi"], esp["seq"]) if esp else None)
    try:
        sock = raw_socket(run, flow, datagram.ipv6)
    except PermissionError as exc:
        _inconclusive(step, result, f"a raw IP socket needs root (CAP_NET_RAW): {exc.strerror}")
        return
    answer_ep = None
    if addr.answer_flow is not None:
        answer_ep = run.endpoint(run.flow(addr.answer_flow)[1])
    ep = CraftedEndpoint(run, datagram, sock, answer_ep)
    try:
        if request.method == "REGISTER" and addr.answer_flow == flow.name and esp is None:
            run.send_and_judge(step, result, ue, flow.name, ep, request)
        else:
            _exchange_and_judge(run, step, result, ue, addr, ep, request)
    finally:
        sock.close()
    if result.request_index is not None:
        record = run.messages[result.request_index]
        record.note = "; ".join(n for n in (record.note, _describe(addr, ep, datagram, flow.name)) if n)


def _exchange_and_judge(run, step, result, ue, addr: Addressing, ep: CraftedEndpoint, request: Request) -> None:
    """A request that is not the flow's own REGISTER: judged on its answer and on where the SUT
    sent it, as ``request:`` is (the ``routed``/``delivered`` checks; the sender is the flow
    whose address the packet claims)."""
    first_d, first_f = len(run.deliveries), len(run.forwarded)
    name = addr.answer_flow or step.flow
    if ep.answer_ep is None:   # no flow of the tester has that source: nothing can be answered
        data, dst = request.to_bytes(), (addr.dst, addr.dport)
        response, resp_idx, why = None, None, f"the source {addr.src}:{addr.sport} is no flow of the tester"
        try:
            ep.send(data, dst)
        except TransportError as exc:
            why = str(exc)
        req_idx = run.record("sent", step.flow, "udp", ep.local, dst, data, request.summary(),
                             "" if ep.sent else f"send failed: {why}")
        if ep.sent:
            run.wait(float(step.options.get("timeout", 1.0)))
    else:
        response, req_idx, resp_idx, why = run.exchange(name, ep, request, step.options.get("timeout"),
                                                        dst=(addr.dst, addr.dport))
    result.request_index, result.response_index = req_idx, resp_idx
    found = run.take_exchange_findings()
    for f in found:
        f.message_index = resp_idx
    result.findings.extend(found)
    run.wait(0.05)
    mine, up = collect_routed(run, request, first_d, first_f, request.method)
    token_flow = _token_flow(request, run.state(RegistrationState).last_path)
    judge_routed(run, step, result, ue, request, response, why, mine, up, name,
                 {"token_flow": token_flow, "callee_request": mine[0][1] if mine else (up[0] if up else None)})


def _token_flow(request: Request, paths: dict[str, str]) -> str | None:
    """The flow whose Path URI (the edge's token) the top Route carries."""
    routes = request.values("Route")
    if not routes:
        return None
    try:
        top = str(parse_name_addr(routes[0]).uri)
    except ParseError:
        return None
    return next((name for name, uri in paths.items() if uri == top), None)


KIND = StepKind(
    name="packet",
    summary="A request crafted with Scapy as layers: IP fragments, a spoofed source (inside the suite's "
            "namespaces only), an ESP SPI and sequence number; answered and judged like any request.",
    schema=SCHEMA,
    needs_flow=True,
    transports=("udp",),
    transport_reason="packet crafts IP/UDP datagrams; a tls / ws / wss flow carries no hand-made packets",
    live=live,
    offline=None,
    offline_reason="the crafted packets are judged live: a capture shows the fragments but not which flow crafted them",
    order=240,
    docs="docs/case-format.md#crafted-packets-packet",
    extra={"usage": "`packet: {flow: FLOW, ip, udp, esp, sip}`",
           "table": "a request crafted with Scapy as layers (below, \"Crafted packets\"): in IP fragments "
                    "(`ip.fragment`), from another flow's address and port (inside the suite's namespaces "
                    "only), in ESP with a chosen SPI and sequence number; a `register` or text template, "
                    "padded (`sip.pad`); answered on the flow whose address it claims and judged like any "
                    "request"},
)
