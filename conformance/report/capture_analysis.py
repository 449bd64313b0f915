"""``conformance analyze``'s output, rendered from an analysis of a capture: the JSON document,
the console table and the self-contained HTML page."""

from __future__ import annotations

import html
import json
from operator import methodcaller
from pathlib import Path

from ..analysis.result import Analysis, Entries, PackedLog, plain
from ..analysis.timeline import SHOWN_BINDINGS
from .capture_ue import ue_html, ue_lines


def to_dict(a: Analysis, case: dict | None = None) -> dict:
    c = a.timeline.counts
    st = a.reader.stats
    rs = a.reassembler.stats
    bindings = a.timeline.all_bindings()
    doc = {
        "capture": {"path": a.path, "format": st.format, "packets": st.packets, "segments": st.segments,
                    "link_types": sorted(st.link_types), "skipped_packets": st.skipped},
        "problems": [{"kind": p.kind, "message": p.message, "packet": p.packet} for p in a.problems],
        "sip": {"messages": c.messages, "requests": c.requests, "responses": c.responses,
                "methods": c.methods, "unparseable": c.unparseable, "crlf_pings": c.pings, "crlf_pongs": c.pongs,
                "stun": c.stun, "udp_keepalives": c.keepalives},
        "tcp": {"retransmissions": rs.retransmissions, "out_of_order": rs.out_of_order, "holes": rs.holes,
                "non_sip_streams": rs.non_sip_streams, "framing_errors": rs.framing_errors},
        "verdict": str(a.judge.verdict()),
        "classification": a.judge.classification,
        "rules": [r.to_dict() for r in a.judge.results.values()],
        "registrations": a.registrations,
        "bindings": Entries(bindings[:SHOWN_BINDINGS], methodcaller("to_dict")),  # made as written (histories)
        "terminating": a.deliveries,
        "keepalives": a.keepalives,
        "seconds": round(a.seconds, 3),
        "messages_per_second": round(c.messages / a.seconds) if a.seconds > 0 else None,
        "processes": a.processes or [],  # split by AOR over these processes; empty: one process
    }
    streams = _streams(a)
    if streams is not None:  # TLS / WebSocket connections (only when the capture has them)
        doc["streams"] = streams
        if streams.get("not_judged") and doc["verdict"] in ("pass", "not applicable"):
            # What could not be read is not judged, and a capture judged on part of it is not a pass.
            doc["verdict"] = "inconclusive"
    if a.timeline.regev is not None:  # reg-event subscriptions (only when the capture has them)
        doc["reg_event"] = [sub.to_dict() for sub in list(a.timeline.regev.subs.values())[:2000]]
    # The UEs (ue_observe.py / ue_judge.py): their flows and the UE checks' findings, with a verdict
    # of their own ("ue_verdict": fail when a UE check fails; one without evidence is inconclusive in
    # its UE's verdict only: most captures show no 439, no recovery).  The capture's "verdict" judges
    # the network as before: the UE side of a capture is often a test tool probing the network
    # (the suite's own pcaps), so UE findings decide the exit status only when asked (analyze
    # --judge ue / both, or a --target with role: ue).
    doc["ue"] = a.ues
    if a.ue_note:
        doc["ue_note"] = a.ue_note
    verdicts = {u["verdict"] for u in a.ues}
    doc["ue_verdict"] = next((v for v in ("fail", "inconclusive", "pass") if v in verdicts),
                             "not applicable")
    if a.serial_because:
        doc["serial_because"] = a.serial_because
    if case is not None:
        doc["case"] = case
    return doc


def _streams(a: Analysis) -> dict | None:
    rs = a.reassembler.stats
    if not rs.streams:
        return None
    out = {"transports": dict(sorted(rs.streams.items())), "ws_pings": rs.ws_pings, "ws_pongs": rs.ws_pongs,
           "tls_secrets": list(getattr(a.reader, "keys", None).sources if getattr(a.reader, "keys", None) else []),
           "tls_without_keys": rs.tls_without_keys, "tls_records_not_read": rs.tls_not_read,
           "connections": rs.layered}
    if rs.tls_without_keys or rs.tls_not_read:
        out["not_judged"] = (f"TLS without keys: {rs.tls_not_read} records not judged "
                             f"({rs.tls_without_keys} connection(s) with no secrets"
                             f"{'' if rs.tls_without_keys else ', or records the secrets did not decrypt'}; "
                             f"give the key log with --tls-keylog or a pcapng with a Decryption Secrets Block)")
    return out


_ENCODE = json.JSONEncoder(ensure_ascii=False, separators=(",", ":"), check_circular=False, default=plain).encode


