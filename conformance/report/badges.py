"""Verdict and finding colours and the verdict badge of the pytest-html report, so the summary,
the table and each case's extras show a verdict alike."""

from __future__ import annotations

from html import escape

COLOURS = {"pass": "#1a7f37", "fail": "#cf222e", "inconclusive": "#9a6700",
           "not applicable": "#57606a", "error": "#8250df"}
OUTCOME_COLOURS = {"pass": "#1a7f37", "fail": "#cf222e", "warn": "#9a6700", "info": "#57606a",
                   "inconclusive": "#9a6700"}


def badge(verdict: str) -> str:
    return (f'<span class="verdict" data-verdict="{escape(verdict)}" style="color:#fff;background:'
            f'{COLOURS.get(verdict, "#000")};padding:1px 6px;border-radius:3px;font-weight:bold">'
            f'{escape(verdict.upper())}</span>')
