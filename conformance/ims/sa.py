"""The four IPsec SAs between UE and P-CSCF (TS 33.203 7.1 / Annex H, RFC 3329 Appendix A).

The SPI of each SA is the one chosen by the side that receives on it (RFC 3329 Appendix A:
"Defines the SPI number used for inbound messages"):

====  =========================  ======  ==========
SA    packets                    SPI     inbound at
====  =========================  ======  ==========
1     UE:port_uc -> P:port_ps    spi_ps  P-CSCF
2     P:port_ps  -> UE:port_uc   spi_uc  UE
3     P:port_pc  -> UE:port_us   spi_us  UE
4     UE:port_us -> P:port_pc    spi_pc  P-CSCF
====  =========================  ======  ==========

Keys (TS 33.203 Annex I, as open-source P-CSCFs implement it): hmac-md5-96 uses IK (128 bit);
hmac-sha-1-96 uses IK followed by 32 zero bits (160 bit); aes-cbc uses CK (128 bit);
des-ede3-cbc uses CK1 || CK2 || CK1 with CK = CK1 || CK2 (192 bit); null has no key.
"""

from __future__ import annotations

from dataclasses import dataclass, field

from .errors import SecAgreeError
from .secagree import IpsecMechanism

__all__ = ["SaSpec", "SaSet", "auth_key", "enc_key", "derive_sas"]

UE, PCSCF = "ue", "pcscf"


def auth_key(alg: str, ik: bytes) -> bytes:
    if len(ik) != 16:
        raise ValueError("IK is 16 octets")
    if alg == "hmac-md5-96":
        return bytes(ik)
    if alg == "hmac-sha-1-96":
        return bytes(ik) + bytes(4)
    raise SecAgreeError(f"unknown alg {alg!r}")


def enc_key(ealg: str, ck: bytes) -> bytes:
    if len(ck) != 16:
        raise ValueError("CK is 16 octets")
    if ealg == "null":
        return b""
    if ealg == "aes-cbc":
        return bytes(ck)
    if ealg == "des-ede3-cbc":
        return bytes(ck[:8] + ck[8:] + ck[:8])
    raise SecAgreeError(f"unknown ealg {ealg!r}")


@dataclass(frozen=True)
class SaSpec:
    """One unidirectional transport-mode ESP SA."""
    number: int
    src: str
    sport: int
    dst: str
    dport: int
    spi: int
    inbound_at: str          # "ue" or "pcscf"
    alg: str
    ealg: str
    auth_key: bytes = field(repr=False)
    enc_key: bytes = field(repr=False)

    @property
    def outbound_at(self) -> str:
        return UE if self.inbound_at == PCSCF else PCSCF


@dataclass(frozen=True)
class SaSet:
    sas: tuple[SaSpec, SaSpec, SaSpec, SaSpec]

    def __getitem__(self, number: int) -> SaSpec:
        return self.sas[number - 1]

    def inbound(self, role: str) -> list[SaSpec]:
        """The SAs ``role`` ("ue" or "pcscf") decrypts with."""
        return [s for s in self.sas if s.inbound_at == role]

    def outbound(self, role: str) -> list[SaSpec]:
        return [s for s in self.sas if s.inbound_at != role]

    def by_spi(self, spi: int) -> SaSpec | None:
        return next((s for s in self.sas if s.spi == spi), None)

    def for_ports(self, sport: int, dport: int) -> SaSpec | None:
        """The SA for a packet from ``sport`` to ``dport`` (the selector of the SPD)."""
        return next((s for s in self.sas if (s.sport, s.dport) == (sport, dport)), None)


def derive_sas(client: IpsecMechanism, server: IpsecMechanism, *, ck: bytes, ik: bytes,
               ue_addr: str, pcscf_addr: str) -> SaSet:
    """The four SAs from the UE's Security-Client entry and the P-CSCF's chosen Security-Server
    entry (alg and ealg are the server's, which the UE adopted)."""
    a, e = server.alg, server.ealg
    ka, ke = auth_key(a, ik), enc_key(e, ck)
    return SaSet((
        SaSpec(1, ue_addr, client.port_c, pcscf_addr, server.port_s, server.spi_s, PCSCF,
               a, e, ka, ke),
        SaSpec(2, pcscf_addr, server.port_s, ue_addr, client.port_c, client.spi_c, UE,
               a, e, ka, ke),
        SaSpec(3, pcscf_addr, server.port_c, ue_addr, client.port_s, client.spi_s, UE,
               a, e, ka, ke),
        SaSpec(4, ue_addr, client.port_s, pcscf_addr, server.port_c, server.spi_c, PCSCF,
               a, e, ka, ke),
    ))