def write_json(path: Path, doc: dict) -> None:
    """The report: one top-level key a line, and each entry of a list (a registration, a binding,
    a rule, a UE) on a line of its own, in compact JSON.  Entries are encoded one at a time by
    the C encoder, and a log's packed entries (``PackedLog``) written as they are stored, so
    the document of a large capture (tens of MB) is never one string; ``json.load`` of the file
    gives ``json.loads(json.dumps(doc, default=plain))``."""
    path.parent.mkdir(parents=True, exist_ok=True)
    enc = _ENCODE
    with path.open("w", encoding="utf-8") as f:
        write = f.write
        sep = "{\n  "
        for key, value in doc.items():
            write(sep + enc(key) + ": ")
            sep = ",\n  "
            if isinstance(value, PackedLog):
                items, encode = value.texts(), None
            elif isinstance(value, (list, Entries)):
                items, encode = value, enc
            else:
                write(enc(value))
                continue
            if not items:
                write("[]")
                continue
            write("[\n    ")
            first = True
            for item in items:  # an entry encoded and written at a time: memory stays flat
                if first:
                    first = False
                else:
                    write(",\n    ")
                write(item if encode is None else encode(item))
            write("\n  ]")
        write("\n}\n" if doc else "{}\n")


def console(doc: dict) -> str:
    cap, sip = doc["capture"], doc["sip"]
    lines = [f"{cap['path']}: {cap['format'] or '?'}, {cap['packets']} packets, {sip['messages']} SIP messages "
             f"({sip['requests']} requests, {sip['responses']} responses), {sip['crlf_pings']} CRLF pings, "
             f"{sip['crlf_pongs']} pongs, {sip['stun']} STUN"]
    for p in doc["problems"]:
        lines.append(f"  problem: {p['kind']}: {p['message']}")
    lines += _stream_lines(doc)
    lines.append("")
    lines.append(f"{'rule':<16} {'level':<6} {'clause':<32} {'verdict':<15} {'pass':>5} {'fail':>5} "
                 f"{'warn':>5} {'inc':>5}  packets (first failing)")
    for r in doc["rules"]:
        n = r["counts"]
        bad = [f for f in r["findings"] if f["outcome"] in ("fail", "warn", "inconclusive")]
        pk = ", ".join("/".join(map(str, f["packets"])) for f in bad[:4])
        if r.get("not_applied"):
            pk = f"recorded only ({n.get('info', 0)} not met): see registrar class"
        lines.append(f"{r['rule']:<16} {r['level']:<6} {r['ref'][:32]:<32} {r['verdict'].upper():<15} "
                     f"{n.get('pass', 0):>5} {n.get('fail', 0):>5} {n.get('warn', 0):>5} "
                     f"{n.get('inconclusive', 0):>5}  {pk}")
    fails = [f for r in doc["rules"] for f in r["findings"] if f["outcome"] in ("fail", "warn")]
    if fails:
        lines.append("")
        for f in fails[:20]:
            lines.append(f"  {f['outcome'].upper()} {f['rule']} [{f['level']}, {f['ref']}] packets "
                         f"{'/'.join(map(str, f['packets']))}: {f['check']}: expected {f['expected']}; "
                         f"observed {f['observed']}")
        if len(fails) > 20:
            lines.append(f"  ... {len(fails) - 20} more (see --json / --html)")
    lines += ue_lines(doc)
    lines += _gruu_lines(doc)
    cl = doc.get("classification")
    if cl:
        lines.append("")
        lines.append(f"registrar class: {cl['registrar']}: {cl['description']}"
                     + (f"; {cl['effect']}" if cl.get("effect") else ""))
    if "case" in doc:
        c = doc["case"]
        lines.append("")
        lines.append(f"case {c['id']}: {c['verdict'].upper()}: {c['reason']}")
    lines.append("")
    if doc.get("ue"):
        lines.append(f"UE verdict: {doc['ue_verdict'].upper()} (the UEs' checks; the verdict below judges the network)")
    lines.append(f"verdict: {doc['verdict'].upper()}")
    return "\n".join(lines)


def _stream_lines(doc: dict) -> list[str]:
    st = doc.get("streams")
    if not st:
        return []
    lines = ["  streams: " + ", ".join(f"{n} {t}" for t, n in st["transports"].items())
             + f" connection(s); WebSocket Ping/Pong frames {st['ws_pings']}/{st['ws_pongs']}"
             + (f"; TLS secrets from {', '.join(st['tls_secrets'])}" if st["tls_secrets"] else "")]
    if st.get("not_judged"):
        lines.append(f"  NOT JUDGED: {st['not_judged']}")
        for c in st["connections"]:
            if c.get("tls", {}).get("why"):
                lines.append(f"    {c['client'][0]}:{c['client'][1]} -> {c['server'][0]}:{c['server'][1]}: "
                             f"{c['tls']['why']} ({c['tls']['not_read']} records)")
    return lines


