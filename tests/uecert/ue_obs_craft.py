"""Synthetic UE observations for the UE check tests: real REGISTER / 200 texts parsed with
conformance.sip.message.parse_message, placed on flows at given times.

``Ue`` is a small script of what a UE sent and what the network answered; each method appends
the Events (packet numbers counted up) and returns the request's Event."""

from __future__ import annotations

import itertools

from conformance.sip.message import parse_message
from conformance.uecert.model import UeTimers
from conformance.uecert.observation import CLOSE, IN, OUT, PING, PONG, SIP, Event, FlowKey, Observation

AOR = "sip:alice@example.test"
INSTANCE = "<urn:uuid:00000000-0000-1000-8000-aabbccddeeff>"
EDGE_UDP = ("127.0.0.1", 5060)
EDGE_TCP = ("127.0.0.1", 5060)


def udp(n: int = 1, port: int = 41000) -> FlowKey:
    return FlowKey("udp", (f"127.0.0.{10 + n}", port), EDGE_UDP)


def tcp(n: int = 1, port: int = 42000) -> FlowKey:
    return FlowKey("tcp", (f"127.0.0.{10 + n}", port), EDGE_TCP)


def register_text(flow: FlowKey, *, call_id: str, cseq: int, reg_id: int | None = 1,
                  instance: str | None = INSTANCE, supported: str = "path, outbound", expires: int = 600,
                  star: bool = False, extra: str = "", ob: bool = False) -> bytes:
    ip, port = flow.ue
    if star:
        contact = "Contact: *" + (f';reg-id={reg_id};+sip.instance="{instance}"' if reg_id else "") + "\r\nExpires: 0"
    else:
        contact = f"Contact: <sip:alice@{ip}:{port};transport={flow.transport}{';ob' if ob else ''}>"
        if reg_id is not None:
            contact += f";reg-id={reg_id}"
        if instance:
            contact += f';+sip.instance="{instance}"'
        contact += f";expires={expires}"
    sup = f"Supported: {supported}\r\n" if supported else ""
    return (f"REGISTER sip:example.test SIP/2.0\r\n"
            f"Via: SIP/2.0/{flow.transport.upper()} {ip}:{port};branch=z9hG4bK{call_id}{cseq};rport\r\n"
            f"Max-Forwards: 70\r\nFrom: <{AOR}>;tag=t{call_id}\r\nTo: <{AOR}>\r\n"
            f"Call-ID: {call_id}\r\nCSeq: {cseq} REGISTER\r\n{contact}\r\n{sup}{extra}"
            f"Content-Length: 0\r\n\r\n").encode()


def response_text(req, status: int, reason: str = "", *, extra: str = "") -> bytes:
    heads = "".join(f"Via: {v}\r\n" for v in req.get_all("Via"))
    return (f"SIP/2.0 {status} {reason or 'Reason'}\r\n{heads}From: {req.get('From')}\r\n"
            f"To: {req.get('To')};tag=srv\r\nCall-ID: {req.call_id}\r\nCSeq: {req.get('CSeq')}\r\n{extra}"
            f"Content-Length: 0\r\n\r\n").encode()


class Ue:
    def __init__(self, timers: UeTimers | None = None):
        self.obs = Observation(timers=timers or UeTimers(), aor=AOR)
        self._n = itertools.count(1)
        self._cseq = itertools.count(1)

    def ev(self, t: float, kind: str, direction: str, flow: FlowKey, msg=None, **kw) -> Event:
        return self.obs.add(Event(next(self._n), t, kind, direction, flow, msg, **kw))

    def register(self, t: float, flow: FlowKey, *, call_id: str = "c1", status: int | None = 200,
                 rtt: float = 0.01, flow_timer: int | None = None, require_outbound: bool = True,
                 resp_extra: str = "", **kw) -> Event:
        req = parse_message(register_text(flow, call_id=call_id, cseq=next(self._cseq), **kw))
        e = self.ev(t, SIP, IN, flow, req)
        if status is not None:
            extra = resp_extra
            if status == 200:
                extra += "Require: outbound\r\n" if require_outbound else ""
                extra += f"Flow-Timer: {flow_timer}\r\n" if flow_timer else ""
                if req.get("Contact") and req.get("Contact") != "*":
                    extra += f"Contact: {req.get('Contact')}\r\n"
            self.ev(t + rtt, SIP, OUT, flow, parse_message(response_text(req, status, extra=extra)))
        return e

    def request(self, t: float, flow: FlowKey, method: str, headers: str) -> Event:
        ip, port = flow.ue
        text = (f"{method} sip:bob@example.test SIP/2.0\r\nVia: SIP/2.0/{flow.transport.upper()} {ip}:{port};"
                f"branch=z9hG4bKm{t}\r\nMax-Forwards: 70\r\nFrom: <{AOR}>;tag=x\r\nTo: <sip:bob@example.test>\r\n"
                f"Call-ID: m{t}\r\nCSeq: 1 {method}\r\n{headers}Content-Length: 0\r\n\r\n")
        return self.ev(t, SIP, IN, flow, parse_message(text.encode()))

    def pings(self, flow: FlowKey, times, *, pong: bool = True, kind: str | None = None,
              mapped=None) -> None:
        kind = kind or ("stun" if flow.transport == "udp" else "crlf")
        for t in times:
            self.ev(t, PING, IN, flow, keepalive=kind)
            if pong:
                self.ev(t + 0.005, PONG, OUT, flow, keepalive=kind,
                        stun_mapped=(mapped(t) if callable(mapped) else mapped) if kind == "stun" else None)

    def close(self, t: float, flow: FlowKey, by: str = OUT) -> Event:
        return self.ev(t, CLOSE, by, flow)

    def action(self, t: float, name: str, **args) -> None:
        self.obs.actions.append((t, name, args))

    def end(self, t: float) -> Observation:
        self.obs.end = t
        return self.obs


def every(start: float, step: float, stop: float) -> list[float]:
    out, t = [], start
    while t <= stop + 1e-9:
        out.append(round(t, 3))
        t += step
    return out


def run(kind: str, obs: Observation, args: dict | None = None, strict: bool = False):
    """Findings of one UE check (the registry loaded)."""
    from conformance.uecert.checks import UeCheckContext, load_all, run_ue_check

    load_all()
    return run_ue_check(kind, args or {}, obs, UeCheckContext(strict=strict))


def outcomes(kind: str, obs: Observation, args: dict | None = None) -> list[str]:
    return [f.outcome for f in run(kind, obs, args)]
