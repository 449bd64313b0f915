"""The Via "keep" parameter (RFC 6223), sans-IO: the reference is willing to receive keep-alives.

RFC 6223 section 4.4: "When a SIP entity sends or forwards a response, and the adjacent upstream
SIP entity has indicated willingness to send keep-alives, if the SIP entity is willing to receive
keep-alives associated with the registration [...] then it MUST add a parameter value to the
"keep" parameter before sending or forwarding the response."  Section 5: with a Flow-Timer in
the same message, "the header field value and the "keep" parameter value MUST be identical".

The reference answers STUN and CRLF keep-alives on every port (it is willing), so a 2xx to
REGISTER whose top Via (the adjacent upstream entity's) carries a bare ``keep`` gets
``keep=<Flow-Timer of the response, else the configured Flow-Timer, else 0>`` (0: no
recommended frequency, the UA sends keep-alives at its discretion, section 5).
"""

from __future__ import annotations

import re

from ...sip.errors import ParseError
from ...sip.headers import parse_flow_timer, parse_via
from ...sip.message import Response
from .routing import set_values

_BARE_KEEP = re.compile(r";\s*keep\s*(?=;|$)", re.IGNORECASE)


def keep_value(response: Response, flow_timer: int | None) -> int:
    try:
        return parse_flow_timer(response.get("Flow-Timer") or "")
    except ParseError:
        return int(flow_timer or 0)


def add_keep(response: Response, flow_timer: int | None) -> bool:
    """Give the top Via's bare ``keep`` a value in a 2xx to REGISTER; True when it did."""
    cseq = response.cseq
    if not (cseq and cseq[1] == "REGISTER" and 200 <= response.status < 300):
        return False
    vias = response.values("Via")
    if not vias:
        return False
    try:
        top = parse_via(vias[0])
    except ParseError:
        return False
    if "keep" not in top.params or top.params["keep"]:
        return False
    value = keep_value(response, flow_timer)
    new, n = _BARE_KEEP.subn(f";keep={value}", vias[0].rstrip(), count=1)
    if not n:
        return False
    set_values(response, "Via", [new] + vias[1:])
    return True


__all__ = ["add_keep", "keep_value"]