def _gruu_lines(doc: dict) -> list[str]:
    """The bindings with GRUUs or a reg-event state, and the reg subscriptions: only when the
    capture shows them."""
    shown = [b for b in doc["bindings"] if "pub_gruu" in b or "temp_gruu" in b or "reg_event" in b]
    lines = []
    if shown:
        lines += ["", "bindings (GRUUs: the latest 2xx Contact; reg-event: the state of its <contact> in the view, "
                      "with the NOTIFY that first showed it):"]
        for b in shown[:40]:
            extra = [f"{k.replace('_', '-')} {b[k]}" for k in ("pub_gruu", "temp_gruu") if k in b]
            if "reg_event" in b:
                extra.append(f"reg-event: {b['reg_event']}")
            lines.append(f"  {b['aor']} <{b['uri']}> reg-id {b['reg_id']} {b['state']}: " + "; ".join(extra))
    for s in doc.get("reg_event", [])[:20]:
        lines.append(f"reg subscription {s['aor']} Call-ID {s['call_id']}: {len(s['notify_packets'])} NOTIFY, "
                     f"version {s['version']}, registration {s['registration_state']}"
                     + (f", view lost: {s['view_lost']}" if s["view_lost"] else ""))
    return lines


_CSS = """body{font-family:sans-serif;margin:1.5em}table{border-collapse:collapse;margin:.5em 0}
td,th{border:1px solid #ccc;padding:3px 6px;font-size:90%;vertical-align:top}th{background:#eee}
.pass{background:#d4f4d4}.fail{background:#f8c8c8}.inconclusive{background:#fbe8b0}
.not_applicable{background:#e8e8e8}.warn{background:#fff2b0}.info{background:#e0ecff}code{font-size:90%}"""


def _cls(v: str) -> str:
    return v.replace(" ", "_")


