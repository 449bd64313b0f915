"""Checks for flows behind a NAT (conformance/topology/).

- ``via_received``: RFC 3581 §4: the UE's Via carries ``rport``, so the server MUST add
  ``received`` (the source IP address) and set ``rport`` to the source port of the request as
  it arrived, which behind a NAT is the NAT's mapping; RFC 5626 §3 relies on it (the flow is
  the mapping).
- ``nat_mapping``: whether the flow has been seen under one mapping or several, from the NAT's
  capture (a keep-alive keeps a mapping, RFC 5626 §3.5.1; a rebinding changes it, §4.4.2).
"""

from __future__ import annotations

from ...sip.errors import ParseError
from .context import CheckContext, Observation


def via_received_check(args: dict, ctx: CheckContext) -> list[Observation]:
    from ...sip.headers import parse_vias

    src = ctx.request_source
    expected = (f"top Via with received={src[0]};rport={src[1]}" if src
                else "top Via with received and rport of the request's source")
    if ctx.response is None:
        return [Observation("Via received/rport", None, expected, ctx.no_response_reason)]
    try:
        vias = parse_vias(ctx.response)
    except ParseError as exc:
        return [Observation("Via received/rport", False, expected, f"unparseable Via: {exc}")]
    if not vias:
        return [Observation("Via received/rport", False, expected, "no Via in the response")]
    via = vias[0]
    received = (via.received or "").strip("[]")
    rport = via.rport
    observed = f"received={via.received or '(none)'};rport={rport if rport else '(none)'}"
    if src is None:
        return [Observation("Via received/rport", None, expected, observed + "; the source is unknown")]
    import ipaddress

    try:
        same_ip = ipaddress.ip_address(received) == ipaddress.ip_address(src[0])
    except ValueError:
        same_ip = False
    ok = same_ip and bool(rport) and rport.isdigit() and int(rport) == int(src[1])
    return [Observation("Via received/rport", ok, expected, observed)]


def nat_mapping_check(args: dict, ctx: CheckContext) -> list[Observation]:
    flow = args["flow"]
    seen = ctx.mappings.get(flow) or []
    shown = ", ".join(f"{ip}:{port}" for ip, port in seen) or "no mapping seen"
    if not seen:
        return [Observation(f"NAT mapping of {flow}", None, "the flow seen leaving the NAT", shown)]
    if args["changed"]:
        return [Observation(f"NAT mapping of {flow} changed", len(seen) > 1, "a new mapping", shown)]
    return [Observation(f"NAT mapping of {flow} kept", len(seen) == 1, "one mapping throughout", shown)]
