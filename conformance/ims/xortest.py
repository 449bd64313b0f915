"""The XOR test algorithm of 3GPP TS 34.108 clause 8.1.2 (test USIMs, test equipment).

XDOUT = K xor RAND (128 bits); CDOUT = SQN || AMF (64 bits).

* f1 (MAC-A / XMAC) = XDOUT[0:8] xor CDOUT; f1* (MAC-S) is the same function (8.1.2.2, which
  uses AMF* = 0000 in a resync);
* f2 (RES) = the first ``res_len`` octets of XDOUT (RES may be 4..16 octets; 16 by default, as
  in the published traces);
* f3 (CK) = XDOUT rotated left by 8 bits; f4 (IK) = XDOUT rotated left by 16 bits;
* f5 (AK) = XDOUT[bits 24..71] = octets 3..8; f5* is the same (8.1.2.2).

The class has the interface of :class:`~conformance.ims.milenage.Milenage`, so :mod:`.aka` uses
either.
"""

from __future__ import annotations

from .milenage import MilenageOutput, sized, xor

__all__ = ["XorTest"]


class XorTest:
    name = "xor"

    def __init__(self, k: bytes, *, res_len: int = 16):
        self.k = sized("K", k, 16)
        if not 4 <= res_len <= 16:
            raise ValueError("RES is 32 to 128 bits (TS 34.108 8.1.2)")
        self.res_len = res_len

    def _xdout(self, rand: bytes) -> bytes:
        return xor(self.k, sized("RAND", rand, 16))

    def f1(self, rand: bytes, sqn: bytes, amf: bytes) -> bytes:
        cdout = sized("SQN", sqn, 6) + sized("AMF", amf, 2)
        return xor(self._xdout(rand)[:8], cdout)

    f1_star = f1

    def f1_both(self, rand: bytes, sqn: bytes, amf: bytes) -> tuple[bytes, bytes]:
        mac = self.f1(rand, sqn, amf)
        return mac, mac

    def f2345(self, rand: bytes) -> tuple[bytes, bytes, bytes, bytes]:
        x = self._xdout(rand)
        return x[:self.res_len], x[1:] + x[:1], x[2:] + x[:2], x[3:9]

    def f5_star(self, rand: bytes) -> bytes:
        return self._xdout(rand)[3:9]

    def compute(self, rand: bytes, sqn: bytes, amf: bytes) -> MilenageOutput:
        mac = self.f1(rand, sqn, amf)
        res, ck, ik, ak = self.f2345(rand)
        return MilenageOutput(mac, mac, res, ck, ik, ak, ak)
