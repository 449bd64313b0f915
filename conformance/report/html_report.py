"""The pytest-html report's own parts: the title, the summary above the table, and the cells
the suite adds to each row (Verdict, Test purposes, Reason).

pytest-html orders and collapses rows by its result words, in which a not-applicable case is
"Skipped" and sorts before the passes.  The Verdict cell therefore opens with its rank (an HTML
comment: pytest-html sorts a column by its cell's markup) so that, sorted on the Verdict column
(``-o initial_sort=verdict``, as ``conformance run`` does), failures come first, then the
passes, and the not-applicable cases last; ``-o render_collapsed=passed,skipped`` folds those.
"""

from __future__ import annotations

from html import escape

from .badges import badge
from .summary import ORDER, counts, requirement_verdicts

TITLE = "SIP Outbound (RFC 5626) conformance report"
# the order of the rows: what needs a look first, the cases that did not apply last
RANK = {"error": 0, "fail": 1, "inconclusive": 2, "pass": 3, "not applicable": 4}
# rows that are no case (a file that could not be loaded, a plain pytest test) by pytest's word
OUTCOME_RANK = {"error": 0, "failed": 0, "passed": 3, "skipped": 4}
ROW_REASON_MAX = 200  # characters of the reason in a row; the case's detail has all of it
PYTEST_HTML_OPTIONS = ("initial_sort=verdict", "render_collapsed=passed,skipped")


def summary_html(results: list[dict], target: dict) -> list[str]:
    c = counts(results)
    parts = [f"<p>Target: <b>{escape(str(target.get('name', '?')))}</b> "
             f"(role {escape(str(target.get('role', '?')))}, capabilities: "
             f"{escape(', '.join(target.get('capabilities', [])) or 'none')})</p>",
             "<p>Verdicts: " + " ".join(f"{badge(v)}&nbsp;{c[v]}" for v in ORDER) + "</p>"]
    reqs = requirement_verdicts(results)
    if reqs:
        parts.append("<p>Requirements: " + " ".join(f"{escape(k)}&nbsp;{badge(v)}" for k, v in reqs.items())
                     + "</p>")
    parts.append("<p>Inconclusive and error cases are listed by pytest-html as <i>Failed</i>; "
                 "not-applicable cases as <i>Skipped</i>, after the others and folded, with the reason "
                 "they did not apply. The Verdict column gives the conformance verdict.</p>")
    return parts


def header_cells() -> tuple[tuple[int, str], ...]:
    """(position, cell) of the columns the suite adds, in the order to insert them."""
    return ((0, '<th class="sortable" data-column-type="verdict">Verdict</th>'),
            (3, "<th>Test purposes</th>"), (4, "<th>Reason</th>"))


def row_cells(case: dict | None, outcome: str) -> tuple[tuple[int, str], ...]:
    """The added cells of one row: ``case`` is the case's result (None for a row that is no
    case, ranked by pytest's ``outcome``)."""
    if case is None:
        rank = OUTCOME_RANK.get(outcome.lower(), 1)
        return ((0, f'<td class="col-verdict"><!--{rank}-->{escape(outcome)}</td>'), (3, "<td></td>"),
                (4, "<td></td>"))
    v = case["verdict"]
    return ((0, f'<td class="col-verdict"><!--{RANK.get(v, 1)}-->{badge(v)}</td>'),
            (3, f"<td>{escape(', '.join(case.get('test_purposes', [])))}</td>"),
            (4, f'<td class="col-reason">{escape(row_reason(case))}</td>'))


def row_reason(case: dict) -> str:
    """Why the case has its verdict, in its row: the reason (its start, when long), or for a
    pass its warnings (a pass without any says nothing more than its badge)."""
    if case["verdict"] != "pass":
        reason = case.get("reason", "")
        return reason if len(reason) <= ROW_REASON_MAX else reason[:ROW_REASON_MAX - 1] + "…"
    warnings = case.get("warnings") or []
    return f"{len(warnings)} warning{'s' if len(warnings) != 1 else ''}: {warnings[0]}" if warnings else ""


def not_applicable_log(case: dict) -> list[str]:
    """The log a not-applicable row shows instead of pytest's skip tuple (file, line, message)."""
    return [escape(f"not applicable: {case.get('reason', '')}")]
