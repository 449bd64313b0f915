"""Milenage (3GPP TS 35.206): the example algorithm set f1, f1*, f2, f3, f4, f5, f5*.

The kernel is AES-128 keyed with K.  With OPc = OP xor E_K(OP) and TEMP = E_K(RAND xor OPc):

* OUT1 = E_K(TEMP xor rot(IN1 xor OPc, r1) xor c1) xor OPc, IN1 = SQN||AMF||SQN||AMF;
  f1 = OUT1[0:8] (MAC-A), f1* = OUT1[8:16] (MAC-S).
* OUTi = E_K(rot(TEMP xor OPc, ri) xor ci) xor OPc for i = 2..5;
  f2 = OUT2[8:16] (RES), f5 = OUT2[0:6] (AK), f3 = OUT3 (CK), f4 = OUT4 (IK), f5* = OUT5[0:6].

The constants r1..r5 = 64, 0, 32, 64, 96 bits and c1..c5 = 0, 1, 2, 4, 8 (in the last octet)
are the TS 35.206 defaults; rotations here are whole octets (every r is a multiple of 8).
"""

from __future__ import annotations

from dataclasses import dataclass

from cryptography.hazmat.primitives.ciphers import Cipher, algorithms, modes

__all__ = ["Milenage", "MilenageOutput", "compute_opc"]

_R = {1: 8, 2: 0, 3: 4, 4: 8, 5: 12}          # r1..r5 in octets
_C = {1: 0, 2: 1, 3: 2, 4: 4, 5: 8}           # last octet of c1..c5


def xor(a: bytes, b: bytes) -> bytes:
    return bytes(x ^ y for x, y in zip(a, b))


def _rot(block: bytes, octets: int) -> bytes:
    return block[octets:] + block[:octets]


def _c(i: int) -> bytes:
    return bytes(15) + bytes([_C[i]])


def sized(name: str, value: bytes, size: int) -> bytes:
    value = bytes(value)
    if len(value) != size:
        raise ValueError(f"{name} must be {size} octets, got {len(value)}")
    return value


def compute_opc(k: bytes, op: bytes) -> bytes:
    """OPc = OP xor E_K(OP) (TS 35.206 §4.1)."""
    k, op = sized("K", k, 16), sized("OP", op, 16)
    enc = Cipher(algorithms.AES(k), modes.ECB()).encryptor()
    return xor(op, enc.update(op) + enc.finalize())


@dataclass(frozen=True)
class MilenageOutput:
    mac_a: bytes    # f1
    mac_s: bytes    # f1*
    res: bytes      # f2 (8 octets)
    ck: bytes       # f3
    ik: bytes       # f4
    ak: bytes       # f5
    ak_star: bytes  # f5*


class Milenage:
    """Milenage for one subscriber: K and either OP or OPc."""

    name = "milenage"

    def __init__(self, k: bytes, *, op: bytes | None = None, opc: bytes | None = None):
        self.k = sized("K", k, 16)
        if (op is None) == (opc is None):
            raise ValueError("give exactly one of op and opc")
        self.opc = compute_opc(self.k, op) if op is not None else sized("OPc", opc, 16)
        self._aes = Cipher(algorithms.AES(self.k), modes.ECB())

    def _e(self, block: bytes) -> bytes:
        enc = self._aes.encryptor()
        return enc.update(block) + enc.finalize()

    def _temp(self, rand: bytes) -> bytes:
        return self._e(xor(sized("RAND", rand, 16), self.opc))

    def f1_both(self, rand: bytes, sqn: bytes, amf: bytes) -> tuple[bytes, bytes]:
        """(MAC-A, MAC-S) = (f1, f1*) for this RAND, SQN (6 octets) and AMF (2 octets)."""
        sqn, amf = sized("SQN", sqn, 6), sized("AMF", amf, 2)
        in1 = sqn + amf + sqn + amf
        out1 = xor(self._e(xor(xor(self._temp(rand), _rot(xor(in1, self.opc), _R[1])),
                                 _c(1))), self.opc)
        return out1[:8], out1[8:]

    def f1(self, rand: bytes, sqn: bytes, amf: bytes) -> bytes:
        return self.f1_both(rand, sqn, amf)[0]

    def f1_star(self, rand: bytes, sqn: bytes, amf: bytes) -> bytes:
        return self.f1_both(rand, sqn, amf)[1]

    def _out(self, temp: bytes, i: int) -> bytes:
        return xor(self._e(xor(_rot(xor(temp, self.opc), _R[i]), _c(i))), self.opc)

    def f2345(self, rand: bytes) -> tuple[bytes, bytes, bytes, bytes]:
        """(RES, CK, IK, AK) = (f2, f3, f4, f5)."""
        temp = self._temp(rand)
        out2 = self._out(temp, 2)
        return out2[8:], self._out(temp, 3), self._out(temp, 4), out2[:6]

    def f5_star(self, rand: bytes) -> bytes:
        return self._out(self._temp(rand), 5)[:6]

    def compute(self, rand: bytes, sqn: bytes, amf: bytes) -> MilenageOutput:
        mac_a, mac_s = self.f1_both(rand, sqn, amf)
        res, ck, ik, ak = self.f2345(rand)
        return MilenageOutput(mac_a, mac_s, res, ck, ik, ak, self.f5_star(rand))
