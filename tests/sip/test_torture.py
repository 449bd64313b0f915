"""The RFC 4475 invalid messages shipped for the suite's cases, and their adaptation to a flow."""

from pathlib import Path

import pytest

from conformance.sip.rfc4475_invalid import MESSAGES
from conformance.sip.torture import adapt, same_stimulus, torture_message

DATA = Path(__file__).resolve().parent / "data" / "rfc4475"


def test_shipped_copy_equals_the_extracted_messages():
    manifest = {name: sec for sec, kind, name, _ in
                (line.split("\t") for line in (DATA / "MANIFEST").read_text().splitlines()) if kind == "invalid"}
    assert set(MESSAGES) == set(manifest)
    for name, (sec, data) in MESSAGES.items():
        assert sec == manifest[name]
        assert data == (DATA / "invalid" / f"{name}.dat").read_bytes(), name


def test_only_the_first_via_is_adapted():
    _, data = torture_message("badinv01")
    out, note = adapt(data, "127.0.0.12:40000", "tcp")
    assert b"Via: SIP/2.0/TCP 127.0.0.12:40000;;,;,," in out
    assert "192.0.2.15 -> 127.0.0.12:40000" in note
    assert out.replace(b"SIP/2.0/TCP 127.0.0.12:40000", b"SIP/2.0/UDP 192.0.2.15") == data
    _, vers = torture_message("badvers")
    assert b"Via:     SIP/7.0/UDP 127.0.0.1:9;branch" in adapt(vers, "127.0.0.1:9", "udp")[0]


def test_register_users_become_the_case_user():
    _, data = torture_message("regbadct")
    out, note = adapt(data, "127.0.0.12:40000", "udp", "ue-x")
    assert b"sip:user@" not in out and out.count(b"sip:ue-x@example.com") == 3
    assert b"?Route=%3Csip:sip.example.com%3E" in out        # the torture itself is kept
    assert "3 SIP URI user(s)" in note
    assert adapt(torture_message("baddate")[1], "a:1", "udp", "ue-x")[0].count(b"sip:user@") == 2


@pytest.mark.parametrize("name", sorted(MESSAGES))
def test_adapted_messages_are_recognised(name):
    _, data = torture_message(name)
    out, _ = adapt(data, "127.0.0.11:5999", "udp", "ue-q")
    assert same_stimulus(data, out)
    other = next(d for n, (_, d) in MESSAGES.items() if n != name)
    assert not same_stimulus(data, adapt(other, "127.0.0.11:5999", "udp", "ue-q")[0])


def test_unknown_name_lists_the_known_ones():
    with pytest.raises(KeyError, match="known: badinv01"):
        torture_message("nope")