def write_html(path: Path, doc: dict) -> None:
    e = html.escape
    cap, sip = doc["capture"], doc["sip"]
    out = [f"<!doctype html><html><head><meta charset='utf-8'><title>SIP Outbound analysis: {e(cap['path'])}"
           f"</title><style>{_CSS}</style></head><body>",
           f"<h1>SIP Outbound offline analysis</h1><p><code>{e(cap['path'])}</code>: {cap['packets']} packets, "
           f"{sip['messages']} SIP messages. Verdict: <b class='{_cls(doc['verdict'])}'>{e(doc['verdict'])}</b></p>"]
    cl = doc.get("classification")
    if cl:
        out.append(f"<p>Registrar class: <b>{e(cl['registrar'])}</b>: {e(cl['description'])}"
                   + (f"; {e(cl['effect'])}" if cl.get("effect") else "") + "</p>")
    if doc["problems"]:
        out.append("<ul>" + "".join(f"<li class='fail'>{e(p['kind'])}: {e(p['message'])}</li>"
                                    for p in doc["problems"]) + "</ul>")
    st = doc.get("streams")
    if st and st.get("not_judged"):
        out.append(f"<p class='inconclusive'>{e(st['not_judged'])}</p>")
    if "case" in doc:
        c = doc["case"]
        out.append(f"<h2>Case {e(c['id'])}</h2><p class='{_cls(c['verdict'])}'>{e(c['verdict'])}: {e(c['reason'])}</p>")
        out.append("<table><tr><th>step</th><th>packets</th><th>check</th><th>level</th><th>outcome</th>"
                   "<th>expected</th><th>observed</th></tr>")
        for s in c["steps"]:
            for f in s["findings"] or [{"check": s.get("note", ""), "level": "", "outcome": "", "expected": "",
                                        "observed": ""}]:
                out.append(f"<tr><td>{e(s['name'])}</td><td>{e(str(s.get('packets', '')))}</td><td>{e(f['check'])}</td>"
                           f"<td>{e(f['level'])}</td><td class='{_cls(f['outcome'])}'>{e(f['outcome'])}</td>"
                           f"<td>{e(f['expected'])}</td><td>{e(f['observed'])}</td></tr>")
        out.append("</table>")
    out.append("<h2>Rules</h2><table><tr><th>rule</th><th>requirement</th><th>what</th><th>level</th><th>clause</th>"
               "<th>verdict</th><th>counts</th></tr>")
    for r in doc["rules"]:
        counts = ", ".join(f"{k} {v}" for k, v in r["counts"].items()) or "not evaluated"
        out.append(f"<tr><td>{e(r['rule'])}</td><td>{e(r['requirement'])}</td><td>{e(r['title'])}</td>"
                   f"<td>{e(r['level'])}</td><td>{e(r['ref'])}</td><td class='{_cls(r['verdict'])}'>"
                   f"{e(r['verdict'])}</td><td>{e(counts)}</td></tr>")
    out.append("</table><h2>Findings</h2><table><tr><th>rule</th><th>packets</th><th>where</th><th>check</th>"
               "<th>outcome</th><th>expected</th><th>observed</th></tr>")
    for r in doc["rules"]:
        for f in r["findings"]:
            out.append(f"<tr><td>{e(f['rule'])}</td><td>{e('/'.join(map(str, f['packets'])))}</td>"
                       f"<td>{e(f['step'])}</td><td>{e(f['check'])}</td><td class='{_cls(f['outcome'])}'>"
                       f"{e(f['outcome'])}</td><td>{e(f['expected'])}</td><td>{e(f['observed'])}</td></tr>")
    out.append("</table>")
    out += ue_html(doc)
    out.append("<h2>Registrations</h2><table><tr><th>packets</th><th>AOR</th><th>flow</th><th>status</th>"
               "<th>Contact</th><th>changes</th></tr>")
    for g in doc["registrations"]:
        fl = g["flow"]
        changes = "; ".join(f"{c['kind']} {c['binding']}" for c in g["changes"])
        out.append(f"<tr><td>{e('/'.join(map(str, g['packets'])))}</td><td>{e(g['aor'])}</td>"
                   f"<td>{e(fl[0])} {e(fl[1][0])}:{fl[1][1]} &rarr; {e(fl[2][0])}:{fl[2][1]}</td>"
                   f"<td>{e(str(g['status']))}</td><td>{e(' , '.join(g['contacts']))}</td><td>{e(changes)}</td></tr>")
    out.append("</table><h2>Bindings</h2><table><tr><th>AOR</th><th>Contact</th><th>reg-id</th><th>state</th>"
               "<th>created / ended</th><th>pub-gruu</th><th>temp-gruu</th><th>reg-event state</th></tr>")
    for b in doc["bindings"]:
        out.append(f"<tr><td>{e(b['aor'])}</td><td>{e(b['uri'])}</td><td>{e(str(b['reg_id']))}</td>"
                   f"<td>{e(b['state'])}</td><td>{b['created']} / {b['ended'] if b['ended'] is not None else ''}</td>"
                   f"<td>{e(b.get('pub_gruu', ''))}</td><td>{e(b.get('temp_gruu', ''))}</td>"
                   f"<td>{e(b.get('reg_event', ''))}</td></tr>")
    if doc.get("reg_event"):
        out.append("</table><h2>Reg-event subscriptions</h2><table><tr><th>AOR</th><th>Call-ID</th>"
                   "<th>SUBSCRIBE</th><th>NOTIFY</th><th>version</th><th>registration</th><th>contacts</th></tr>")
        for s in doc["reg_event"]:
            cs = "; ".join(f"{c['id']} {c['uri']} {c['state']}/{c['event']}" for c in s["contacts"])
            out.append(f"<tr><td>{e(s['aor'])}</td><td>{e(s['call_id'])}</td>"
                       f"<td>{e(', '.join(map(str, s['subscribe_packets'])))}</td>"
                       f"<td>{e(', '.join(map(str, s['notify_packets'])))}</td><td>{s['version']}</td>"
                       f"<td>{e(str(s['registration_state']))}"
                       + (f" (view lost: {e(s['view_lost'])})" if s["view_lost"] else "")
                       + f"</td><td>{e(cs)}</td></tr>")
    out.append("</table><h2>Terminating requests</h2><table><tr><th>packet</th><th>method</th><th>binding</th>"
               "<th>binding state</th><th>flow</th></tr>")
    for d in doc["terminating"]:
        fl = d["flow"]
        out.append(f"<tr><td>{d['packet']}</td><td>{e(d['method'])}</td><td>{e(d['binding'])}</td>"
                   f"<td>{e(d['binding_state'])}</td><td>{e(fl[0])} {e(fl[1][0])}:{fl[1][1]} &rarr; "
                   f"{e(fl[2][0])}:{fl[2][1]}</td></tr>")
    out.append("</table><h2>Keep-alives</h2><table><tr><th>packets</th><th>kind</th><th>delay (ms)</th><th>mapped</th>"
               "<th>note</th></tr>")
    for k in doc["keepalives"]:
        out.append(f"<tr><td>{e('/'.join(map(str, k['packets'])))}</td><td>{e(k['kind'])}</td>"
                   f"<td>{k['delay_ms']}</td><td>{e(str(k['mapped']))}</td><td>{e(k['note'])}</td></tr>")
    out.append("</table></body></html>")
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text("\n".join(out), encoding="utf-8")
