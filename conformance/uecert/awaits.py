"""What a script's ``await.*`` lines wait for, as predicates over an
:class:`~conformance.uecert.observation.Observation` (sans-IO).

A REGISTER's kind: ``removal`` (Contact: * or every Contact with expires 0 / Expires: 0),
``refresh`` (a Call-ID that already had a 2xx to REGISTER), else ``initial``."""

from __future__ import annotations

from ..sip.errors import ParseError
from ..sip.headers import parse_contacts
from ..sip.message import Response
from .observation import IN, PING, Event, Observation

KINDS = ("initial", "refresh", "removal", "any")


def register_kind(obs: Observation, event: Event) -> str:
    req = event.msg
    try:
        contacts = parse_contacts(req)
    except (ParseError, ValueError):
        contacts = []
    header = req.get("Expires")
    if contacts and (contacts[0].star or all(
            (c.params.get("expires") or header or "1").strip() == "0" for c in contacts)):
        return "removal"
    for e in obs.sip():
        if e.index >= event.index and e.index:
            break
        r = e.msg
        if (e.direction != IN and isinstance(r, Response) and 200 <= r.status < 300
                and r.cseq and r.cseq[1] == "REGISTER" and r.call_id == req.call_id):
            return "refresh"
    return "initial"


def registers(obs: Observation, kind: str = "any") -> list[Event]:
    return [e for e in obs.requests("REGISTER") if kind == "any" or register_kind(obs, e) == kind]


def answered_registers(obs: Observation, kind: str = "any") -> list[Event]:
    """The REGISTERs (of a kind) the network has answered with a final response: an await on
    them returns once the UE has its answer, so the next line finds it registered (or refused)."""
    return [e for e in registers(obs, kind) if obs.response_to(e) is not None]


def keepalives(obs: Observation, flow=None) -> list[Event]:
    return [e for e in obs.events if e.kind == PING and e.direction == IN and (flow is None or e.flow == flow)]


def answered(obs: Observation, call_id: str) -> bool:
    """The UE answered (finally) the network's request with this Call-ID."""
    return any(isinstance(e.msg, Response) and e.msg.status >= 200 and e.msg.call_id == call_id
               for e in obs.sip(IN))
