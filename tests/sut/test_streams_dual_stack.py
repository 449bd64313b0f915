"""A dual-stack reference (alt_host, as in targets/reference-nat.yaml) serves its TLS / WS / WSS
listeners on the other family too, on the same ports, as its UDP/TCP twins."""

from __future__ import annotations

import socket

import pytest

from conformance.sut.config import SutConfig
from conformance.sut.server.reference import ReferenceCore


def _has_ipv6_loopback() -> bool:
    try:
        with socket.socket(socket.AF_INET6, socket.SOCK_STREAM) as s:
            s.bind(("::1", 0))
        return True
    except OSError:
        return False


@pytest.mark.skipif(not _has_ipv6_loopback(), reason="no IPv6 loopback")
def test_stream_listeners_on_both_families():
    srv = ReferenceCore(SutConfig(tls_port=0, ws_port=0, wss_port=0), host="127.0.0.1", port=0,
                        alt_host="::1").start()
    try:
        ports = srv.ports
        assert set(ports) == {"udp", "tcp", "tls", "ws", "wss"}
        for t in ("tls", "ws", "wss"):
            for host in ("127.0.0.1", "::1"):
                with socket.create_connection((host, ports[t]), timeout=2):
                    pass
    finally:
        srv.stop()
