"""Ladder (sequence) diagrams of a case's messages, as inline SVG.  Sans-IO: data in, text out.

One lifeline per party: each UE flow (with its address), the emulated edge proxy EP-T when a
flow goes through it, the SUT (or the P-CSCF and the S-CSCF when the UEs and the PEER talk to
two different addresses of a core), and the PEER.  One arrow per message, labelled with the
method or status and the few header facts the checks look at (Require, number of Contacts,
reg-id, Path with ``;ob``, Flow-Timer...).  Keep-alives (CRLF ping/pong, STUN) are dashed.  A
message on which a check failed is drawn red with the check's name; each arrow links to the
full message text (``#<anchor>-<index>``, see ``message_anchor``) and shows it on hover.

Everything that comes from the wire is escaped: message text is whatever the SUT sent.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from html import escape
from typing import Any

from ..sip.headers import parse_contacts
from ..sip.message import parse_message

COL_W = 200  # distance between lifelines
LEFT = 78  # room for the time offsets
TOP = 62  # lifeline heads
ROW_H = 46
STEP_H = 20
TITLE_MAX = 3000  # characters of a message shown in its tooltip

FAIL_OUTCOMES = ("fail",)
WARN_OUTCOMES = ("warn", "inconclusive")

_CTRL = re.compile(r"[\x00-\x08\x0b\x0c\x0e-\x1f\x7f]")


def _esc(text: Any) -> str:
    """Escaped for HTML and XML text or attribute values, without control characters."""
    return escape(_CTRL.sub("\ufffd", str(text)), quote=True)


def _case_dict(case: Any) -> dict:
    return case if isinstance(case, dict) else case.to_dict()


def anchor_base(case_id: str) -> str:
    """A fragment-safe id prefix for one case (``REG-003[udp]`` -> ``msg-REG-003-udp``)."""
    return "msg-" + re.sub(r"[^A-Za-z0-9_-]+", "-", case_id).strip("-")


def message_anchor(case_id: str, index: int) -> str:
    return f"{anchor_base(case_id)}-{index}"


def is_keepalive(m: dict) -> bool:
    s = str(m.get("summary", ""))
    return s.startswith(("CRLF", "STUN")) or "keep-alive" in str(m.get("note", "")).lower()


# -- what a message says, briefly -----------------------------------------------------------
def _parse(text: str):
    try:
        return parse_message(text.encode("utf-8", "surrogateescape"))
    except Exception:  # anything unparseable is labelled by its summary alone
        return None


def _contact_facts(msg) -> tuple[int, list[str], bool]:
    contacts = parse_contacts(msg)
    star = any(c.star for c in contacts)
    reg_ids = [c.param("reg-id") or "" for c in contacts if not c.star]
    return len([c for c in contacts if not c.star]), reg_ids, star


def _path_fact(msg) -> str | None:
    paths = msg.values("Path")
    if not paths:
        return None
    top = paths[0].lower()
    ob = re.search(r";\s*ob(?=[;>\s]|$)", top) is not None
    return f"Path{';ob' if ob else ' (no ;ob)'}" + (f" ×{len(paths)}" if len(paths) > 1 else "")


def describe(m: dict) -> tuple[str, str]:
    """(label, details) for one message: method or status, and the header facts checked."""
    summary = str(m.get("summary", ""))
    if is_keepalive(m):
        return summary, ""
    msg = _parse(str(m.get("text", "")))
    if msg is None:
        return summary or "?", str(m.get("note", ""))[:60]
    facts: list[str] = []
    try:
        if msg.is_request:
            label = msg.method
            if msg.method == "REGISTER":
                n, reg_ids, star = _contact_facts(msg)
                if star:
                    facts.append("Contact: *")
                elif n == 0:
                    facts.append("no Contact (fetch)")
                else:
                    ids = [r for r in reg_ids if r]
                    facts.append("reg-id=" + ",".join(ids) if ids else "no reg-id")
                    if n > 1:
                        facts.append(f"{n} Contacts")
                    if re.search(r";\s*expires\s*=\s*0(?!\d)", msg.get("Contact", "") or ""):
                        facts.append("expires=0")
                sup = [t.strip().lower() for t in msg.values("Supported")]
                if "outbound" not in sup:
                    facts.append("no Supported: outbound")
                if msg.values("Require"):
                    facts.append("Require: " + ", ".join(msg.values("Require")))
                p = _path_fact(msg)
                if p:
                    facts.append(p)
            else:
                uri = str(msg.uri)
                facts.append("R-URI " + ("…@" + uri.split("@", 1)[1] if "@" in uri else uri))
                if msg.values("Route"):
                    facts.append(f"Route ×{len(msg.values('Route'))}")
        else:
            label = f"{msg.status} {msg.reason}".strip()
            cseq = msg.cseq
            if cseq and cseq[1] == "REGISTER":
                req = [t.strip().lower() for t in msg.values("Require")]
                facts.append("Require: outbound" if "outbound" in req else "no Require: outbound")
                if 200 <= msg.status < 300:
                    n, _, _ = _contact_facts(msg)
                    facts.append(f"{n} Contact{'s' if n != 1 else ''}")
                    p = _path_fact(msg)
                    if p:
                        facts.append(p)
            ft = msg.get("Flow-Timer")
            if ft is not None:
                facts.append(f"Flow-Timer: {ft.strip()}")
    except Exception:  # a header the grammar rejects: keep the summary, say why
        return summary or "?", "header not parseable"
    return label, " · ".join(facts)


# -- parties --------------------------------------------------------------------------------
@dataclass
class Party:
    key: str
    name: str
    address: str = ""
    kind: str = "ue"  # ue | edge | sut | peer


@dataclass
class Ladder:
    parties: list[Party] = field(default_factory=list)
    # per message: (from party key, to party key, via edge?)
    arrows: dict[int, tuple[str, str, bool]] = field(default_factory=dict)


def _ep(addr: Any) -> str:
    try:
        host, port = addr[0], addr[1]
        return f"{host}:{port}"
    except (TypeError, IndexError, KeyError):
        return str(addr)


def _via_count(text: str) -> int:
    head = text.split("\r\n\r\n", 1)[0]
    return sum(len(re.findall(r",", line.split(":", 1)[1])) + 1
               for line in head.split("\r\n")[1:]
               if ":" in line and line.split(":", 1)[0].strip().lower() in ("via", "v"))


def layout(case: Any, *, role: str | None = None) -> Ladder:
    """Who talks to whom: the lifelines and, per message index, the arrow's two ends."""
    d = _case_dict(case)
    msgs = d.get("messages") or []
    flows: list[str] = []
    flow_addr: dict[str, str] = {}
    sut_eps: list[str] = []
    sut_ue_side: set[str] = set()
    sut_peer_side: set[str] = set()
    edge_flows: set[str] = set()
    peer_addr = ""
    for m in msgs:
        flow = str(m.get("flow", "?"))
        sent = m.get("direction") == "sent"
        local, remote = (_ep(m.get("src")), _ep(m.get("dst"))) if sent else (_ep(m.get("dst")), _ep(m.get("src")))
        if remote not in sut_eps:
            sut_eps.append(remote)
        if flow == "peer":
            peer_addr = peer_addr or local
            sut_peer_side.add(remote)
        else:
            if flow not in flows:
                flows.append(flow)
                flow_addr[flow] = f"{local}/{m.get('transport', '')}".rstrip("/")
            sut_ue_side.add(remote)
            if sent and str(m.get("summary", "")).startswith("REGISTER") and _via_count(str(m.get("text", ""))) > 1:
                edge_flows.add(flow)
    lad = Ladder()
    for f in flows:
        lad.parties.append(Party(f"flow:{f}", f"UE flow {f}", flow_addr[f], "ue"))
    if edge_flows:
        lad.parties.append(Party("edge", "EP-T (emulated edge)", "in the tester: Via + Path", "edge"))
    # The SUT's lifelines: one per address, named by what talks to it.
    sut_key: dict[str, str] = {}
    two = len(sut_eps) == 2 and sut_peer_side and not (sut_peer_side & sut_ue_side)
    for ep in sut_eps:
        if len(sut_eps) == 1:
            name = "SUT"
        elif two or (role == "core" and len(sut_eps) == 2):
            name = "S-CSCF (SUT)" if ep in sut_peer_side and ep not in sut_ue_side else "P-CSCF (SUT)"
        else:
            name = "SUT"
        key = f"sut:{ep}"
        sut_key[ep] = key
        lad.parties.append(Party(key, name, ep, "sut"))
    if not sut_eps:
        lad.parties.append(Party("sut:", "SUT", "", "sut"))
    if peer_addr:
        lad.parties.append(Party("peer", "PEER", peer_addr, "peer"))
    for m in msgs:
        flow = str(m.get("flow", "?"))
        sent = m.get("direction") == "sent"
        remote = _ep(m.get("dst")) if sent else _ep(m.get("src"))
        mine = "peer" if flow == "peer" else f"flow:{flow}"
        theirs = sut_key.get(remote, "sut:")
        a, b = (mine, theirs) if sent else (theirs, mine)
        lad.arrows[int(m.get("index", 0))] = (a, b, flow in edge_flows)
    return lad


