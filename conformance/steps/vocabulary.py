"""The step vocabulary written from the registry: the action keys of the case schema
(``$defs.step.properties`` in conformance/schema/case.schema.yaml) and the step table of
docs/case-format.md, each between its ``BEGIN/END generated: step kinds`` markers.

``python -m conformance.steps.vocabulary --write`` rewrites both regions; ``--check`` exits 1
when either is stale (tests/cases/test_step_vocabulary.py runs the check).
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

import yaml

from . import KINDS
from .kind import StepKind

ROOT = Path(__file__).resolve().parent.parent.parent
SCHEMA = ROOT / "conformance" / "schema" / "case.schema.yaml"
DOC = ROOT / "docs" / "case-format.md"
COMMAND = "python -m conformance.steps.vocabulary --write"
SCHEMA_MARKERS = ("# BEGIN generated: step kinds", "# END generated: step kinds")
DOC_MARKERS = ("<!-- BEGIN generated: step kinds -->", "<!-- END generated: step kinds -->")
SCHEMA_INDENT = " " * 6   # the keys of $defs.step.properties


class StaleRegion(Exception):
    """A file lacks its generated region's markers."""


def schema_region(kinds: dict[str, StepKind] | None = None) -> str:
    """The action keys of ``$defs.step.properties``: each kind's summary and value schema."""
    out = []
    for kind in (kinds or KINDS).values():
        entry = {kind.name: {"description": kind.summary, **kind.schema}}
        text = yaml.safe_dump(entry, sort_keys=False, default_flow_style=False, width=10_000, allow_unicode=True)
        out += [SCHEMA_INDENT + line if line else line for line in text.splitlines()]
    return "\n".join(out) + "\n"


def doc_region(kinds: dict[str, StepKind] | None = None) -> str:
    """The step table of docs/case-format.md."""
    rows = ["| action | sends |", "| --- | --- |"]
    rows += [f"| {kind.extra['usage']} | {kind.extra['table']} |" for kind in (kinds or KINDS).values()]
    return "\n".join(rows) + "\n"


def _replace(text: str, markers: tuple[str, str], body: str, where: Path) -> str:
    begin, end = markers
    try:
        start = text.index(begin)
        start = text.index("\n", start) + 1
        stop = text.index(end, start)
    except ValueError:
        raise StaleRegion(f"{where}: no '{begin}' ... '{end}' region") from None
    stop = text.rindex("\n", 0, stop) + 1   # the END marker's line keeps its indentation
    return text[:start] + body + text[stop:]


def regenerated() -> dict[Path, str]:
    """Each file as it should read, by path."""
    return {SCHEMA: _replace(SCHEMA.read_text(), SCHEMA_MARKERS, schema_region(), SCHEMA),
            DOC: _replace(DOC.read_text(), DOC_MARKERS, doc_region(), DOC)}


def stale() -> list[Path]:
    """The files whose step region differs from what the registry gives."""
    return [path for path, text in regenerated().items() if path.read_text() != text]


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m conformance.steps.vocabulary", description=__doc__.split("\n\n")[0])
    mode = parser.add_mutually_exclusive_group(required=True)
    mode.add_argument("--write", action="store_true", help="rewrite the generated regions")
    mode.add_argument("--check", action="store_true", help="exit 1 when a generated region is stale")
    args = parser.parse_args(argv)
    if args.write:
        for path, text in regenerated().items():
            if path.read_text() != text:
                path.write_text(text)
                print(f"wrote {path.relative_to(ROOT)}")
        return 0
    old = stale()
    for path in old:
        print(f"{path.relative_to(ROOT)}: the step kinds are stale; run {COMMAND}", file=sys.stderr)
    return 1 if old else 0


if __name__ == "__main__":
    sys.exit(main())
