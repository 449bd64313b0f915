"""Requests of the reference UE other than REGISTER (sans-IO): a call (INVITE) or a MESSAGE
over a flow, and the ACK / BYE that end an INVITE transaction and dialog.

RFC 5626 §4.3: a UAC not using a GRUU "adds an "ob" parameter to its Contact header field
value" so that subsequent requests in the dialog arrive over the flow, and SHOULD include the
outbound option tag in a Supported header field of non-REGISTER requests.  The INVITE offers a
minimal SDP (audio on the discard port: no media is ever sent).
"""

from __future__ import annotations

import secrets

from ...sip.errors import ParseError
from ...sip.headers import parse_name_addr
from ...sip.message import Request, Response
from ...ue.model import USER_AGENT, new_branch, new_tag


def contact_with_ob(ue, flow_state) -> str:
    uri = ue.contact_uri(flow_state)
    return f"<{uri}>" if uri.endswith(";ob") else f"<{uri};ob>"


def _sdp(ip: str) -> bytes:
    family = "IP6" if ":" in ip else "IP4"
    return (f"v=0\r\no=- 1 1 IN {family} {ip}\r\ns=-\r\nc=IN {family} {ip}\r\nt=0 0\r\n"
            f"m=audio 9 RTP/AVP 0\r\na=rtpmap:0 PCMU/8000\r\na=inactive\r\n").encode()


def build_call(ue, flow_state, to: str, method: str = "INVITE") -> Request:
    """An INVITE (default) or a MESSAGE (RFC 3428) from the UE's AOR to ``to`` over the flow."""
    target = to if to.startswith(("sip:", "sips:", "tel:")) else f"sip:{to}"
    body, kind = ((_sdp(flow_state.local_ip), "application/sdp") if method == "INVITE"
                  else (b"hello from the reference UE", "text/plain"))
    headers = [
        ("Via", f"SIP/2.0/{flow_state.via_protocol} {flow_state.sent_by()};branch={new_branch()};rport"),
        ("Max-Forwards", "70"),
        ("From", f"<{ue.impu}>;tag={new_tag()}"),
        ("To", f"<{target}>"),
        ("Call-ID", secrets.token_hex(10)),
        ("CSeq", f"1 {method}"),
        ("Contact", contact_with_ob(ue, flow_state)),
        ("Supported", "outbound"),
        ("User-Agent", USER_AGENT),
        ("Content-Type", kind),
    ]
    return Request(method=method, uri=target, headers=headers, body=body)


def ack_for(invite: Request, response: Response) -> Request:
    """RFC 3261 §17.1.1.3: the ACK to a non-2xx final response (same branch, the response's To)."""
    headers = [("Via", invite.values("Via")[0]), ("Max-Forwards", "70"), ("From", invite.get("From") or ""),
               ("To", response.get("To") or invite.get("To") or ""), ("Call-ID", invite.call_id or ""),
               ("CSeq", f"{invite.cseq[0]} ACK")]
    return Request(method="ACK", uri=invite.uri, headers=headers)


def in_dialog(invite: Request, response: Response, method: str, cseq: int) -> Request:
    """ACK (to a 2xx) or BYE in the dialog the 2xx created (RFC 3261 §12.2.1.1, §13.2.2.4): the
    remote target from the 2xx's Contact, the route set from its Record-Route, reversed."""
    try:
        target = str(parse_name_addr(response.get("Contact") or "").uri)
    except (ParseError, AttributeError):
        target = invite.uri
    via = invite.values("Via")[0].split(";branch=")[0] + f";branch={new_branch()};rport"
    headers = [("Via", via), ("Max-Forwards", "70")]
    headers += [("Route", r) for r in reversed(response.values("Record-Route"))]
    headers += [("From", invite.get("From") or ""), ("To", response.get("To") or ""),
                ("Call-ID", invite.call_id or ""), ("CSeq", f"{cseq} {method}")]
    return Request(method=method, uri=target, headers=headers)


__all__ = ["ack_for", "build_call", "contact_with_ob", "in_dialog"]