# -- marks from the checks ------------------------------------------------------------------
def marks(case: Any) -> dict[int, list[dict]]:
    """Findings worth showing on an arrow (fail, warn, inconclusive), by message index.

    A finding without a message (no response arrived) goes on its step's request.
    """
    d = _case_dict(case)
    out: dict[int, list[dict]] = {}
    for s in d.get("steps") or []:
        for f in s.get("findings") or []:
            if f.get("outcome") not in FAIL_OUTCOMES + WARN_OUTCOMES:
                continue
            idx = f.get("message_index")
            if idx is None:
                idx = s.get("response_index") if s.get("response_index") is not None else s.get("request_index")
            if idx is not None:
                out.setdefault(int(idx), []).append(f)
    return out


# -- rendering ------------------------------------------------------------------------------
STYLE = """
.ladder{font:12px/1.3 system-ui,-apple-system,'Segoe UI',sans-serif;margin:6px 0 10px}
.ladder .ladder-caption{margin:2px 0 4px;color:#444}
.ladder svg{background:#fff;border:1px solid #d0d7de;border-radius:4px;max-width:none}
.ladder svg text{paint-order:stroke;stroke:#fff;stroke-width:3px;stroke-linejoin:round}
.ladder svg a:hover .arrow-line{stroke-width:3}
.ladder svg a:hover text.label{text-decoration:underline}
"""

