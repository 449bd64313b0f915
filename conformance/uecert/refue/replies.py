"""Reading the network's answers to the reference UE's REGISTERs (sans-IO)."""

from __future__ import annotations

from dataclasses import dataclass

from ...sip.errors import ParseError
from ...sip.headers import parse_contacts, parse_flow_timer, parse_option_tags, unquote_string
from ...sip.message import Response


@dataclass
class Granted:
    """What a 2xx to REGISTER told the UE about its flow."""

    outbound: bool  # Require: outbound (RFC 5626 §4.2.1: outbound registration succeeded)
    flow_timer: int | None  # Flow-Timer (§4.4)
    expires: int | None  # the expiry granted to the UE's own Contact (None: not listed)


def _instance_of(value: str | None) -> str | None:
    return None if value is None else unquote_string(value).strip("<>")


def read_2xx(response: Response, *, instance: str | None, reg_id: int | None, contact_host_port: str,
             requested: int) -> Granted:
    """The 2xx's Require, Flow-Timer and the expiry of the UE's binding.

    The UE's binding is the Contact with its instance and reg-id (an outbound binding), else the
    one whose URI names the flow's address; its ``expires`` parameter, else the Expires header,
    else what was requested (RFC 3261 §10.2.4)."""
    try:
        outbound = "outbound" in parse_option_tags(response, "Require")
    except ParseError:
        outbound = False
    flow_timer = None
    if response.get("Flow-Timer") is not None:
        try:
            flow_timer = parse_flow_timer(response.get("Flow-Timer"))
        except ParseError:
            flow_timer = None
    expires = None
    try:
        contacts = parse_contacts(response)
    except ParseError:
        contacts = []
    want_instance = _instance_of(instance)
    for c in contacts:
        if c.uri is None:
            continue
        mine = (reg_id is not None and c.reg_id == str(reg_id) and want_instance is not None
                and _instance_of(c.params.get("+sip.instance")) == want_instance)
        if mine or c.uri.host_port() == contact_host_port:
            expires = c.expires
            if expires is not None:
                break
    if expires is None and contacts:
        header = (response.get("Expires") or "").strip()
        expires = int(header) if header.isdigit() else requested
    return Granted(outbound=outbound, flow_timer=flow_timer, expires=expires)


def retry_after(response: Response) -> float | None:
    """Seconds of a Retry-After (RFC 3261 §20.33: delta-seconds, then comment / params)."""
    value = (response.get("Retry-After") or "").strip()
    digits = ""
    for ch in value:
        if not ch.isdigit():
            break
        digits += ch
    return float(digits) if digits else None


__all__ = ["Granted", "read_2xx", "retry_after"]
