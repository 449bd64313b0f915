"""What the UE's REGISTERs mean, read from an Observation (sans-IO): one :class:`Reg` per
REGISTER the UE sent, with its binding key, kind and final response, and the evidence that a flow
failed.  The UE checks read this; the runner's ``await: {register: {kind: ...}}`` and the
analysis timeline can use the same reading (:func:`registrations`, :func:`flow_failures`).

Only what the UE could know counts: a REGISTER answered 401/407 and re-sent with credentials is
one attempt (the same kind); a refresh is a REGISTER for a binding the UE holds (a 2xx it saw),
over the flow the binding was added on; a REGISTER for a held binding over another flow is a new
initial registration replacing it (flow recovery, lost coverage).
"""

from __future__ import annotations

from dataclasses import dataclass, field

from ..sip.errors import ParseError
from ..sip.headers import NameAddr, parse_contacts, parse_name_addr, parse_option_tags
from ..sip.message import Request, Response
from ..sut.registrar.bindings import instance_key
from .observation import CLOSE, IN, OUT, PING, PONG, Event, FlowKey, Observation

INITIAL, REFRESH, REMOVAL = "initial", "refresh", "removal"
CHALLENGES = (401, 407)
# Final responses after which §4.5 back-off applies (a failed attempt).  Not failures: the
# challenges, 423 (retry with a longer expiry), 439 (re-attempt without outbound, §4.2.1), and the
# sec-agree / extension negotiations (420, 421, 494).
NOT_FAILURES = (401, 407, 420, 421, 423, 439, 494)
PONG_WAIT = 10.0  # RFC 5626 §4.4.1: a pong within 10 seconds of the ping


def option_tags(msg, name: str) -> list[str] | None:
    """The option tags of a header (lower case), None when the header cannot be parsed."""
    try:
        return parse_option_tags(msg, name)
    except ParseError:
        return None


def header_int(msg, name: str) -> int | None:
    value = (msg.get(name) or "").strip().split(";")[0].split("(")[0].strip()
    return int(value) if value.isdigit() else None


def aor_of(msg) -> str:
    try:
        uri = parse_name_addr(msg.get("To") or "").uri
    except ParseError:
        return (msg.get("To") or "").strip()
    if uri is None:
        return ""
    return f"{uri.scheme}:{uri.user or ''}@{(uri.host or '').lower()}"


@dataclass
class Reg:
    """One REGISTER the UE sent, read."""

    event: Event
    contacts: list[NameAddr]
    response: Event | None = None
    kind: str = INITIAL
    replaces: "Reg | None" = None  # the held binding a REGISTER over another flow replaces
    parse_error: str = ""

    @property
    def msg(self) -> Request:
        return self.event.msg  # type: ignore[return-value]

    @property
    def index(self) -> int:
        return self.event.index

    @property
    def time(self) -> float:
        return self.event.time

    @property
    def flow(self) -> FlowKey:
        return self.event.flow

    @property
    def star(self) -> bool:
        return any(c.star for c in self.contacts)

    @property
    def contact(self) -> NameAddr | None:
        """The UE's own Contact: the first with +sip.instance, else the first (None for *)."""
        own = [c for c in self.contacts if not c.star]
        return next((c for c in own if c.instance), own[0] if own else None)

    @property
    def instance(self) -> str | None:
        c = self.contact
        return c.instance if c is not None else None

    @property
    def reg_id(self) -> str | None:
        c = self.contact
        return c.reg_id if c is not None else None

    @property
    def expires(self) -> int | None:
        c = self.contact
        if c is not None and c.expires is not None:
            return c.expires
        return header_int(self.msg, "Expires")

    @property
    def aor(self) -> str:
        return aor_of(self.msg)

    @property
    def call_id(self) -> str | None:
        return self.msg.call_id

    @property
    def key(self) -> tuple:
        """The binding this REGISTER is about: (AOR, instance, reg-id) for an outbound one, else
        (AOR, Contact URI)."""
        if self.star:
            return (self.aor, "*")
        c = self.contact
        if c is not None and c.instance and c.reg_id is not None:
            return (self.aor, instance_key(c.instance), c.reg_id)
        return (self.aor, str(c.uri) if c is not None else "")

    @property
    def status(self) -> int | None:
        r = self.response
        return r.msg.status if r is not None and isinstance(r.msg, Response) else None

    @property
    def ok(self) -> bool:
        return self.status is not None and 200 <= self.status < 300

    @property
    def failed(self) -> bool:
        s = self.status
        return s is not None and s >= 400 and s not in NOT_FAILURES

    @property
    def require_outbound(self) -> bool:
        return self.ok and "outbound" in (option_tags(self.response.msg, "Require") or [])

    @property
    def flow_timer(self) -> int | None:
        return header_int(self.response.msg, "Flow-Timer") if self.ok else None

    def what(self) -> str:
        return f"REGISTER #{self.index} ({self.flow})"


@dataclass
class RegView:
    regs: list[Reg] = field(default_factory=list)

    def after(self, t: float) -> list[Reg]:
        return [r for r in self.regs if r.time > t]

    def by_call_id(self, call_id: str | None) -> list[Reg]:
        return [r for r in self.regs if r.call_id == call_id]


