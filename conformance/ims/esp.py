"""RFC 4303 ESP in transport mode, over ``cryptography``: no sockets, no clocks.

Packet layout (§2): SPI (4) | Sequence Number (4) | IV | ciphertext of
(payload | padding | pad length | next header) | ICV.  The ICV (12 octets for both
HMAC-MD5-96 and HMAC-SHA-1-96) covers SPI..end of ciphertext (§2.8).  Padding is the default
1, 2, 3, ... (§2.4) up to the cipher block (AES 16, 3DES 8) and at least to 4 octets.

Sender: the first packet of an SA has sequence number 1 and the counter never cycles
(§3.3.3).  Receiver (§3.4): the SPI selects the SA (unknown: :class:`UnknownSpi`); the
sequence number passes the replay window before the ICV check (§3.4.3); the ICV is verified
before decryption (§3.4.4, :class:`BadIcv`); only then is the window updated.
"""

from __future__ import annotations

import hmac
import os
import struct
from dataclasses import dataclass
from typing import Callable, Iterable

from cryptography.hazmat.primitives.ciphers import Cipher, algorithms, modes

try:
    from cryptography.hazmat.decrepit.ciphers.algorithms import TripleDES
except ImportError:                                   # cryptography < 43
    TripleDES = algorithms.TripleDES

from .errors import BadIcv, EspError, MalformedEsp, ReplayedPacket, UnknownSpi

__all__ = [
    "ICV_LEN", "PROTO_ESP", "PROTO_UDP", "PROTO_TCP", "EspPacket", "EspCodec", "EspSender",
    "ReplayWindow", "EspReceiver",
]

ICV_LEN = 12
PROTO_TCP, PROTO_UDP, PROTO_ESP = 6, 17, 50
_AUTH = {"hmac-md5-96": ("md5", 16), "hmac-sha-1-96": ("sha1", 20)}
#: ealg -> (cipher factory, key length, block size = IV length)
_ENC = {"null": (None, 0, 1), "aes-cbc": (algorithms.AES, 16, 16),
        "des-ede3-cbc": (TripleDES, 24, 8)}


@dataclass(frozen=True)
class EspPacket:
    spi: int
    seq: int
    next_header: int
    payload: bytes


class EspCodec:
    """The stateless crypto of one SA: :meth:`seal` and :meth:`open` one ESP payload."""

    def __init__(self, spi: int, alg: str, ealg: str, auth_key: bytes, enc_key: bytes = b""):
        if alg not in _AUTH:
            raise ValueError(f"unknown auth algorithm {alg!r}")
        if ealg not in _ENC:
            raise ValueError(f"unknown encryption algorithm {ealg!r}")
        digest, klen = _AUTH[alg]
        factory, elen, self.block = _ENC[ealg]
        if len(auth_key) != klen or len(enc_key) != elen:
            raise ValueError(f"{alg}/{ealg} keys are {klen}/{elen} octets")
        self.spi, self.alg, self.ealg = spi, alg, ealg
        self._digest, self._akey = digest, bytes(auth_key)
        self._cipher_key = factory(bytes(enc_key)) if factory else None
        self.iv_len = self.block if factory else 0

    @classmethod
    def from_sa(cls, sa) -> "EspCodec":
        """From anything with spi, alg, ealg, auth_key, enc_key (e.g. :class:`~.sa.SaSpec`)."""
        return cls(sa.spi, sa.alg, sa.ealg, sa.auth_key, sa.enc_key)

    def icv(self, data: bytes) -> bytes:
        return hmac.digest(self._akey, data, self._digest)[:ICV_LEN]

    def seal(self, seq: int, next_header: int, payload: bytes, iv: bytes | None = None) -> bytes:
        """SPI..ICV for ``payload`` (the UDP/TCP segment); ``iv`` random when not given."""
        align = max(4, self.block)
        pad_len = -(len(payload) + 2) % align
        plain = payload + bytes(range(1, pad_len + 1)) + bytes([pad_len, next_header])
        header = struct.pack("!II", self.spi, seq)
        if self._cipher_key is None:
            body = plain
        else:
            iv = os.urandom(self.iv_len) if iv is None else iv
            if len(iv) != self.iv_len:
                raise ValueError(f"{self.ealg} needs a {self.iv_len}-octet IV")
            enc = Cipher(self._cipher_key, modes.CBC(iv)).encryptor()
            body = iv + enc.update(plain) + enc.finalize()
        return header + body + self.icv(header + body)

    def verify(self, esp: bytes) -> None:
        """ICV check alone (§3.4.4); raises :class:`BadIcv` or :class:`MalformedEsp`."""
        if len(esp) < 8 + self.iv_len + max(self.block, 2) + ICV_LEN:
            raise MalformedEsp(f"ESP packet of {len(esp)} octets is too short for {self.ealg}")
        if not hmac.compare_digest(self.icv(esp[:-ICV_LEN]), esp[-ICV_LEN:]):
            raise BadIcv(self.spi, struct.unpack_from("!I", esp, 4)[0])

    def open(self, esp: bytes, *, verified: bool = False) -> EspPacket:
        """Verify (unless ``verified``) and decrypt one ESP payload."""
        if not verified:
            self.verify(esp)
        spi, seq = struct.unpack_from("!II", esp)
        body = esp[8:-ICV_LEN]
        if self._cipher_key is None:
            plain = body
        else:
            iv, ct = body[:self.iv_len], body[self.iv_len:]
            if len(ct) % self.block:
                raise MalformedEsp(
                    f"ciphertext of {len(ct)} octets is not whole {self.ealg} blocks")
            dec = Cipher(self._cipher_key, modes.CBC(iv)).decryptor()
            plain = dec.update(ct) + dec.finalize()
        pad_len, next_header = plain[-2], plain[-1]
        if pad_len + 2 > len(plain):
            raise MalformedEsp(f"pad length {pad_len} exceeds the payload")
        end = len(plain) - 2 - pad_len
        if plain[end:-2] != bytes(range(1, pad_len + 1)):
            raise MalformedEsp("padding is not 1, 2, 3, ... (RFC 4303 §2.4)")
        return EspPacket(spi, seq, next_header, plain[:end])


