"""The reference's TLS, WebSocket (RFC 7118) and WebSocket-over-TLS listeners: what each
accepted connection gets (a :class:`conformance.wire.Stack`, server side) and how their ports are
bound.  Stacks are sans-IO (``ssl.SSLObject`` over memory BIOs, ``wsproto``); the server's
selector loop moves the bytes (reference.py).

* TLS: the server's certificate and key are ``config.tls_cert``/``tls_key``, by default the
  suite's test CA server pair (:func:`conformance.wire.testca.ensure_test_ca`: names localhost,
  ims.test, \\*.ims.test, 127.0.0.1, ::1); ``config.tls_keylog`` appends the session keys (NSS
  key log) so that traffic of real clients can be decrypted and judged.
* WebSocket: the upgrade is accepted when it offers the ``sip`` subprotocol, which is echoed
  (RFC 7118 section 4.1; the fault ``ws-no-subprotocol`` leaves it out); with ``config.ws_auth``
  (a realm) it is answered 401 with a Basic challenge until the request carries Authorization
  (RFC 7118 section 7).
* Ports: 0 picks a free one, but TLS tries 5061 first (RFC 3261 section 19.1.2), so that
  Wireshark decodes SIP over TLS by port without any setting.
"""

from __future__ import annotations

import errno
import socket
import ssl

from ...wire.stack import Stack
from ...wire.testca import ensure_test_ca
from ...wire.tlsconf import server_context
from ...wire.ws import WsServer
from ..config import DEFAULT_TLS_PORT, SutConfig

__all__ = ["bind_stream", "new_stack", "tls_context"]


def tls_context(config: SutConfig) -> ssl.SSLContext:
    """The server context of the TLS and WSS listeners."""
    cert, key = config.tls_cert, config.tls_key
    if cert is None:
        ca = ensure_test_ca()
        cert, key = str(ca.server_cert), str(ca.server_key)
    return server_context(cert, key, keylog=config.tls_keylog)


def challenge(ws_auth: str | None) -> str | None:
    """The WWW-Authenticate value of the 401: ``ws_auth`` as given when it names a scheme
    (``Basic realm="x"``, ``Digest ...``), else a Basic challenge for the realm ``ws_auth``."""
    if not ws_auth:
        return None
    if ws_auth.split(None, 1)[0].lower() in ("basic", "digest", "bearer") and " " in ws_auth.strip():
        return ws_auth.strip()
    return f'Basic realm="{ws_auth}"'


def ws_server(config: SutConfig) -> WsServer:
    auth = challenge(config.ws_auth)
    # FAULT: ws-no-subprotocol: 101 without Sec-WebSocket-Protocol
    return WsServer(require_auth=auth, echo_subprotocol=not config.has_fault("ws-no-subprotocol"))


def new_stack(transport: str, config: SutConfig, context: ssl.SSLContext | None) -> Stack:
    """The stack of one accepted connection."""
    return Stack.server(transport, tls_context=context,
                        ws=ws_server(config) if transport in ("ws", "wss") else None)


def bind_stream(host: str, transport: str, port: int) -> socket.socket:
    """A listening, non-blocking TCP socket for ``transport`` on ``port`` (0: TLS tries 5061
    first, then any free port)."""
    family = socket.AF_INET6 if ":" in host else socket.AF_INET
    tries = [DEFAULT_TLS_PORT, 0] if transport == "tls" and port == 0 else [port]
    last: OSError | None = None
    for candidate in tries:
        sock = socket.socket(family, socket.SOCK_STREAM)
        try:
            sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
            sock.bind((host, candidate))
            sock.listen(64)
        except OSError as exc:
            sock.close()
            last = exc
            if exc.errno in (errno.EADDRINUSE, errno.EACCES) and candidate != tries[-1]:
                continue
            raise
        sock.setblocking(False)
        return sock
    raise last or OSError(f"cannot bind {transport} on {host}")
