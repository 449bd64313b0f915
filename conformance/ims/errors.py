"""Errors of the IMS security layer.

Each is a *finding* about input (a challenge, a header, a packet), not a crash: a caller turns
it into a verdict.  All derive from :class:`ImsError` (and ``ValueError``).
"""

from __future__ import annotations

__all__ = ["ImsError", "AkaError", "MacFailure", "SqnOutOfRange", "SecAgreeError", "EspError",
           "UnknownSpi", "ReplayedPacket", "BadIcv", "MalformedEsp"]


class ImsError(ValueError):
    """Base of the IMS security errors."""


class AkaError(ImsError):
    """An AKA challenge or resynchronisation token that does not check out."""


class MacFailure(AkaError):
    """MAC-A in AUTN (or MAC-S in AUTS) differs from the one computed with K (TS 33.102 6.3.3)."""


class SqnOutOfRange(AkaError):
    """The SQN in AUTN is not acceptable to the UE; ``auts`` is the resync token to send."""

    def __init__(self, message: str, sqn: int, auts: bytes):
        super().__init__(message)
        self.sqn = sqn
        self.auts = auts


class SecAgreeError(ImsError):
    """A Security-* header that cannot be used (missing parameters, no common mechanism...)."""


class EspError(ImsError):
    """An ESP packet that must be dropped (RFC 4303 §3.4)."""


class UnknownSpi(EspError):
    """No SA for the packet's SPI (RFC 4303 §3.4.2)."""

    def __init__(self, spi: int):
        super().__init__(f"no SA for SPI {spi:#010x}")
        self.spi = spi


class ReplayedPacket(EspError):
    """A sequence number already received or left of the window (RFC 4303 §3.4.3)."""

    def __init__(self, spi: int, seq: int, why: str):
        super().__init__(f"SPI {spi:#010x}: sequence number {seq} rejected: {why}")
        self.spi, self.seq, self.why = spi, seq, why


class BadIcv(EspError):
    """The ICV does not verify (RFC 4303 §3.4.4)."""

    def __init__(self, spi: int, seq: int):
        super().__init__(f"SPI {spi:#010x}: ICV check failed for sequence number {seq}")
        self.spi, self.seq = spi, seq


class MalformedEsp(EspError):
    """Too short, not a whole number of cipher blocks, or bad padding (RFC 4303 §2.4)."""
