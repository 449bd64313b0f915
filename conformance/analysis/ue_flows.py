"""A UE's flows over time, from its :class:`~conformance.uecert.observation.Observation` (sans-IO).

For each flow (transport, UE address, network address; RFC 5626 §3.5), in the order the UE first
registered over it: the reg-ids its REGISTERs carried, the packet of the 2xx that created the
registration, those that refreshed it, the 2xx of a later REGISTER of the same reg-id over
another flow that replaced it, the 2xx that removed it (expires 0, ``Contact: *``), non-2xx
answers, REGISTERs never answered, the TCP connection's opening and closing packets, the
Flow-Timer of its latest 2xx and the UE's keep-alives on it: count, pongs, and the intervals
between consecutive pings (min / median / max) against that Flow-Timer.

:func:`flow_timeline` gives dicts (the JSON's ``flows``); :func:`timeline_lines` the console text.
"""

from __future__ import annotations

from statistics import median

from ..sip.errors import ParseError
from ..sip.headers import parse_flow_timer
from ..sip.message import Request, Response
from ..uecert.observation import CLOSE, IN, OPEN, OUT, PING, PONG, SIP, Observation
from .reading import contacts_of, hget, instance_of, request_expires

SHOWN_PACKETS = 4  # refreshes listed one by one in the console before they are summarised


def _mine(req: Request, instance: str | None):
    """The request's Contact of this UE (with its instance, else the first one), star flag."""
    try:
        contacts = contacts_of(req)
    except ParseError:
        return None, False
    star = any(c.star for c in contacts)
    named = [c for c in contacts if not c.star and c.uri is not None]
    for c in named:
        if instance is None or instance_of(c) == instance:
            return c, star
    return (named[0] if named else None), star


def _flow_timer(resp: Response) -> int | None:
    value = hget(resp, "flow-timer")
    if value is None:
        return None
    try:
        return parse_flow_timer(value)
    except ParseError:
        return None


def flow_timeline(obs: Observation, instance: str | None = None) -> list[dict]:
    flows: dict = {}
    answered: set[int] = set()
    pending: dict[tuple, object] = {}  # (Call-ID, CSeq, branch) -> the REGISTER's event
    for e in obs.events:
        if e.kind != SIP or e.method() != "REGISTER":
            continue
        if e.direction == IN and isinstance(e.msg, Request):
            f = _flow(flows, e.flow)
            pending[(e.msg.call_id, e.msg.get("CSeq"), e.msg.top_branch)] = e
            contact, star = _mine(e.msg, instance)
            if contact is not None and contact.reg_id is not None and contact.reg_id not in f["reg_ids"]:
                f["reg_ids"].append(contact.reg_id)
            continue
        req_ev = pending.pop((e.msg.call_id, e.msg.get("CSeq"), e.msg.top_branch), None)
        if req_ev is None:
            continue
        answered.add(req_ev.index)
        f = flows[req_ev.flow]
        resp = e.msg
        if not 200 <= resp.status < 300:
            f["rejected"].append([e.index, resp.status])
            continue
        ft = _flow_timer(resp)
        if ft is not None:
            f["flow_timer"] = ft
        contact, star = _mine(req_ev.msg, instance)
        if star or (contact is not None and request_expires(req_ev.msg, contact) == 0):
            f["removed"] = e.index
            continue
        if contact is None:
            continue  # a fetch
        if f["created"] is None or f["removed"] is not None:
            f["created"], f["removed"], f["refreshed"] = e.index, None, []
        else:
            f["refreshed"].append(e.index)
        # The same reg-id registered over this flow ends it on any other flow (RFC 5626 §4.2.1).
        for other in flows.values():
            if (other is not f and contact.reg_id is not None and contact.reg_id in other["reg_ids"]
                    and other["created"] is not None and other["removed"] is None and other["replaced"] is None):
                other["replaced"], other["replaced_by"] = e.index, f["flow"]
    for req_ev in pending.values():
        flows[req_ev.flow]["unanswered"].append(req_ev.index)
    for key, f in flows.items():
        _keepalives(obs, key, f)
        for e in obs.events:
            if e.flow == key and e.kind in (OPEN, CLOSE):
                if e.kind == OPEN and f["opened"] is None:
                    f["opened"] = e.index
                elif e.kind == CLOSE and f["closed"] is None:
                    f["closed"] = [e.index, "UE" if e.direction == IN else "network", e.text]
    return list(flows.values())


