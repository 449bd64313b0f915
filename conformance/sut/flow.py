"""The network flow a request arrived on (RFC 5626 section 3.1 "flow", section 6 para 9).

Plain data handed by the I/O layer to the sans-IO registrar.  A flow is identified by the
transport, both addresses and, for connection-oriented transports, the connection itself
(RFC 5626 section 5.2: the identifier must be unique to the flow).
"""

from __future__ import annotations

from dataclasses import dataclass

#: Every flow transport; all but udp are connections (TLS, and WebSocket RFC 7118, over TCP).
FLOW_TRANSPORTS = ("udp", "tcp", "tls", "ws", "wss")
STREAM_TRANSPORTS = ("tls", "ws", "wss")


@dataclass(frozen=True)
class FlowInfo:
    transport: str                   # "udp", "tcp", "tls", "ws" or "wss"
    local: tuple[str, int]           # our address the request arrived on
    remote: tuple[str, int]          # the packet source
    conn_id: int | None = None       # the connection (TCP, TLS, WS, WSS), None for UDP

    def __post_init__(self) -> None:
        if self.transport not in FLOW_TRANSPORTS:
            raise ValueError(f"unknown transport {self.transport!r}")

    @property
    def reliable(self) -> bool:
        return self.transport != "udp"

    def __str__(self) -> str:
        conn = f"#{self.conn_id}" if self.conn_id is not None else ""
        return (f"{self.transport}{conn} {self.remote[0]}:{self.remote[1]}"
                f"->{self.local[0]}:{self.local[1]}")


__all__ = ["FLOW_TRANSPORTS", "FlowInfo", "STREAM_TRANSPORTS"]
