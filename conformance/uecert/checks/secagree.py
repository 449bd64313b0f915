"""UE sec-agree checks (RFC 3329 §2.3.1, TS 24.229 5.1.1.2.2 / 5.1.1.5.1) for IMS UEs that
declare sec-agree: the Security-Client offer, the Security-Verify mirror of the 401's
Security-Server, and the protected REGISTER from port_uc to port_ps."""

from __future__ import annotations

from ...sip.errors import ParseError
from ...sip.headers import parse_security
from ..registrations import option_tags, registrations
from . import UeOutcome, ue_check


def _mechs(msg, name: str):
    try:
        return parse_security(msg, name)
    except ParseError:
        return None


def _show(mechs) -> str:
    return ", ".join(str(m) for m in mechs) if mechs else "absent"


def _norm(mechs) -> list[tuple]:
    return [(m.name.lower(), tuple(sorted((k.lower(), (v or "").lower()) for k, v in m.params.items())))
            for m in mechs or []]


def _challenged(regs):
    """(the REGISTER answered 401 with Security-Server, the REGISTER re-sent after it)."""
    for i, r in enumerate(regs):
        if r.status == 401 and _mechs(r.response.msg, "Security-Server"):
            nxt = next((x for x in regs[i + 1:] if x.call_id == r.call_id), None)
            if nxt is not None:
                yield r, nxt


@ue_check("secagree_offer", level="MUST",
          ref="RFC 3329 §2.3.1 (the client offers Security-Client); RFC 3329 §2.3.1 (Require and Proxy-Require: sec-agree)",
          summary="REGISTER carries Security-Client and Require / Proxy-Require: sec-agree", needs=("sec-agree",))
def secagree_offer(obs, args, ctx) -> list[UeOutcome]:
    out = []
    for r in registrations(obs).regs:
        client = _mechs(r.msg, "Security-Client")
        req, preq = option_tags(r.msg, "Require") or [], option_tags(r.msg, "Proxy-Require") or []
        missing = [h for h, ok in (("Security-Client", bool(client)), ("Require: sec-agree", "sec-agree" in req),
                                   ("Proxy-Require: sec-agree", "sec-agree" in preq)) if not ok]
        out.append(UeOutcome(not missing, "Security-Client, Require: sec-agree, Proxy-Require: sec-agree",
                             "missing " + ", ".join(missing) if missing else f"Security-Client: {_show(client)}",
                             r.index, r.what()))
    return out


@ue_check("secagree_verify_mirror", level="MUST",
          ref="RFC 3329 §2.3.1 (Security-Verify mirrors Security-Server); "
              "TS 24.229 5.1.1.5.1 (Security-Client identical, Security-Verify mirrored)",
          summary="the REGISTER after the 401 mirrors Security-Server in Security-Verify, the same Security-Client",
          needs=("sec-agree",))
def secagree_verify_mirror(obs, args, ctx) -> list[UeOutcome]:
    out = []
    for first, again in _challenged(registrations(obs).regs):
        server = _mechs(first.response.msg, "Security-Server")
        verify = _mechs(again.msg, "Security-Verify")
        c1, c2 = _mechs(first.msg, "Security-Client"), _mechs(again.msg, "Security-Client")
        problems = []
        if _norm(verify) != _norm(server):
            problems.append(f"Security-Verify: {_show(verify)}")
        if _norm(c1) != _norm(c2):
            problems.append(f"Security-Client changed to {_show(c2)}")
        out.append(UeOutcome(not problems, f"Security-Verify: {_show(server)} (the 401's Security-Server, packet "
                             f"{first.response.index}); Security-Client as in REGISTER #{first.index}",
                             "; ".join(problems) or "mirrored", again.index, again.what()))
    return out


@ue_check("secagree_ports", level="MUST", ref="TS 24.229 5.1.1.2.2 a)",
          summary="the protected REGISTER goes from the UE's port_uc to the P-CSCF's port_ps", needs=("sec-agree",))
def secagree_ports(obs, args, ctx) -> list[UeOutcome]:
    out = []
    for first, again in _challenged(registrations(obs).regs):
        server = _mechs(first.response.msg, "Security-Server") or []
        client = _mechs(first.msg, "Security-Client") or []
        port_ps = next((m.param("port-s") for m in server if m.param("port-s")), None)
        port_uc = next((m.param("port-c") for m in client if m.param("port-c")), None)
        if port_ps is None or port_uc is None:
            continue
        seen = (again.flow.ue[1], again.flow.net[1])
        ok = seen == (int(port_uc), int(port_ps))
        out.append(UeOutcome(ok, f"from port_uc {port_uc} to port_ps {port_ps}",
                             f"from {seen[0]} to {seen[1]}", again.index, again.what()))
    return out