def registrations(obs: Observation) -> RegView:
    """Every REGISTER of the UE, in order, with its response and kind (module docstring).

    Read once per state of ``obs.events`` (the same list, the same length) and shared by every
    check of the UE (the checks only read it); an observation that grows is read again."""
    events = obs.events
    cached = getattr(obs, "_regview", None)
    if cached is not None and cached[0] is events and cached[1] == len(events):
        return cached[2]
    view = _registrations(obs)
    try:
        obs._regview = (events, len(events), view)
    except AttributeError:  # an observation-like object without attributes of its own
        pass
    return view


def _registrations(obs: Observation) -> RegView:
    view = RegView()
    held: dict[tuple, Reg] = {}  # binding key -> the REGISTER whose 2xx holds it
    pending: dict[tuple, Reg] = {}  # Call-ID (+AOR) -> an attempt answered with a challenge
    for e in obs.requests("REGISTER"):
        try:
            contacts = parse_contacts(e.msg)
            err = ""
        except ParseError as exc:
            contacts, err = [], str(exc)
        reg = Reg(e, contacts, response=obs.response_to(e), parse_error=err)
        first = pending.pop((reg.aor, reg.call_id), None)
        if first is not None:  # the same attempt, re-sent with credentials
            reg.kind, reg.replaces = first.kind, first.replaces
        elif reg.star or reg.expires == 0:
            reg.kind = REMOVAL
        else:
            holder = held.get(reg.key)
            if holder is not None and holder.flow == reg.flow:
                reg.kind = REFRESH
            else:
                reg.kind, reg.replaces = INITIAL, holder
        if reg.status in CHALLENGES:
            pending[(reg.aor, reg.call_id)] = reg
        if reg.ok:
            if reg.star:
                for k in [k for k in held if k[0] == reg.aor]:
                    del held[k]
            elif reg.kind == REMOVAL:
                held.pop(reg.key, None)
            else:
                held[reg.key] = reg
        view.regs.append(reg)
    return view


def end_of(obs: Observation) -> float:
    """When the observation ended: ``obs.end`` if the network side set it, else the last event."""
    end = getattr(obs, "end", None)
    if end is not None:
        return float(end)
    return max((e.time for e in obs.events), default=0.0)


@dataclass(frozen=True)
class Failure:
    """Evidence that a flow failed, as the UE could tell: when, which flow, why, which packet."""

    time: float
    flow: FlowKey
    why: str
    index: int | None
    since: float | None = None  # when the evidence began (the unanswered ping): the UE may act from then

    @property
    def start(self) -> float:
        return self.time if self.since is None else self.since


def flow_failures(obs: Observation) -> list[Failure]:
    """Connection closes, pings without a pong within 10 s (§4.4.1), STUN responses whose
    XOR-MAPPED-ADDRESS changed (§4.4.2), in time order."""
    out: list[Failure] = []
    end = end_of(obs)
    mapped: dict[FlowKey, tuple] = {}
    for i, e in enumerate(obs.events):
        if e.kind == CLOSE:
            who = "the UE" if e.direction == IN else "the network"
            out.append(Failure(e.time, e.flow, f"connection closed by {who}", e.index))
        elif e.kind == PING and e.direction == IN and e.keepalive == "crlf":
            answered = any(p.kind == PONG and p.direction == OUT and p.flow == e.flow
                           and e.time <= p.time <= e.time + PONG_WAIT for p in obs.events[i + 1:])
            if not answered and end >= e.time + PONG_WAIT:
                out.append(Failure(e.time + PONG_WAIT, e.flow,
                                   f"no pong within 10 s of the ping #{e.index}", e.index, since=e.time))
        elif e.kind == PONG and e.direction == OUT and e.stun_mapped is not None:
            before = mapped.get(e.flow)
            mapped[e.flow] = e.stun_mapped
            if before is not None and before != e.stun_mapped:
                out.append(Failure(e.time, e.flow, "XOR-MAPPED-ADDRESS changed from "
                                   f"{before[0]}:{before[1]} to {e.stun_mapped[0]}:{e.stun_mapped[1]}",
                                   e.index))
    # only the first failure of each flow counts
    seen: set[FlowKey] = set()
    first = []
    for f in sorted(out, key=lambda f: f.time):
        if f.flow not in seen:
            seen.add(f.flow)
            first.append(f)
    return first


def failed_by(obs: Observation, flow: FlowKey, t: float, failures: list[Failure] | None = None) -> Failure | None:
    """The failure of ``flow`` at or before ``t``, if any."""
    for f in failures if failures is not None else flow_failures(obs):
        if f.flow == flow and f.time <= t:
            return f
    return None


def ue_traffic_after(obs: Observation, flow: FlowKey, t: float) -> Event | None:
    """The UE's first request or keep-alive on ``flow`` after ``t`` (the flow still in use)."""
    for e in obs.events:
        if e.time > t and e.flow == flow and e.direction == IN and (e.kind == PING or e.is_request):
            return e
    return None


def ue_actions(obs: Observation, name: str) -> list[tuple[float, dict]]:
    """The times the UE was told to do ``name`` (``ue.add_flow``, ``ue.move``...), as the runner
    records them in ``obs.actions`` (empty offline)."""
    return obs.network_actions(name)
