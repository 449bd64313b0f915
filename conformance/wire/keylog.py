"""NSS key log files (the format of ``SSLKEYLOGFILE`` and ``SSLContext.keylog_filename``): what
a pcapng Decryption Secrets Block carries so that Wireshark decrypts TLS with no key typed in.
"""

from __future__ import annotations

from pathlib import Path

__all__ = ["read_keylog", "keylog_lines", "LABELS"]

# TLS 1.2: CLIENT_RANDOM; TLS 1.3: the four traffic secrets (and early data, exporter)
LABELS = frozenset({"CLIENT_RANDOM", "CLIENT_EARLY_TRAFFIC_SECRET", "CLIENT_HANDSHAKE_TRAFFIC_SECRET",
                    "SERVER_HANDSHAKE_TRAFFIC_SECRET", "CLIENT_TRAFFIC_SECRET_0",
                    "SERVER_TRAFFIC_SECRET_0", "EARLY_EXPORTER_SECRET", "EXPORTER_SECRET"})


def keylog_lines(text: str) -> list[tuple[str, bytes, bytes]]:
    """(label, client_random, secret) per well-formed line; comments and junk are skipped."""
    out = []
    for line in text.splitlines():
        parts = line.split()
        if len(parts) != 3 or parts[0] not in LABELS:
            continue
        try:
            out.append((parts[0], bytes.fromhex(parts[1]), bytes.fromhex(parts[2])))
        except ValueError:
            continue
    return out


def read_keylog(path: str | Path) -> bytes:
    """The well-formed lines of a key log, as a Decryption Secrets Block wants them (b"" when
    the file is missing)."""
    try:
        text = Path(path).read_text("ascii", "replace")
    except OSError:
        return b""
    return "".join(f"{label} {cr.hex()} {secret.hex()}\n"
                   for label, cr, secret in keylog_lines(text)).encode()
