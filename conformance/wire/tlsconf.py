"""TLS settings for the two sides: the client's trust (CA, server name, optional client
certificate, NSS key log) and the server's context. Plain data plus ``ssl.SSLContext`` builders;
no sockets."""

from __future__ import annotations

import ssl
from dataclasses import dataclass
from pathlib import Path

__all__ = ["TlsClient", "server_context", "resolve_ca"]


def resolve_ca(ca: str | None, base: Path | None = None) -> str | None:
    """A profile's ``ca``: ``test-ca`` is the suite's generated test CA, else a file path
    (relative to ``base``, the profile's folder)."""
    if ca in (None, ""):
        return None
    if ca == "test-ca":
        from .testca import ensure_test_ca
        return str(ensure_test_ca().ca_cert)
    path = Path(ca)
    if not path.is_absolute() and base is not None:
        path = base / path
    return str(path)


@dataclass
class TlsClient:
    """What a TLS client trusts and shows. ``server_name`` is checked against the server's
    certificate (and sent as SNI unless it is an IP address); ``verify=False`` accepts any
    certificate (a run that does so says it in its verdict reasons)."""

    ca: str | None = None
    server_name: str | None = None
    client_cert: str | None = None
    client_key: str | None = None
    verify: bool = True
    keylog: str | None = None  # NSS key log file (appended): the pcap's Decryption Secrets Block

    def context(self) -> ssl.SSLContext:
        ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_CLIENT)
        ctx.minimum_version = ssl.TLSVersion.TLSv1_2
        if self.verify:
            if self.ca:
                ctx.load_verify_locations(cafile=self.ca)
            else:
                ctx.load_default_certs()
        else:
            ctx.check_hostname = False
            ctx.verify_mode = ssl.CERT_NONE
        if self.client_cert:
            ctx.load_cert_chain(self.client_cert, self.client_key)
        if self.keylog:
            ctx.keylog_filename = self.keylog
        return ctx


def server_context(cert: str, key: str, ca: str | None = None, keylog: str | None = None,
                   require_client_cert: bool = False) -> ssl.SSLContext:
    """A server context: its certificate chain, optionally a CA for client certificates
    (RFC 5630/3261 §26.3.2.1 mutual TLS between proxies) and an NSS key log."""
    ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
    ctx.minimum_version = ssl.TLSVersion.TLSv1_2
    ctx.load_cert_chain(cert, key)
    if ca:
        ctx.load_verify_locations(cafile=ca)
        ctx.verify_mode = ssl.CERT_REQUIRED if require_client_cert else ssl.CERT_OPTIONAL
    if keylog:
        ctx.keylog_filename = keylog
    return ctx
