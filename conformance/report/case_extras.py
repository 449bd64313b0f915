"""A case's detail in the pytest-html report, as pytest-html extras.

Each part is its own extra, so pytest-html (and any plugin reading ``report.extras``) sees the
pieces rather than one string: the case header (verdict, purpose, references, reason), the
ladder, the findings table, the messages exchanged, the verdict and findings as JSON, and the
pcap as a link.  A not-applicable case gets its header alone: nothing ran, nothing to show.
"""

from __future__ import annotations

from html import escape

from pytest_html import extras

from ..meaning.results import CaseResult
from ..meaning.verdict import Verdict
from .badges import OUTCOME_COLOURS, badge
from .ladder import message_anchor, render_ladder


def case_extras(r: CaseResult, pcap_href: str | None) -> list[dict]:
    if r.verdict == Verdict.NOT_APPLICABLE:
        return [extras.html(header_html(r))]
    items = [extras.html(header_html(r, pcap_href)), extras.html(render_ladder(r, pcap_href=pcap_href))]
    table = findings_html(r)
    if table:
        items.append(extras.html(table))
    if r.messages:
        items.append(extras.html(messages_html(r)))
    items.append(extras.json(r.to_dict(with_messages=False), name="verdict"))
    if pcap_href:
        items.append(extras.url(pcap_href, name="pcap"))
    return items


def header_html(r: CaseResult, pcap_href: str | None = None) -> str:
    out = [f'<div class="conformance-case"><p>{badge(str(r.verdict))} <b>{escape(r.id)}</b> — '
           f'{escape(r.title)}</p>',
           f"<p><b>Reason:</b> {escape(r.reason)}</p>",
           f"<p><b>Purpose:</b> {escape(r.purpose)}</p>",
           f"<p><b>References:</b> {escape('; '.join(r.references))}<br><b>Test purposes:</b> "
           f"{escape(', '.join(r.test_purposes))}<br><b>Requirements:</b> {escape(', '.join(r.requirements))}</p>"]
    if r.classification:
        out.append(f"<p><b>Classification:</b> {escape(r.classification)}</p>")
    if pcap_href:
        out.append(f'<p><b>pcap:</b> <a href="{escape(pcap_href)}">{escape(pcap_href)}</a></p>')
    out.append("</div>")
    return "".join(out)


def findings_html(r: CaseResult) -> str:
    """Every check of every step with its outcome, the sentence a failing one broke, and the
    reading the suite kept where it recorded rather than failed; empty when no step says anything."""
    rows = []
    for s in r.steps:
        for f in s.findings:
            colour = OUTCOME_COLOURS.get(f.outcome, "#000")
            rows.append(f"<tr><td>{escape(s.name)}</td><td>{escape(f.check)}</td><td>{escape(f.level)}</td>"
                        f"<td>{escape(f.ref)}</td><td style=\"color:{colour};font-weight:bold\">"
                        f"{escape(f.outcome.upper())}</td><td>{escape(f.expected)}</td>"
                        f"<td>{escape(f.observed)}</td></tr>")
            if f.quote:  # the sentence the SUT broke, verbatim
                rows.append(f'<tr><td></td><td colspan=6 class="quote"><i>{escape(f.ref)}:</i> '
                            f"&ldquo;{escape(f.quote)}&rdquo;</td></tr>")
            if f.reading:
                rows.append(f'<tr><td></td><td colspan=6 class="reading"><b>reading kept by the suite '
                            f"(recorded, not a fail):</b> {escape(f.reading)}</td></tr>")
        if s.note and not s.findings:
            rows.append(f"<tr><td>{escape(s.name)}</td><td colspan=6>{escape(s.note)}</td></tr>")
    if not rows:
        return ""
    return ('<table class="findings" border="1" cellspacing="0" cellpadding="3">'
            "<tr><th>step</th><th>check</th><th>level</th><th>clause</th><th>outcome</th>"
            "<th>expected</th><th>observed</th></tr>" + "".join(rows) + "</table>")


def messages_html(r: CaseResult) -> str:
    """The messages in order, each folded to its one-line summary; the ladder's arrows link here."""
    out = ["<p><b>Messages</b></p><ol start=\"0\">"]
    for m in r.messages:
        arrow = "&rarr;" if m.direction == "sent" else "&larr;"
        note = f" <i>({escape(m.note)})</i>" if m.note else ""
        out.append(f'<li><details id="{message_anchor(r.id, m.index)}"><summary>{m.time:.3f}s '
                   f"[{escape(m.step)}] {escape(m.flow)} {arrow} "
                   f"{escape(m.transport.upper())} {escape(m.src[0])}:{m.src[1]} &rarr; "
                   f"{escape(m.dst[0])}:{m.dst[1]} <b>{escape(m.summary)}</b>{note}</summary>"
                   f"<pre>{escape(m.text)}</pre></details></li>")
    out.append("</ol>")
    return "".join(out)
