"""Hand-built reg-event dialogs (SUBSCRIBE / NOTIFY, RFC 3680 / RFC 6665) for the analysis tests,
beside analysis_craft's REGISTERs: the bodies are rendered with conformance.sip.reginfo."""

from __future__ import annotations

from analysis_craft import AOR, INSTANCE, REGISTRAR, hp, tcp, udp

from conformance.sip.reginfo import Contact, RegInfo, Registration, render_reginfo


def uri(addr, transport="udp") -> str:
    return f"sip:ue@{hp(addr)}" + (";transport=tcp" if transport == "tcp" else "")


def rc(cid, addr, reg_id, state="active", event="registered", instance=INSTANCE, transport="udp", **kw) -> Contact:
    return Contact(cid, state, event, uri(addr, transport), instance=instance, reg_id=reg_id, expires=600
                   if state == "active" else 0, **kw)


def doc(version, contacts, *, state="full", aor_state=None) -> bytes:
    if aor_state is None:
        aor_state = "active" if any(c.state == "active" for c in contacts) else "terminated"
    return render_reginfo(RegInfo(version, state, (Registration(AOR, "r1", aor_state, tuple(contacts)),)))


def subscribe(addr, *, call_id="s1", cseq=1, branch="z9hG4bKs1", expires=600, transport="udp", frm=AOR) -> bytes:
    lines = [f"SUBSCRIBE {AOR} SIP/2.0", f"Via: SIP/2.0/{transport.upper()} {hp(addr)};branch={branch};rport",
             "Max-Forwards: 70", f"From: <{frm}>;tag=sub1", f"To: <{AOR}>", f"Call-ID: {call_id}",
             f"CSeq: {cseq} SUBSCRIBE", "Event: reg", "Accept: application/reginfo+xml", f"Expires: {expires}",
             f"Contact: <{uri(addr, transport)};ob>", "Supported: outbound", "Content-Length: 0"]
    return ("\r\n".join(lines) + "\r\n\r\n").encode()


def notify(addr, body: bytes, *, call_id="s1", cseq=1, branch=None, sub_state="active;expires=600",
           transport="udp", to=AOR) -> bytes:
    lines = [f"NOTIFY {uri(addr, transport)};ob SIP/2.0",
             f"Via: SIP/2.0/{transport.upper()} {hp(REGISTRAR)};branch={branch or f'z9hG4bKn{call_id}{cseq}'}",
             "Max-Forwards: 70", f"From: <{AOR}>;tag=ntf1", f"To: <{to}>;tag=sub1", f"Call-ID: {call_id}",
             f"CSeq: {cseq} NOTIFY", "Event: reg", f"Subscription-State: {sub_state}",
             f"Contact: <sip:scscf@{hp(REGISTRAR)}>", "Content-Type: application/reginfo+xml",
             f"Content-Length: {len(body)}"]
    return ("\r\n".join(lines) + "\r\n\r\n").encode() + body


def answer(request: bytes, *, to_tag=None, expires=None) -> bytes:
    """The 200 to a SUBSCRIBE (with the notifier's To tag) or to a NOTIFY."""
    from conformance.sip.message import parse_message

    req = parse_message(request)
    to = req.get("To") + (f";tag={to_tag}" if to_tag else "")
    lines = ["SIP/2.0 200 OK"] + [f"Via: {v}" for v in req.get_all("Via")]
    lines += [f"From: {req.get('From')}", f"To: {to}", f"Call-ID: {req.call_id}", f"CSeq: {req.get('CSeq')}"]
    if expires is not None:
        lines.append(f"Expires: {expires}")
    lines.append("Content-Length: 0")
    return ("\r\n".join(lines) + "\r\n\r\n").encode()


class Packets:
    """Messages between UEs and the registrar as packets: UDP, or one TCP connection per UE
    address (the sequence numbers kept per direction)."""

    def __init__(self, transport="udp"):
        self.transport = transport
        self.packets: list = []
        self.seq: dict[tuple, int] = {}

    def send(self, src, dst, data: bytes) -> int:
        if self.transport == "udp":
            self.packets.append(udp(src, dst, data))
            return len(self.packets)
        for a, b in ((src, dst), (dst, src)):
            if (a, b) not in self.seq:  # a new connection: handshake first
                ue, srv = (a, b) if b == REGISTRAR else (b, a)
                self.seq[(ue, srv)], self.seq[(srv, ue)] = 1001, 5001
                self.packets += [tcp(ue, srv, 1000, flags="S", ack=0), tcp(srv, ue, 5000, flags="SA", ack=1001),
                                 tcp(ue, srv, 1001, flags="A", ack=5001)]
        s = self.seq[(src, dst)]
        self.packets.append(tcp(src, dst, s, data, ack=self.seq[(dst, src)]))
        self.seq[(src, dst)] = s + len(data)
        return len(self.packets)
