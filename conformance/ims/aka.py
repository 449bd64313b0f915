"""AKA authentication vectors, the UE's AUTN check and SQN resynchronisation.

Sources: TS 33.102 6.3 (not in the project's rfc/ folder; the layout is the one RFC 3310 §3.2
relies on): AUTN = (SQN xor AK) || AMF || MAC-A with AK = f5(RAND), MAC-A = f1(SQN, RAND, AMF);
AUTS = (SQN_MS xor AK*) || MAC-S with AK* = f5*(RAND) and MAC-S = f1*(SQN_MS, RAND, AMF = 0000).
RFC 3310 §3.2: the nonce is base64(RAND || AUTN || optional server data).

``algo`` is anything with the f1..f5* interface: :class:`~.milenage.Milenage` or
:class:`~.xortest.XorTest`.  The UE checks the MAC first, then the SQN (TS 33.102 6.3.3); both
failures are :class:`~.errors.AkaError` values a caller turns into a verdict or into the
TS 24.229 5.1.1.5.1 reaction (empty response, or ``auts``).
"""

from __future__ import annotations

import base64
import binascii
from dataclasses import dataclass, field

from .errors import AkaError, MacFailure, SqnOutOfRange

__all__ = [
    "AuthVector", "AkaResult", "SqnState", "AuthCentre", "make_vector", "split_nonce",
    "make_nonce", "check_challenge", "make_auts", "verify_auts", "RESYNC_AMF",
]

SQN_MAX = (1 << 48) - 1
RESYNC_AMF = b"\x00\x00"   # AMF* of MAC-S (TS 33.102 6.3.3)


def _sqn_bytes(sqn: int) -> bytes:
    if not 0 <= sqn <= SQN_MAX:
        raise ValueError(f"SQN {sqn} is not a 48-bit value")
    return sqn.to_bytes(6, "big")


def _xor(a: bytes, b: bytes) -> bytes:
    return bytes(x ^ y for x, y in zip(a, b))


def make_nonce(rand: bytes, autn: bytes, server_data: bytes = b"") -> str:
    """base64(RAND || AUTN || server data) (RFC 3310 §3.2)."""
    if len(rand) != 16 or len(autn) != 16:
        raise ValueError("RAND and AUTN are 16 octets each")
    return base64.b64encode(rand + autn + server_data).decode("ascii")


def split_nonce(nonce: str) -> tuple[bytes, bytes, bytes]:
    """(RAND, AUTN, server data) from a nonce; :class:`AkaError` if it is not such a nonce."""
    try:
        raw = base64.b64decode(nonce.encode("ascii"), validate=True)
    except (binascii.Error, ValueError, UnicodeEncodeError) as exc:
        raise AkaError(f"nonce is not base64: {exc}") from None
    if len(raw) < 32:
        raise AkaError(f"nonce decodes to {len(raw)} octets; RAND || AUTN needs 32 (RFC 3310 §3.2)")
    return raw[:16], raw[16:32], raw[32:]


@dataclass(frozen=True)
class AuthVector:
    """A quintet as the AuC/HSS hands it to the S-CSCF: RAND, XRES, CK, IK, AUTN."""
    rand: bytes
    xres: bytes
    ck: bytes
    ik: bytes
    autn: bytes
    sqn: int
    amf: bytes

    def nonce(self, server_data: bytes = b"") -> str:
        return make_nonce(self.rand, self.autn, server_data)


def make_vector(algo, rand: bytes, sqn: int, amf: bytes = b"\x80\x00") -> AuthVector:
    """The network side of AKA: AUTN = (SQN xor AK) || AMF || MAC-A, and XRES/CK/IK."""
    sqn_b = _sqn_bytes(sqn)
    mac_a = algo.f1(rand, sqn_b, amf)
    xres, ck, ik, ak = algo.f2345(rand)
    return AuthVector(rand, xres, ck, ik, _xor(sqn_b, ak) + amf + mac_a, sqn, bytes(amf))


