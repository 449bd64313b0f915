"""Requests of the reference UE other than REGISTER (sans-IO): a MESSAGE over a flow.

RFC 5626 §4.3: a UAC not using a GRUU "adds an "ob" parameter to its Contact header field
value" so that subsequent requests arrive over the flow, and SHOULD include the outbound option
tag in a Supported header field of non-REGISTER requests.
"""

from __future__ import annotations

import secrets

from ...sip.message import Request
from ...ue.model import USER_AGENT, new_branch, new_tag


def contact_with_ob(ue, flow_state) -> str:
    uri = ue.contact_uri(flow_state)
    return f"<{uri}>" if uri.endswith(";ob") else f"<{uri};ob>"


def build_message(ue, flow_state, to: str, *, text: str = "hello from the reference UE") -> Request:
    """A MESSAGE (RFC 3428) from the UE's AOR to ``to`` over ``flow_state``'s socket."""
    body = text.encode()
    target = to if to.startswith(("sip:", "sips:", "tel:")) else f"sip:{to}"
    headers = [
        ("Via", f"SIP/2.0/{flow_state.via_protocol} {flow_state.sent_by()};branch={new_branch()};rport"),
        ("Max-Forwards", "70"),
        ("From", f"<{ue.impu}>;tag={new_tag()}"),
        ("To", f"<{target}>"),
        ("Call-ID", secrets.token_hex(10)),
        ("CSeq", "1 MESSAGE"),
        ("Contact", contact_with_ob(ue, flow_state)),
        ("Supported", "outbound"),
        ("User-Agent", USER_AGENT),
        ("Content-Type", "text/plain"),
    ]
    return Request(method="MESSAGE", uri=target, headers=headers, body=body)


__all__ = ["build_message", "contact_with_ob"]
