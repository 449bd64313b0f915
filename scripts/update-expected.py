#!/usr/bin/env python3
"""Rewrite expected/*.yaml tables from fresh runs of the suite against their targets.

    scripts/update-expected.py                    # every table under expected/
    scripts/update-expected.py expected/reference-rel8.yaml ...
    scripts/update-expected.py --only 'AKA-*' --only 'SEC-*'   # rewrite only these rows

--only (fnmatch globs on the item id, repeatable) leaves every other row as it is, so work on
one group of cases does not take in verdicts of cases changed elsewhere at the same time; only
the cases those globs can match are run (``-k`` from the text before each glob's first wildcard),
so adding the rows of a new case to every table takes seconds per table, not a suite run each.

Accepted fails keep their 'why' when they still fail on the same check; a new fail gets
"TODO: ..." in 'why', which the project's tests refuse, so a person writes the reason.  Review
the diff (git diff expected/) before committing: a changed verdict needs a reason.
"""

from __future__ import annotations

import fnmatch
import json
import re
import subprocess
import sys
import tempfile
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from conformance.baseline import Table, header_of, load_table, render, updated  # noqa: E402


def _split(argv: list[str]) -> tuple[list[str], list[str]]:
    only, rest, it = [], [], iter(argv)
    for a in it:
        if a == "--only":
            only.append(next(it, ""))
        elif a.startswith("--only="):
            only.append(a.split("=", 1)[1])
        else:
            rest.append(a)
    return only, rest


def keyword_of(globs: list[str]) -> str | None:
    """A pytest -k expression that selects at least every item the globs match (the results are
    filtered by the globs afterwards), or None to run everything."""
    prefixes = []
    for g in globs:
        head = re.split(r"[*?\[]", g, maxsplit=1)[0]
        if not head:
            return None
        prefixes.append(head)
    return " or ".join(dict.fromkeys(prefixes))


def main(argv: list[str]) -> int:
    only, argv = _split(argv)
    tables = [Path(a).resolve() for a in argv] or sorted((ROOT / "expected").glob("*.yaml"))
    todo = 0
    for path in tables:
        try:
            table = load_table(path)
        except ValueError:
            table = Table(target=str(path))
        with tempfile.TemporaryDirectory() as tmp:
            cmd = [sys.executable, "-m", "conformance", "run", "-q", f"--target={ROOT / table.target}",
                   f"--reports-dir={tmp}", f"--pcap-dir={tmp}/pcaps"]
            keyword = keyword_of(only) if only else None
            if keyword:
                cmd += ["-k", keyword]
            proc = subprocess.run(cmd, cwd=ROOT, capture_output=True, text=True, timeout=600)
            out = Path(tmp) / "results.json"
            if not out.exists():
                print(f"{path}: the run wrote no results (exit {proc.returncode}):\n"
                      f"{(proc.stdout + proc.stderr)[-1500:]}", file=sys.stderr)
                todo += 1
                continue
            results = json.loads(out.read_text())["cases"]
        table.header = header_of(path)
        if only:
            keep = {k: v for k, v in table.cases.items() if not any(fnmatch.fnmatchcase(k, g) for g in only)}
            results = [r for r in results if any(fnmatch.fnmatchcase(r["id"], g) for g in only)]
            new = updated(table, results, table.target)
            new.cases = dict(sorted({**keep, **new.cases}.items()))
        else:
            new = updated(table, results, table.target)
        path.write_text(render(new), encoding="utf-8")
        n = sum(1 for e in new.cases.values() if e.why.startswith("TODO"))
        todo += n
        print(f"{path.relative_to(ROOT)}: {len(new.cases)} cases" + (f", {n} new fail(s) need a why" if n else ""))
    return 1 if todo else 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
