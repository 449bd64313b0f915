"""The conformance certificate of one run: ``certificate.json`` and ``certificate.html``.

Rendered from the same case results (plain dicts) as ``results.json``.  It names the SUT (the
target profile, and the Server / User-Agent headers the SUT itself sent), what it declares,
the date and suite version, and gives a verdict per requirement (R1, R2, R3, P1, P2, and the
feature rows REGEV and GRUU, fed by the REGEV-* and GRUU-* cases), per
clause cited by the cases (RFC section / TS clause) and per catalogue test purpose, each
derived from the cases behind it with ``summary.derive``: any fail (or error) -> fail, else any
inconclusive -> inconclusive, else pass; only not-applicable cases -> not applicable.
"""

from __future__ import annotations

import json
import re
from html import escape
from pathlib import Path
from typing import Any, Iterable

from ..catalogue import load_catalogue
from .summary import ORDER, counts, derive

REQUIREMENTS = {
    "R1": "The registrar tells the UE whether multiple registrations are allowed (Require: outbound)",
    "R2": "The 2xx lists every current binding, so the UE sees whether it added or replaced one",
    "R3": "+sip.instance and reg-id decide between adding a flow and replacing one",
    "P1": "A Rel-7 S-CSCF that overwrites bindings is recognised",
    "P2": "A Rel-7 P-CSCF (one flow per UE) is recognised",
    "REGEV": "The reg event package (RFC 3680) tells the subscriber about every flow of the AOR",
    "GRUU": ("GRUUs (RFC 5627): one public GRUU per AOR and instance, temporary GRUUs tied to the Call-ID, "
             "a GRUU routed to one flow of its instance"),
}



def covers(req: str, result: dict) -> bool:
    """Whether a case result counts towards a requirement row: the case lists it in ``requirements:``."""
    return req in result.get("requirements", [])

COLOURS = {"pass": "#1a7f37", "fail": "#cf222e", "inconclusive": "#9a6700",
           "not applicable": "#57606a", "error": "#8250df", "not tested": "#8c959f"}

_DOC_RE = re.compile(r"^\s*((?:3GPP\s+)?(?:RFC|TS)\s*[\d.]+)\s*(.*)$", re.I)


def _case_ids(results: Iterable[dict]) -> list[str]:
    return sorted({r["id"] for r in results})


def _verdict_of(results: list[dict]) -> str:
    return derive(r["verdict"] for r in results) if results else "not tested"


def _counts_of(results: list[dict]) -> dict[str, int]:
    return counts(results)


def split_clause(ref: str) -> tuple[str, str]:
    """("RFC 5626", "§6 ¶8") from "RFC 5626 §6 ¶8"; the whole text as document otherwise."""
    m = _DOC_RE.match(ref)
    if not m:
        return ref.strip(), ""
    return re.sub(r"\s+", " ", m.group(1)).strip(), m.group(2).strip()


def _natural(text: str) -> list:
    return [int(t) if t.isdigit() else t for t in re.split(r"(\d+)", text)]


def seen_headers(results: list[dict]) -> dict[str, list[str]]:
    """Server and User-Agent values in messages the tester received, minus the tester's own.

    A proxy passes on the User-Agent (and a UE's Server) of whoever sent the message, so values
    the tester itself sent are left out: what remains came from the SUT.
    """
    own: set[str] = set()
    got: dict[str, dict[str, None]] = {"Server": {}, "User-Agent": {}}
    for r in results:
        for m in r.get("messages") or []:
            head = str(m.get("text", "")).split("\r\n\r\n", 1)[0].split("\r\n")[1:]
            for line in head:
                name, sep, value = line.partition(":")
                if not sep:
                    continue
                name = name.strip().lower()
                if name not in ("server", "user-agent"):
                    continue
                value = value.strip()
                if m.get("direction") == "sent":
                    own.add(value)
                else:
                    got["Server" if name == "server" else "User-Agent"][value] = None
    return {k: [v for v in vals if v not in own][:10] for k, vals in got.items()}


