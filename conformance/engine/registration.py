"""What REGISTER steps share: the options a step gives its REGISTER, the Call-ID/CSeq it goes
in, and what a run remembers of the answers (Path URIs, Flow-Timers, the UE's REGISTER outcomes
and each flow's answers) for later steps and checks.

The register family (steps/register.py) builds with it; sec-agree REGISTERs (engine/secreg.py),
crlf, flow_limit, race and storm reuse it.
"""

from __future__ import annotations

import uuid
from dataclasses import dataclass, field

from ..cases.model import StepSpec
from ..meaning.checks.gruu import GruuSeen, flow_gruus
from ..sip.errors import LocalProtocolError, ParseError
from ..sip.headers import parse_flow_timer, parse_name_addr
from ..sip.message import Response
from ..ue.model import UE, FlowState, RegDialog, RegisterOptions

#: Step options that make a REGISTER step an IMS AKA / sec-agree one (engine/secreg.py).
SEC_OPTIONS = ("sec_agree", "auth", "security_verify", "esp", "unprotected", "algorithms",
               "aka_response", "security_client", "replay_authorization", "integrity_protected",
               "via_port", "security_client_text")

PADS = {"{pad600}": "a" * 600, "{pad10k}": "a" * 10240, "{pad60k}": "a" * 61440,
        # a 300-hop Path value list on loopback (TP_ROB_001)
        "{path300}": ", ".join(f"<sip:hop{i}@127.0.0.1:9;lr>" for i in range(1, 301))}


def expand_pads(text: str) -> str:
    """Expand the padding placeholders of oversized stimuli (TP_REG_037) in option values."""
    for key, value in PADS.items():
        if key in text:
            text = text.replace(key, value)
    return text


@dataclass
class RegistrationState:
    """What a run remembers of its REGISTER answers (one per run: ``run.state(RegistrationState)``)."""

    #: (flow, top Path URI of a 2xx to REGISTER), in order
    path_history: list[tuple[str, str]] = field(default_factory=list)
    #: flow -> the top Path URI of its latest 2xx to REGISTER
    last_path: dict[str, str] = field(default_factory=dict)
    #: flow -> Flow-Timer of its latest 2xx to REGISTER
    flow_timers: dict[str, int] = field(default_factory=dict)
    #: UE -> its REGISTER outcomes (checks/unchanged.py)
    register_history: dict[str, list] = field(default_factory=dict)
    #: flow -> its REGISTERs' answers (checks/atomic.py)
    register_answers: dict[str, list] = field(default_factory=dict)
    #: the GRUUs each 2xx to REGISTER gave the flow that sent it, in order (RFC 5627 §5.2;
    #: checks/gruu.py, and the ``pub_gruu_of`` / ``temp_gruu_of`` Request-URIs)
    gruu_history: list[GruuSeen] = field(default_factory=list)

    def remember_2xx(self, flow_name: str, response: Response, *, contact_uri: str | None = None,
                     reg_id=None) -> None:
        """Keep the top Path URI (the edge's URI with the flow's token), the Flow-Timer the
        SUT gave the flow (RFC 5626 §4.4.1, for keep-alive loops) and, given the flow's Contact
        URI, the GRUUs on the flow's binding (RFC 5627 §5.2) of a 2xx to REGISTER."""
        seen = flow_gruus(response, flow_name, contact_uri, reg_id, response.call_id or "")
        if seen is not None and (seen.pub or seen.temp):
            self.gruu_history.append(seen)
        paths = response.values("Path")
        if paths:
            try:
                uri = parse_name_addr(paths[0]).uri
            except ParseError:
                uri = None
            if uri is not None:
                self.path_history.append((flow_name, str(uri)))
                self.last_path[flow_name] = str(uri)
        try:
            self.flow_timers[flow_name] = parse_flow_timer(response.get("Flow-Timer") or "")
        except ParseError:
            self.flow_timers.pop(flow_name, None)

    def gruus(self, flow_name: str, which: str) -> list[str]:
        """Every pub-gruu (``which="pub"``) or temp-gruu (``"temp"``) the flow got, oldest first."""
        return list(dict.fromkeys(v for s in self.gruu_history if s.flow == flow_name and (v := getattr(s, which))))


def register_options(run, step: StepSpec, ue: UE) -> RegisterOptions:
    """The REGISTER a step asks for, from its options."""
    o = step.options
    opts = RegisterOptions(kind=step.action)
    if step.action == "deregister":
        opts.expires = 0
    if "expires" in o:
        opts.expires = o["expires"]
    opts.expires_header = o.get("expires_header")
    if "supported" in o:
        opts.supported = list(o["supported"] or [])
    opts.require = list(o.get("require") or [])
    contact = o.get("contact") or {}
    if "reg_id" in contact:
        opts.reg_id = contact["reg_id"]
    if "instance" in contact:
        opts.instance = bool(contact["instance"])
    opts.contact_params = {str(k): (None if v is None else expand_pads(str(v)))
                           for k, v in (contact.get("params") or {}).items()}
    for extra in o.get("contacts") or []:
        _, other = run.flow(extra["flow"])
        if other.local_port is None:
            raise LocalProtocolError(f"contacts: flow {extra['flow']} has not registered yet")
        opts.extra_contacts.append((other, int(extra.get("expires", 600))))
    opts.headers = [(str(n), expand_pads(str(v))) for n, v in (o.get("headers") or [])]
    if "authorization" in o:
        opts.authorization = bool(o["authorization"])
    opts.via_keep = bool(o.get("via_keep"))
    return opts


def dialog_for(run, step: StepSpec, flow: FlowState) -> None:
    """The Call-ID the step's REGISTER goes in (the flow's, a new one, another flow's), next CSeq."""
    which = step.options.get("call_id")
    if step.action == "refresh" and flow.dialog is None:
        raise LocalProtocolError(f"refresh of flow {flow.name} before it registered")
    if which == "new" or (flow.dialog is None and which is None):
        flow.dialog = RegDialog(call_id=f"{uuid.uuid4().hex}@{flow.local_ip}")
    elif which is not None:
        _, other = run.flow(which)
        if other.dialog is None:
            raise LocalProtocolError(f"call_id: {which} names a flow that has no Call-ID yet")
        flow.dialog = other.dialog
    flow.dialog.next_cseq()