def _flow(flows: dict, key) -> dict:
    f = flows.get(key)
    if f is None:
        f = flows[key] = {"flow": str(key), "transport": key.transport, "ue": f"{key.ue[0]}:{key.ue[1]}",
                          "net": f"{key.net[0]}:{key.net[1]}", "reg_ids": [], "created": None, "refreshed": [],
                          "replaced": None, "replaced_by": None, "removed": None, "rejected": [],
                          "unanswered": [], "opened": None, "closed": None, "flow_timer": None,
                          "keepalives": None}
    return f


def _keepalives(obs: Observation, key, f: dict) -> None:
    pings = [e for e in obs.events if e.flow == key and e.kind == PING and e.direction == IN]
    if not pings:
        return
    pongs = sum(1 for e in obs.events if e.flow == key and e.kind == PONG and e.direction == OUT)
    gaps = [b.time - a.time for a, b in zip(pings, pings[1:])]
    ka = {"kind": pings[0].keepalive, "count": len(pings), "answered": pongs,
          "first": pings[0].index, "last": pings[-1].index, "intervals": None, "of_flow_timer": None}
    if gaps:
        ka["intervals"] = {"min": round(min(gaps), 3), "median": round(median(gaps), 3), "max": round(max(gaps), 3)}
        if f["flow_timer"]:
            ka["of_flow_timer"] = {k: round(v / f["flow_timer"], 3) for k, v in ka["intervals"].items()}
    f["keepalives"] = ka


# -- console ----------------------------------------------------------------------------------
def _packets(ps: list[int]) -> str:
    if not ps:
        return "-"
    if len(ps) <= SHOWN_PACKETS:
        return ", ".join(map(str, ps))
    return f"{len(ps)}x: {ps[0]}, {ps[1]} ... {ps[-1]}"


def _ka_text(f: dict) -> str:
    ka = f["keepalives"]
    ft = f"Flow-Timer {f['flow_timer']} s" if f["flow_timer"] is not None else "no Flow-Timer"
    if ka is None:
        return f"none ({ft})"
    text = f"{ka['count']} {ka['kind']} ({ka['answered']} answered)"
    iv = ka["intervals"]
    if iv:
        text += f", every {iv['min']:g}/{iv['median']:g}/{iv['max']:g} s (min/median/max)"
        r = ka["of_flow_timer"]
        text += (f" = {r['min'] * 100:.0f}/{r['median'] * 100:.0f}/{r['max'] * 100:.0f} % of {ft}" if r
                 else f"; {ft}")
    else:
        text += f"; {ft}"
    return text


def timeline_lines(flows: list[dict]) -> list[str]:
    """The flows as an aligned table, then each flow's keep-alives and closing (plain text)."""
    head = ["flow", "reg-id", "transport", "UE address", "network", "created", "refreshed", "replaced",
            "removed", "other answers"]
    rows = [head]
    for i, f in enumerate(flows, 1):
        other = [f"{s} at {p}" for p, s in f["rejected"]] + [f"none to {p}" for p in f["unanswered"]]
        rows.append([str(i), ",".join(f["reg_ids"]) or "-", f["transport"], f["ue"], f["net"],
                     str(f["created"]) if f["created"] is not None else "-", _packets(f["refreshed"]),
                     f"{f['replaced']} (by flow {_index(flows, f['replaced_by'])})" if f["replaced"] else "-",
                     str(f["removed"]) if f["removed"] is not None else "-", "; ".join(other) or "-"])
    widths = [max(len(r[c]) for r in rows) for c in range(len(head))]
    lines = ["    " + "  ".join(cell.ljust(w) for cell, w in zip(r, widths)).rstrip() for r in rows]
    for i, f in enumerate(flows, 1):
        conn = ""
        if f["opened"] is not None or f["closed"]:
            conn = "; connection " + (f"opened {f['opened']}" if f["opened"] is not None else "opened before the capture")
            if f["closed"]:
                conn += f", closed {f['closed'][0]} by the {f['closed'][1]} ({f['closed'][2]})"
        lines.append(f"    flow {i} keep-alives: {_ka_text(f)}{conn}")
    return lines


def _index(flows: list[dict], name: str | None) -> str:
    for i, f in enumerate(flows, 1):
        if f["flow"] == name:
            return str(i)
    return "?"
