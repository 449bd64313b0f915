"""Errors of the SIP layer.

Following h11's split: a :class:`ParseError` means the bytes we were given are not valid SIP
(when they came from the SUT, that is the SUT's fault); a :class:`LocalProtocolError` means our
own code or a test case asked for something that cannot be built.
"""

from __future__ import annotations


class SipError(Exception):
    """Base of the SIP layer's errors."""


class ParseError(SipError, ValueError):
    """Bytes or a header value that do not follow the SIP grammar.

    ``offset`` is the byte offset in the message where the problem was found, when known.
    """

    def __init__(self, message: str, offset: int | None = None):
        self.offset = offset
        where = f" (at byte {offset})" if offset is not None else ""
        super().__init__(f"{message}{where}")
        self.reason = message


class LocalProtocolError(SipError):
    """Our side (the engine or a case) asked for something illegal."""
