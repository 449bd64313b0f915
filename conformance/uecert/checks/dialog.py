"""UE checks on requests other than REGISTER (RFC 5626 §4.3): dialog-forming requests carry
Contact ;ob and leave over the registered flow; Supported: outbound."""

from __future__ import annotations

from ...sip.errors import ParseError
from ...sip.headers import parse_contacts
from ..observation import IN
from ..registrations import REMOVAL, option_tags, registrations
from . import UeOutcome, ue_check

DIALOG_FORMING = ("INVITE", "SUBSCRIBE", "REFER")
# A MESSAGE forms no dialog, but the contract's ue: call may send one (model.ACTIONS): its Contact,
# when it has one, is judged the same way (the check is MAY: recorded).
WITH_CONTACT = ("MESSAGE",)
NO_SUPPORTED = ("REGISTER", "ACK", "CANCEL")


def _requests(obs, methods=None):
    for e in obs.sip(IN):
        if e.is_request and (methods is None or e.msg.method in methods):
            yield e


@ue_check("dialog_ob", level="MAY", ref="RFC 5626 §4.3 (Contact ;ob on a dialog-forming request)",
          summary="a dialog-forming request's Contact has ;ob (or is a GRUU)", needs=("call",))
def dialog_ob(obs, args, ctx) -> list[UeOutcome]:
    out = []
    for e in _requests(obs, DIALOG_FORMING + WITH_CONTACT):
        if e.msg.method in WITH_CONTACT and not e.msg.get("Contact"):
            continue
        try:
            contacts = parse_contacts(e.msg)
        except ParseError as exc:
            out.append(UeOutcome(False, "Contact <...;ob>", f"unparseable Contact ({exc})", e.index, e.msg.method))
            continue
        c = contacts[0] if contacts else None
        uri = c.uri if c is not None else None
        gruu = uri is not None and uri.has_param("gr")
        ok = uri is not None and (uri.has_param("ob") or gruu)
        out.append(UeOutcome(ok, "Contact URI with ;ob (or a GRUU)", f"Contact: {c}" if c else "no Contact",
                             e.index, f"{e.msg.method} #{e.index}"))
    return out


@ue_check("dialog_same_flow", level="MUST", ref="RFC 5626 §4.3 (the existing flow)",
          summary="requests leave over the registered flow to the edge", needs=("call",))
def dialog_same_flow(obs, args, ctx) -> list[UeOutcome]:
    regs = registrations(obs).regs
    out = []
    for e in _requests(obs):
        if e.msg.method == "REGISTER":
            continue
        held = {}
        for r in regs:
            if r.time < e.time and r.ok and not r.star:
                held[r.key] = None if r.kind == REMOVAL else r
        flows = [r.flow for r in held.values() if r is not None and r.flow.net == e.flow.net]
        if not flows:
            continue
        ok = e.flow in flows
        out.append(UeOutcome(ok, "over the registered flow " + " or ".join(sorted({str(f) for f in flows})),
                             f"over {e.flow}", e.index, f"{e.msg.method} #{e.index}"))
    return out


@ue_check("dialog_supported", level="SHOULD", ref="RFC 5626 §4.3 (Supported: outbound in other requests)",
          summary="requests other than REGISTER carry Supported: outbound", needs=("call",))
def dialog_supported(obs, args, ctx) -> list[UeOutcome]:
    out = []
    for e in _requests(obs):
        if e.msg.method in NO_SUPPORTED:
            continue
        tags = option_tags(e.msg, "Supported")
        out.append(UeOutcome(tags is not None and "outbound" in tags, "Supported: outbound",
                             f"Supported: {', '.join(tags or []) or 'absent'}", e.index, f"{e.msg.method} #{e.index}"))
    return out
