"""AKA: the UE's AUTN check (MAC, SQN range), AUTS and the AuC's resynchronisation."""

from __future__ import annotations

import base64

import pytest

from conformance.ims.aka import (AuthCentre, SqnState, check_challenge, make_auts, make_nonce,
                                 make_vector, split_nonce, verify_auts)
from conformance.ims.errors import AkaError, ImsError, MacFailure, SqnOutOfRange
from conformance.ims.milenage import Milenage
from conformance.ims.xortest import XorTest

from ims_vectors import load

TS1 = load("milenage.json")["test_sets"][0]
H = bytes.fromhex


@pytest.fixture(params=["milenage", "xor"])
def algo(request):
    if request.param == "milenage":
        return Milenage(H(TS1["K"]), op=H(TS1["OP"]))
    return XorTest(H(TS1["K"]))


RAND = bytes(range(0x40, 0x50))


def test_good_challenge_gives_res_ck_ik(algo):
    vec = make_vector(algo, RAND, sqn=42)
    got = check_challenge(algo, vec.rand, vec.autn, SqnState())
    assert (got.res, got.ck, got.ik, got.sqn) == (vec.xres, vec.ck, vec.ik, 42)


def test_bad_mac_is_a_finding_not_a_crash(algo):
    vec = make_vector(algo, RAND, sqn=42)
    bad = vec.autn[:15] + bytes([vec.autn[15] ^ 1])
    state = SqnState()
    with pytest.raises(MacFailure) as err:
        check_challenge(algo, RAND, bad, state)
    assert isinstance(err.value, AkaError) and isinstance(err.value, ImsError)
    assert state.sqn_ms == 0                       # nothing accepted


def test_wrong_key_is_a_mac_failure():
    vec = make_vector(Milenage(H(TS1["K"]), op=H(TS1["OP"])), RAND, 5)
    with pytest.raises(MacFailure):
        check_challenge(Milenage(bytes(16), op=H(TS1["OP"])), vec.rand, vec.autn)


def test_stale_sqn_is_flagged_with_an_auts(algo):
    state = SqnState()
    check_challenge(algo, RAND, make_vector(algo, RAND, 100).autn, state)
    with pytest.raises(SqnOutOfRange) as err:             # replayed challenge
        check_challenge(algo, RAND, make_vector(algo, RAND, 100).autn, state)
    assert err.value.sqn == 100
    assert verify_auts(algo, RAND, err.value.auts) == 100 == state.sqn_ms


def test_sqn_too_far_ahead_is_flagged(algo):
    state = SqnState(delta=1000)
    check_challenge(algo, RAND, make_vector(algo, RAND, 10).autn, state)
    with pytest.raises(SqnOutOfRange, match="more than 1000"):
        check_challenge(algo, RAND, make_vector(algo, RAND, 2000).autn, state)
    check_challenge(algo, RAND, make_vector(algo, RAND, 1000).autn, state)


def test_ind_array_accepts_lower_sqn_for_another_ind():
    # TS 33.102 Annex C: SQN = SEQ || IND; a fresh SQN can be lower than the last accepted one.
    algo = Milenage(H(TS1["K"]), op=H(TS1["OP"]))
    state = SqnState(ind_bits=5)
    check_challenge(algo, RAND, make_vector(algo, RAND, (7 << 5) | 3).autn, state)
    check_challenge(algo, RAND, make_vector(algo, RAND, (6 << 5) | 4).autn, state)
    with pytest.raises(SqnOutOfRange):
        check_challenge(algo, RAND, make_vector(algo, RAND, (7 << 5) | 3).autn, state)
    assert state.sqn_ms == (7 << 5) | 3


def test_auts_round_trip_and_tamper(algo):
    auts = make_auts(algo, RAND, 0x123456789A)
    assert len(auts) == 14
    assert verify_auts(algo, RAND, auts) == 0x123456789A
    with pytest.raises(MacFailure):
        verify_auts(algo, RAND, auts[:-1] + bytes([auts[-1] ^ 0x80]))
    with pytest.raises(AkaError):
        verify_auts(algo, RAND, auts[:13])


def test_resync_flow_with_auth_centre(algo):
    """RFC 3310 §3.4 / TS 33.102 6.3.5: the UE is ahead; AUTS re-synchronises the AuC."""
    auc, ue = AuthCentre(algo, sqn=0), SqnState()
    ue.accept(500)
    vec = auc.next_vector(RAND)
    with pytest.raises(SqnOutOfRange) as err:
        check_challenge(algo, vec.rand, vec.autn, ue)
    assert auc.resync(vec.rand, err.value.auts) == 500
    fresh = auc.next_vector(bytes(16))
    assert check_challenge(algo, fresh.rand, fresh.autn, ue).sqn == 501


def test_nonce_layout():
    nonce = make_nonce(RAND, bytes(16), b"srv")
    assert split_nonce(nonce) == (RAND, bytes(16), b"srv")
    with pytest.raises(AkaError, match="32"):
        split_nonce(base64.b64encode(bytes(31)).decode())
    with pytest.raises(AkaError, match="base64"):
        split_nonce("not base64!")
