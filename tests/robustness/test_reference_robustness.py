"""The reference CSCF under hostile input: the RFC 4475 invalid messages and random mutations
of a valid REGISTER, sans-IO and over its real sockets, and a full binding table: it never
raises, keeps serving, and stays bounded (benchmarks/reference_memory.py prints the figures)."""

from __future__ import annotations

import random
import socket
import sys
from pathlib import Path

import pytest

from conformance.sip.message import Response, parse_message
from conformance.sut.config import SutConfig
from conformance.sut.flow import FlowInfo
from conformance.sut.registrar.registrar import Registrar

ROOT = Path(__file__).resolve().parents[2]
INVALID = sorted((ROOT / "tests" / "sip" / "data" / "rfc4475" / "invalid").glob("*.dat"))
sys.path.insert(0, str(ROOT / "benchmarks"))

from reference_memory import fill, measure, register  # noqa: E402

UDP_FLOW = FlowInfo("udp", ("127.0.0.1", 5060), ("127.0.0.11", 5070))


@pytest.mark.parametrize("path", INVALID, ids=[p.stem for p in INVALID])
def test_registrar_takes_every_rfc4475_invalid_message(path):
    reg = Registrar(SutConfig(), tag_secret="t")
    resp = reg.handle_bytes(path.read_bytes(), UDP_FLOW, 1000.0)
    assert resp is None or (isinstance(resp, Response) and "internal error" not in (resp.get("Warning") or "")), resp
    ok = reg.handle(register(1, 1), UDP_FLOW, 1001.0)
    assert ok is not None and ok.status == 200


def test_registrar_takes_a_thousand_random_mutations_of_a_register():
    reg = Registrar(SutConfig(), tag_secret="t")
    valid = register(7, 1).to_bytes()
    rnd = random.Random(4475)
    answered = 0
    for n in range(1000):
        data = bytearray(valid)
        for _ in range(rnd.randint(1, 6)):
            i = rnd.randrange(len(data))
            op = rnd.randrange(4)
            if op == 0:
                data[i] = rnd.randrange(256)
            elif op == 1:
                del data[i:i + rnd.randint(1, 40)]
            elif op == 2:
                data[i:i] = bytes(rnd.randrange(256) for _ in range(rnd.randint(1, 8)))
            else:
                data[i:i] = data[rnd.randrange(len(data)):][:rnd.randint(1, 60)]
        resp = reg.handle_bytes(bytes(data), UDP_FLOW, 1000.0 + n)
        # a 500 for an old CSeq is the registrar's rule (RFC 3261 §10.3 step 7); an internal error is not
        assert resp is None or "internal error" not in (resp.get("Warning") or ""), bytes(data)
        answered += resp is not None
    assert answered > 100  # most mutations still get an answer (400 or 200)
    assert reg.handle(register(8, 1), UDP_FLOW, 3000.0).status == 200


def test_running_server_survives_invalid_messages_over_udp_and_tcp():
    from conformance.sut.server.reference import ReferenceCore

    core = ReferenceCore(SutConfig(), host="127.0.0.1", port=0)
    core.start()
    try:
        addr = tuple(core.address)[:2]
        with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as u:
            u.bind(("127.0.0.11", 0))
            for p in INVALID:
                u.sendto(p.read_bytes(), addr)
            for _ in range(50):
                u.sendto(bytes(random.Random(1).randrange(256) for _ in range(300)), addr)
            u.settimeout(3)
            u.sendto(register(9, 1).to_bytes().replace(b"SIP/2.0/TCP 10.0.0.9:5060",
                                                        f"SIP/2.0/UDP 127.0.0.11:{u.getsockname()[1]}".encode()),
                     addr)
            while True:  # answers to the invalid ones may come first
                resp = parse_message(u.recvfrom(65535)[0])
                if isinstance(resp, Response) and resp.call_id == "c9@bench":
                    break
            assert resp.status == 200
        for p in INVALID:  # one TCP connection per message: the SUT may close it, never die
            with socket.create_connection(addr, timeout=2) as t:
                t.sendall(p.read_bytes())
        with socket.create_connection(addr, timeout=3) as t:
            t.sendall(register(10, 1).to_bytes())
            data = b""
            while b"\r\n\r\n" not in data:
                data += t.recv(65535)
            assert parse_message(data).status == 200
    finally:
        core.stop()


def test_binding_table_is_bounded_and_refreshes_do_not_grow_memory():
    m = measure(800, rounds=3, transaction_cache=500)  # a small cache: full after the first fill
    assert m["accepted"] == 800
    assert m["stored_at_most"] == 800 and m["accepted_with_overflow"] <= 800  # the maximum holds
    *_, before, last = m["bytes_after_refresh_rounds"]  # once the bounded caches are full
    assert last < before * 1.05, m["bytes_after_refresh_rounds"]  # no growth per round
    assert m["stored_after_expiry"] == 0  # expired bindings are purged
