"""The PEER: the tester's stand-in for the rest of the network, with its own socket on the
target's peer address; it sends terminating requests (``peer_request``, dialog steps) through
the SUT."""

from __future__ import annotations

import os
import uuid

from ..sip.message import Request
from ..ue.model import new_branch, new_tag
from .transport import UdpEndpoint

PEER_FLOW = "peer"


def peer_endpoint(run) -> UdpEndpoint:
    """The PEER's socket, opened on first use."""
    ep = run.endpoints.get(PEER_FLOW)
    if ep is None or ep.closed:
        ep = UdpEndpoint(run.target.peer_address, run.on_wire, sock_factory=run.sock_factory(run.target.peer_address))
        run.endpoints[PEER_FLOW] = ep
    return ep


def build_peer_request(method: str, aor: str, domain: str, local: tuple[str, int],
                       headers: list[tuple[str, str]], *, request_uri: str | None = None,
                       caller_via: bool = False) -> Request:
    """The PEER's request.  As an emulated S-CSCF (``request_uri`` = a registered Contact, a Route
    to the edge, ``caller_via``) it looks as a core request routed over a stored Path does:
    the Contact as Request-URI (RFC 3261 §16.6 step 2) and the caller's Via below its own."""
    host = f"[{local[0]}]" if ":" in local[0] else local[0]
    body = b"conformance suite: terminating request\r\n" if method == "MESSAGE" else b""
    vias = [("Via", f"SIP/2.0/UDP {host}:{local[1]};branch={new_branch()};rport")]
    if caller_via:
        vias.append(("Via", f"SIP/2.0/UDP caller.invalid:5060;branch={new_branch()}"))
    hdrs = vias + [
        ("Max-Forwards", "70"),
        ("From", f"<sip:peer@{domain}>;tag={new_tag()}"),
        ("To", f"<{aor}>"),
        ("Call-ID", f"{uuid.uuid4().hex}@{local[0]}"),
        ("CSeq", f"1 {method}"),
    ]
    if method == "INVITE":
        hdrs.append(("Contact", f"<sip:peer@{host}:{local[1]}>"))
    if body:
        hdrs.append(("Content-Type", "text/plain"))
    hdrs += headers
    return Request(method=method, uri=request_uri or aor, headers=hdrs, body=body)


def tamper_token(uri: str, how: str) -> str:
    """The URI with its user part (where the reference, Kamailio and RFC 5626 §5.2 put the flow
    token) changed.  ``flip`` changes the token's second character: in the RFC 5626 §5.2
    example layout (HMAC first, then the flow) and in Kamailio's that is inside the HMAC, so the
    flow it names is intact and only the integrity check can catch it (TP_EDGE_008 a).
    ``random`` replaces the token whole, same length and alphabet (TP_EDGE_008 c)."""
    if how == "none" or "@" not in uri:
        return uri
    scheme, rest = uri.split(":", 1)
    user, host = rest.split("@", 1)
    if how == "flip":
        i = 1 if len(user) > 1 else 0
        c = user[i]
        user = user[:i] + ("A" if c != "A" else "B") + user[i + 1:]
    else:
        alphabet = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789"
        user = "".join(alphabet[b % len(alphabet)] for b in os.urandom(len(user)))
    return f"{scheme}:{user}@{host}"
