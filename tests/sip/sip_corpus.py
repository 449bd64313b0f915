"""Where the SIP test corpora live and how to load them (imported by the SIP tests)."""

from __future__ import annotations

from pathlib import Path

DATA = Path(__file__).resolve().parent / "data"
RFC4475 = DATA / "rfc4475"
RFC5626 = DATA / "rfc5626"


def rfc4475_manifest() -> list[tuple[str, str, str, str]]:
    """(section, valid|invalid, name, source) rows of the extracted RFC 4475 corpus."""
    rows = []
    for line in (RFC4475 / "MANIFEST").read_text().splitlines():
        if line.strip():
            section, kind, name, source = line.split("\t")
            rows.append((section, kind, name, source))
    return rows


def rfc4475_bytes(kind: str, name: str) -> bytes:
    return (RFC4475 / kind / f"{name}.dat").read_bytes()


def rfc5626_wire(name: str) -> bytes:
    """An RFC 5626 example file in wire form: CRLF line ends and the closing empty line."""
    text = (RFC5626 / name).read_text().rstrip("\n")
    return (text.replace("\n", "\r\n") + "\r\n\r\n").encode()
