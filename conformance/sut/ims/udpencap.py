"""The reference P-CSCF's UDP-encapsulated tunnel mode (``mod=UDP-enc-tun``, TS 33.203 Annex M;
RFC 3948), sans-IO: a mixin of :class:`~.proxy.ImsEdgeProxy`.

* Mode (TS 33.203 Annex M NAT detection, as this reference reads it): the P-CSCF compares the
  top Via's sent-by of the initial REGISTER with the packet's source address.  When they
  differ (a NAT) and the UE offered ``mod=UDP-enc-tun``, that mode is chosen; transport mode
  otherwise (UDP-enc-tun also when it is all the UE offered).
* The SAs' UE address is then the UE's own (the Via's, its private address): the inner packets
  are addressed as the UE knows itself; the outer ones go to whatever the NAT made of it.
* Encapsulated datagrams arrive on the ordinary UDP sockets of port_ps and port_pc:
  NAT-keepalives (0xFF) are ignored but tell where the UE's protected port is mapped; ESP is
  checked (SPI, replay window, ICV, inner selectors) before use; an authenticated packet on SA 1
  (to port_ps) or SA 4 (to port_pc) records its outer source as that port's mapping.
* Sending (SA 3 from port_pc, as :meth:`ImsEdgeProxy.protect` does for transport mode) goes as
  ESP in UDP to the mapping of the UE's port_us: learned from its keep-alives or ESP, failing
  that the UE's public address (the initial REGISTER's source) with port_us itself.
* After a NAT rebinding the keep-alives come from an unknown address: they are kept (bounded)
  until an authenticated ESP packet from that address names the SA set, which then follows the
  new mappings (:meth:`UdpEncapMixin._adopt_pending`).
"""

from __future__ import annotations

import ipaddress

from ...ims.errors import EspError
from ...ims.secagree import UDP_ENC_TUN
from ...ims.udpencap import classify, open_tunnel, seal_tunnel
from ...sip.errors import ParseError
from ...sip.framing import classify_datagram
from ...sip.headers import parse_vias
from ..actions import Action, SendOnFlow
from ..flow import FlowInfo

ENCAP = UDP_ENC_TUN.lower()
MAX_PENDING = 256
#: which SA's mapping a protected port's traffic shows: UE port_uc (SA 1) -> P port_ps,
#: UE port_us (SA 4) -> P port_pc; the P-CSCF answers SA 2 / SA 3 to those mappings.
_REPLY_TO = {2: 1, 3: 4}


def via_host(request) -> str | None:
    """The top Via's sent-by host as an IP literal, or None."""
    try:
        host = parse_vias(request)[0].host.strip("[]")
        ipaddress.ip_address(host)
    except (ParseError, IndexError, ValueError, AttributeError):
        return None
    return host


