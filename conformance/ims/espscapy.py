"""The same ESP packets through scapy's ``SecurityAssociation``: crafting and cross-checking.

scapy names the algorithms ``HMAC-MD5-96``, ``HMAC-SHA1-96``, ``NULL``, ``AES-CBC``, ``3DES``.
``SecurityAssociation.decrypt`` mutates the packet it is given, so :func:`dissect` works on a
copy (the original may still be logged or written to a pcap).  scapy keeps no replay window;
:class:`~.esp.ReplayWindow` does that.  scapy costs about 0.5-1 ms a packet: use it to build,
dissect and mutate, and :mod:`.esp` where throughput matters.
"""

from __future__ import annotations

from scapy.layers.inet import IP
from scapy.layers.ipsec import ESP, IPSecIntegrityError, SecurityAssociation

from .errors import BadIcv, MalformedEsp

__all__ = ["SCAPY_AUTH", "SCAPY_ENC", "scapy_sa", "build", "dissect"]

SCAPY_AUTH = {"hmac-md5-96": "HMAC-MD5-96", "hmac-sha-1-96": "HMAC-SHA1-96"}
SCAPY_ENC = {"null": "NULL", "aes-cbc": "AES-CBC", "des-ede3-cbc": "3DES"}


def scapy_sa(sa, seq_num: int = 1) -> SecurityAssociation:
    """A scapy SA from anything with spi, alg, ealg, auth_key, enc_key."""
    return SecurityAssociation(
        ESP, spi=sa.spi, seq_num=seq_num, crypt_algo=SCAPY_ENC[sa.ealg],
        crypt_key=sa.enc_key or None, auth_algo=SCAPY_AUTH[sa.alg], auth_key=sa.auth_key)


def build(sa, inner: IP, *, seq: int = 1, iv: bytes | None = None) -> IP:
    """IP/ESP from a clear IP packet (e.g. ``IP()/UDP()/Raw(sip)``)."""
    return scapy_sa(sa).encrypt(inner, seq_num=seq, iv=iv)


def dissect(sa, packet: IP, *, verify: bool = True) -> IP:
    """The clear IP packet inside ``packet`` (left untouched); :class:`BadIcv` on a bad ICV."""
    copy = packet.copy()
    try:
        return scapy_sa(sa).decrypt(copy, verify=verify)
    except IPSecIntegrityError:
        raise BadIcv(sa.spi, copy[ESP].seq if ESP in copy else 0) from None
    except (ValueError, IndexError, TypeError) as exc:
        raise MalformedEsp(f"scapy could not decrypt: {exc}") from None
