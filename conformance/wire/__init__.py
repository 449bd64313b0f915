"""Stream layers under SIP on a connection: TLS and WebSocket (RFC 7118), sans-IO.

TLS is the standard library's :class:`ssl.SSLObject` over two :class:`ssl.MemoryBIO` (the TLS
state machine never touches a socket); WebSocket is ``wsproto`` (the h11 family). A
:class:`~.stack.Stack` composes them for a flow's transport (``tls``, ``ws``, ``wss``) and turns
bytes read from a socket into SIP frames and bytes to write back. The tester's endpoints, the
reference server, the mangler and the load generator all use it; nothing else frames TLS or
WebSocket.
"""

from .stack import Stack, StackEvents, STREAM_TRANSPORTS
from .tlsconf import TlsClient, server_context
from .ws import WsClient, WsServer

__all__ = ["Stack", "StackEvents", "STREAM_TRANSPORTS", "TlsClient", "server_context", "WsClient",
           "WsServer"]
