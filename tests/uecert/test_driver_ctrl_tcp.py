"""baresip's ctrl_tcp framing (netstrings of JSON), sans-IO."""

from __future__ import annotations

import pytest

from conformance.uecert.drivers.ctrl_tcp import Decoder, encode


def test_encode_is_a_netstring():
    data = encode({"command": "quit", "params": "", "token": "t1"})
    length, _, rest = data.partition(b":")
    assert int(length) == len(rest) - 1 and rest.endswith(b",")


def test_decoder_splits_and_joins_frames():
    frames = encode({"response": True, "ok": True, "token": "t1"}) + encode({"event": True, "type": "REGISTER_OK"})
    dec = Decoder()
    assert dec.feed(frames[:7]) == []
    got = dec.feed(frames[7:])
    assert [g.get("type") or g.get("token") for g in got] == ["t1", "REGISTER_OK"]


@pytest.mark.parametrize("bad", [b"x:{}", b"2:{}]", b"12345678901{"])
def test_decoder_rejects_broken_frames(bad):
    with pytest.raises(ValueError):
        Decoder().feed(bad)
