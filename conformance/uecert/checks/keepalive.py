"""UE keep-alive checks (RFC 5626 §4.4, §4.4.1, §4.4.2): sent on each outbound flow, the right
kind for the transport, their intervals against Flow-Timer (measured from the 2xx that carried
it, over several periods) or the defaults, and the flow treated as failed on a missing pong or a
changed XOR-MAPPED-ADDRESS."""

from __future__ import annotations

from dataclasses import dataclass

from ..observation import CLOSE, PING
from ..registrations import Reg, end_of, flow_failures, registrations
from . import UeOutcome, ue_check

CRLF_DEFAULT = (95.0, 120.0)
CRLF_BATTERY = (672.0, 840.0)
STUN_DEFAULT = (24.0, 29.0)


def expected_kind(transport: str) -> str:
    return "stun" if transport == "udp" else "crlf"


def tolerance(args: dict, period: float) -> float:
    """Measurement slack: the network sees a keep-alive after the UE's scheduling and transit."""
    return float(args.get("tolerance", 0.25 + 0.05 * period))


@dataclass
class FlowKeepalives:
    """One outbound flow: the 2xx that started keep-alives, Flow-Timer, the pings, the end."""

    reg: Reg  # the REGISTER whose 2xx had Require: outbound
    flow_timer: int | None
    pings: list
    end: float  # when the flow stopped being measured (closed, removed, replaced, case end)

    @property
    def start(self) -> float:
        return self.reg.response.time

    def intervals(self) -> list[tuple[float, float, object]]:
        """(from, to, the ping ending it or None for the open tail) from the 2xx on."""
        out, t = [], self.start
        for p in self.pings:
            out.append((t, p.time, p))
            t = p.time
        out.append((t, self.end, None))
        return out


def outbound_flows(obs) -> list[FlowKeepalives]:
    regs = registrations(obs).regs
    end = end_of(obs)
    out: dict = {}
    for r in regs:
        if not r.require_outbound or r.star or r.kind == "removal":
            continue
        cur = out.get(r.flow)
        if cur is None:
            out[r.flow] = cur = FlowKeepalives(r, r.flow_timer, [], end)
        elif r.flow_timer is not None:
            cur.flow_timer = r.flow_timer  # the most recent successful response rules
    for fk in out.values():
        stops = [e.time for e in obs.events if e.kind == CLOSE and e.flow == fk.reg.flow and e.time > fk.start]
        stops += [r.time for r in regs if r.time > fk.start and r.flow == fk.reg.flow and r.kind == "removal"]
        stops += [r.time for r in regs if r.time > fk.start and r.replaces is not None
                  and r.replaces.flow == fk.reg.flow]
        fk.end = min([end] + stops)
        fk.pings = [e for e in obs.events if e.kind == PING and e.direction == "in" and e.flow == fk.reg.flow
                    and fk.start < e.time <= fk.end]
    return list(out.values())


@ue_check("keepalive_sent", level="MUST",
          ref="RFC 5626 §4.4.1 (clients support CRLF keep-alive); RFC 5626 §4.4.2 (clients support STUN keep-alive); "
              "RFC 5626 §4.4.1 (CRLF only on connections); RFC 5626 §4.4.2 (STUN only on connection-less transports)",
          summary="keep-alives on each outbound flow (CRLF on connections, STUN on UDP)", needs=("outbound",))
