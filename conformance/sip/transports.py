"""Transport names and what they mean for SIP: which ones are a connection (a stream whose
closing fails the flow, RFC 5626 §4.4 / §5.3), which are datagrams.

``udp`` is the one datagram transport; ``tcp``, ``tls`` (RFC 3261 §26), ``ws`` and ``wss``
(RFC 7118) are connections: reliable (no retransmission, RFC 3261 §17.1.1.2), keep-alives are CRLF
pings (RFC 5626 §4.4.1) or, over WebSocket, also WebSocket Pings (RFC 7118 §6), and a flow is
the connection itself.
"""

from __future__ import annotations

__all__ = ["STREAM", "STACKED", "ENCRYPTED", "WEBSOCKET", "is_stream", "is_stacked", "is_websocket",
           "via_protocol", "uri_transport"]

STREAM = frozenset({"tcp", "tls", "ws", "wss"})
STACKED = frozenset({"tls", "ws", "wss"})   # a layer between TCP and SIP (conformance.wire)
ENCRYPTED = frozenset({"tls", "wss"})
WEBSOCKET = frozenset({"ws", "wss"})


def is_stream(transport: str | None) -> bool:
    """A connection transport (TCP or anything over it)."""
    return (transport or "").lower() in STREAM


def is_stacked(transport: str | None) -> bool:
    """TLS or WebSocket over the TCP connection: hand-made TCP bytes cannot reach the SIP layer."""
    return (transport or "").lower() in STACKED


def is_websocket(transport: str | None) -> bool:
    return (transport or "").lower() in WEBSOCKET


def via_protocol(transport: str) -> str:
    """The Via sent-protocol's transport: UDP, TCP, TLS (RFC 3261 §18), WS, WSS (RFC 7118 §5.2)."""
    return transport.upper()


def uri_transport(transport: str) -> str | None:
    """The SIP URI ``transport`` parameter for a flow's Contact, or None (UDP: the default).

    RFC 7118 §5.2 defines one URI value, ``ws``, for WebSocket with or without TLS (the Via says
    WS or WSS); TLS is ``tls`` (RFC 3261 §19.1.1, §26.2).
    """
    t = transport.lower()
    if t == "udp":
        return None
    return "ws" if t in WEBSOCKET else t
