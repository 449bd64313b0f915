"""Pre-built REGISTER bytes for a flow: the engine's ``build_register`` once, placeholders after.

A template is the request split at its two variable parts, the top Via branch and the CSeq
number; sending is one ``bytes.join`` (no message object, no Scapy).  Content-Length does not
change (the body is empty).
"""

from __future__ import annotations

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
    ``build_register`` runs once per prototype, and a flow's :class:`Template` is the
    prototype's four parts %-formatted with the identity (thousands of UEs take milliseconds,
    not a builder call each)."""

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

    def template(self, user: str, instance_uuid: str, call_id: str, tag: str) -> Template:
        ident = {b"user": user.encode(), b"instance": instance_uuid.encode(), b"call_id": call_id.encode(),
                 b"tag": tag.encode()}
        t = Template.__new__(Template)
        t.parts = tuple(p % ident for p in self._fmt)
        return t