def keepalive_sent(obs, args, ctx) -> list[UeOutcome]:
    out = []
    for fk in outbound_flows(obs):
        want = expected_kind(fk.reg.flow.transport)
        kinds = {p.keepalive for p in fk.pings}
        wrong = [p for p in fk.pings if p.keepalive != want]
        if wrong:
            out.append(UeOutcome(False, f"{want.upper()} keep-alives on a {fk.reg.flow.transport} flow",
                                 f"a {wrong[0].keepalive.upper()} keep-alive", wrong[0].index, str(fk.reg.flow)))
        elif fk.pings:
            out.append(UeOutcome(True, f"{want.upper()} keep-alives after the 2xx with Require: outbound "
                                 f"(packet {fk.reg.response.index})",
                                 f"{len(fk.pings)} {'/'.join(sorted(kinds)).upper()} keep-alive(s)",
                                 fk.pings[0].index, str(fk.reg.flow)))
        else:
            bound = fk.flow_timer or (STUN_DEFAULT[1] if want == "stun" else CRLF_DEFAULT[1])
            bound = float(args.get("bound", bound))
            span = fk.end - fk.start
            ok = None if span <= bound + tolerance(args, bound) else False
            timer = f"Flow-Timer {fk.flow_timer}" if fk.flow_timer else "no Flow-Timer"
            out.append(UeOutcome(ok, f"a {want.upper()} keep-alive within {bound:g} s of the 2xx "
                                 f"(packet {fk.reg.response.index}, {timer})",
                                 f"none in {span:.1f} s", fk.reg.response.index, str(fk.reg.flow)))
    return out


@ue_check("keepalive_interval", level="MUST", ref="RFC 5626 §4.4 (at least as often as Flow-Timer)",
          summary="keep-alives at least as often as Flow-Timer", needs=("outbound",))
def keepalive_interval(obs, args, ctx) -> list[UeOutcome]:
    out = []
    min_periods = int(args.get("min_periods", 2))
    for fk in outbound_flows(obs):
        ft = fk.flow_timer
        if ft is None:
            continue
        tol = tolerance(args, ft)
        ivs = fk.intervals()
        late = [(a, b, p) for a, b, p in ivs if b - a > ft + tol]
        expected = (f"each keep-alive within Flow-Timer {ft} s (+{tol:.2f} s) of the previous one or of the 2xx "
                    f"(packet {fk.reg.response.index})")
        if late:
            a, b, p = late[0]
            seen = (f"{b - a:.2f} s " + (f"before the keep-alive at packet {p.index}" if p is not None
                                          else "without any keep-alive up to the end of the flow"))
            out.append(UeOutcome(False, expected, seen + (f" ({len(late)} such intervals)" if len(late) > 1 else ""),
                                 p.index if p is not None else fk.reg.response.index, str(fk.reg.flow)))
        elif len(fk.pings) < min_periods:
            out.append(UeOutcome(None, expected, f"{len(fk.pings)} keep-alive(s) in {fk.end - fk.start:.1f} s: "
                                 f"fewer than {min_periods} periods", fk.reg.response.index, str(fk.reg.flow)))
        else:
            longest = max(b - a for a, b, _ in ivs)
            out.append(UeOutcome(True, expected, f"{len(fk.pings)} keep-alives, longest gap {longest:.2f} s",
                                 fk.pings[-1].index, str(fk.reg.flow)))
    return out


def _spread(fk: FlowKeepalives) -> list[tuple[float, object]]:
    """Intervals between consecutive keep-alives (the first from the 2xx is not one)."""
    return [(b.time - a.time, b) for a, b in zip(fk.pings, fk.pings[1:])]


def _range_outcome(fk, lo, hi, tol, min_periods, expected) -> UeOutcome:
    ivs = _spread(fk)
    bad = [(d, p) for d, p in ivs if not lo - tol <= d <= hi + tol]
    if bad:
        d, p = bad[0]
        return UeOutcome(False, expected, f"{d:.2f} s before the keep-alive at packet {p.index}"
                         + (f" ({len(bad)} of {len(ivs)} intervals outside)" if len(bad) > 1 else ""),
                         p.index, str(fk.reg.flow))
    if len(ivs) < min_periods:
        return UeOutcome(None, expected, f"{len(ivs)} interval(s) between keep-alives: fewer than {min_periods}",
                         fk.reg.response.index, str(fk.reg.flow))
    return UeOutcome(True, expected, f"{len(ivs)} intervals, {min(d for d, _ in ivs):.2f}-"
                     f"{max(d for d, _ in ivs):.2f} s", ivs[-1][1].index, str(fk.reg.flow))


@ue_check("keepalive_spread", level="SHOULD", ref="RFC 5626 §4.4 (80-100 % of Flow-Timer)",
          summary="keep-alive intervals between 80 % and 100 % of Flow-Timer", needs=("outbound",))
