"""SA lifetimes of the reference IMS P-CSCF (sans-IO helpers for ims/proxy.py).

The P-CSCF's rule is not read (TS 24.229 5.2.2 / TS 33.203, [M]); the reference mirrors the
UE's (TS 24.229 5.1.1.5.1): a temporary set lives for reg-await-auth, and after a 2xx to
REGISTER the set lives "the longest of either the previously existing set of security
associations SIP level lifetime, or the lifetime of the just completed registration plus 30
seconds".  RFC 3329 Appendix A ties the SA to the binding likewise ("The duration of security
association is the same as in the expiration interval of the corresponding registration
binding", no keyword).  Only UDP flows are tracked (TCP SAs stay until replaced).
"""

from __future__ import annotations

from ...sip.errors import ParseError
from ...sip.headers import parse_name_addr
from ...sip.message import Response, parse_message

#: The temporary set's lifetime: reg-await-auth (TS 24.229, default 4 minutes) [M].
REG_AWAIT_AUTH = 240.0
#: Beyond the registration (TS 24.229 5.1.1.5.1, the UE's rule).
GRACE = 30.0


def granted_expiry(data: bytes, ue_ip: str, port_us: int) -> int | None:
    """Seconds the 2xx to REGISTER grants the UE's Contact at ``ue_ip:port_us`` (its ``expires``
    parameter, else the Expires header); None for anything else."""
    if not data.startswith(b"SIP/2.0 2"):
        return None
    try:
        msg = parse_message(data)
    except ParseError:
        return None
    if not isinstance(msg, Response) or "REGISTER" not in (msg.get("CSeq") or ""):
        return None
    found: list[int] = []
    for value in msg.values("Contact"):
        try:
            na = parse_name_addr(value)
        except ParseError:
            continue
        uri = na.uri
        if uri is None or uri.host != ue_ip or uri.port != port_us:
            continue
        text = na.params.get("expires")
        if text is None:
            text = msg.get("Expires")
        if text is not None and str(text).strip().isdigit():
            found.append(int(str(text).strip()))
    return max(found) if found else None


def next_lifetime(current: float | None, from_registration: bool, granted: int, now: float) -> float:
    """The set's new end: the registration plus :data:`GRACE`, or the set's existing end when that
    is later and already came from a registration (a refresh never shortens it)."""
    until = now + granted + GRACE
    if from_registration and current is not None:
        return max(current, until)
    return until
