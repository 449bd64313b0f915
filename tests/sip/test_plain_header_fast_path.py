"""The parser's fast path for plain header sections gives what the line-by-line parser gives."""

from __future__ import annotations

import random

import pytest

from conformance.sip import message
from conformance.sip.errors import ParseError

_PIECES = ["Via", "v", "To", "Call-ID", "Contact", "X-Odd.Name!", "na me", "é", ":", ": ", " :", "\t:", " ", "\t",
           "\r\n", "\r\n ", "\r\n\t", "\r", "\n", "\r\n\r\n", ",", ";tag=1", "<sip:a@b>", "\x0b", "\x0c", "\u2028",
           "value", "  padded  ", "\xff\xfe", "\x00", "a:b:c", ""]


def _section(rng: random.Random) -> bytes:
    lines = []
    for _ in range(rng.randint(0, 6)):
        if rng.random() < 0.7:  # mostly well-formed lines, with odd bits now and then
            line = rng.choice(["Via", "To", "Call-ID", "Contact", "X-A", "i", "m"]) + rng.choice([":", " :", "\t:", ": "])
            line += "".join(rng.choice(_PIECES[-8:] + [" ", "x"]) for _ in range(rng.randint(0, 4)))
        else:
            line = "".join(rng.choice(_PIECES) for _ in range(rng.randint(0, 5)))
        lines.append(line)
    text = "REGISTER sip:x SIP/2.0\r\n" + "\r\n".join(lines) + "\r\n\r\n"
    return text.encode("utf-8", "surrogateescape") if rng.random() < 0.5 else text.encode("latin-1", "replace")


def _parse(data: bytes, fast: bool):
    try:
        m = message.parse_message(data)
    except ParseError as exc:
        return ("error", str(exc))
    return ("ok", m.start_line(), m.headers, {k: list(v) for k, v in m.header_index().items()}, m.body)


@pytest.mark.parametrize("seed", range(4))
def test_fast_path_equals_line_by_line(seed, monkeypatch):
    rng = random.Random(seed)
    slow_only = lambda head: None  # noqa: E731
    fast_hits = 0
    for _ in range(5000):
        data = _section(rng)
        head = data.split(b"\r\n\r\n", 1)[0] if b"\r\n\r\n" in data else data
        fast = _parse(data, True)
        if message._fast_headers(head) is not None:
            fast_hits += 1
        monkeypatch.setattr(message, "_fast_headers", slow_only)
        slow = _parse(data, False)
        monkeypatch.undo()
        assert fast == slow, data
    assert fast_hits > 500  # the fast path was taken often enough to be compared
