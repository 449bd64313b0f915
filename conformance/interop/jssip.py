"""JsSIP (under Node, clients/jssip/register.js) read back. Sans-IO: the driver prints JSON lines
(``registered`` | ``failed`` first, ``stopped`` last); these helpers say what the client sent.
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from pathlib import Path

#: where the driver and its package.json live in a checkout (not in a wheel: the test skips)
CLIENT_DIR = Path(__file__).resolve().parents[2] / "clients" / "jssip"


@dataclass
class JssipOutcome:
    """The driver's first line: the registration's outcome, the REGISTER it sent (request line
    and headers) and the response's headers (name -> values, as the driver printed them)."""

    event: str                              # "registered" | "failed"
    status: int | None = None
    reason: str | None = None
    cause: str | None = None
    register: dict = field(default_factory=dict)
    response: dict = field(default_factory=dict)

    @property
    def registered(self) -> bool:
        return self.event == "registered"

    def sent(self, name: str) -> list[str]:
        return _lookup((self.register or {}).get("headers", {}), name)

    def received(self, name: str) -> list[str]:
        return _lookup((self.response or {}).get("headers", {}), name)


@dataclass
class JssipTranscript:
    """The driver's last line: every SIP message and keep-alive, in order (``dir`` in/out,
    ``kind`` sip | crlf-ping | crlf-pong | ws-ping | ws-pong | http | disconnected)."""

    code: int
    messages: list[dict]
    error: str | None = None

    def kinds(self, direction: str) -> list[str]:
        return [m["kind"] for m in self.messages if m["dir"] == direction]

    def sip(self, direction: str) -> list[str]:
        return [m["text"] for m in self.messages if m["dir"] == direction and m["kind"] == "sip"]


def _lookup(headers: dict, name: str) -> list[str]:
    for key, values in headers.items():
        if key.lower() == name.lower():
            return list(values)
    return []


def parse_line(line: str) -> JssipOutcome | JssipTranscript:
    """One line of the driver's output; ValueError when it is not one of its JSON lines."""
    try:
        data = json.loads(line)
    except json.JSONDecodeError as exc:
        raise ValueError(f"not a JSON line of register.js: {line[:200]!r}") from exc
    event = data.get("event")
    if event in ("registered", "failed"):
        return JssipOutcome(event, data.get("status"), data.get("reason"), data.get("cause"),
                            data.get("register") or {}, data.get("response") or {})
    if event == "stopped":
        return JssipTranscript(int(data.get("code", -1)), list(data.get("messages", [])), data.get("error"))
    raise ValueError(f"unknown register.js event {event!r}")
