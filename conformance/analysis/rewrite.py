"""Replay rewriting and response comparison (sans-IO).

A captured UE request cannot be sent again as it was: its addresses, ports, Call-ID, branch and
tags belong to the old run.  :class:`Rewriter` maps them consistently (the same old Call-ID
always gets the same new one, an old flow address its new local address), and maps the SUT's
answers back so they can be compared with the captured ones.  :func:`compare` compares two
responses header by header on what matters (status, option tags, bindings, Path, sec-agree,
Flow-Timer) and ignores what must differ (tags, branches, Call-ID, dates, received/rport).
"""

from __future__ import annotations

import re
import uuid
from dataclasses import dataclass, field

from ..ue.model import new_branch, new_tag
from ..sip.errors import ParseError
from ..sip.message import Request, Response

Addr = tuple[str, int]


def _hostport(addr: Addr) -> str:
    host = f"[{addr[0]}]" if ":" in addr[0] else addr[0]
    return f"{host}:{addr[1]}"


@dataclass
class Rewriter:
    """Consistent old -> new mapping of one replay."""

    addresses: dict[Addr, Addr] = field(default_factory=dict)  # old UE flow address -> new
    call_ids: dict[str, str] = field(default_factory=dict)
    tags: dict[str, str] = field(default_factory=dict)

    def _call_id(self, old: str) -> str:
        return self.call_ids.setdefault(old, f"{uuid.uuid4().hex}@replay")

    def _tag(self, old: str) -> str:
        return self.tags.setdefault(old, new_tag())

    def _swap_addresses(self, text: str) -> str:
        for old, new in self.addresses.items():
            text = text.replace(_hostport(old), _hostport(new))
        return text

    def request(self, req: Request) -> Request:
        """The request to send now: new branch(es), Call-ID, From tag, and our own addresses."""
        headers: list[tuple[str, str]] = []
        for name, value in req.headers:
            low = name.lower()
            if low in ("via", "v"):
                value = re.sub(r"branch=[^;,\s]+", lambda m: "branch=" + new_branch(), value)
                value = re.sub(r";\s*(received|rport)=[^;,\s]*", "", value)
                value = self._swap_addresses(value)
                if ";rport" not in value:
                    value += ";rport"
            elif low in ("call-id", "i"):
                value = self._call_id(value.strip())
            elif low in ("from", "f", "to", "t"):
                value = re.sub(r";\s*tag=([^;,\s>]+)", lambda m: ";tag=" + self._tag(m.group(1)), value)
            elif low in ("contact", "m", "path"):
                value = self._swap_addresses(value)
            elif low in ("content-length", "l"):
                continue
            headers.append((name, value))
        return Request(method=req.method, uri=self._swap_addresses(req.uri), headers=headers, body=req.body,
                       version=req.version)

    def back(self, text: str) -> str:
        """A value of the SUT's new answer with our new addresses mapped back to the captured ones."""
        for old, new in self.addresses.items():
            text = text.replace(_hostport(new), _hostport(old))
        return text


# Headers compared value by value, after normalising.  Everything else is ignored: tags,
# branches, Call-ID, CSeq (same by construction), Date, Server, Content-Length, Via.
COMPARED = ("Require", "Supported", "Unsupported", "Contact", "Path", "Service-Route", "Flow-Timer",
            "Security-Server", "Min-Expires", "WWW-Authenticate")


@dataclass
class HeaderDiff:
    header: str
    captured: str
    replayed: str


def _norm_contacts(values: list[str]) -> list[str]:
    from ..sip.headers import parse_contacts

    try:
        contacts = parse_contacts(values)
    except ParseError:
        return sorted(" ".join(v.split()) for v in values)
    out = []
    for c in contacts:
        if c.star:
            out.append("*")
            continue
        params = {k: v for k, v in c.params.items() if k not in ("expires",)}
        shown = f"<{c.uri}>" + "".join(f";{k}" if v is None else f";{k}={v}" for k, v in sorted(params.items()))
        out.append(shown + (";expires" if c.expires is not None else ""))
    return sorted(out)


def _norm(header: str, values: list[str]) -> str:
    if header in ("Require", "Supported", "Unsupported"):
        return ", ".join(sorted(t.strip().lower() for v in values for t in v.split(",") if t.strip()))
    if header == "Contact":
        return " | ".join(_norm_contacts(values))
    if header == "WWW-Authenticate":  # the nonce is fresh each time: compare the scheme and algorithm
        return " | ".join(re.sub(r'nonce="[^"]*"', 'nonce="…"', v) for v in values)
    if header == "Security-Server":  # SPIs and ports are chosen per run
        return " | ".join(re.sub(r"(spi-[cs]|port-[cs])=\d+", r"\1=…", v) for v in values)
    return " | ".join(" ".join(v.split()) for v in values)


def compare(captured: Response | None, replayed: Response | None, rw: Rewriter) -> list[HeaderDiff]:
    if captured is None or replayed is None:
        c = f"{captured.status} {captured.reason}" if captured is not None else "(no response)"
        r = f"{replayed.status} {replayed.reason}" if replayed is not None else "(no response)"
        return [] if captured is replayed is None else [HeaderDiff("status", c, r)]
    diffs = []
    if captured.status != replayed.status:
        diffs.append(HeaderDiff("status", f"{captured.status} {captured.reason}",
                                f"{replayed.status} {replayed.reason}"))
    for h in COMPARED:
        a = _norm(h, captured.values(h))
        b = _norm(h, [rw.back(v) for v in replayed.values(h)])
        if a != b:
            diffs.append(HeaderDiff(h, a or "(absent)", b or "(absent)"))
    return diffs
