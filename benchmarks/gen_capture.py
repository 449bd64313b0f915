#!/usr/bin/env python3
"""Generate a large capture for the offline analysis benchmark (benchmarks/analyze.py).

    python benchmarks/gen_capture.py [-n 1000000] [--aors 10000] [--tcp-share 0.1] [-o capture.pcap]

N SIP messages: REGISTER / 200 OK pairs over many AORs, each AOR a UE with two flows (reg-id 1
and 2, from two addresses), an initial registration then refreshes every ``--refresh`` seconds
of capture time.  The 200 lists every current binding with ``Require: outbound`` (so the
capture judges clean).  A share of the UEs use TCP (one connection per flow: handshake, the
messages, FIN at the end of the capture), the rest UDP.  The pcap is written as it is built
(bounded memory), with the headers the suite's own recorder packs (conformance/engine/pcap.py).
"""

from __future__ import annotations

import argparse
import struct
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from conformance.engine.pcap import PcapRecorder  # noqa: E402

REGISTRAR = ("127.0.0.1", 5060)


def _ue_addr(i: int, flow: int) -> tuple[str, int]:
    # two addresses per UE (an "added IP" for the second flow), distinct ports
    return (f"10.{(i >> 8) & 255}.{i & 255}.{flow}", 5060 + (i >> 16))


def register(i: int, flow: int, cseq: int, transport: str, expires: int) -> bytes:
    host, port = _ue_addr(i, flow)
    t = transport.upper()
    tp = ";transport=tcp" if transport == "tcp" else ""
    return (f"REGISTER sip:ims.test SIP/2.0\r\n"
            f"Via: SIP/2.0/{t} {host}:{port};branch=z9hG4bK{i:x}x{flow}x{cseq};rport\r\n"
            f"Max-Forwards: 70\r\n"
            f"From: <sip:ue{i}@ims.test>;tag=f{i}x{flow}\r\n"
            f"To: <sip:ue{i}@ims.test>\r\n"
            f"Call-ID: c{i}x{flow}@bench\r\n"
            f"CSeq: {cseq} REGISTER\r\n"
            f"Contact: <sip:ue{i}@{host}:{port}{tp}>;reg-id={flow};"
            f"+sip.instance=\"<urn:uuid:00000000-0000-1000-8000-{i:012d}>\";expires={expires}\r\n"
            f"Supported: path, outbound\r\n"
            f"User-Agent: gen-capture\r\n"
            f"Content-Length: 0\r\n\r\n").encode()


def ok(i: int, flow: int, cseq: int, transport: str, expires: int, flows: int) -> bytes:
    host, port = _ue_addr(i, flow)
    t = transport.upper()
    tp = ";transport=tcp" if transport == "tcp" else ""
    contacts = "".join(
        f"Contact: <sip:ue{i}@{h}:{p}{tp}>;reg-id={f};"
        f"+sip.instance=\"<urn:uuid:00000000-0000-1000-8000-{i:012d}>\";expires={expires}\r\n"
        for f in range(1, flows + 1) for h, p in [_ue_addr(i, f)])
    return (f"SIP/2.0 200 OK\r\n"
            f"Via: SIP/2.0/{t} {host}:{port};branch=z9hG4bK{i:x}x{flow}x{cseq};rport={port};received={host}\r\n"
            f"From: <sip:ue{i}@ims.test>;tag=f{i}x{flow}\r\n"
            f"To: <sip:ue{i}@ims.test>;tag=r{i}\r\n"
            f"Call-ID: c{i}x{flow}@bench\r\n"
            f"CSeq: {cseq} REGISTER\r\n"
            f"{contacts}"
            f"Require: outbound\r\n"
            f"Supported: path, outbound\r\n"
            f"Content-Length: 0\r\n\r\n").encode()


def generate(path: Path, messages: int, aors: int, tcp_share: float, refresh: float = 300.0,
             expires: int = 600, start: float = 1_700_000_000.0) -> dict:
    rec = PcapRecorder(start)
    path.parent.mkdir(parents=True, exist_ok=True)
    tcp_every = max(1, round(1 / tcp_share)) if tcp_share > 0 else 0
    written = udp = tcp = 0
    t0 = time.perf_counter()
    with open(path, "wb") as f:
        f.write(struct.pack("<IHHiIII", 0xA1B2C3D4, 2, 4, 0, 0, 262144, 1))

        def flush() -> None:
            for when, data in rec._packets:
                sec = int(when)
                f.write(struct.pack("<IIII", sec, int((when - sec) * 1_000_000), len(data), len(data)))
                f.write(data)
            rec._packets.clear()

        rnd = 0
        opened: set = set()
        step = refresh / (aors * 2)
        while written < messages:
            for i in range(aors):
                transport = "tcp" if tcp_every and i % tcp_every == 0 else "udp"
                # first round: flow 1 then flow 2 (Reg2 adds a binding); later rounds refresh both
                for flow in (1, 2):
                    if written >= messages:
                        break
                    when = start + rnd * refresh + (i * 2 + flow - 1) * step
                    ue = _ue_addr(i, flow)
                    cseq = rnd + 1
                    flows_now = flow if rnd == 0 else 2
                    req = register(i, flow, cseq, transport, expires)
                    resp = ok(i, flow, cseq, transport, expires, flows_now)
                    if transport == "udp":
                        rec.udp(when, ue, REGISTRAR, req)
                        rec.udp(when + 0.0005, REGISTRAR, ue, resp)
                        udp += 2
                    else:
                        if ue not in opened:
                            opened.add(ue)
                            rec.tcp_open(when - 0.0001, ue, REGISTRAR)
                        rec.tcp_data(when, ue, REGISTRAR, req)
                        rec.tcp_data(when + 0.0005, REGISTRAR, ue, resp)
                        tcp += 2
                    written += 2
                if len(rec._packets) > 20000:
                    flush()
            rnd += 1
        end = start + (rnd + 1) * refresh
        for ue in sorted(opened):
            rec.tcp_close(end, ue, REGISTRAR)
        flush()
    return {"path": str(path), "messages": written, "udp_messages": udp, "tcp_messages": tcp,
            "aors": aors, "rounds": rnd, "bytes": path.stat().st_size,
            "seconds": round(time.perf_counter() - t0, 2)}


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("-n", "--messages", type=int, default=1_000_000)
    p.add_argument("--aors", type=int, default=10_000)
    p.add_argument("--tcp-share", type=float, default=0.1, help="share of the UEs over TCP (default 0.1)")
    p.add_argument("-o", "--output", default="benchmarks/out/capture.pcap")
    a = p.parse_args(argv)
    info = generate(Path(a.output), a.messages, min(a.aors, max(1, a.messages // 4)), a.tcp_share)
    print(f"{info['messages']} messages ({info['udp_messages']} UDP, {info['tcp_messages']} TCP) over "
          f"{info['aors']} AORs, {info['rounds']} round(s): {info['path']} ({info['bytes'] / 1e6:.1f} MB) "
          f"in {info['seconds']} s")
    return 0


if __name__ == "__main__":
    sys.exit(main())
