#!/usr/bin/env python3
"""What one flow costs over each connection transport of the embedded reference: the TCP connect
plus the TLS / WebSocket handshakes, and the first REGISTER and its 200, over loopback.

    python benchmarks/reference_handshake.py [N] [--json FILE]

N flows per transport (default 200), one after the other, each a new connection closed after its
200 (the client side is conformance.wire.Stack, in this process, so the figures include both
ends' Python work).  Prints the median and 90th percentile per transport and the machine.
"""

from __future__ import annotations

import socket
import statistics
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from _machine import machine, write_json  # noqa: E402

from conformance.sip.framing import Message, StreamFramer  # noqa: E402
from conformance.sut.config import SutConfig  # noqa: E402
from conformance.sut.server.reference import ReferenceCore  # noqa: E402
from conformance.wire import Stack, TlsClient, WsClient  # noqa: E402
from conformance.wire.testca import ensure_test_ca  # noqa: E402

TRANSPORTS = ("tcp", "tls", "ws", "wss")


def register(transport: str, i: int) -> bytes:
    host = f"b{i}.invalid" if transport in ("ws", "wss") else "127.0.0.1"
    uri_t = {"tcp": "tcp", "tls": "tls"}.get(transport, "ws")
    aor = f"sip:bench{i}@ims.test"
    return (f"REGISTER sip:ims.test SIP/2.0\r\nVia: SIP/2.0/{transport.upper()} {host};branch=z9hG4bK-b{i};rport\r\n"
            f"Max-Forwards: 70\r\nFrom: <{aor}>;tag=b{i}\r\nTo: <{aor}>\r\nCall-ID: bench-{transport}-{i}\r\n"
            f"CSeq: 1 REGISTER\r\nSupported: path, outbound\r\n"
            f"Contact: <sip:bench{i}@{host};transport={uri_t};ob>;reg-id=1;"
            f"+sip.instance=\"<urn:uuid:00000000-0000-1000-8000-{i:012d}>\"\r\n"
            f"Expires: 60\r\nContent-Length: 0\r\n\r\n").encode()


def one_flow(transport: str, port: int, ca: str, i: int) -> tuple[float, float]:
    """(seconds to a usable flow, seconds to the 200 after that)."""
    t0 = time.perf_counter()
    sock = socket.create_connection(("127.0.0.1", port), timeout=5)
    try:
        if transport == "tcp":
            stack, framer = None, StreamFramer()
        else:
            stack = Stack.client(transport, tls=TlsClient(ca=ca, server_name="ims.test"), ws=WsClient())
            sock.sendall(stack.start())
            while not stack.ready:
                ev = stack.receive(sock.recv(65536))
                if ev.send:
                    sock.sendall(ev.send)
                if ev.error or ev.closed:
                    raise RuntimeError(f"{transport} handshake: {ev.error or ev.closed}")
        t1 = time.perf_counter()
        data = register(transport, i)
        sock.sendall(stack.send_message(data) if stack else data)
        while True:
            chunk = sock.recv(65536)
            if not chunk:
                raise RuntimeError("closed before the 200")
            frames = stack.receive(chunk).frames if stack else framer.feed(chunk)
            if any(isinstance(f, Message) and f.data.startswith(b"SIP/2.0 200") for f in frames):
                break
        t2 = time.perf_counter()
        if stack:
            try:
                sock.sendall(stack.close())
            except OSError:
                pass
        return t1 - t0, t2 - t1
    finally:
        sock.close()


def measure(n: int) -> dict:
    ca = str(ensure_test_ca().ca_cert)
    srv = ReferenceCore(SutConfig(tls_port=0, ws_port=0, wss_port=0, max_bindings_per_aor=64)).start()
    out = {}
    try:
        for transport in TRANSPORTS:
            port = srv.ports[transport]
            one_flow(transport, port, ca, 10_000_000)          # warm-up (imports, first context)
            setup, reg = [], []
            for i in range(n):
                a, b = one_flow(transport, port, ca, i)
                setup.append(a)
                reg.append(b)
            q = lambda xs, p: sorted(xs)[min(len(xs) - 1, int(p * len(xs)))]  # noqa: E731
            out[transport] = {"flows": n,
                              "connect_and_handshake_ms_median": round(statistics.median(setup) * 1000, 3),
                              "connect_and_handshake_ms_p90": round(q(setup, 0.9) * 1000, 3),
                              "register_200_ms_median": round(statistics.median(reg) * 1000, 3),
                              "register_200_ms_p90": round(q(reg, 0.9) * 1000, 3)}
    finally:
        srv.stop()
    return out


def main(argv: list[str]) -> int:
    json_path = None
    if "--json" in argv:
        k = argv.index("--json")
        json_path = argv[k + 1]
        argv = argv[:k] + argv[k + 2:]
    n = int(argv[0]) if argv else 200
    figures = measure(n)
    print(f"{'transport':10} {'handshake ms (median / p90)':>28} {'REGISTER->200 ms (median / p90)':>32}")
    for t, f in figures.items():
        print(f"{t:10} {f['connect_and_handshake_ms_median']:>13} / {f['connect_and_handshake_ms_p90']:<12}"
              f" {f['register_200_ms_median']:>15} / {f['register_200_ms_p90']:<12}")
    doc = {"benchmark": "reference_handshake", "machine": machine(), "figures": figures}
    print(doc["machine"])
    write_json(json_path, doc)
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