_KIND_FILL = {"ue": "#ddf4ff", "edge": "#fff8c5", "sut": "#ffebe9", "peer": "#dafbe1"}


def render_ladder_svg(case: Any, *, role: str | None = None) -> str:
    """The SVG element alone (no caption)."""
    d = _case_dict(case)
    msgs = sorted(d.get("messages") or [], key=lambda m: int(m.get("index", 0)))
    lad = layout(d, role=role)
    mk = marks(d)
    x_of = {p.key: LEFT + 90 + i * COL_W for i, p in enumerate(lad.parties)}
    width = LEFT + 90 + (len(lad.parties) - 1) * COL_W + 110
    steps_seen: list[str] = []
    rows: list[tuple[str, Any]] = []
    for m in msgs:
        step = str(m.get("step", ""))
        if step and (not steps_seen or steps_seen[-1] != step):
            steps_seen.append(step)
            rows.append(("step", step))
        rows.append(("msg", m))
    height = TOP + 24 + sum(STEP_H if kind == "step" else ROW_H for kind, _ in rows) + 16
    cid = str(d.get("id", "case"))
    out = [f'<svg class="ladder-svg" xmlns="http://www.w3.org/2000/svg" width="{width}" height="{height}" '
           f'viewBox="0 0 {width} {height}" role="img" aria-label="{_esc("message ladder of " + cid)}">',
           '<defs>'
           '<marker id="lad-arrow" viewBox="0 0 10 10" refX="10" refY="5" markerWidth="8" markerHeight="8" '
           'orient="auto-start-reverse"><path d="M0,0 L10,5 L0,10 z" fill="context-stroke"/></marker>'
           '</defs>']
    # lifelines
    for p in lad.parties:
        x = x_of[p.key]
        out.append(f'<g class="lifeline" data-party="{_esc(p.key)}">'
                   f'<rect x="{x - 88}" y="6" width="176" height="42" rx="5" fill="{_KIND_FILL[p.kind]}" '
                   f'stroke="#8c959f"/>'
                   f'<text x="{x}" y="23" text-anchor="middle" font-weight="bold">{_esc(p.name)}</text>'
                   f'<text x="{x}" y="39" text-anchor="middle" font-size="11" fill="#57606a">{_esc(p.address)}</text>'
                   f'<line x1="{x}" y1="48" x2="{x}" y2="{height - 8}" stroke="#8c959f" stroke-dasharray="4 3"/>'
                   f'</g>')
    y = TOP + 10
    edge_x = x_of.get("edge")
    for kind, item in rows:
        if kind == "step":
            out.append(f'<g class="step"><line x1="4" y1="{y + 4}" x2="{width - 4}" y2="{y + 4}" stroke="#eaeef2"/>'
                       f'<text x="6" y="{y + 15}" font-size="11" fill="#6e7781" font-style="italic">'
                       f'{_esc(item)}</text></g>')
            y += STEP_H
            continue
        m = item
        idx = int(m.get("index", 0))
        a, b, via_edge = lad.arrows.get(idx, ("sut:", "sut:", False))
        x1, x2 = x_of.get(a, LEFT), x_of.get(b, LEFT)
        ay = y + 26
        label, details = describe(m)
        found = mk.get(idx, [])
        failed = [f for f in found if f.get("outcome") in FAIL_OUTCOMES]
        warned = [f for f in found if f.get("outcome") in WARN_OUTCOMES]
        ka = is_keepalive(m)
        colour = "#cf222e" if failed else ("#9a6700" if warned else ("#0969da" if ka else "#24292f"))
        cls = "arrow" + (" failed" if failed else "") + (" warned" if warned and not failed else "") + \
              (" keepalive" if ka else "")
        title = (f"#{idx} {m.get('direction', '')} {str(m.get('transport', '')).upper()} "
                 f"{_ep(m.get('src'))} -> {_ep(m.get('dst'))} at {float(m.get('time', 0)):.3f}s\n"
                 + "".join(f"{f.get('outcome', '').upper()}: {f.get('check', '')} [{f.get('level', '')}, "
                           f"{f.get('ref', '')}]\n" for f in found)
                 + "\n" + str(m.get("text", ""))[:TITLE_MAX])
        href = "#" + message_anchor(cid, idx)
        anchor = message_anchor(cid, idx)
        onclick = f"var e=document.getElementById('{anchor}');if(e){{e.open=true}}"
        dash = ' stroke-dasharray="6 4"' if ka else ""
        out.append(f'<g class="{cls}" data-index="{idx}" data-from="{_esc(a)}" data-to="{_esc(b)}">'
                   f'<a href="{_esc(href)}" onclick="{_esc(onclick)}"><title>{_esc(title)}</title>'
                   f'<rect x="{min(x1, x2)}" y="{y}" width="{max(abs(x2 - x1), 8)}" height="{ROW_H - 4}" '
                   f'fill="transparent"/>'
                   f'<text x="8" y="{ay + 4}" font-size="11" fill="#57606a">{float(m.get("time", 0)):.3f}s</text>')
        if x1 == x2:  # should not happen; draw a small loop
            out.append(f'<path class="arrow-line" d="M{x1},{ay - 8} h30 v12 h-30" fill="none" stroke="{colour}" '
                       f'stroke-width="1.6" marker-end="url(#lad-arrow)"{dash}/>')
        else:
            out.append(f'<line class="arrow-line" x1="{x1}" y1="{ay}" x2="{x2}" y2="{ay}" stroke="{colour}" '
                       f'stroke-width="{2.2 if failed else 1.6}" marker-end="url(#lad-arrow)"{dash}/>')
        if via_edge and edge_x is not None and min(x1, x2) < edge_x < max(x1, x2):
            out.append(f'<circle class="via-edge" cx="{edge_x}" cy="{ay}" r="4" fill="#bf8700"/>')
        mid = (x1 + x2) / 2
        out.append(f'<text class="label" x="{mid}" y="{ay - 5}" text-anchor="middle" font-weight="bold" '
                   f'fill="{colour}">{_esc(label)}</text>')
        sub = details
        if failed or warned:
            marks_text = "; ".join(("✗ " if f in failed else "⚠ ") + str(f.get("check", "")) for f in failed + warned)
            sub = marks_text + (f" — {details}" if details else "")
        if sub:
            if len(sub) > 90:
                sub = sub[:87] + "…"
            out.append(f'<text class="details" x="{mid}" y="{ay + 14}" text-anchor="middle" font-size="11" '
                       f'fill="{"#cf222e" if failed else ("#9a6700" if warned else "#57606a")}">{_esc(sub)}</text>')
        if failed:
            cx = x2 + (10 if x2 > x1 else -10)
            out.append(f'<g class="fail-mark"><circle cx="{cx}" cy="{ay}" r="8" fill="#cf222e"/>'
                       f'<text x="{cx}" y="{ay + 4}" text-anchor="middle" font-size="12" font-weight="bold" '
                       f'fill="#fff" style="stroke:none">✗</text></g>')
        out.append("</a></g>")
        y += ROW_H
    out.append("</svg>")
    return "".join(out)


def render_ladder(case: Any, *, pcap_href: str | None = None, role: str | None = None) -> str:
    """An HTML fragment: caption (legend, pcap link) and the SVG ladder of one case."""
    d = _case_dict(case)
    if not d.get("messages"):
        return '<div class="ladder ladder-empty"><i>No messages were exchanged in this case.</i></div>'
    parts = [f'<div class="ladder"><style>{STYLE}</style><div class="ladder-caption">'
             "<b>Ladder</b> — click an arrow for the full message; hover for its text. "
             '<span style="color:#0969da">dashed: keep-alive</span> · '
             '<span style="color:#cf222e">red ✗: failed check</span>']
    if any(p.kind == "edge" for p in layout(d, role=role).parties):
        parts.append(' · <span style="color:#bf8700">● passes the emulated edge</span>')
    if pcap_href:
        parts.append(f' · pcap: <a class="ladder-pcap" href="{_esc(pcap_href)}">{_esc(pcap_href)}</a>')
    parts.append('</div><div style="overflow-x:auto">')
    parts.append(render_ladder_svg(d, role=role))
    parts.append("</div></div>")
    return "".join(parts)