class UdpEncapMixin:
    """Needs ``port_ps``, ``port_pc``, ``by_spi``, ``by_nonce``, ``supervisor``, ``config``,
    ``_drop``, ``protect``, ``_response``, ``_request``, ``_reply``,
    ``_protected_register`` (all of :class:`~.proxy.ImsEdgeProxy`); keeps its mappings in the
    SA record's ``public_ip``, ``outer`` and ``learned``."""

    def __init__(self, *args, **kwargs):
        super().__init__(*args, **kwargs)
        # (public address, our port) -> where a keep-alive nobody owned came from (bounded)
        self._encap_pending: dict[tuple, tuple] = {}

    # -- the choice ----------------------------------------------------------------------------
    def behind_nat(self, request, flow: FlowInfo) -> bool:
        host = via_host(request)
        return host is not None and host != flow.remote[0]

    def choose_mode(self, request, flow: FlowInfo, client) -> str:
        offered = {m.mode for m in client}
        if ENCAP in offered and (self.behind_nat(request, flow) or "trans" not in offered):
            return UDP_ENC_TUN
        return "trans"

    def inner_ue_addr(self, request, flow: FlowInfo, mode: str) -> str:
        if mode.lower() == ENCAP:
            return via_host(request) or flow.remote[0]
        return flow.remote[0]

    def start_encap(self, rec, flow: FlowInfo) -> None:
        """First guesses of the UE's mappings: its public address, its own ports."""
        rec.public_ip = flow.remote[0]
        rec.outer = {1: (flow.remote[0], rec.sas[1].sport), 4: (flow.remote[0], rec.sas[4].sport)}
        rec.learned = set()

    # -- receiving ----------------------------------------------------------------------------
    def _encap_sa_number(self, flow: FlowInfo) -> int:
        return 1 if flow.local[1] == self.port_ps else 4

    def _encap_owner(self, flow: FlowInfo):
        """The UDP-enc-tun SA set a keep-alive from ``flow.remote`` belongs to, if it can be told."""
        n = self._encap_sa_number(flow)
        sets = [r for r in self.by_nonce.values()
                if r.mode.lower() == ENCAP and r.public_ip == flow.remote[0]]
        known = [r for r in sets if r.outer.get(n) == flow.remote]
        same_port = [r for r in sets if r.sas[n].sport == flow.remote[1]]
        unlearned = [r for r in sets if n not in r.learned]
        if known or same_port:
            return (known or same_port)[-1]
        return unlearned[0] if len(unlearned) == 1 else None     # ambiguous: nobody's

    def receive_encap(self, data: bytes, flow: FlowInfo, now: float) -> list[Action] | None:
        """A datagram on port_ps / port_pc; None when it is not UDP-encapsulated ESP (the
        caller drops it as clear text on a protected port)."""
        kind = classify(data)
        if kind == "keepalive":
            rec = self._encap_owner(flow)
            if rec is None:
                # perhaps after a NAT rebinding: kept until an authenticated packet from that
                # public address names its SA set (see _adopt_pending)
                pending = self._encap_pending
                pending.pop((flow.remote[0], flow.local[1]), None)
                pending[(flow.remote[0], flow.local[1])] = flow.remote
                while len(pending) > MAX_PENDING:
                    pending.pop(next(iter(pending)))
                return self._drop(f"NAT-keepalive from {flow.remote[0]}:{flow.remote[1]} of no "
                                  "UDP-enc-tun SA set (yet)")
            n = self._encap_sa_number(flow)
            rec.outer[n] = flow.remote
            rec.learned.add(n)
            self.supervisor.activity(rec.flow, now)
            return []                         # RFC 3948 §2.3: otherwise ignored
        if kind != "esp" or classify_datagram(data) != "unknown":
            return None                       # SIP, STUN, CRLF in clear, an IKE marker
        spi = int.from_bytes(data[:4], "big")
        rec = self.by_spi.get(spi)
        if rec is None or rec.mode.lower() != ENCAP:
            return self._drop(f"UDP-encapsulated ESP with SPI {spi:#x} from "
                              f"{flow.remote[0]}:{flow.remote[1]}: no UDP-enc-tun SA has it")
        n = rec.sas.by_spi(spi).number
        if n != self._encap_sa_number(flow):    # before the replay window moves
            return self._drop(f"SA {n} arrived on port {flow.local[1]}, not its own")
        try:
            inbound, payload = open_tunnel(rec.endpoint, data)
        except EspError as exc:
            return self._drop(f"{exc} (UDP-encapsulated, RFC 4303 §3.4)")
        rec.outer[n] = flow.remote            # authenticated: the port's current mapping
        rec.learned.add(n)
        self._adopt_pending(rec, n, flow)
        return self._protected_message(payload, rec, now)

    def _adopt_pending(self, rec, n: int, flow: FlowInfo) -> None:
        """An authenticated packet on SA ``n`` from a new public address (a NAT rebinding): the
        SA set now lives there, and a keep-alive from there to the other protected port, kept
        unowned, is that port's new mapping (RFC 7296 §2.23 practice: NAT-T peers follow the
        address of authenticated packets; [I] for sec-agree SAs)."""
        rec.public_ip = flow.remote[0]
        other, port = (4, self.port_pc) if n == 1 else (1, self.port_ps)
        waiting = self._encap_pending.pop((flow.remote[0], port), None)
        if waiting is not None and rec.outer.get(other, ("", 0))[0] != flow.remote[0]:
            rec.outer[other] = waiting
            rec.learned.add(other)

    # -- sending ------------------------------------------------------------------------------
    def send_encap(self, rec, data: bytes, ref: object, *, is_request: bool) -> Action:
        """``data`` for the UE over SA 3 (port_pc -> port_us), in UDP to port_us's mapping."""
        number = 3
        if is_request and self.config.has_fault("wrong-terminating-port"):
            number = 2                        # FAULT: from port_ps to port_uc
        sa = rec.sas[number]
        payload = seal_tunnel(rec.endpoint, sa, data)
        dst = tuple(rec.outer[_REPLY_TO[number]])
        return SendOnFlow(FlowInfo("udp", (sa.src, sa.sport), dst), payload, dst, ref=ref)
