"""Milenage (TS 35.206) against TS 35.207/35.208 test sets 1-20, and the XOR test algorithm."""

from __future__ import annotations

import pytest

from conformance.ims.aka import make_auts, make_vector, verify_auts
from conformance.ims.milenage import Milenage, compute_opc
from conformance.ims.xortest import XorTest

from ims_vectors import load

MIL = load("milenage.json")
H = bytes.fromhex


@pytest.mark.parametrize("ts", MIL["test_sets"], ids=lambda t: f"set{t['test_set']}")
def test_test_set_reproduces_every_field(ts):
    m = Milenage(H(ts["K"]), op=H(ts["OP"]))
    out = m.compute(H(ts["RAND"]), H(ts["SQN"]), H(ts["AMF"]))
    got = {"OPc": m.opc, "f1_MAC_A": out.mac_a, "f1star_MAC_S": out.mac_s, "f2_RES": out.res,
           "f3_CK": out.ck, "f4_IK": out.ik, "f5_AK": out.ak, "f5star_AK": out.ak_star}
    assert {k: v.hex() for k, v in got.items()} == {k: ts[k] for k in got}


@pytest.mark.parametrize("ts", MIL["test_sets"][:3], ids=lambda t: f"set{t['test_set']}")
def test_opc_input_gives_the_same_outputs(ts):
    a = Milenage(H(ts["K"]), op=H(ts["OP"]))
    b = Milenage(H(ts["K"]), opc=H(ts["OPc"]))
    args = H(ts["RAND"]), H(ts["SQN"]), H(ts["AMF"])
    assert a.compute(*args) == b.compute(*args)
    assert compute_opc(H(ts["K"]), H(ts["OP"])).hex() == ts["OPc"]


def test_extra_vector_autn_and_auts():
    v = MIL["extra_vectors"][0]
    m = Milenage(H(v["K"]), op=H(v["OP"]))
    assert m.opc.hex() == v["OPc"]
    sqn = int(v["SQN"], 16)
    vec = make_vector(m, H(v["RAND"]), sqn, H(v["AMF"]))
    assert vec.autn.hex() == v["AUTN"]
    assert (vec.xres.hex(), vec.ck.hex(), vec.ik.hex()) == (v["f2_RES"], v["f3_CK"], v["f4_IK"])
    assert m.f2345(H(v["RAND"]))[3].hex() == v["f5_AK"]
    assert m.f1(H(v["RAND"]), H(v["SQN"]), H(v["AMF"])).hex() == v["f1_MAC_A"]
    assert m.f1_star(H(v["RAND"]), H(v["SQN"]), b"\0\0").hex() == v["f1star_MAC_S_amf0000"]
    auts = make_auts(m, H(v["RAND"]), sqn)
    assert auts.hex() == v["AUTS"]
    assert verify_auts(m, H(v["RAND"]), auts) == sqn


def test_bad_lengths_are_value_errors():
    with pytest.raises(ValueError):
        Milenage(bytes(15), op=bytes(16))
    with pytest.raises(ValueError):
        Milenage(bytes(16))
    with pytest.raises(ValueError):
        Milenage(bytes(16), op=bytes(16)).f2345(bytes(8))


def test_xor_algorithm_layout():
    # TS 34.108 8.1.2: XDOUT = K xor RAND; RES = XDOUT; CK, IK = XDOUT rotated by 1, 2 octets;
    # AK = XDOUT octets 3..8; MAC = XDOUT[0:8] xor (SQN || AMF).  Values as printed by the
    # public flipk/pfk-milenage test program (K = 00..0f, RAND = 34..34, SQN = 1, AMF = 8000).
    x = XorTest(bytes(range(16)))
    rand, sqn, amf = bytes([0x34] * 16), H("000000000001"), H("8000")
    out = x.compute(rand, sqn, amf)
    assert out.res.hex() == "34353637303132333c3d3e3f38393a3b"
    assert out.ck.hex() == "35363730313233 3c3d3e3f38393a3b34".replace(" ", "")
    assert out.ik.hex() == "363730313233 3c3d3e3f38393a3b3435".replace(" ", "")
    assert out.ak.hex() == "37303132333c" == out.ak_star.hex()
    assert out.mac_a.hex() == "34353637303 0b233".replace(" ", "")
    assert make_vector(x, rand, 1, amf).autn.hex() == "37303132333d8000343536373030b233"
    assert XorTest(bytes(range(16)), res_len=8).f2345(rand)[0] == out.res[:8]
