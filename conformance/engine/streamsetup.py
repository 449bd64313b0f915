"""Opening a flow's tls / ws / wss connection from the target profile: where (the SUT's port for
the transport, ``Target.port_of``), what the tester trusts (``tls:``: CA, server name, client
certificate) and the WebSocket upgrade (``ws:``: path, Host), with the session keys logged to
the case's key log for the pcap's Decryption Secrets Block (engine/pcapng.py).

A flow may override the profile for one case (``FlowSpec.tls`` / ``FlowSpec.ws`` when the case
format has them): e.g. a wrong ``server_name`` to see the handshake fail, ``authorization`` on
the first upgrade, ``retry_authorization`` for a second upgrade after a 401 (RFC 7118 §7),
``fragment`` to split WebSocket messages.
"""

from __future__ import annotations

from pathlib import Path

from ..sip.errors import LocalProtocolError
from ..wire.stack import STREAM_TRANSPORTS
from ..wire.tlsconf import TlsClient, resolve_ca
from ..wire.ws import WsClient
from .streamflow import StreamEndpoint

__all__ = ["STREAM_TRANSPORTS", "open_stream", "tls_client", "ws_client"]


def _profile_dir(target) -> Path | None:
    return Path(target.path).resolve().parent if getattr(target, "path", "") else None


def _file(path: str | None, base: Path | None) -> str | None:
    if not path:
        return None
    p = Path(path)
    return str(p if p.is_absolute() or base is None else base / p)


def _overrides(spec, key: str) -> dict:
    value = getattr(spec, key, None) if spec is not None else None
    if value is None:
        return {}
    return dict(value) if isinstance(value, dict) else dict(vars(value))


def tls_client(target, keylog: str | None, spec=None) -> TlsClient:
    """The TlsClient of a flow: the profile's ``tls:`` (server name: the target's domain unless
    given), overridden by the flow's ``tls:``."""
    prof = target.tls
    base = _profile_dir(target)
    over = _overrides(spec, "tls")
    ca = over.get("ca", prof.ca)
    return TlsClient(ca=resolve_ca(ca, base),
                     server_name=over.get("server_name") or prof.server_name or target.domain,
                     client_cert=_file(over.get("client_cert", prof.client_cert), base),
                     client_key=_file(over.get("client_key", prof.client_key), base),
                     verify=bool(over.get("verify", prof.verify)), keylog=keylog)


def ws_client(target, spec=None) -> WsClient:
    """The WebSocket upgrade of a flow: the profile's ``ws:`` (Host: the target's domain unless
    given), overridden by the flow's ``ws:``."""
    prof = target.ws
    over = _overrides(spec, "ws")
    return WsClient(path=over.get("path") or prof.path or "/",
                    host=over.get("host") or prof.host or target.domain,
                    subprotocol=over.get("subprotocol", "sip"),
                    authorization=over.get("authorization"), fragment=int(over.get("fragment") or 0))


def open_stream(run, flow) -> StreamEndpoint:
    """Connect the flow and finish its handshakes within ``timers.connect`` (HandshakeError with
    the reason otherwise)."""
    t = run.target
    port = t.port_of(flow.transport)
    if not port:
        raise LocalProtocolError(f"target '{t.name}' gives no port for transport {flow.transport} "
                                 f"(ports: {{{flow.transport}: PORT}}, docs/targets.md)")
    host = run.sut_for(flow.local_ip)[0]
    tls = tls_client(t, run.keylog_file(), flow.spec) if flow.transport in ("tls", "wss") else None
    ws = ws_client(t, flow.spec) if flow.transport in ("ws", "wss") else None
    retry = None
    if ws is not None:   # credentials for a 401 on the upgrade (RFC 7118 §7): the flow's, else the profile's
        retry = _overrides(flow.spec, "ws").get("retry_authorization") or getattr(t.ws, "authorization", None)
    return StreamEndpoint(flow.local_ip, (host, port), flow.transport, run.on_wire, t.timers.connect,
                          tls=tls, ws=ws, sock_factory=run.sock_factory(flow.local_ip, getattr(flow.spec, "site", 1)),
                          retry_authorization=retry)
