"""Captures of SIP over TLS, WebSocket and WebSocket over TLS for the analysis tests and the
samples in pcaps/samples/streams/: a client and a server ``conformance.wire.Stack`` exchange real
TLS records and WebSocket frames in memory; the bytes go into TCP segments (the tester's
``PcapRecorder``) and the file is pcapng with the session keys in a Decryption Secrets Block
(or without it: the no-keys case).

``python tests/analysis/stream_craft.py DIR`` writes the samples.
"""

from __future__ import annotations

import sys
import tempfile
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
if str(ROOT) not in sys.path:
    sys.path.insert(0, str(ROOT))

from conformance.engine.pcap import PcapRecorder  # noqa: E402
from conformance.wire import Stack, TlsClient, WsClient, WsServer, server_context  # noqa: E402
from conformance.wire.keylog import read_keylog  # noqa: E402
from conformance.wire.testca import ensure_test_ca  # noqa: E402

AOR = "sip:ue@ims.test"
INSTANCE = "<urn:uuid:00000000-0000-1000-8000-0000000000ws>"
UE = ("127.0.0.2", 40001)
PORTS = {"tcp": 5060, "tls": 5061, "ws": 8080, "wss": 8443}
WS_HOST = "k3x9df2.invalid"


def write_pcapng(path: Path, packets: list[tuple[float, bytes]], keylog: bytes = b"", *,
                 dsb_last: bool = False) -> Path:
    """The tester's pcapng writer (engine/pcapng.py); ``dsb_last``: the Decryption Secrets Block
    after the packets instead of before them (a file written so must still decrypt)."""
    from conformance.engine import pcapng

    if not dsb_last:
        return pcapng.write_pcapng(path, packets, keylog)
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_bytes(pcapng.pcapng_bytes(packets) + pcapng.dsb(keylog))
    return path


def _host(transport: str, addr) -> str:
    return WS_HOST if transport in ("ws", "wss") else f"{addr[0]}:{addr[1]}"


def register(transport: str, cseq: int = 1, expires: int = 600) -> bytes:
    t = "ws" if transport in ("ws", "wss") else transport
    lines = ["REGISTER sip:ims.test SIP/2.0", f"Via: SIP/2.0/{transport.upper()} {_host(transport, UE)};branch=z9hG4bKs{cseq};rport",
             "Max-Forwards: 70", f"From: <{AOR}>;tag=f1", f"To: <{AOR}>", "Call-ID: stream-1",
             f"CSeq: {cseq} REGISTER", f"Contact: {contact(transport)};expires={expires}",
             "Supported: path, outbound", "Content-Length: 0"]
    assert t
    return ("\r\n".join(lines) + "\r\n\r\n").encode()


def contact(transport: str) -> str:
    t = "ws" if transport in ("ws", "wss") else transport
    return f'<sip:ue@{_host(transport, UE)};transport={t};ob>;reg-id=1;+sip.instance="{INSTANCE}"'


def ok(request: bytes, listed: bool = True) -> bytes:
    from conformance.sip.message import parse_message

    req = parse_message(request)
    lines = ["SIP/2.0 200 OK"] + [f"Via: {v};received={UE[0]}" for v in req.get_all("Via")]
    lines += [f"From: {req.get('From')}", f"To: {req.get('To')};tag=r1", f"Call-ID: {req.call_id}",
              f"CSeq: {req.get('CSeq')}"]
    if listed:
        lines.append(f"Contact: {contact_of(req)};expires=600")
    lines += ["Require: outbound", "Supported: outbound, path", "Content-Length: 0"]
    return ("\r\n".join(lines) + "\r\n\r\n").encode()


def contact_of(req) -> str:
    return req.get("Contact").rsplit(";expires", 1)[0]


def message_to(transport: str, server) -> bytes:
    t = "ws" if transport in ("ws", "wss") else transport
    lines = [f"MESSAGE sip:ue@{_host(transport, UE)};transport={t};ob SIP/2.0",
             f"Via: SIP/2.0/{transport.upper()} {server[0]}:{server[1]};branch=z9hG4bKm1",
             "Max-Forwards: 70", "From: <sip:peer@ims.test>;tag=p", f"To: <{AOR}>", "Call-ID: m1",
             "CSeq: 1 MESSAGE", "Content-Length: 0"]
    return ("\r\n".join(lines) + "\r\n\r\n").encode()


def answer(request: bytes) -> bytes:
    from conformance.sip.message import parse_message

    req = parse_message(request)
    lines = ["SIP/2.0 200 OK"] + [f"Via: {v}" for v in req.get_all("Via")]
    lines += [f"From: {req.get('From')}", f"To: {req.get('To')};tag=u1", f"Call-ID: {req.call_id}",
              f"CSeq: {req.get('CSeq')}", "Content-Length: 0"]
    return ("\r\n".join(lines) + "\r\n\r\n").encode()


