"""pytest-html integration: a Verdict column, verdict counts, and per case the findings, the
messages exchanged and a link to the pcap (as pytest-html "extras")."""

from __future__ import annotations

import os
from html import escape
from pathlib import Path

from ..report.ladder import message_anchor, render_ladder
from ..meaning.results import CaseResult

COLOURS = {"pass": "#1a7f37", "fail": "#cf222e", "inconclusive": "#9a6700",
           "not applicable": "#57606a", "error": "#8250df"}
OUTCOME_COLOURS = {"pass": "#1a7f37", "fail": "#cf222e", "warn": "#9a6700", "info": "#57606a",
                   "inconclusive": "#9a6700"}


def _badge(verdict: str) -> str:
    return (f'<span class="verdict" data-verdict="{escape(verdict)}" style="color:#fff;background:'
            f'{COLOURS.get(verdict, "#000")};padding:1px 6px;border-radius:3px;font-weight:bold">'
            f'{escape(verdict.upper())}</span>')


def pytest_html_report_title(report):
    report.title = "SIP Outbound (RFC 5626) conformance report"


def pytest_html_results_summary(prefix, summary, postfix, session):
    from .hooks import _RESULTS, _TARGET_INFO

    results = session.config.stash.get(_RESULTS, [])
    info = session.config.stash.get(_TARGET_INFO, {})
    from ..report.summary import ORDER, counts, requirement_verdicts

    c = counts(results)
    prefix.append(f"<p>Target: <b>{escape(str(info.get('name', '?')))}</b> "
                  f"(role {escape(str(info.get('role', '?')))}, capabilities: "
                  f"{escape(', '.join(info.get('capabilities', [])) or 'none')})</p>")
    prefix.append("<p>Verdicts: " + " ".join(f"{_badge(v)}&nbsp;{c[v]}" for v in ORDER) + "</p>")
    reqs = requirement_verdicts(results)
    if reqs:
        prefix.append("<p>Requirements: " + " ".join(f"{escape(k)}&nbsp;{_badge(v)}" for k, v in reqs.items())
                      + "</p>")
    prefix.append("<p>Inconclusive and error cases are listed by pytest-html as <i>Failed</i>; "
                  "not-applicable cases as <i>Skipped</i>. The Verdict column gives the conformance verdict.</p>")


def pytest_html_results_table_header(cells):
    cells.insert(0, '<th class="sortable" data-column-type="verdict">Verdict</th>')
    cells.insert(3, "<th>Test purposes</th>")


def pytest_html_results_table_row(report, cells):
    data = getattr(report, "conformance", None)
    verdict = data["verdict"] if data else report.outcome
    cells.insert(0, f'<td class="col-verdict">{_badge(verdict) if data else escape(verdict)}</td>')
    cells.insert(3, f"<td>{escape(', '.join(data.get('test_purposes', []))) if data else ''}</td>")


def _rel(path: str, config) -> str:
    html_path = getattr(config.option, "htmlpath", None)
    base = Path(html_path).resolve().parent if html_path else Path.cwd()
    try:
        return os.path.relpath(Path(path).resolve(), base)
    except ValueError:
        return str(Path(path).resolve())


def render_case_html(r: CaseResult, pcap_href: str | None) -> str:
    out = [f'<div class="conformance-case"><p>{_badge(str(r.verdict))} <b>{escape(r.id)}</b> — '
           f'{escape(r.title)}</p>',
           f"<p><b>Purpose:</b> {escape(r.purpose)}</p>",
           f"<p><b>References:</b> {escape('; '.join(r.references))}<br><b>Test purposes:</b> "
           f"{escape(', '.join(r.test_purposes))}<br><b>Requirements:</b> {escape(', '.join(r.requirements))}</p>",
           f"<p><b>Reason:</b> {escape(r.reason)}</p>"]
    if r.classification:
        out.append(f"<p><b>Classification:</b> {escape(r.classification)}</p>")
    if pcap_href:
        out.append(f'<p><b>pcap:</b> <a href="{escape(pcap_href)}">{escape(pcap_href)}</a></p>')
    out.append(render_ladder(r, pcap_href=pcap_href))
    out.append('<table class="findings" border="1" cellspacing="0" cellpadding="3">'
               "<tr><th>step</th><th>check</th><th>level</th><th>clause</th><th>outcome</th>"
               "<th>expected</th><th>observed</th></tr>")
    for s in r.steps:
        for f in s.findings:
            colour = OUTCOME_COLOURS.get(f.outcome, "#000")
            out.append(f"<tr><td>{escape(s.name)}</td><td>{escape(f.check)}</td><td>{escape(f.level)}</td>"
                       f"<td>{escape(f.ref)}</td><td style=\"color:{colour};font-weight:bold\">"
                       f"{escape(f.outcome.upper())}</td><td>{escape(f.expected)}</td>"
                       f"<td>{escape(f.observed)}</td></tr>")
            quote, reading = getattr(f, "quote", ""), getattr(f, "reading", "")
            if quote:  # the sentence the SUT broke, verbatim
                out.append(f'<tr><td></td><td colspan=6 class="quote"><i>{escape(f.ref)}:</i> '
                           f"&ldquo;{escape(quote)}&rdquo;</td></tr>")
            if reading:
                out.append(f'<tr><td></td><td colspan=6 class="reading"><b>reading kept by the suite '
                           f"(recorded, not a fail):</b> {escape(reading)}</td></tr>")
        if s.note and not s.findings:
            out.append(f"<tr><td>{escape(s.name)}</td><td colspan=6>{escape(s.note)}</td></tr>")
    out.append("</table>")
    out.append("<p><b>Messages</b></p><ol start=\"0\">")
    for m in r.messages:
        arrow = "&rarr;" if m.direction == "sent" else "&larr;"
        note = f" <i>({escape(m.note)})</i>" if m.note else ""
        out.append(f'<li><details id="{message_anchor(r.id, m.index)}"><summary>{m.time:.3f}s '
                   f"[{escape(m.step)}] {escape(m.flow)} {arrow} "
                   f"{escape(m.transport.upper())} {escape(m.src[0])}:{m.src[1]} &rarr; "
                   f"{escape(m.dst[0])}:{m.dst[1]} <b>{escape(m.summary)}</b>{note}</summary>"
                   f"<pre>{escape(m.text)}</pre></details></li>")
    out.append("</ol></div>")
    return "".join(out)


def extras_for(result: CaseResult, config) -> list:
    from pytest_html import extras

    href = _rel(result.pcap, config) if result.pcap else None
    items = [extras.html(render_case_html(result, href))]
    if href:
        items.append(extras.url(href, name="pcap"))
    return items
