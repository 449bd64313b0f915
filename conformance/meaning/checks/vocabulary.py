"""The check vocabulary outside Python, generated from :data:`conformance.meaning.checks.CHECKS`:
the check kinds of the case schema (``$defs.check.properties``) and the check table of
docs/case-format.md, each between ``BEGIN/END generated: check kinds`` markers.

``python -m conformance.meaning.checks.vocabulary --write`` rewrites both regions;
``--check`` exits 1 naming the files that are stale (tests/cases/test_check_vocabulary.py runs it).
"""

from __future__ import annotations

import argparse
import json
import re
import sys
from pathlib import Path

import yaml

from . import CHECKS

PACKAGE = Path(__file__).resolve().parents[2]
SCHEMA_PATH = PACKAGE / "schema" / "case.schema.yaml"
DOCS_PATH = PACKAGE.parent / "docs" / "case-format.md"
MARK = "generated: check kinds"


def schema_region() -> str:
    """The kinds as YAML mapping entries at the indentation of ``$defs.check.properties``."""
    lines: list[str] = []
    for kind in CHECKS.values():
        _emit(lines, {kind.name: {"description": kind.summary, **kind.schema}}, 6)
    return "\n".join(lines) + "\n"


def _scalar(value, in_flow: bool = False) -> str:
    """Plain when YAML reads the text back as the same value, else double-quoted (JSON)."""
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, (int, float)):
        return repr(value)
    text = str(value)
    plain = text and text.strip() == text and text[0] not in "-?:,[]{}#&*!|>'\"%@`^" \
        and ": " not in text and " #" not in text and not (in_flow and any(c in text for c in ",[]{}"))
    if plain and yaml.safe_load(text) == text:
        return text
    return json.dumps(text, ensure_ascii=False)


def _flow(value) -> str | None:
    """The flow form the schema is written in for short leaves: a list of scalars, ``{}``, a lone
    ``$ref``, or a few scalar keywords without a description."""
    if isinstance(value, list) and all(not isinstance(v, (list, dict)) for v in value):
        return "[" + ", ".join(_scalar(v, True) for v in value) + "]"
    if isinstance(value, dict) and (list(value) in ([], ["$ref"]) or (
            len(value) <= 3 and "description" not in value
            and all(not isinstance(v, (list, dict)) for v in value.values()))):
        return "{" + ", ".join(f"{k}: {_scalar(v, True)}" for k, v in value.items()) + "}"
    return None


def _emit(lines: list[str], mapping: dict, indent: int) -> None:
    pad = " " * indent
    for key, value in mapping.items():
        name = key if re.fullmatch(r"[$\w-]+", key) and yaml.safe_load(f"{key}: 1") == {key: 1} \
            else json.dumps(key)
        short = _flow(value) if isinstance(value, (list, dict)) else _scalar(value)
        if short is not None:
            lines.append(f"{pad}{name}: {short}")
        elif isinstance(value, dict):
            lines.append(f"{pad}{name}:")
            _emit(lines, value, indent + 2)
        else:
            lines.append(f"{pad}{name}:")
            for item in value:
                short = _flow(item) if isinstance(item, (list, dict)) else _scalar(item)
                if short is not None:
                    lines.append(f"{pad}  - {short}")
                    continue
                body: list[str] = []
                _emit(body, item, indent + 4)
                lines.append(f"{pad}  - {body[0].strip()}")
                lines.extend(body[1:])


def docs_region() -> str:
    rows = ["| kind | arguments | default level, clause |", "| --- | --- | --- |"]
    rows += [f"| `{k.name}` | {k.args_doc} | {k.level}; {k.clause_doc} |" for k in CHECKS.values()]
    return "\n".join(rows) + "\n"


def replace_region(text: str, begin: str, end: str, body: str, where: Path) -> str:
    """``text`` with the lines strictly between the line holding ``begin`` and the one holding
    ``end`` replaced by ``body``."""
    lines = text.splitlines(keepends=True)
    starts = [i for i, line in enumerate(lines) if begin in line]
    ends = [i for i, line in enumerate(lines) if end in line]
    if len(starts) != 1 or len(ends) != 1 or ends[0] < starts[0]:
        raise SystemExit(f"{where}: expected one '{begin}' line followed by one '{end}' line")
    return "".join(lines[:starts[0] + 1]) + body + "".join(lines[ends[0]:])


def targets() -> list[tuple[Path, str]]:
    """Each generated file with the text it should have."""
    schema = SCHEMA_PATH.read_text(encoding="utf-8")
    docs = DOCS_PATH.read_text(encoding="utf-8")
    return [
        (SCHEMA_PATH, replace_region(schema, f"# BEGIN {MARK}", f"# END {MARK}", schema_region(), SCHEMA_PATH)),
        (DOCS_PATH, replace_region(docs, f"<!-- BEGIN {MARK} -->", f"<!-- END {MARK} -->", docs_region(),
                                   DOCS_PATH)),
    ]


def stale() -> list[Path]:
    return [path for path, text in targets() if path.read_text(encoding="utf-8") != text]


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    group = parser.add_mutually_exclusive_group()
    group.add_argument("--write", action="store_true", help="rewrite the generated regions")
    group.add_argument("--check", action="store_true", help="exit 1 when a generated region is stale (default)")
    args = parser.parse_args(argv)
    if args.write:
        for path, text in targets():
            if path.read_text(encoding="utf-8") != text:
                path.write_text(text, encoding="utf-8")
                print(f"rewrote {path}")
        return 0
    old = stale()
    for path in old:
        print(f"{path}: the check kinds are stale; run python -m conformance.meaning.checks.vocabulary --write",
              file=sys.stderr)
    return 1 if old else 0


if __name__ == "__main__":
    sys.exit(main())
