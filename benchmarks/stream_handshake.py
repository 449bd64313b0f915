"""The cost of opening one flow per transport, as the tester opens it (engine/transport.TcpEndpoint,
engine/streamflow.StreamEndpoint), against the embedded reference on loopback: TCP connect, plus
the TLS handshake (test CA, TLS 1.3), the WebSocket upgrade, or both; then one REGISTER and its
200 over the flow.  Prints milliseconds per flow (median, 90th percentile) per transport.

    .venv/bin/python benchmarks/stream_handshake.py [--flows 200] [--json out.json]
"""

from __future__ import annotations

import argparse
import selectors
import statistics
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
sys.path.insert(0, str(Path(__file__).resolve().parent))

from _machine import machine, write_json  # noqa: E402

from conformance.engine.streamflow import StreamEndpoint  # noqa: E402
from conformance.engine.transport import TcpEndpoint  # noqa: E402
from conformance.sut.config import SutConfig  # noqa: E402
from conformance.sut.server.reference import ReferenceCscf  # noqa: E402
from conformance.wire import TlsClient, WsClient  # noqa: E402
from conformance.wire.testca import ensure_test_ca  # noqa: E402

TRANSPORTS = ("tcp", "tls", "ws", "wss")


def register(i: int, local: tuple[str, int], transport: str) -> bytes:
    via = f"{transport.upper()} {local[0]}:{local[1]}" if transport in ("tcp", "tls") else f"{transport.upper()} b{i}.invalid"
    return (f"REGISTER sip:ims.test SIP/2.0\r\nVia: SIP/2.0/{via};branch=z9hG4bKbench{i};rport\r\n"
            f"Max-Forwards: 70\r\nFrom: <sip:bench{i}@ims.test>;tag=b{i}\r\nTo: <sip:bench{i}@ims.test>\r\n"
            f"Call-ID: bench-{transport}-{i}\r\nCSeq: 1 REGISTER\r\n"
            f"Contact: <sip:bench{i}@{local[0]}:{local[1]};transport={transport}>;expires=60\r\n"
            f"Content-Length: 0\r\n\r\n").encode()


def one_flow(i: int, transport: str, port: int, ca: str) -> tuple[float, float]:
    """(ms to open the flow, ms for the REGISTER's 200)."""
    hook = lambda *a: None  # noqa: E731 - the pcap is not what is measured
    t0 = time.perf_counter()
    if transport == "tcp":
        ep = TcpEndpoint("127.0.0.11", ("127.0.0.1", port), hook, 5.0)
    else:
        tls = TlsClient(ca=ca, server_name="ims.test") if transport in ("tls", "wss") else None
        ep = StreamEndpoint("127.0.0.11", ("127.0.0.1", port), transport, hook, 5.0, tls=tls,
                            ws=WsClient() if transport != "tls" else None)
    t1 = time.perf_counter()
    ep.send(register(i, ep.local, transport))
    with selectors.DefaultSelector() as sel:
        sel.register(ep, selectors.EVENT_READ)
        deadline = time.monotonic() + 5.0
        while time.monotonic() < deadline:
            if sel.select(deadline - time.monotonic()) and any(m.kind == "message" for m in ep.read()):
                break
        else:
            raise SystemExit(f"{transport}: no answer to REGISTER {i}")
    t2 = time.perf_counter()
    ep.close()
    return (t1 - t0) * 1000, (t2 - t1) * 1000


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--flows", type=int, default=200)
    ap.add_argument("--json")
    args = ap.parse_args()
    ca = str(ensure_test_ca().ca_cert)
    ref = ReferenceCscf(SutConfig(tls_port=0, ws_port=0, wss_port=0))
    ref.start()
    figures = {}
    try:
        for transport in TRANSPORTS:
            port = ref.ports[transport]
            one_flow(-1, transport, port, ca)   # warm-up (imports, first context)
            opens, answers = zip(*(one_flow(i, transport, port, ca) for i in range(args.flows)))
            q = lambda xs: (round(statistics.median(xs), 3), round(sorted(xs)[int(len(xs) * 0.9)], 3))  # noqa: E731
            figures[transport] = {"open_ms_median_p90": q(opens), "register_ms_median_p90": q(answers)}
            print(f"{transport:4}  open {q(opens)[0]:7.3f} ms (p90 {q(opens)[1]:7.3f})   "
                  f"REGISTER->200 {q(answers)[0]:6.3f} ms (p90 {q(answers)[1]:6.3f})   [{args.flows} flows]")
    finally:
        ref.stop()
    write_json(args.json, {"benchmark": "stream_handshake", "flows": args.flows, "figures": figures,
                           "machine": machine()})
    return 0


if __name__ == "__main__":
    sys.exit(main())
