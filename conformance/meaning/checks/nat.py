"""Checks for flows behind a NAT (conformance/topology/).

- ``via_received``: RFC 3581 §4: the UE's Via carries ``rport``, so the server MUST add
  ``received`` (the source IP address) and set ``rport`` to the source port of the request as
  it arrived, which behind a NAT is the NAT's mapping; RFC 5626 §3 relies on it (the flow is
  the mapping).
- ``nat_mapping``: whether the flow has been seen under one mapping or several, from the NAT's
  capture (a keep-alive keeps a mapping, RFC 5626 §3.5.1; a rebinding changes it, §4.4.2).
"""

from __future__ import annotations

import ipaddress

from ...sip.errors import ParseError
from ...sip.headers import parse_vias
from .context import CheckContext, Observation
from .kind import NO_ARGS, CheckKind


def via_received_check(args: dict, ctx: CheckContext) -> list[Observation]:
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


KINDS = (
    CheckKind(
        name="via_received",
        summary=(
            "The response's top Via carries received and rport equal to the address the request came from as "
            "the SUT saw it (behind a NAT: the mapping), RFC 3581 section 4: {}."
        ),
        handler=via_received_check,
        level="MUST",
        ref="RFC 3581 §4",
        order=120,
        args_doc=(
            "`{}`: the top Via has `received`/`rport` = the request's source as the SUT saw it (behind a "
            "NAT: the mapping)"
        ),
        clause_doc="RFC 3581 §4",
        schema=NO_ARGS,
    ),
    CheckKind(
        name="nat_mapping",
        summary=(
            "The flow's NAT mapping so far: {flow: FLOW, changed: bool} (changed: the flow has been seen "
            "under more than one mapping)."
        ),
        handler=nat_mapping_check,
        level="MUST",
        ref=None,
        order=160,
        args_doc="`{flow: FLOW, changed: bool}`: the flow was seen under one NAT mapping, or under a new one",
        clause_doc="no usual clause: `ref:` required",
        schema={
            "type": "object",
            "additionalProperties": False,
            "required": ["flow", "changed"],
            "properties": {
                "flow": {"description": "The flow.", "type": "string"},
                "changed": {
                    "description": (
                        "true when the mapping must have changed, false "
                        "when it must be the same throughout."
                    ),
                    "type": "boolean",
                },
            },
        },
    ),
)