class EspSender:
    """An outbound SA: the codec and the sequence counter (§3.3.3)."""

    def __init__(self, codec: EspCodec, seq: int = 0,
                 iv_source: Callable[[int], bytes] = os.urandom):
        self.codec, self.seq, self.iv_source = codec, seq, iv_source

    def seal(self, next_header: int, payload: bytes, *, seq: int | None = None) -> bytes:
        """The next packet; ``seq`` forces a number (a deliberate replay) without moving the
        counter."""
        if seq is None:
            if self.seq >= 0xFFFFFFFF:
                raise EspError("sequence number would cycle (RFC 4303 §3.3.3): set up a new SA")
            self.seq += 1
            seq = self.seq
        iv = self.iv_source(self.codec.iv_len) if self.codec.iv_len else None
        return self.codec.seal(seq, next_header, payload, iv)


class ReplayWindow:
    """The receiver's sliding window (RFC 4303 §3.4.3), ``size`` bits (default 64, min 32)."""

    def __init__(self, size: int = 64):
        if size < 32:
            raise ValueError("the window is at least 32 packets (RFC 4303 §3.4.3)")
        self.size, self.top, self.bitmap = size, 0, 0   # bit i: top - i received

    def why_not(self, seq: int) -> str | None:
        if seq == 0:
            return "0 is never sent (the first packet carries 1)"
        if seq > self.top:
            return None
        offset = self.top - seq
        if offset >= self.size:
            return f"left of the window (highest {self.top}, size {self.size})"
        if self.bitmap >> offset & 1:
            return "duplicate"
        return None

    def check(self, spi: int, seq: int) -> None:
        why = self.why_not(seq)
        if why:
            raise ReplayedPacket(spi, seq, why)

    def update(self, seq: int) -> None:
        """Record ``seq`` (call only after the ICV verified)."""
        if seq > self.top:
            shift = seq - self.top
            self.bitmap = ((self.bitmap << shift) | 1) & ((1 << self.size) - 1)
            self.top = seq
        else:
            self.bitmap |= 1 << (self.top - seq)


class EspReceiver:
    """Inbound SAs by SPI, each with its replay window."""

    def __init__(self, codecs: Iterable[EspCodec] = (), window: int = 64,
                 check_replay: bool = True):
        self.window, self.check_replay = window, check_replay
        self._sas: dict[int, tuple[EspCodec, ReplayWindow]] = {}
        for codec in codecs:
            self.add(codec)

    def add(self, codec: EspCodec) -> None:
        self._sas[codec.spi] = (codec, ReplayWindow(self.window))

    def remove(self, spi: int) -> None:
        self._sas.pop(spi, None)

    def codec(self, spi: int) -> EspCodec:
        if spi not in self._sas:
            raise UnknownSpi(spi)
        return self._sas[spi][0]

    def open(self, esp: bytes) -> EspPacket:
        if len(esp) < 8:
            raise MalformedEsp(f"ESP packet of {len(esp)} octets has no header")
        spi, seq = struct.unpack_from("!II", esp)
        if spi not in self._sas:
            raise UnknownSpi(spi)
        codec, window = self._sas[spi]
        if self.check_replay:
            window.check(spi, seq)
        codec.verify(esp)
        window.update(seq)          # the ICV verified: the packet counts (§3.4.3)
        return codec.open(esp, verified=True)
