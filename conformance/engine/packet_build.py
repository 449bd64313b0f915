"""The ``packet:`` step's datagrams, built sans-IO with Scapy and the project's SIP layer.

A case writes the layers with their fields; :mod:`.packet` resolves the names in them (``flow``,
a flow name, ``sut``) against the run and hands a :class:`Datagram` here.  What comes back is the
list of IP packets to put on the wire as they are: one, or the fragments of one datagram, which
is what ordinary sockets cannot send on loopback (its MTU is 64 KiB) and what RFC 3261 §18.1.1
says a UDP request above 1300 bytes risks.

Nothing here opens a socket, so the fragment sizes and offsets, the spoofed source and the ESP
SPI and sequence number are unit-tested against Scapy's own reassembly and dissection.
"""

from __future__ import annotations

import random
import re
from dataclasses import dataclass

from scapy.layers.inet import IP, UDP, fragment
from scapy.layers.inet6 import IPv6, IPv6ExtHdrFragment, fragment6
from scapy.layers.ipsec import ESP, SecurityAssociation
from scapy.packet import Packet

from ..ims.espscapy import SCAPY_AUTH, SCAPY_ENC
from ..sip.layer import SIP

__all__ = ["Datagram", "EspFields", "PAD_HEADER", "build", "pad_message", "wire_size"]

#: The header that pads a message to ``sip.pad`` octets (RFC 3261 §7.3: an unknown header a
#: receiver ignores).
PAD_HEADER = "X-Pad"
#: The smallest ``ip.fragment``: an IPv6 header, its fragment header and 8 octets of payload.
MIN_FRAGMENT = 56
IPV4_MAX = 65535


@dataclass(frozen=True)
class EspFields:
    """ESP (RFC 4303) around the UDP datagram, transport mode.  ``sa``: the keys to protect it
    with (anything with spi, alg, ealg, auth_key, enc_key, as :class:`~conformance.ims.sa.SA`),
    or None for NULL encryption without integrity; ``spi`` may differ from the SA's (an SPI the
    SUT never allocated, sealed with real keys)."""

    spi: int
    seq: int
    sa: object = None


@dataclass(frozen=True)
class Datagram:
    """One UDP datagram with its addresses resolved: ``src`` may be any address (a spoofed
    one); ``fragment`` is the largest IP packet on the wire, in octets (None: one packet)."""

    src: str
    dst: str
    sport: int
    dport: int
    payload: bytes
    fragment: int | None = None
    ttl: int | None = None
    ip_id: int | None = None
    esp: EspFields | None = None

    @property
    def ipv6(self) -> bool:
        return ":" in self.dst


def pad_message(data: bytes, size: int) -> bytes:
    """``data`` with a :data:`PAD_HEADER` line making it ``size`` octets (the body and its
    Content-Length untouched); unchanged when it is already that long or longer."""
    line = f"{PAD_HEADER}: ".encode() + b"\r\n"
    missing = size - len(data) - len(line)
    if size <= len(data):
        return data
    if missing < 1:
        raise ValueError(f"sip.pad {size}: the message is {len(data)} octets; a pad header needs "
                         f"at least {len(line) + 1} more")
    end = data.find(b"\r\n\r\n")
    if end < 0:
        raise ValueError("sip.pad: the message has no empty line ending its headers")
    pad = f"{PAD_HEADER}: ".encode() + b"a" * missing + b"\r\n"
    return data[:end + 2] + pad + data[end + 2:]


def fill_template(template: str, fields: dict[str, object]) -> bytes:
    """A message template's ``{name}`` placeholders filled (only names, never expressions: the
    template is text, not code); LF line ends become CRLF, and a header section without its
    empty line gets one."""
    def one(m: re.Match) -> str:
        name = m.group(1)
        if name not in fields:
            raise KeyError(f"unknown placeholder {{{name}}}; known: {', '.join(sorted(fields))}")
        return str(fields[name])

    text = re.sub(r"\{([A-Za-z_][A-Za-z0-9_]*)\}", one, template)
    if "\r\n" not in text:
        text = text.replace("\n", "\r\n")
    if "\r\n\r\n" not in text:   # a YAML block ends with one line end: the empty line added
        text = text.rstrip("\r\n") + "\r\n\r\n"
    return text.encode("utf-8")


def _scapy_sa(esp: EspFields) -> SecurityAssociation:
    sa = esp.sa
    if sa is None:
        return SecurityAssociation(ESP, spi=esp.spi, crypt_algo="NULL", auth_algo="NULL")
    return SecurityAssociation(ESP, spi=esp.spi, crypt_algo=SCAPY_ENC[sa.ealg], crypt_key=sa.enc_key or None,
                               auth_algo=SCAPY_AUTH[sa.alg], auth_key=sa.auth_key)


def datagram_packet(d: Datagram) -> Packet:
    """The whole datagram as one IP packet (before fragmentation): IP/UDP/SIP, or IP/ESP."""
    if not d.ipv6 and len(d.payload) + 28 > IPV4_MAX:
        raise ValueError(f"a {len(d.payload)}-octet message does not fit one IPv4 datagram "
                         f"({IPV4_MAX} octets with the IP and UDP headers)")
    ip_fields: dict = {"src": d.src, "dst": d.dst}
    if d.ipv6:
        ip = IPv6(**ip_fields, **({"hlim": d.ttl} if d.ttl is not None else {}))
    else:
        ip = IP(**ip_fields, id=d.ip_id if d.ip_id is not None else random.randrange(1, 0x10000),
                **({"ttl": d.ttl} if d.ttl is not None else {}))
    pkt = ip / UDP(sport=d.sport, dport=d.dport) / SIP(d.payload)
    pkt = pkt.__class__(bytes(pkt))   # lengths and checksum fixed before ESP or fragments
    if d.esp is not None:
        pkt = _scapy_sa(d.esp).encrypt(pkt, seq_num=d.esp.seq)
        pkt = pkt.__class__(bytes(pkt))
    return pkt


def build(d: Datagram) -> list[Packet]:
    """The IP packets that carry ``d``, in sending order: the datagram itself, or its
    fragments, each at most ``d.fragment`` octets (RFC 791 §2.3: fragment data in multiples of
    8 octets; RFC 8200 §4.5 for IPv6)."""
    pkt = datagram_packet(d)
    if d.fragment is None or len(pkt) <= d.fragment:
        return [pkt]
    if d.fragment < MIN_FRAGMENT:
        raise ValueError(f"ip.fragment {d.fragment}: at least {MIN_FRAGMENT} octets")
    if d.ipv6:
        ident = d.ip_id if d.ip_id is not None else random.randrange(1, 0x100000000)
        whole = IPv6(bytes(pkt))
        head = whole.copy()
        head.remove_payload()
        del head.plen
        head.nh = 44
        marked = head / IPv6ExtHdrFragment(nh=whole.nh, id=ident) / whole.payload
        return [IPv6(bytes(f)) for f in fragment6(marked, d.fragment)]
    data = (d.fragment - pkt[IP].ihl * 4) // 8 * 8
    return [IP(bytes(f)) for f in fragment(pkt, fragsize=data)]


def wire_size(d: Datagram) -> int:
    """The datagram's IP length before fragmentation (the ``above 65 000 B`` of TP_REG_037)."""
    return len(datagram_packet(d))