class _Wire:
    """Two stacks joined through a PcapRecorder: every byte written is a TCP segment."""

    def __init__(self, transport: str, keylog: str | None, t0: float, ca_dir: Path, ws_fragment: int = 0,
                 tls12: bool = False, rec: PcapRecorder | None = None, auth: str | None = None):
        ca = ensure_test_ca(ca_dir)
        self.transport = transport
        self.server_addr = ("127.0.0.1", PORTS[transport])
        self.rec = rec or PcapRecorder(t0)
        self.t = t0
        ctx = server_context(str(ca.server_cert), str(ca.server_key)) if transport in ("tls", "wss") else None
        tls = TlsClient(ca=str(ca.ca_cert), server_name="ims.test", keylog=keylog)
        context = None
        if tls12 and transport in ("tls", "wss"):
            import ssl

            context = tls.context()
            context.maximum_version = ssl.TLSVersion.TLSv1_2
        self.c = Stack.client(transport, tls=tls, ws=WsClient(host="ims.test", fragment=ws_fragment,
                                                              authorization=auth), context=context)
        self.s = Stack.server(transport, tls_context=ctx, ws=WsServer(require_auth='Basic realm="ims.test"'))
        self.got = {"c": [], "s": []}

    def tick(self, dt: float = 0.01) -> float:
        self.t += dt
        return self.t

    def to_server(self, data: bytes) -> None:
        while data:
            self.rec.tcp_data(self.tick(), UE, self.server_addr, data)
            ev = self.s.receive(data)
            self.got["s"] += ev.frames
            data = b""
            if ev.send:
                self.to_client(ev.send)

    def to_client(self, data: bytes) -> None:
        self.rec.tcp_data(self.tick(), self.server_addr, UE, data)
        ev = self.c.receive(data)
        self.got["c"] += ev.frames
        if ev.send:
            self.to_server(ev.send)

    def open(self) -> None:
        self.rec.tcp_open(self.tick(), UE, self.server_addr)
        self.to_server(self.c.start())
        assert self.c.ready and self.s.ready

    def close(self) -> None:
        data = self.c.close()
        if data:
            self.to_server(data)
        self.rec.tcp_close(self.tick(), UE, self.server_addr)


def flow_packets(transport: str, keylog: str | None, *, t0: float = 1_700_000_000.0, ca_dir: Path | None = None,
                 ws_fragment: int = 0, listed: bool = True, tls12: bool = False,
                 ws_auth: bool = False) -> tuple[list[tuple[float, bytes]], _Wire]:
    """One flow: REGISTER and its 200 (outbound), a CRLF ping and pong, a MESSAGE from the
    registrar side over the flow and the UE's 200, a refresh, then a polite close."""
    ca_dir = ca_dir or Path(tempfile.gettempdir()) / "conformance-stream-craft-ca"
    rec = None
    if ws_auth:  # the upgrade is answered 401 first (RFC 7118 §7), then the client retries with credentials
        w = _Wire(transport, keylog, t0, ca_dir, ws_fragment, tls12)
        w.rec.tcp_open(w.tick(), UE, w.server_addr)
        w.to_server(w.c.start())
        assert not w.c.ready
        w.rec.tcp_close(w.tick(), UE, w.server_addr)
        rec, t0 = w.rec, w.tick(1.0)
    w = _Wire(transport, keylog, t0, ca_dir, ws_fragment, tls12, rec, auth="Basic dWU6c2VjcmV0")
    w.open()
    r1 = register(transport)
    w.to_server(w.c.send_message(r1))
    w.to_client(w.s.send_message(ok(r1, listed)))
    w.to_server(w.c.send_keepalive(b"\r\n\r\n"))
    w.to_client(w.s.send_keepalive(b"\r\n"))
    m = message_to(transport, w.server_addr)
    w.to_client(w.s.send_message(m))
    w.to_server(w.c.send_message(answer(m)))
    r2 = register(transport, cseq=2)
    w.to_server(w.c.send_message(r2))
    w.to_client(w.s.send_message(ok(r2, listed)))
    w.close()
    return list(w.rec._packets), w


def stream_capture(path: Path, transport: str, *, keys: bool = True, keylog_beside: Path | None = None,
                   **kw) -> Path:
    """A flow over ``transport`` as pcapng (tcp: no keys needed). ``keys``: the DSB is written;
    ``keylog_beside``: the key log is kept in that file (for --tls-keylog) instead."""
    with tempfile.TemporaryDirectory() as tmp:
        keylog = str(Path(tmp) / "keys.log") if transport in ("tls", "wss") else None
        packets, _ = flow_packets(transport, keylog, **kw)
        secrets = read_keylog(keylog) if keylog else b""
        if keylog_beside is not None:
            keylog_beside.write_bytes(secrets)
        return write_pcapng(path, packets, secrets if keys else b"")


if __name__ == "__main__":
    out = Path(sys.argv[1] if len(sys.argv) > 1 else ROOT / "pcaps/samples/streams")
    for tr in ("tls", "ws", "wss"):
        print(stream_capture(out / f"register-{tr}.pcapng", tr))
    print(stream_capture(out / "register-tls-no-keys.pcapng", "tls", keys=False,
                         keylog_beside=out / "register-tls-no-keys.keylog"))