def build_certificate(results: list[dict], meta: dict[str, Any],
                      catalogue: dict[str, dict] | None = None) -> dict[str, Any]:
    """The certificate as data (what certificate.json holds and certificate.html shows)."""
    target = dict(meta.get("target") or {})
    results = sorted(results, key=lambda r: r["id"])
    c = _counts_of(results)
    overall = _verdict_of(results)
    load_errors = list(meta.get("collection_errors") or [])
    if load_errors and overall != "fail":
        overall = "error"  # a case file could not be loaded: never an overall pass (summary.overall_verdict)

    reqs = []
    for req in list(REQUIREMENTS) + sorted({q for r in results for q in r.get("requirements", [])}
                                           - set(REQUIREMENTS)):
        rs = [r for r in results if covers(req, r)]
        reqs.append({"id": req, "meaning": REQUIREMENTS.get(req, ""), "verdict": _verdict_of(rs),
                     "counts": _counts_of(rs), "cases": _case_ids(rs),
                     "failed": _case_ids(r for r in rs if r["verdict"] in ("fail", "error"))})

    by_clause: dict[str, list[dict]] = {}
    for r in results:
        for ref in dict.fromkeys(r.get("references", [])):
            by_clause.setdefault(ref.strip(), []).append(r)
    clauses = []
    for ref in sorted(by_clause, key=lambda x: (_natural(split_clause(x)[0]), _natural(split_clause(x)[1]))):
        rs = by_clause[ref]
        doc, section = split_clause(ref)
        clauses.append({"clause": ref, "document": doc, "section": section, "verdict": _verdict_of(rs),
                        "counts": _counts_of(rs), "cases": _case_ids(rs),
                        "failed": _case_ids(r for r in rs if r["verdict"] in ("fail", "error"))})

    by_tp: dict[str, list[dict]] = {}
    for r in results:
        for tp in dict.fromkeys(r.get("test_purposes", [])):
            by_tp.setdefault(tp, []).append(r)
    tps = [{"id": tp, "title": (catalogue or {}).get(tp, {}).get("title", ""), "verdict": _verdict_of(rs),
            "cases": _case_ids(rs)} for tp, rs in sorted(by_tp.items(), key=lambda kv: _natural(kv[0]))]

    cases = [{"id": r["id"], "title": r.get("title", ""), "verdict": r["verdict"], "reason": r.get("reason", ""),
              "requirements": r.get("requirements", []), "test_purposes": r.get("test_purposes", []),
              "pcap": r.get("pcap")} for r in results]
    headers = seen_headers(results)
    return {
        "kind": "outbound-conformance certificate",
        "suite": meta.get("suite", "outbound-conformance"),
        "suite_version": meta.get("version", ""),
        "date": meta.get("finished", ""),
        "complete": bool(meta.get("complete", True)),
        "command": meta.get("command", ""),
        "sut": {"profile": target.get("name", ""), "description": target.get("description", ""),
                "role": target.get("role", ""), "profile_file": target.get("path", ""),
                "server": headers["Server"], "user_agent": headers["User-Agent"]},
        "declared_capabilities": list(target.get("capabilities", [])),
        "strict": bool(target.get("strict", False)),
        "overall": overall,
        "collection_errors": load_errors,
        "counts": c,
        "applicable": sum(v for k, v in c.items() if k != "not applicable"),
        "requirements": reqs,
        "clauses": clauses,
        "test_purposes": tps,
        "catalogue_size": len(catalogue or {}),
        "cases": cases,
    }


