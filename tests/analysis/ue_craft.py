"""Captures of UEs for the UE-analysis tests, written with the suite's own pcap writer
(conformance/engine/pcap.py): a registrar that lists every current binding (so the network rules
pass), UEs registering flows over TCP or UDP, CRLF keep-alives with their pongs."""

from __future__ import annotations

from pathlib import Path

from conformance.engine.pcap import PcapRecorder

T0 = 1_700_000_000.0
AOR = "sip:alice@ims.test"
INSTANCE = "<urn:uuid:00000000-0000-1000-8000-0000000000a1>"
OTHER_INSTANCE = "<urn:uuid:00000000-0000-1000-8000-0000000000b2>"
REG = ("127.0.0.1", 5060)
UE1, UE2 = ("127.0.0.11", 40001), ("127.0.0.12", 40002)


class UeCapture:
    """Packets in call order; each method returns the packet numbers it wrote."""

    def __init__(self) -> None:
        self.rec = PcapRecorder(T0)
        self.bindings: dict[tuple, str] = {}  # (instance, reg-id) -> Contact value (without expires)
        self.cseq: dict[str, int] = {}

    def _n(self) -> int:
        return len(self.rec)

    def _send(self, t: float, src, dst, data: bytes, transport: str) -> int:
        if transport == "udp":
            self.rec.udp(T0 + t, src, dst, data)
        else:
            self.rec.tcp_data(T0 + t, src, dst, data)
        return self._n()

    def open(self, t: float, ue) -> int:
        self.rec.tcp_open(T0 + t, ue, REG)
        return self._n() - 2  # the SYN

    def close(self, t: float, ue) -> int:
        self.rec.tcp_close(T0 + t, ue, REG)
        return self._n() - 2  # the UE's FIN

    def register(self, t: float, ue, *, reg_id: str | None = "1", instance: str | None = INSTANCE,
                 call_id: str = "c1", expires: int = 600, flow_timer: int | None = 30,
                 transport: str = "tcp", outbound: bool = True) -> tuple[int, int]:
        cseq = self.cseq[call_id] = self.cseq.get(call_id, 0) + 1
        tp = ";transport=tcp" if transport == "tcp" else ""
        uri = f"<sip:alice@{ue[0]}:{ue[1]}{tp}>"
        params = (f";reg-id={reg_id}" if reg_id else "") + (f';+sip.instance="{instance}"' if instance else "")
        req = (f"REGISTER sip:ims.test SIP/2.0\r\nVia: SIP/2.0/{transport.upper()} {ue[0]}:{ue[1]};"
               f"branch=z9hG4bK{call_id}x{cseq};rport\r\nMax-Forwards: 70\r\nFrom: <{AOR}>;tag=t{call_id}\r\n"
               f"To: <{AOR}>\r\nCall-ID: {call_id}\r\nCSeq: {cseq} REGISTER\r\n"
               f"Contact: {uri}{params};expires={expires}\r\n"
               + ("Supported: path, outbound\r\n" if outbound else "") + "Content-Length: 0\r\n\r\n").encode()
        n_req = self._send(t, ue, REG, req, transport)
        key = (instance, reg_id) if instance and reg_id else (uri,)
        if expires == 0:
            self.bindings.pop(key, None)
        else:
            self.bindings[key] = f"{uri}{params}"
        listed = "".join(f"Contact: {c};expires=600\r\n" for c in self.bindings.values())
        resp = (f"SIP/2.0 200 OK\r\nVia: SIP/2.0/{transport.upper()} {ue[0]}:{ue[1]};branch=z9hG4bK{call_id}x{cseq};"
                f"rport={ue[1]};received={ue[0]}\r\nFrom: <{AOR}>;tag=t{call_id}\r\nTo: <{AOR}>;tag=r\r\n"
                f"Call-ID: {call_id}\r\nCSeq: {cseq} REGISTER\r\n{listed}"
                + ("Require: outbound\r\n" if outbound and reg_id else "")
                + (f"Flow-Timer: {flow_timer}\r\n" if flow_timer and outbound and reg_id else "")
                + "Content-Length: 0\r\n\r\n").encode()
        n_resp = self._send(t + 0.01, REG, ue, resp, transport)
        return n_req, n_resp

    def ping(self, t: float, ue, pong: bool = True) -> int:
        n = self._send(t, ue, REG, b"\r\n\r\n", "tcp")
        if pong:
            self._send(t + 0.001, REG, ue, b"\r\n", "tcp")
        return n

    def write(self, path: Path) -> Path:
        return self.rec.write(path)


def conformant(path: Path) -> tuple[Path, dict]:
    """Two TCP flows (reg-id 1 and 2, own Call-IDs), refreshed at 300 s, CRLF keep-alives every
    27 s (0.9 x Flow-Timer 30) on each; flow 2 removed at the end."""
    c = UeCapture()
    p = {"syn1": c.open(0, UE1)}
    p["reg1"] = c.register(0.1, UE1, reg_id="1", call_id="f1")
    p["syn2"] = c.open(1, UE2)
    p["reg2"] = c.register(1.1, UE2, reg_id="2", call_id="f2")
    p["pings1"], p["pings2"] = [], []
    for k in range(1, 12):
        p["pings1"].append(c.ping(0.1 + 27 * k, UE1))
        p["pings2"].append(c.ping(1.1 + 27 * k, UE2))
        if k == 11:
            p["ref1"] = c.register(300.5, UE1, reg_id="1", call_id="f1")
            p["ref2"] = c.register(301.5, UE2, reg_id="2", call_id="f2")
    p["del2"] = c.register(320, UE2, reg_id="2", call_id="f2", expires=0)
    p["fin2"] = c.close(321, UE2)
    return c.write(path), p


def broken(path: Path) -> tuple[Path, dict]:
    """reg-id 1 reused by the second flow (it replaces the first), keep-alives every 40 s against
    Flow-Timer 30 on the first flow."""
    c = UeCapture()
    p = {"syn1": c.open(0, UE1)}
    p["reg1"] = c.register(0.1, UE1, reg_id="1", call_id="f1")
    p["pings1"] = [c.ping(0.1 + 40 * k, UE1) for k in range(1, 5)]
    p["syn2"] = c.open(170, UE2)
    p["reg2"] = c.register(170.1, UE2, reg_id="1", call_id="f2")
    return c.write(path), p