@dataclass
class SqnState:
    """The USIM's record of accepted SQNs (TS 33.102 Annex C.2 profile, simplified).

    SQN = SEQ || IND with ``ind_bits`` low bits of IND (0: one plain counter).  A SQN is fresh
    when its SEQ is above the SEQ stored for its IND, and at most ``delta`` above the highest SEQ
    accepted so far (``delta`` None: no upper limit).
    """
    ind_bits: int = 0
    delta: int | None = 1 << 28
    seq_ms: list[int] = field(default_factory=list)

    def __post_init__(self):
        if not self.seq_ms:
            self.seq_ms = [0] * (1 << self.ind_bits)

    @property
    def sqn_ms(self) -> int:
        """The highest accepted SQN, the SQN_MS sent in AUTS."""
        seq = max(self.seq_ms)
        return (seq << self.ind_bits) | self.seq_ms.index(seq)

    def why_not(self, sqn: int) -> str | None:
        """None when ``sqn`` is fresh, otherwise the reason it is not."""
        seq, ind = sqn >> self.ind_bits, sqn & ((1 << self.ind_bits) - 1)
        if seq <= self.seq_ms[ind]:
            return f"SEQ {seq} is not above the last accepted {self.seq_ms[ind]} (IND {ind})"
        top = max(self.seq_ms)
        if self.delta is not None and seq - top > self.delta:
            return f"SEQ {seq} is more than {self.delta} above the highest accepted {top}"
        return None

    def accept(self, sqn: int) -> None:
        self.seq_ms[sqn & ((1 << self.ind_bits) - 1)] = sqn >> self.ind_bits


@dataclass(frozen=True)
class AkaResult:
    """What the UE obtains from a good challenge."""
    res: bytes
    ck: bytes
    ik: bytes
    sqn: int
    amf: bytes


def check_challenge(algo, rand: bytes, autn: bytes, sqns: SqnState | None = None) -> AkaResult:
    """The USIM's side (TS 33.102 6.3.3): verify MAC-A, then the SQN range, then run f2-f4.

    Raises :class:`MacFailure` on a bad MAC-A and :class:`SqnOutOfRange` (carrying the AUTS to
    send) on a stale SQN.  ``sqns`` is updated only when the challenge is accepted; without it
    any SQN is accepted.
    """
    if len(rand) != 16 or len(autn) != 16:
        raise AkaError("RAND and AUTN are 16 octets each")
    res, ck, ik, ak = algo.f2345(rand)
    sqn_b, amf, mac = _xor(autn[:6], ak), autn[6:8], autn[8:]
    xmac = algo.f1(rand, sqn_b, amf)
    import hmac  # here: hashlib's OpenSSL library is not loaded by an import of this module

    if not hmac.compare_digest(xmac, mac):
        raise MacFailure(f"MAC-A {mac.hex()} in AUTN differs from XMAC-A {xmac.hex()}")
    sqn = int.from_bytes(sqn_b, "big")
    if sqns is not None:
        why = sqns.why_not(sqn)
        if why is not None:
            raise SqnOutOfRange(f"SQN {sqn:#x} out of range: {why}", sqn,
                                make_auts(algo, rand, sqns.sqn_ms))
        sqns.accept(sqn)
    return AkaResult(res, ck, ik, sqn, amf)


def make_auts(algo, rand: bytes, sqn_ms: int) -> bytes:
    """AUTS = (SQN_MS xor f5*(RAND)) || f1*(SQN_MS, RAND, AMF 0000): 14 octets."""
    sqn_b = _sqn_bytes(sqn_ms)
    return _xor(sqn_b, algo.f5_star(rand)) + algo.f1_star(rand, sqn_b, RESYNC_AMF)


def verify_auts(algo, rand: bytes, auts: bytes) -> int:
    """The AuC's check of AUTS against the RAND it was computed for: returns SQN_MS."""
    if len(auts) != 14:
        raise AkaError(f"AUTS is 14 octets, got {len(auts)}")
    sqn_b = _xor(auts[:6], algo.f5_star(rand))
    xmac_s = algo.f1_star(rand, sqn_b, RESYNC_AMF)
    import hmac

    if not hmac.compare_digest(xmac_s, auts[6:]):
        raise MacFailure(f"MAC-S {auts[6:].hex()} in AUTS differs from {xmac_s.hex()}")
    return int.from_bytes(sqn_b, "big")


class AuthCentre:
    """A one-subscriber AuC for the reference S-CSCF: SQN counter, vectors, resync.

    ``step`` is added to SQN per vector (32 = next SEQ with a 5-bit IND).  RAND comes from the
    caller (sans-IO: pass ``os.urandom(16)`` or a fixed value).
    """

    def __init__(self, algo, sqn: int = 0, amf: bytes = b"\x80\x00", step: int = 1):
        self.algo, self.sqn, self.amf, self.step = algo, sqn, bytes(amf), step

    def next_vector(self, rand: bytes) -> AuthVector:
        self.sqn = (self.sqn + self.step) & SQN_MAX
        return make_vector(self.algo, rand, self.sqn, self.amf)

    def resync(self, rand: bytes, auts: bytes) -> int:
        """Verify AUTS (for the RAND of the failed challenge) and adopt SQN_MS; returns it."""
        self.sqn = verify_auts(self.algo, rand, auts)
        return self.sqn