# -- HTML ------------------------------------------------------------------------------------
CSS = """
body{font:14px/1.45 system-ui,-apple-system,'Segoe UI',sans-serif;color:#1f2328;margin:0;background:#f6f8fa}
main{max-width:1100px;margin:0 auto;background:#fff;padding:24px 32px 40px;border-left:1px solid #d0d7de;
border-right:1px solid #d0d7de;min-height:100vh}
h1{font-size:24px;margin:0 0 4px}h2{font-size:18px;margin:28px 0 8px;border-bottom:1px solid #d0d7de;
padding-bottom:4px}.sub{color:#57606a;margin:0 0 16px}
.banner{border-radius:8px;padding:14px 20px;margin:12px 0 20px;color:#fff}
.banner .big{font-size:30px;font-weight:800;letter-spacing:.5px}
.banner p{margin:6px 0 0}.banner ul{margin:6px 0 0 0;padding-left:20px}.banner a{color:#fff}
.badge{display:inline-block;color:#fff;padding:1px 8px;border-radius:10px;font-weight:700;font-size:12px;
white-space:nowrap}
table{border-collapse:collapse;width:100%;margin:6px 0}th,td{border:1px solid #d0d7de;padding:4px 8px;
text-align:left;vertical-align:top}th{background:#f6f8fa}td.n{text-align:right;font-variant-numeric:tabular-nums}
td.zero{color:#afb8c1}dl.kv{display:grid;grid-template-columns:220px 1fr;gap:4px 12px;margin:8px 0}
dl.kv dt{color:#57606a}dl.kv dd{margin:0}code{background:#f6f8fa;padding:0 3px;border-radius:3px}
.counts span{margin-right:14px}td.nw{white-space:nowrap}.banner li{margin:4px 0}.muted{color:#57606a}.reason{font-size:12px;color:#57606a;word-break:break-word}
"""


def group_ids(ids: Iterable[str]) -> str:
    """"REG-003 [tcp, udp], REG-030 [tcp]" from item ids "REG-003[tcp]", "REG-003[udp]", ..."""
    by: dict[str, list[str]] = {}
    for i in ids:
        case, _, rest = i.partition("[")
        by.setdefault(case, [])
        if rest:
            by[case].append(rest.rstrip("]"))
    return ", ".join(f"{c} [{', '.join(sorted(t))}]" if t else c for c, t in sorted(by.items(), key=lambda kv: _natural(kv[0])))


def first_reason(reason: str) -> str:
    """The first of the "; "-separated reasons, not cutting inside [...] (clauses use "; " too)."""
    depth = 0
    for i, ch in enumerate(reason):
        if ch == "[":
            depth += 1
        elif ch == "]":
            depth = max(0, depth - 1)
        elif depth == 0 and reason.startswith("; ", i):
            return reason[:i]
    return reason


def _badge(v: str) -> str:
    return (f'<span class="badge verdict" data-verdict="{escape(v)}" style="background:'
            f'{COLOURS.get(v, "#000")}">{escape(v.upper())}</span>')


def _count_cells(c: dict[str, int]) -> str:
    return "".join(f'<td class="n{" zero" if not c.get(k) else ""}">{c.get(k, 0)}</td>' for k in ORDER)


def _count_head() -> str:
    return "".join(f"<th>{escape(k)}</th>" for k in ("pass", "fail", "inconc.", "n/a", "error"))


def _is_ue(cert: dict[str, Any]) -> bool:
    """A UE target (role ue): the suite played the network and the verdicts are the UE's."""
    return cert.get("sut", {}).get("role") == "ue"