def keepalive_spread(obs, args, ctx) -> list[UeOutcome]:
    out = []
    for fk in outbound_flows(obs):
        ft = fk.flow_timer
        if ft is None:
            continue
        out.append(_range_outcome(fk, 0.8 * ft, float(ft), tolerance(args, ft), int(args.get("min_periods", 2)),
                                  f"intervals of {0.8 * ft:g}-{ft} s (80-100 % of Flow-Timer {ft})"))
    return out


@ue_check("keepalive_default", level="SHOULD",
          ref="RFC 5626 §4.4.1 (CRLF default 95-120 s); RFC 5626 §4.4.2 (STUN default 24-29 s)",
          summary="without Flow-Timer: STUN every 24-29 s, CRLF every 95-120 s (672-840 s on battery)",
          needs=("outbound",))
def keepalive_default(obs, args, ctx) -> list[UeOutcome]:
    out = []
    for fk in outbound_flows(obs):
        if fk.flow_timer is not None:
            continue
        if fk.reg.flow.transport == "udp":
            lo, hi = STUN_DEFAULT
        else:
            lo, hi = CRLF_BATTERY if args.get("battery") else CRLF_DEFAULT
        out.append(_range_outcome(fk, lo, hi, float(args.get("tolerance", 1.0)), int(args.get("min_periods", 2)),
                                  f"intervals of {lo:g}-{hi:g} s (no Flow-Timer)"))
    return out


def _treated_as_failed(obs, regs, failure, reg: Reg, within: float) -> UeOutcome:
    """After ``failure`` of ``reg``'s flow: a REGISTER for its instance over a new flow (a new
    connection; on UDP any REGISTER) within ``within`` s."""
    flow = failure.flow
    deadline = failure.time + within
    expected = (f"the flow treated as failed: a REGISTER over a new flow by {deadline:.1f} s "
                f"({within:g} s after the failure)")
    for r in regs:
        if r.time < reg.response.time or r.time > deadline or r.instance != reg.instance or r.star:
            continue
        if flow.transport != "udp" and r.flow == flow:
            continue
        if r.time < failure.start:
            continue
        return UeOutcome(True, expected, f"REGISTER #{r.index} over {r.flow} {r.time - failure.time:+.1f} s after "
                         f"the failure ({failure.why})", r.index, str(flow))
    if end_of(obs) < deadline:
        return UeOutcome(None, expected, f"the observation ended {end_of(obs) - failure.time:.1f} s after the "
                         f"failure ({failure.why})", failure.index, str(flow))
    used = [e for e in obs.events if e.flow == flow and e.direction == "in" and e.time > failure.time
            and (e.kind == PING or e.is_request)]
    seen = f"no REGISTER by then ({failure.why})"
    if used:
        seen += f"; the UE kept using the flow (packet {used[0].index})"
    return UeOutcome(False, expected, seen, failure.index, str(flow))


def _failure_check(obs, args, why: str, default_within: float) -> list[UeOutcome]:
    regs = registrations(obs).regs
    flows = {fk.reg.flow: fk.reg for fk in outbound_flows(obs)}
    within = float(args.get("within", default_within))
    return [_treated_as_failed(obs, regs, f, flows[f.flow], within)
            for f in flow_failures(obs) if why in f.why and f.flow in flows]


@ue_check("pong_timeout_fails", level="MUST", ref="RFC 5626 §4.4.1 (no pong within 10 s: the flow failed)",
          summary="no pong within 10 s: the flow is treated as failed and replaced", needs=("crlf-keepalive",))
def pong_timeout_fails(obs, args, ctx) -> list[UeOutcome]:
    return _failure_check(obs, args, "no pong", 5.0)


@ue_check("stun_change_fails", level="MUST",
          ref="RFC 5626 §4.4.2 (a changed XOR-MAPPED-ADDRESS: the flow failed)",
          summary="a changed XOR-MAPPED-ADDRESS: the flow is treated as failed and replaced",
          needs=("stun-keepalive",))
def stun_change_fails(obs, args, ctx) -> list[UeOutcome]:
    return _failure_check(obs, args, "XOR-MAPPED-ADDRESS", 5.0)
