"""What a UE target may declare in ``capabilities:`` (role ``ue``) and a UE case may list in
``requires:``: a case needing one the UE does not declare is not applicable, with the reason."""

from __future__ import annotations

KNOWN_UE_CAPABILITIES: dict[str, str] = {
    "outbound": "the UE implements RFC 5626 section 4 (+sip.instance, reg-id, Supported: outbound)",
    "multi-flow": "the UE registers more than one flow at once (RFC 5626 section 4.2.1, the seed's Reg2)",
    "move": "the UE's address can change under it (lost coverage, the seed's Reg1b)",
    "crlf-keepalive": "the UE sends double-CRLF keep-alives on connection flows (RFC 5626 section 4.4.1)",
    "stun-keepalive": "the UE sends STUN keep-alives on UDP flows (RFC 5626 section 4.4.2)",
    "call": "the UE can be told to send a dialog-forming request (MESSAGE / INVITE)",
    "deregister": "the UE can be told to remove one flow's binding or all (Contact: *)",
    "restart": "the UE can be stopped and started again with its configuration kept",
    "gruu": "the UE asks for GRUUs (RFC 5627)",
    "sec-agree": "an IMS UE: security agreement (TS 33.203, RFC 3329)",
    "digest-auth": "the UE answers a 401 with HTTP Digest credentials",
}

__all__ = ["KNOWN_UE_CAPABILITIES"]
