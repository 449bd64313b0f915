"""Raw stimuli for the RFC 4475 cases (sans-IO): the invalid torture messages adapted to a flow.

Adaptation is minimal so that each message stays the torture it is: the first Via's transport
and sent-by are rewritten to the flow's (so that an answer, RFC 3261 §18.2.2, comes back to the
tester and not to 192.0.2.x or example.com), and in a REGISTER the user of every ``sip:USER@``
URI becomes the case's own user: a SUT that accepts the REGISTER (regbadct) then binds an AOR
nobody else uses, instead of "user", which later torture requests for sip:user@example.com
would reach and the SUT would try to resolve example.com for (seen with Kamailio: 478 after a
DNS query).  Everything else (Request-URI, other headers, Content-Length, body) goes byte for
byte.  ``same_stimulus`` recognises an adapted message in a capture (offline re-judging).
"""

from __future__ import annotations

import re

from .rfc4475_invalid import MESSAGES

# The first Via (or compact v) header line: name, version, transport, sent-by.
_VIA = re.compile(rb"^((?:via|v)[ \t]*:[ \t]*SIP[ \t]*/[ \t]*[0-9.]+[ \t]*/[ \t]*)([A-Za-z]+)([ \t]+)([^;,\s]+)",
                  re.I | re.M)


def torture_message(name: str) -> tuple[str, bytes]:
    """(RFC 4475 section, bytes) of an invalid message; KeyError names the known ones."""
    try:
        return MESSAGES[name]
    except KeyError:
        raise KeyError(f"no RFC 4475 invalid message {name!r}; known: {', '.join(MESSAGES)}") from None


_USER = re.compile(rb"sip:[^@\s;>?\"]+@", re.I)


def adapt(data: bytes, sent_by: str, transport: str, user: str = "") -> tuple[bytes, str]:
    """The message with its first Via's transport and sent-by replaced, and in a REGISTER the
    users of its SIP URIs replaced by ``user``; (bytes, what was done)."""
    notes = []
    if user and data.startswith(b"REGISTER "):
        data, n = _USER.subn(b"sip:" + user.encode() + b"@", data)
        notes.append(f"{n} SIP URI user(s) -> {user}")
    m = _VIA.search(data)
    if m is None:
        return data, "; ".join(notes + ["no Via to adapt"])
    old = m.group(4).decode("latin-1")
    new = m.group(1) + transport.upper().encode() + m.group(3) + sent_by.encode()
    notes.insert(0, f"first Via sent-by {old} -> {sent_by}")
    return data[:m.start()] + new + data[m.end():], "; ".join(notes)


def same_stimulus(original: bytes, seen: bytes) -> bool:
    """Is ``seen`` (from a capture) ``original`` adapted to some flow?"""
    def norm(b: bytes) -> bytes:
        if b.startswith(b"REGISTER "):
            b = _USER.sub(b"sip:U@", b)
        return _VIA.sub(lambda m: m.group(1) + b"T" + m.group(3) + b"X", b, count=1)
    return norm(original) == norm(seen)


__all__ = ["MESSAGES", "adapt", "same_stimulus", "torture_message"]
