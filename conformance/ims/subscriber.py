"""Subscriber credentials (K, OP/OPc, SQN, AMF, algorithm) shared by the tester's USIM and the
reference's AuC (sans-IO).

A table maps an IMPI to its record; the key ``"*"`` is the default for any IMPI (the suite
generates identities per case, so a lab HSS holds one wildcard record).  The default record is
TS 35.208 test set 1 (K 465b5ce8..., OPc cd63cb71...).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Mapping

from .milenage import Milenage
from .xortest import XorTest

__all__ = ["Subscriber", "DEFAULT_SUBSCRIBERS", "parse_subscribers", "lookup"]

ALGORITHMS = ("milenage", "xor")


@dataclass(frozen=True)
class Subscriber:
    k: bytes
    opc: bytes | None = None
    op: bytes | None = None
    sqn: int = 0
    amf: bytes = b"\x80\x00"
    algorithm: str = "milenage"

    def algo(self):
        """The f1..f5* functions for this subscriber."""
        if self.algorithm == "xor":
            return XorTest(self.k)
        return Milenage(self.k, op=self.op, opc=self.opc)

    def with_changes(self, **kw) -> "Subscriber":
        data = dict(k=self.k, opc=self.opc, op=self.op, sqn=self.sqn, amf=self.amf,
                    algorithm=self.algorithm)
        data.update(kw)
        if "op" in kw and kw["op"] is not None:
            data["opc"] = None
        if "opc" in kw and kw["opc"] is not None:
            data["op"] = None
        return Subscriber(**data)


def _hex(value: Any, what: str, size: int) -> bytes:
    try:
        raw = bytes.fromhex(str(value))
    except ValueError:
        raise ValueError(f"{what} must be hex, got {value!r}") from None
    if len(raw) != size:
        raise ValueError(f"{what} is {size} octets ({2 * size} hex digits), got {len(raw)}")
    return raw


def parse_subscriber(data: Mapping[str, Any], base: Subscriber | None = None) -> Subscriber:
    """A record from ``{k, opc | op, sqn, amf, algorithm}`` (hex strings); fields missing are
    taken from ``base`` when given.  ``ValueError`` names the bad field."""
    unknown = set(data) - {"k", "opc", "op", "sqn", "amf", "algorithm"}
    if unknown:
        raise ValueError(f"unknown subscriber field(s) {', '.join(sorted(unknown))}")
    if "opc" in data and "op" in data:
        raise ValueError("give opc or op, not both")
    kw: dict[str, Any] = {}
    if "k" in data:
        kw["k"] = _hex(data["k"], "k", 16)
    if "opc" in data:
        kw["opc"] = _hex(data["opc"], "opc", 16)
    if "op" in data:
        kw["op"] = _hex(data["op"], "op", 16)
    if "sqn" in data:
        sqn = int(data["sqn"])
        if not 0 <= sqn < 1 << 48:
            raise ValueError("sqn is a 48-bit number")
        kw["sqn"] = sqn
    if "amf" in data:
        kw["amf"] = _hex(data["amf"], "amf", 2)
    if "algorithm" in data:
        if data["algorithm"] not in ALGORITHMS:
            raise ValueError(f"algorithm is one of {', '.join(ALGORITHMS)}")
        kw["algorithm"] = data["algorithm"]
    if base is not None:
        return base.with_changes(**kw)
    if "k" not in kw:
        raise ValueError("a subscriber needs k")
    if kw.get("algorithm", "milenage") == "milenage" and "opc" not in kw and "op" not in kw:
        raise ValueError("a Milenage subscriber needs opc or op")
    return Subscriber(**kw)


DEFAULT_SUBSCRIBERS: dict[str, Subscriber] = {
    "*": Subscriber(k=bytes.fromhex("465b5ce8b199b49faa5f0a2ee238a6bc"),
                    opc=bytes.fromhex("cd63cb71954a9f4e48a5994e37a02baf")),
}


def parse_subscribers(data: Mapping[str, Mapping[str, Any]] | None) -> dict[str, Subscriber]:
    if not data:
        return dict(DEFAULT_SUBSCRIBERS)
    out = {}
    for impi, record in data.items():
        try:
            out[str(impi)] = parse_subscriber(record)
        except ValueError as exc:
            raise ValueError(f"subscriber {impi!r}: {exc}") from None
    return out


def lookup(table: Mapping[str, Subscriber], impi: str) -> Subscriber | None:
    return table.get(impi) or table.get("*")
