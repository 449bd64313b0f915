"""Stream framing (StreamFramer) and datagram classification."""

from __future__ import annotations

import struct

import pytest

from conformance.sip.errors import ParseError
from conformance.sip.framing import Message, Ping, Pong, StreamFramer, classify_datagram

REGISTER = (b"REGISTER sip:example.com SIP/2.0\r\nVia: SIP/2.0/TCP 192.0.2.2;branch=z9hG4bKa\r\n"
            b"Call-ID: 1\r\nCSeq: 1 REGISTER\r\nContent-Length: 0\r\n\r\n")
MESSAGE = (b"MESSAGE sip:a@example.com SIP/2.0\r\nCall-ID: 2\r\nCSeq: 2 MESSAGE\r\n"
           b"l: 12\r\n\r\nhello\r\n\r\nbye")   # a body holding a CRLF CRLF of its own
RESPONSE = b"SIP/2.0 200 OK\r\nCall-ID: 1\r\ncontent-length:0\r\nCSeq: 1 REGISTER\r\n\r\n"

STREAM = b"\r\n\r\n" + REGISTER + MESSAGE + b"\r\n" + RESPONSE + b"\r\n\r\n" + REGISTER
EXPECTED = [Ping(), Message(REGISTER), Message(MESSAGE), Pong(), Message(RESPONSE), Ping(),
            Message(REGISTER)]


def feed_all(chunks) -> list:
    framer = StreamFramer()
    frames = []
    for chunk in chunks:
        frames += framer.feed(chunk)
    assert framer.pending() == 0
    return frames


def test_whole_stream_in_one_segment():
    assert feed_all([STREAM]) == EXPECTED


def test_one_byte_at_a_time():
    assert feed_all([STREAM[i:i + 1] for i in range(len(STREAM))]) == EXPECTED


@pytest.mark.parametrize("cut", range(1, len(REGISTER + MESSAGE)))
def test_two_messages_split_at_every_position(cut):
    data = REGISTER + MESSAGE
    assert feed_all([data[:cut], data[cut:]]) == [Message(REGISTER), Message(MESSAGE)]


@pytest.mark.parametrize("cut", range(1, len(STREAM)))
def test_stream_with_keepalives_split_at_every_position(cut):
    assert feed_all([STREAM[:cut], STREAM[cut:]]) == EXPECTED


def test_lone_crlf_waits_until_flush():
    framer = StreamFramer()
    assert framer.feed(b"\r\n") == [] and framer.pending() == 2
    assert framer.feed(b"") == []
    assert framer.flush() == [Pong()] and framer.pending() == 0
    assert framer.flush() == []
    assert framer.feed(b"\r\n") == [] and framer.feed(b"\r\n") == [Ping()]


def test_partial_message_is_buffered():
    framer = StreamFramer()
    assert framer.feed(MESSAGE[:-3]) == []
    assert framer.pending() == len(MESSAGE) - 3
    assert framer.feed(MESSAGE[-3:]) == [Message(MESSAGE)]


@pytest.mark.parametrize("data", [
    b"OPTIONS sip:a SIP/2.0\r\nCall-ID: x\r\n\r\n",                       # no Content-Length
    b"OPTIONS sip:a SIP/2.0\r\nContent-Length: -1\r\n\r\n",
    b"OPTIONS sip:a SIP/2.0\r\nContent-Length: 1\r\nl: 2\r\n\r\nxx",
    b"HTTP/1.1 200 OK\r\n",
    b"\r\n\rX",
    b"\x16\x03\x01\x00\xa5\x01\n",                                          # TLS on a TCP port
])
def test_framing_errors_are_sticky(data):
    framer = StreamFramer()
    with pytest.raises(ParseError):
        framer.feed(data)
    assert framer.error is not None
    with pytest.raises(ParseError):
        framer.feed(REGISTER)


def test_size_limits():
    framer = StreamFramer(max_message=200)
    with pytest.raises(ParseError):
        framer.feed(b"OPTIONS sip:a SIP/2.0\r\nContent-Length: 500\r\n\r\n")
    framer = StreamFramer(max_message=100)
    with pytest.raises(ParseError):
        framer.feed(b"OPTIONS sip:a SIP/2.0\r\nX: " + b"a" * 200)
    assert StreamFramer(max_message=len(REGISTER)).feed(REGISTER) == [Message(REGISTER)]


def stun_binding_request() -> bytes:
    return struct.pack("!HHI12s", 0x0001, 0, 0x2112A442, b"\x01" * 12)


@pytest.mark.parametrize("data, kind", [
    (stun_binding_request(), "stun"),
    (struct.pack("!HHI12s", 0x0101, 12, 0x2112A442, b"\x02" * 12) + b"\x00" * 12, "stun"),
    (b"\r\n\r\n", "keepalive"),
    (b"\r\n", "keepalive"),
    (REGISTER, "sip"),
    (RESPONSE, "sip"),
    (b"\r\n" + REGISTER, "sip"),
    (b"SIP/2.0 100 \r\n\r\n", "sip"),
    (b"", "unknown"),
    (b"\x00", "unknown"),
    (b"GET / HTTP/1.1\r\n\r\n", "unknown"),
    (struct.pack("!HHI12s", 0x0001, 0, 0x12345678, b"\x01" * 12), "unknown"),  # no cookie
    (struct.pack("!HHI12s", 0xC001, 0, 0x2112A442, b"\x01" * 12), "unknown"),  # top bits set
])
def test_classify_datagram(data, kind):
    assert classify_datagram(data) == kind
