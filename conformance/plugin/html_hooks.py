"""pytest-html hooks (registered when pytest-html is active): the report's title, summary and
added columns, a not-applicable row's log, and each case's extras.  What they show is rendered
by conformance/report/ (html_report, case_extras)."""

from __future__ import annotations

import os
from pathlib import Path

from ..meaning.results import CaseResult
from ..report.case_extras import case_extras
from ..report.html_report import TITLE, header_cells, not_applicable_log, row_cells, summary_html
from .state import STATE_KEY


def pytest_html_report_title(report):
    report.title = TITLE


def pytest_html_results_summary(prefix, summary, postfix, session):
    state = session.config.stash[STATE_KEY]
    prefix.extend(summary_html(state.results, state.target_info))


def pytest_html_results_table_header(cells):
    for position, cell in header_cells():
        cells.insert(position, cell)


def pytest_html_results_table_row(report, cells):
    for position, cell in row_cells(getattr(report, "conformance", None), report.outcome):
        cells.insert(position, cell)


def pytest_html_results_table_html(report, data):
    case = getattr(report, "conformance", None)
    if case and case["verdict"] == "not applicable":
        data[:] = not_applicable_log(case)


def extras_for(result: CaseResult, config) -> list:
    return case_extras(result, _rel(result.pcap, config) if result.pcap else None)


def _rel(path: str, config) -> str:
    """The pcap's path as the report links it: relative to the report file."""
    html_path = getattr(config.option, "htmlpath", None)
    base = Path(html_path).resolve().parent if html_path else Path.cwd()
    try:
        return os.path.relpath(Path(path).resolve(), base)
    except ValueError:
        return str(Path(path).resolve())
