"""``conformance analyze``'s UE part: per UE (AOR and instance), its findings and its flows'
timeline, as console text and as HTML (the JSON is the ``ue`` list of capture_analysis.to_dict)."""

from __future__ import annotations

import html

from ..analysis.ue_flows import timeline_lines

SHOWN_FINDINGS = 12  # failing / warning findings printed per UE


def ue_name(u: dict) -> str:
    who = u["instance"] or (f"Contact {u['contact']}" if u.get("contact") else "no instance")
    return f"{u['aor']} {who}"


def _counts(u: dict) -> str:
    by: dict[str, int] = {}
    for c in u["checks"]:
        by[c["verdict"]] = by.get(c["verdict"], 0) + 1
    return ", ".join(f"{n} {v}" for v, n in sorted(by.items()))


def ue_lines(doc: dict) -> list[str]:
    ues = doc.get("ue") or []
    if not ues:
        return []
    lines = ["", f"UE findings ({len(ues)} UE(s), sender of REGISTER; UE checks run offline):"]
    if doc.get("ue_note"):
        lines.append(f"  note: {doc['ue_note']}")
    lines += [f"  AOR {aor}: {n} instances: several devices, or one UE whose +sip.instance changed "
              f"(RFC 5626 §4.1: one instance for all its flows)" for aor, n in _instances(ues).items() if n > 1]
    for u in ues:
        lines.append(f"  UE {ue_name(u)}: {u['verdict'].upper()} (checks: {_counts(u) or 'no UE check is installed'}; "
                     f"shows {', '.join(u['capabilities']) or 'no outbound'})")
        if u.get("truncated"):
            lines.append(f"    observed up to a bound: {u['truncated']}")
        bad = [f for f in u["findings"] if f["outcome"] in ("fail", "warn")]
        for f in bad[:SHOWN_FINDINGS]:
            at = f" packet {f['message_index']}" if f.get("message_index") else ""
            lines.append(f"    {f['outcome'].upper()} {f['step']} [{f['level']}, {f['ref']}]{at}: {f['check']}: "
                         f"expected {f['expected']}; observed {f['observed']}")
        if len(bad) > SHOWN_FINDINGS:
            lines.append(f"    ... {len(bad) - SHOWN_FINDINGS} more (see --json / --html)")
        inc = [c["check"] for c in u["checks"] if c["verdict"] == "inconclusive"]
        if inc:
            lines.append(f"    inconclusive (no evidence in the capture): {', '.join(inc)}")
        lines.append(f"  flows of {ue_name(u)}:")
        lines += timeline_lines(u["flows"])
    return lines


def _instances(ues: list[dict]) -> dict[str, int]:
    out: dict[str, int] = {}
    for u in ues:
        if u["instance"]:
            out[u["aor"]] = out.get(u["aor"], 0) + 1
    return out


def ue_html(doc: dict) -> list[str]:
    e = html.escape
    ues = doc.get("ue") or []
    if not ues:
        return []
    out = ["<h2>UEs</h2>"]
    if doc.get("ue_note"):
        out.append(f"<p>{e(doc['ue_note'])}</p>")
    for u in ues:
        out.append(f"<h3>{e(ue_name(u))}: <span class='{e(u['verdict'].replace(' ', '_'))}'>{e(u['verdict'])}</span></h3>")
        if u.get("truncated"):
            out.append(f"<p>Observed up to a bound: {e(u['truncated'])}</p>")
        out.append("<pre>" + e("\n".join(line[4:] for line in timeline_lines(u["flows"]))) + "</pre>")
        out.append("<table><tr><th>check</th><th>level</th><th>clause</th><th>verdict</th><th>packet</th>"
                   "<th>what</th><th>expected</th><th>observed</th></tr>")
        for c in u["checks"]:
            if c["verdict"] == "not applicable":
                out.append(f"<tr><td>{e(c['check'])}</td><td>{e(c['level'])}</td><td>{e(c['ref'])}</td>"
                           f"<td class='not_applicable'>not applicable</td><td></td><td colspan=3>{e(c['why'])}</td></tr>")
        for f in u["findings"]:
            out.append(f"<tr><td>{e(f['step'])}</td><td>{e(f['level'])}</td><td>{e(f['ref'])}</td>"
                       f"<td class='{e(f['outcome'])}'>{e(f['outcome'])}</td><td>{f['message_index'] or ''}</td>"
                       f"<td>{e(f['check'])}</td><td>{e(f['expected'])}</td><td>{e(f['observed'])}</td></tr>")
            if f.get("quote"):
                out.append(f"<tr><td></td><td colspan=7><i>{e(f['ref'])}:</i> &ldquo;{e(f['quote'])}&rdquo;</td></tr>")
        out.append("</table>")
    return out
