"""Hand-built SIP messages and captures for the analysis tests (Scapy writes the files)."""

from __future__ import annotations

from pathlib import Path

INSTANCE = "<urn:uuid:00000000-0000-1000-8000-00000000000a>"
AOR = "sip:ue@ims.test"
UE1, UE2, UE3 = ("10.0.0.1", 40001), ("10.0.0.2", 40002), ("10.0.0.3", 40003)
REGISTRAR = ("10.0.0.100", 5060)


def hp(addr) -> str:
    return f"[{addr[0]}]:{addr[1]}" if ":" in addr[0] else f"{addr[0]}:{addr[1]}"


def contact(addr, reg_id=1, expires=600, instance=INSTANCE, transport="udp") -> str:
    t = ";transport=tcp" if transport == "tcp" else ""
    value = f"<sip:ue@{hp(addr)}{t}>"
    if reg_id is not None:
        value += f";reg-id={reg_id}"
    if instance:
        value += f';+sip.instance="{instance}"'
    if expires is not None:
        value += f";expires={expires}"
    return value


def register(addr, *, call_id="c1", cseq=1, branch="z9hG4bK1", contacts=None, supported="path, outbound",
             path=None, vias=1, transport="udp", reg_id=1, expires=600) -> bytes:
    proto = transport.upper()
    lines = [f"REGISTER sip:ims.test SIP/2.0"]
    if vias > 1:
        lines.append(f"Via: SIP/2.0/{proto} edge.test:5060;branch={branch}e")
    lines.append(f"Via: SIP/2.0/{proto} {hp(addr)};branch={branch};rport")
    lines += ["Max-Forwards: 70", f"From: <{AOR}>;tag=f{call_id}", f"To: <{AOR}>", f"Call-ID: {call_id}",
              f"CSeq: {cseq} REGISTER"]
    for c in (contacts if contacts is not None else [contact(addr, reg_id, expires, transport=transport)]):
        lines.append(f"Contact: {c}")
    if path:
        lines.append(f"Path: {path}")
    if supported:
        lines.append(f"Supported: {supported}")
    lines.append("Content-Length: 0")
    return ("\r\n".join(lines) + "\r\n\r\n").encode()


def ok(request: bytes, contacts: list[str], *, require="outbound", status="200 OK", path=None) -> bytes:
    from conformance.sip.message import parse_message

    req = parse_message(request)
    lines = [f"SIP/2.0 {status}"] + [f"Via: {v}" for v in req.get_all("Via")]
    lines += [f"From: {req.get('From')}", f"To: {req.get('To')};tag=r1", f"Call-ID: {req.call_id}",
              f"CSeq: {req.get('CSeq')}"]
    lines += [f"Contact: {c}" for c in contacts]
    if path:
        lines.append(f"Path: {path}")
    if require:
        lines.append(f"Require: {require}")
    lines.append("Content-Length: 0")
    return ("\r\n".join(lines) + "\r\n\r\n").encode()


def message_to(addr, uri, call_id="m1", transport="udp") -> bytes:
    lines = [f"MESSAGE {uri} SIP/2.0", f"Via: SIP/2.0/{transport.upper()} {REGISTRAR[0]}:5060;branch=z9hG4bKm{call_id}",
             "Max-Forwards: 70", "From: <sip:peer@ims.test>;tag=p", f"To: <{AOR}>", f"Call-ID: {call_id}",
             "CSeq: 1 MESSAGE", "Content-Length: 0"]
    return ("\r\n".join(lines) + "\r\n\r\n").encode()


# -- packets ----------------------------------------------------------------------------------
def ip(src, dst):
    from scapy.layers.inet import IP
    from scapy.layers.inet6 import IPv6

    return IPv6(src=src[0], dst=dst[0]) if ":" in src[0] else IP(src=src[0], dst=dst[0])


def udp(src, dst, payload: bytes):
    from scapy.layers.inet import UDP

    return ip(src, dst) / UDP(sport=src[1], dport=dst[1]) / payload


def tcp(src, dst, seq, payload: bytes = b"", flags="PA", ack=1):
    from scapy.layers.inet import TCP

    seg = TCP(sport=src[1], dport=dst[1], seq=seq, ack=ack, flags=flags, window=65535)
    return ip(src, dst) / seg / payload if payload else ip(src, dst) / seg


def write(path: Path, packets, *, link: str = "ether", t0: float = 1_700_000_000.0, ng: bool = False) -> Path:
    """Write packets (IP layer) with the link layer asked for: ether, raw, sll."""
    from scapy.layers.l2 import CookedLinux, Ether
    from scapy.utils import PcapNgWriter, PcapWriter

    out = []
    for i, p in enumerate(packets):
        if link == "ether":
            frame = Ether(src="02:00:00:00:00:01", dst="02:00:00:00:00:02") / p
        elif link == "sll":
            frame = CookedLinux(pkttype=0, lladdrtype=1, lladdrlen=6, src=b"\x02\0\0\0\0\x01\0\0",
                                proto=0x86DD if p.version == 6 else 0x0800) / p
        else:
            frame = p
        frame.time = t0 + i * 0.01
        out.append(frame)
    path.parent.mkdir(parents=True, exist_ok=True)
    writer = PcapNgWriter(str(path)) if ng else PcapWriter(str(path), linktype={"ether": 1, "raw": 101, "sll": 113}[link])
    for f in out:
        writer.write(f)
    writer.close()
    return path


def tcp_sample_packets(client=UE1, server=REGISTRAR):
    """A TCP flow exercising reassembly: handshake; a REGISTER split over 3 segments, the last
    two out of order and one retransmitted; the 200 and a second 200 (to a refresh) in one
    segment with the refresh sent in between; a CRLF ping and its pong; FIN."""
    r1 = register(client, transport="tcp", call_id="t1", branch="z9hG4bKt1")
    r2 = register(client, transport="tcp", call_id="t1", cseq=2, branch="z9hG4bKt2")
    c = contact(client, transport="tcp")
    o1, o2 = ok(r1, [c]), ok(r2, [c])
    cs, ss = 1000, 5000
    a, b = r1[:100], r1[100:300]
    rest = r1[300:]
    pk = [tcp(client, server, cs, flags="S", ack=0), tcp(server, client, ss, flags="SA", ack=cs + 1),
          tcp(client, server, cs + 1, flags="A", ack=ss + 1)]
    s = cs + 1
    pk.append(tcp(client, server, s, a))
    pk.append(tcp(client, server, s + len(a) + len(b), rest))  # out of order
    pk.append(tcp(client, server, s + len(a), b))
    pk.append(tcp(client, server, s + len(a), b))  # retransmission
    s += len(r1)
    pk.append(tcp(client, server, s, r2))
    s += len(r2)
    pk.append(tcp(server, client, ss + 1, o1 + o2))  # two messages in one segment
    t = ss + 1 + len(o1) + len(o2)
    pk.append(tcp(client, server, s, b"\r\n\r\n"))
    s += 4
    pk.append(tcp(server, client, t, b"\r\n"))
    t += 2
    pk.append(tcp(client, server, s, flags="FA"))
    pk.append(tcp(server, client, t, flags="FA"))
    return pk
