"""The address a flow has as the SUT sees it, from what the SUT itself reported (sans-IO).

RFC 5626 section 8: the Binding Response to a keep-alive STUN request "MUST include the
XOR-MAPPED-ADDRESS attribute", the source address of the request as the server received it
(RFC 5389 section 15.2).  Behind a NAT or a relay that the suite did not build, that address is
not the UE's socket: the suite then compares the mapped address with what the SUT saw of the
same flow in SIP, the ``received``/``rport`` parameters it put on the top Via of the flow's latest
2xx to REGISTER (RFC 3581 section 4: with ``rport`` in the request, the server "MUST" set the
source port and add ``received``).  Where the suite built the NAT, the NAT's own mapping is
used instead (the runner's ``flow_mapping``).
"""

from __future__ import annotations

import ipaddress

from ..sip.errors import ParseError
from ..sip.headers import parse_vias
from ..sip.message import Response, parse_message


def via_seen_address(response: Response) -> tuple[str, int] | None:
    """(received, rport) of the top Via of ``response``; None without rport (a server that
    ignores rport tells us nothing about the port it saw).  Without ``received`` the source
    address was the sent-by host (RFC 3261 section 18.2.1 adds it only when they differ)."""
    try:
        vias = parse_vias(response)
    except (ParseError, ValueError):
        return None
    if not vias:
        return None
    top = vias[0]
    received, rport = top.received or top.host, top.rport
    if not received or not rport or not rport.isdigit():
        return None
    host = received.strip("[]")
    try:
        host = str(ipaddress.ip_address(host))       # as a STUN address decodes (RFC 5952 form)
    except ValueError:
        pass
    return host, int(rport)


def latest_register_2xx(messages, flow: str) -> Response | None:
    """The last 2xx to REGISTER that the flow received, among recorded ``messages``."""
    for record in reversed(messages):
        if record.flow != flow or record.direction != "received" or not record.text.startswith("SIP/2.0 2"):
            continue
        try:
            msg = parse_message(record.text.encode("utf-8"))
        except (ParseError, ValueError):
            continue
        if isinstance(msg, Response) and 200 <= msg.status < 300 and (msg.cseq or (0, ""))[1] == "REGISTER":
            return msg
    return None


def flow_seen_by_sut(messages, flow: str) -> tuple[tuple[str, int] | None, str]:
    """(address, where it comes from) of the flow as the SUT saw it in SIP, or (None, why not)."""
    response = latest_register_2xx(messages, flow)
    if response is None:
        return None, "no 2xx to REGISTER on the flow"
    seen = via_seen_address(response)
    if seen is None:
        return None, "the flow's latest 2xx has no Via rport"
    return seen, "the Via received/rport of the flow's latest 2xx"


__all__ = ["flow_seen_by_sut", "latest_register_2xx", "via_seen_address"]