def render_certificate_html(cert: dict[str, Any], *, report_href: str | None = "report.html") -> str:
    sut = cert["sut"]
    c = cert["counts"]
    overall = cert["overall"]
    out = ["<!DOCTYPE html><html lang=\"en\"><head><meta charset=\"utf-8\">",
           f"<title>Conformance certificate: {escape(sut['profile'] or '?')} — {escape(overall.upper())}</title>",
           f"<style>{CSS}</style></head><body><main>",
           f"<h1>SIP Outbound conformance certificate{' — UE' if _is_ue(cert) else ''}</h1>",
           '<p class="sub">IMS multiple registrations with SIP Outbound (RFC 5626): '
           f'{escape(cert["suite"])} {escape(cert["suite_version"])}, run finished {escape(cert["date"])}</p>']
    # The verdict, first and large; failures named right there.
    failed = [x for x in cert["cases"] if x["verdict"] in ("fail", "error")]
    inconc = [x for x in cert["cases"] if x["verdict"] == "inconclusive"]
    colour = COLOURS.get(overall, "#000")
    out.append(f'<section id="overall" class="banner" data-verdict="{escape(overall)}" style="background:{colour}">'
               f'<div class="big">OVERALL: {escape(overall.upper())}</div>')
    if overall == "fail":
        n_fail = sum(1 for x in failed if x["verdict"] == "fail")
        n_err = len(failed) - n_fail
        what = f"{n_fail} of {cert['applicable']} applicable case{'s' if cert['applicable'] != 1 else ''} failed"
        if n_err:
            what += f", {n_err} ended in error (a fault of the suite or its setup, not a pass)"
        failed_reqs = [q["id"] for q in cert["requirements"] if q["verdict"] == "fail"]
        out.append(f"<p><b>This run has failures: {escape(what)}.</b> Not conformant for "
                   f"<b>{escape(', '.join(failed_reqs) or 'the clauses marked FAIL')}</b> "
                   "(details per requirement and clause below).</p><ul>")
        by_case: dict[str, list[dict]] = {}
        for x in failed:
            by_case.setdefault(x["id"].split("[")[0], []).append(x)
        for n, (case, xs) in enumerate(sorted(by_case.items(), key=lambda kv: _natural(kv[0]))):
            if n == 10:
                out.append(f"<li>... and {len(by_case) - 10} more cases (see the case list below)</li>")
                break
            first = first_reason(xs[0]["reason"])
            first = first if len(first) < 200 else first[:197] + "..."
            out.append(f"<li><b>{escape(group_ids(x['id'] for x in xs))}</b> {escape(xs[0]['title'])}<br>"
                       f"<span style=\"opacity:.9\">{escape(first)}</span></li>")
        out.append("</ul>")
    elif overall == "error":
        out.append(f"<p><b>{len(cert['collection_errors'])} case file(s) could not be loaded</b> "
                   f"({escape(', '.join(cert['collection_errors'][:5]))}): their cases did not run, so this run "
                   "is no verdict on the SUT. Fix the files and run again.</p>")
    elif overall == "inconclusive":
        out.append(f"<p><b>{len(inconc)} case(s) could not reach a verdict</b>; no case failed. "
                   "Conformance is not established for the requirements marked INCONCLUSIVE.</p>")
    elif overall == "pass":
        if _is_ue(cert):
            out.append(f"<p>The UE <b>{escape(sut['profile'])}</b> is certified: every one of the "
                       f"{cert['applicable']} applicable UE cases passed (the suite played the network).</p>")
        else:
            out.append(f"<p>Every one of the {cert['applicable']} applicable cases passed.</p>")
    else:
        out.append("<p>No case applied to this target: nothing was certified.</p>")
    if not cert.get("complete", True):
        out.append("<p><b>The run did not complete</b> (interrupted or a usage error): the verdicts cover "
                   "only the cases that ran.</p>")
    out.append("</section>")

    out.append(f'<section id="sut"><h2>{"UE under test" if _is_ue(cert) else "System under test"}</h2><dl class="kv">')
    rows = [("Target profile", sut["profile"]), ("Description", sut["description"]), ("Role", sut["role"]),
            ("Declared capabilities", ", ".join(cert["declared_capabilities"]) or "none"),
            ("Server header(s) seen", "; ".join(sut["server"]) or "none seen"),
            ("User-Agent header(s) seen", "; ".join(sut["user_agent"]) or "none seen"),
            ("Profile file", sut["profile_file"]),
            ("SHOULD violations", "fail the case (strict)" if cert.get("strict") else "warnings")]
    for k, v in rows:
        out.append(f"<dt>{escape(k)}</dt><dd>{escape(str(v or '—'))}</dd>")
    out.append("</dl></section>")

    out.append('<section id="run"><h2>Run</h2><dl class="kv">')
    for k, v in (("Date (UTC)", cert["date"]), ("Suite version", f"{cert['suite']} {cert['suite_version']}"),
                 ("Command", cert["command"])):
        out.append(f"<dt>{escape(k)}</dt><dd><code>{escape(str(v))}</code></dd>" if k == "Command"
                   else f"<dt>{escape(k)}</dt><dd>{escape(str(v))}</dd>")
    out.append("</dl><p class=\"counts\">" + "".join(
        f'<span>{_badge(k)} {c.get(k, 0)}</span>' for k in ORDER) + "</p>")
    if report_href:
        out.append(f'<p>Every check, message and ladder diagram: <a href="{escape(report_href)}">'
                   f"{escape(report_href)}</a>; machine-readable: certificate.json, results.json, junit.xml.</p>")
    out.append("</section>")

    out.append('<section id="requirements"><h2>Verdict per requirement</h2>'
               '<table class="requirements"><tr><th>requirement</th><th>meaning</th>' + _count_head()
               + "<th>verdict</th><th>failing cases</th></tr>")
    for q in cert["requirements"]:
        out.append(f'<tr data-requirement="{escape(q["id"])}"><td><b>{escape(q["id"])}</b></td>'
                   f'<td>{escape(q["meaning"])}</td>{_count_cells(q["counts"])}<td>{_badge(q["verdict"])}</td>'
                   f'<td class="reason">{escape(group_ids(q["failed"]))}</td></tr>')
    out.append("</table><p class=\"muted\">Counts are of case runs (each case over each transport). "
               "NOT TESTED: no case of this run covers the requirement.</p></section>")

    out.append('<section id="clauses"><h2>Verdict per clause</h2>'
               '<table class="clauses"><tr><th>document</th><th>clause</th><th>cases citing it</th>'
               + _count_head() + "<th>verdict</th></tr>")
    for cl in cert["clauses"]:
        case_ids = sorted({i.split("[")[0] for i in cl["cases"]}, key=_natural)
        out.append(f'<tr data-clause="{escape(cl["clause"])}"><td>{escape(cl["document"])}</td>'
                   f'<td class="nw">{escape(cl["section"])}</td><td class="reason">{escape(", ".join(case_ids))}</td>'
                   f'{_count_cells(cl["counts"])}<td>{_badge(cl["verdict"])}</td></tr>')
    out.append("</table></section>")

    if cert["test_purposes"]:
        total = cert.get("catalogue_size") or 0
        of = f" of the {total} in the catalogue" if total else ""
        out.append(f'<section id="test-purposes"><h2>Test purposes exercised ({len(cert["test_purposes"])}{of})</h2>'
                   '<table class="tps"><tr><th>test purpose</th><th>title</th><th>cases</th><th>verdict</th></tr>')
        for tp in cert["test_purposes"]:
            case_ids = sorted({i.split("[")[0] for i in tp["cases"]}, key=_natural)
            out.append(f"<tr><td>{escape(tp['id'])}</td><td>{escape(tp['title'])}</td>"
                       f'<td class="reason">{escape(", ".join(case_ids))}</td><td>{_badge(tp["verdict"])}</td></tr>')
        out.append("</table><p class=\"muted\">Which test purposes no case covers yet, and why: "
                   "<code>conformance list --coverage</code> (docs/coverage.md).</p></section>")

    out.append('<section id="cases"><h2>Cases</h2><table class="cases"><tr><th>case</th><th>title</th>'
               "<th>verdict</th><th>reason</th></tr>")
    for x in cert["cases"]:
        reason = "" if x["verdict"] == "pass" else x["reason"]
        out.append(f"<tr><td>{escape(x['id'])}</td><td>{escape(x['title'])}</td><td>{_badge(x['verdict'])}</td>"
                   f'<td class="reason">{escape(reason)}</td></tr>')
    out.append("</table></section></main></body></html>\n")
    return "".join(out)


def _catalogue() -> dict[str, dict]:
    try:
        return {tp["id"]: tp for tp in load_catalogue()}
    except Exception:  # the certificate never fails for want of the catalogue
        return {}


def write_certificate(reports_dir: Path, results: list[dict], meta: dict[str, Any]) -> dict[str, Any]:
    """Write certificate.json and certificate.html into reports_dir; return the certificate."""
    cert = build_certificate(results, meta, _catalogue())
    reports_dir.mkdir(parents=True, exist_ok=True)
    for name, text in (("certificate.json", json.dumps(cert, indent=2, ensure_ascii=False)),
                       ("certificate.html", render_certificate_html(cert))):
        tmp = reports_dir / (name + ".tmp")
        tmp.write_text(text, encoding="utf-8")
        tmp.replace(reports_dir / name)
    return cert
