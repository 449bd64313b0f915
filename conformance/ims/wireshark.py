"""SA keys in Wireshark's ``esp_sa`` table, so that tshark/Wireshark decrypt a pcap.

Checked against TShark 4.0.17 on this machine.  The UAT has eight fields (protocol, src IP,
dst IP, SPI, encryption algorithm, encryption key, authentication algorithm, authentication
key); algorithm fields take Wireshark's display names, keys are ``0x``-prefixed hex (empty for
NULL).  One record per line in ``<config dir>/esp_sa``, each field a quoted string::

    "IPv4","127.0.0.2","127.0.0.1","0x0000115c","AES-CBC [RFC3602]","0x0001...","HMAC-SHA-1-96 [RFC2404]","0x1011...00000000"

Decryption and the ICV check are off by default: the preferences are
``esp.enable_encryption_decode`` and ``esp.enable_authentication_check`` (4.0 has no
``esp.enable_encryption_dissection``).  Use either a config directory
(``WIRESHARK_CONFIG_DIR=<dir>``, see :func:`write_config_dir`) or command-line options
(``-o uat:esp_sa:<record>``, one per SA, see :func:`tshark_options`).
"""

from __future__ import annotations

from pathlib import Path
from typing import Iterable

__all__ = ["WS_ENC", "WS_AUTH", "PREFERENCES", "esp_sa_record", "esp_sa_table",
           "write_config_dir", "tshark_options"]

WS_ENC = {"null": "NULL", "aes-cbc": "AES-CBC [RFC3602]",
          "des-ede3-cbc": "TripleDES-CBC [RFC2451]"}
WS_AUTH = {"hmac-md5-96": "HMAC-MD5-96 [RFC2403]", "hmac-sha-1-96": "HMAC-SHA-1-96 [RFC2404]"}
PREFERENCES = {"esp.enable_encryption_decode": "TRUE", "esp.enable_authentication_check": "TRUE"}


def _hex(key: bytes) -> str:
    return "0x" + key.hex() if key else ""


def esp_sa_record(sa, *, any_address: bool = False) -> str:
    """One ``esp_sa`` line for an SA with src, dst, spi, alg, ealg, auth_key, enc_key.
    ``any_address``: ``*`` for both addresses (UDP-encapsulated ESP behind a NAT: the outer
    addresses differ on each side of the NAT and from the SA's inner ones)."""
    src, dst = ("*", "*") if any_address else (sa.src, sa.dst)
    fields = ["IPv4", src, dst, f"{sa.spi:#010x}", WS_ENC[sa.ealg], _hex(sa.enc_key),
              WS_AUTH[sa.alg], _hex(sa.auth_key)]
    return ",".join(f'"{f}"' for f in fields)


def esp_sa_table(sas: Iterable, any_address_spis: Iterable[int] = ()) -> str:
    wild = set(any_address_spis)
    return "".join(esp_sa_record(sa, any_address=sa.spi in wild) + "\n" for sa in sas)


def write_config_dir(directory: str | Path, sas: Iterable, any_address_spis: Iterable[int] = (),
                     extra_preferences: dict[str, str] | None = None) -> Path:
    """Write ``esp_sa`` and a ``preferences`` file enabling decryption into ``directory``;
    run tshark with ``WIRESHARK_CONFIG_DIR=directory``.  The keys are secrets of the run."""
    directory = Path(directory)
    directory.mkdir(parents=True, exist_ok=True)
    (directory / "esp_sa").write_text(esp_sa_table(sas, any_address_spis))
    prefs = {**PREFERENCES, **(extra_preferences or {})}
    (directory / "preferences").write_text("".join(f"{k}: {v}\n" for k, v in prefs.items()))
    return directory


def tshark_options(sas: Iterable = ()) -> list[str]:
    """``-o`` options enabling decryption, with one ``uat:esp_sa`` record per SA."""
    out = []
    for key, value in PREFERENCES.items():
        out += ["-o", f"{key}:{value}"]
    for sa in sas:
        out += ["-o", f"uat:esp_sa:{esp_sa_record(sa)}"]
    return out
