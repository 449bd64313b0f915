"""Every verdict of every case is graded at the strength of the sentence it enforces.

Walks every case in testcases/ (every step; the status expectation with its ``status_ref``; each
check with its explicit or default ref and level; the checks of ``classify:`` classes) and fails,
naming case, step and check, when a clause has no entry in conformance/catalogue/clauses/, when
the level differs from the one its keyword gives, or when an entry's sentence is not in its
source (../shared/spec/rfc/<source>.txt, or for 3GPP text the test-purpose catalogue
../shared/spec/test-purposes.md).
"""

from __future__ import annotations

from pathlib import Path

import pytest

from conformance.cases.loader import load_case_file
from conformance.catalogue.clauses import Clause, find_verbatim, load_clauses, source_text, spec_dir
from conformance.meaning.grading import graded_items, grading_problems
from conformance.meaning.checks import CHECKS

ROOT = Path(__file__).resolve().parents[2]
CASE_FILES = sorted((ROOT / "testcases").rglob("*.yaml"))
RFC2119 = ("MUST", "SHALL", "SHOULD", "REQUIRED", "RECOMMENDED", "MAY", "OPTIONAL")


# Checks graded above their sentence that another branch of issue 16 corrects (the case id and
# who).  Their problems are reported as an expected failure; once a case is graded by its text,
# its entry here must go (the test fails while it stays).
PENDING: dict[str, str] = {}  # case id -> the branch/issue fixing its grading (none left)


@pytest.fixture(scope="module")
def clauses() -> dict[str, Clause]:
    return load_clauses()


def test_case_files_exist():
    assert len(CASE_FILES) > 20


@pytest.mark.parametrize("path", CASE_FILES, ids=lambda p: str(p.relative_to(ROOT / "testcases")))
def test_every_check_is_graded_by_its_clause(path, clauses):
    problems, pending = [], {}
    for case in load_case_file(path):
        found = [p for item in graded_items(case) for p in grading_problems(item, clauses)]
        if case.id in PENDING:
            pending[case.id] = found
        else:
            problems.extend(found)
    assert not problems, "\n".join(problems)
    fixed = [cid for cid, found in pending.items() if not found]
    assert not fixed, f"{', '.join(fixed)} graded by its text now: remove from PENDING"
    if pending:
        pytest.xfail("; ".join(f"{cid}: {PENDING[cid]}" for cid in pending) + "\n" +
                     "\n".join(p for found in pending.values() for p in found))


def test_every_default_clause_has_an_entry(clauses):
    """A kind's default ref is a clause with its sentence (or the kind needs an explicit ref)."""
    from conformance.meaning.grading import GradedItem

    problems = []
    for name, kind in CHECKS.items():
        for args in ({}, {"has": "outbound"}, {"lacks": "outbound"}):
            ref = kind.ref(args)
            if ref is None:
                continue  # the kind requires an explicit ref (the loader says so)
            problems.extend(grading_problems(GradedItem("(default)", name, f"kind {name} {args}", ref, kind.level),
                                             clauses))
    assert not problems, "\n".join(problems)


def test_every_entry_is_quoted_verbatim(clauses):
    spec = spec_dir(ROOT)
    if spec is None:
        pytest.skip("../shared/spec not found beside the project")
    problems = []
    for c in clauses.values():
        if c.source == "suite" or c.mark == "M":
            continue  # the suite's own criteria (graded MUST); text not read, from memory (graded MAY)
        text = source_text(str(spec), c.source)
        if text is None and c.mark == "I":
            continue  # an interpretation of a text the project has no copy of (graded MAY)
        if text is None:
            problems.append(f"{c.file}: {c.ref}: no source text for {c.source!r}")
        elif not find_verbatim(c.text, text):
            problems.append(f"{c.file}: {c.ref}: text not found verbatim in {c.source}")
    assert not problems, "\n".join(problems)


def test_every_keyword_is_in_its_sentence(clauses):
    problems = []
    for c in clauses.values():
        words = c.text.replace(",", " ").replace(".", " ").replace(";", " ").split()
        if c.keyword != "none":
            if c.keyword.split()[0] not in words:
                problems.append(f"{c.file}: {c.ref}: keyword {c.keyword} is not in its text")
        elif c.source.startswith("rfc") and any(k in words for k in RFC2119):
            problems.append(f"{c.file}: {c.ref}: keyword none, but the text has "
                            f"{', '.join(k for k in RFC2119 if k in words)}")
    assert not problems, "\n".join(problems)
