"""Pre-built REGISTER bytes for a flow: the engine's ``build_register`` once, placeholders after.

A template is the request split at its two variable parts, the top Via branch and the CSeq
number; sending is one ``bytes.join`` (no message object, no Scapy).  Content-Length does not
change (the body is empty).
"""

from __future__ import annotations

import re
from operator import itemgetter

from ..ue.model import UE, FlowState, RegDialog, RegisterOptions, build_register

_BRANCH = "z9hG4bKqqBRANCHqq"
_CSEQ = 987654321


class Template:
    __slots__ = ("parts",)

    def __init__(self, ue: UE, flow: FlowState, opts: RegisterOptions):
        saved = flow.dialog
        flow.dialog = RegDialog(call_id=saved.call_id, cseq=_CSEQ, from_tag=saved.from_tag)
        try:
            data = build_register(ue, flow, opts, branch=_BRANCH).to_bytes()
        finally:
            flow.dialog = saved
        self._split(data)

    @classmethod
    def from_bytes(cls, data: bytes) -> "Template":
        t = cls.__new__(cls)
        t._split(data)
        return t

    def _split(self, data: bytes) -> None:
        head, rest = data.split(_BRANCH.encode(), 1)
        mid, tail = rest.split(f"CSeq: {_CSEQ} ".encode(), 1)
        method_line, after = tail.split(b"\r\n", 1)
        self.parts = (head, mid + b"CSeq: ", b" " + method_line + b"\r\n", after)

    def render(self, branch: bytes, cseq: int, extra: bytes = b"") -> bytes:
        """The request with this branch and CSeq; ``extra``: header lines (CRLF-ended) after CSeq."""
        p = self.parts
        return b"".join((p[0], branch, p[1], str(cseq).encode(), p[2], extra, p[3]))


def options(expires: int, *, authorization: bool = False) -> RegisterOptions:
    return RegisterOptions(kind="register", expires=expires, supported=["path", "outbound"],
                           authorization=authorization)


_MARKS = {"user": "qqUSERqq", "instance": "qqINSTANCEqq", "call_id": "qqCALLIDqq", "tag": "qqTAGqq"}


class Prototype:
    """A REGISTER for one address, port and reg-id with the UE's identity still to fill in:
    ``build_register`` runs once per prototype, and :meth:`numbered` makes it one %-format over
    the UE's number (thousands of UEs take no builder call and no strings each)."""

    __slots__ = ("data", "_fmt")

    def __init__(self, flow: FlowState, opts: RegisterOptions, domain: str):
        m = _MARKS
        ue = UE(name="proto", user=m["user"], impu=f"sip:{m['user']}@{domain}", impi=f"{m['user']}@{domain}",
                domain=domain, instance=f"<urn:uuid:{m['instance']}>")
        saved = flow.dialog
        flow.dialog = RegDialog(call_id=m["call_id"], cseq=_CSEQ, from_tag=m["tag"])
        try:
            self.data = build_register(ue, flow, opts, branch=_BRANCH).to_bytes()
        finally:
            flow.dialog = saved
        fmt = self.data.replace(b"%", b"%%")
        for name, mark in m.items():
            fmt = fmt.replace(mark.encode(), b"%(" + name.encode() + b")s")
        self._fmt = Template.from_bytes(fmt).parts

    def numbered(self, ident: dict[str, bytes], branch: bytes) -> "Numbered":
        """The whole request as one %-format over numbers: ``ident`` gives each identity field
        (user, instance, call_id, tag) as a bytes format of ``%(i)...`` (the UE's number; any
        other ``%`` doubled), ``branch`` the top Via branch as one of ``%(n)...`` (the branch
        counter); the CSeq number and the extra header lines (CRLF-ended) are added per request."""
        p = self._fmt
        fmt = b"".join((p[0], branch, p[1], b"%(cseq)d", p[2], b"%(auth)s", p[3]))
        fmt = re.sub(rb"%\((user|instance|call_id|tag)\)s", lambda m: ident[m.group(1).decode()], fmt)
        return Numbered(fmt)


_FIELDS = ("n", "i", "cseq", "auth")
_NAMED = re.compile(rb"%%|%\((\w+)\)([-0-9]*[a-z])")
# The values a request is made of, each formatted once per request: the branch counter as ten
# digits (also the branch's tail: the generator's key for the transaction), the UE's number in
# decimal and in 12 hexadecimal digits (its identity fields repeat them), the CSeq, the extra lines.
_PIECES = {(b"n", b"010d"): 0, (b"i", b"d"): 1, (b"i", b"012x"): 2, (b"cseq", b"d"): 3, (b"auth", b"s"): 4}


class Numbered:
    """A REGISTER as one positional bytes %-format: ``render(n, i, cseq, auth)`` fills in the
    branch counter ``n``, the UE number ``i`` (its identity), the CSeq and the extra header lines
    in one C call; no per-UE strings or template are kept.  ``fmt % getter(pieces)`` is the same
    from pieces made once each (``pieces``): the digits of ``n`` and of ``i`` are not formatted
    again at each of their places (the UE's number is in five header fields)."""

    __slots__ = ("fmt", "getter")

    def __init__(self, named: bytes):
        order: list[int] = []

        def positional(m):
            if m.group(1) is None:
                return m.group(0)
            key = (m.group(1), m.group(2))
            if key not in _PIECES:
                raise ValueError(f"no piece for %({key[0].decode()}){key[1].decode()}")
            order.append(_PIECES[key])
            return b"%d" if key == (b"cseq", b"d") else b"%s"

        self.fmt = _NAMED.sub(positional, named)
        self.getter = itemgetter(*order)  # at least the branch, the CSeq and the extra lines: a tuple

    @staticmethod
    def pieces(n: int, i: int, cseq: int, auth: bytes = b"") -> tuple:
        return (b"%010d" % n, b"%d" % i, b"%012x" % i, cseq, auth)

    def render(self, n: int, i: int, cseq: int, auth: bytes = b"") -> bytes:
        return self.fmt % self.getter(self.pieces(n, i, cseq, auth))
