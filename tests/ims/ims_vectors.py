"""Vectors and SA sets for the IMS security tests (imported by them; no sockets)."""

from __future__ import annotations

import json
from pathlib import Path

from conformance.ims.sa import derive_sas
from conformance.ims.secagree import client_mechanisms, server_mechanisms

DATA = Path(__file__).resolve().parent / "data"
UE_IP, PCSCF_IP = "127.0.0.2", "127.0.0.1"
CK = bytes.fromhex("b40ba9a3c58b2a05bbf0d987b21bf8cb")     # Milenage test set 1 f3
IK = bytes.fromhex("f769bcd751044604127672711c6d3441")     # Milenage test set 1 f4


def load(name: str) -> dict:
    return json.loads((DATA / name).read_text())


def make_sas(pair, ck=CK, ik=IK, base=0):
    client = client_mechanisms([pair], spi_c=0x1000 + base, spi_s=0x2000 + base,
                               port_c=5100 + 2 * base, port_s=5101 + 2 * base)
    server = server_mechanisms(client, spi_c=0x3000 + base, spi_s=0x4000 + base,
                               port_c=6100 + 2 * base, port_s=6101 + 2 * base)
    return client[0], server[0], derive_sas(client[0], server[0], ck=ck, ik=ik,
                                            ue_addr=UE_IP, pcscf_addr=PCSCF_IP)
