"""The clause catalogue: for every clause a check cites, its sentence verbatim and its keyword.

``conformance/catalogue/clauses/*.yaml`` hold entries (one file per author; all files are
merged)::

    clauses:
      - ref: "RFC 5626 §6 ¶8"      # exactly the string a case cites (ref:, status_ref:, a kind's default)
        source: rfc5626            # rfcNNNN | ts24229, ts33203, ... (3GPP, as quoted in the
                                   # test-purpose catalogue) | suite (the suite's robustness criteria)
        text: >-                   # the sentence(s), verbatim
          ...
        keyword: MUST              # the keyword of ``text`` that grades it, or none
        mark: V                    # V | V-3gpp | M (unverified) | I (interpretation)

The level of a check follows from its clause (:func:`level_of`): MUST/MUST NOT/SHALL/SHALL
NOT/REQUIRED and 3GPP "shall" give MUST; SHOULD/SHOULD NOT/RECOMMENDED/NOT RECOMMENDED give
SHOULD; MAY/OPTIONAL, no keyword, or an unverified [M] / interpreted [I] reading give MAY (a
record, never a fail); the suite's own robustness criteria give MUST.  Several clauses joined
with "; " take the strongest (:func:`level_of_refs`).

:func:`find_verbatim` tells whether a quoted sentence is in a source text, ignoring line
wrapping, form feeds and the RFC page header/footer lines (so a sentence broken over a page
break is still found).  Sans-IO: the functions take text; :func:`load_clauses` and
:func:`source_text` read files.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from functools import lru_cache
from pathlib import Path
from typing import Iterable

import yaml

CLAUSE_DIR = Path(__file__).with_name("clauses")

MUST_KEYWORDS = ("MUST", "MUST NOT", "SHALL", "SHALL NOT", "REQUIRED", "shall", "shall not")
SHOULD_KEYWORDS = ("SHOULD", "SHOULD NOT", "RECOMMENDED", "NOT RECOMMENDED")
MAY_KEYWORDS = ("MAY", "OPTIONAL", "may", "none")
KEYWORDS = MUST_KEYWORDS + SHOULD_KEYWORDS + MAY_KEYWORDS
MARKS = ("V", "V-3gpp", "M", "I")
_RANK = {"MAY": 0, "SHOULD": 1, "MUST": 2}

_SOURCE_RE = re.compile(r"^(rfc\d+|ts\d+|tr\d+|suite)$")


class ClauseError(ValueError):
    """A clause file that cannot be used; the message names the file (and the other file)."""


@dataclass(frozen=True)
class Clause:
    ref: str
    source: str
    text: str
    keyword: str
    mark: str
    file: str = ""

    @property
    def level(self) -> str:
        return level_of(self.keyword, self.mark, self.source)


def level_of(keyword: str, mark: str, source: str = "") -> str:
    """The level a clause grades a check at (module docstring)."""
    if source == "suite":
        return "MUST"
    if mark in ("M", "I"):
        return "MAY"
    if keyword in MUST_KEYWORDS:
        return "MUST"
    if keyword in SHOULD_KEYWORDS:
        return "SHOULD"
    if keyword in MAY_KEYWORDS:
        return "MAY"
    raise ValueError(f"unknown keyword {keyword!r} (one of {', '.join(KEYWORDS)})")


def split_refs(ref: str) -> list[str]:
    """``"RFC 3261 §22.1; RFC 2617 §3.2.2"`` -> the two clauses ("; " inside parentheses is
    part of a clause's own wording)."""
    parts, depth, cur = [], 0, ""
    i = 0
    while i < len(ref):
        ch = ref[i]
        depth += (ch == "(") - (ch == ")")
        if depth == 0 and ref.startswith("; ", i):
            parts.append(cur)
            cur, i = "", i + 2
            continue
        cur += ch
        i += 1
    parts.append(cur)
    return [r.strip() for r in parts if r.strip()]


def lookup(ref: str, clauses: dict[str, Clause]) -> list[Clause | str]:
    """The clauses a ref string names: the whole string if it has an entry, else each
    "; "-joined part; a part without an entry is returned as its string."""
    if ref in clauses:
        return [clauses[ref]]
    return [clauses.get(r, r) for r in split_refs(ref)]


def level_of_refs(ref: str, clauses: dict[str, Clause]) -> str:
    """The strongest level of the clauses in ``ref``; KeyError naming a ref without an entry."""
    found = lookup(ref, clauses)
    missing = [r for r in found if isinstance(r, str)]
    if missing or not found:
        raise KeyError(", ".join(missing) or ref)
    return max((c.level for c in found if isinstance(c, Clause)), key=_RANK.__getitem__)


def stronger(a: str, b: str) -> bool:
    return _RANK[a] > _RANK[b]


# -- loading -------------------------------------------------------------------------------------

def parse_clauses(data, file: str) -> list[Clause]:
    if not isinstance(data, dict) or not isinstance(data.get("clauses"), list):
        raise ClauseError(f"{file}: expected a mapping with a 'clauses:' list")
    out = []
    for i, e in enumerate(data["clauses"]):
        where = f"{file}: clauses[{i}]"
        if not isinstance(e, dict):
            raise ClauseError(f"{where}: an entry is a mapping (ref, source, text, keyword, mark)")
        unknown = set(e) - {"ref", "source", "text", "keyword", "mark", "note"}
        if unknown:
            raise ClauseError(f"{where}: unknown key(s) {', '.join(sorted(map(str, unknown)))}")
        for key in ("ref", "source", "text", "keyword", "mark"):
            if not isinstance(e.get(key), str) or not e[key].strip():
                raise ClauseError(f"{where}: '{key}' is required (a non-empty string)")
        if not _SOURCE_RE.match(e["source"]):
            raise ClauseError(f"{where} ({e['ref']}): source {e['source']!r} is not rfcNNNN, tsNNNNN or suite")
        if e["keyword"] not in KEYWORDS:
            raise ClauseError(f"{where} ({e['ref']}): keyword {e['keyword']!r} is not one of {', '.join(KEYWORDS)}")
        if e["mark"] not in MARKS:
            raise ClauseError(f"{where} ({e['ref']}): mark {e['mark']!r} is not one of {', '.join(MARKS)}")
        out.append(Clause(ref=e["ref"].strip(), source=e["source"], text=" ".join(e["text"].split()),
                          keyword=e["keyword"], mark=e["mark"], file=file))
    return out


def merge(entries: Iterable[Clause]) -> dict[str, Clause]:
    """One entry per ref; the same ref with another text, keyword, mark or source is an error
    naming both files."""
    out: dict[str, Clause] = {}
    for c in entries:
        first = out.get(c.ref)
        if first is None:
            out[c.ref] = c
            continue
        if (first.text, first.keyword, first.mark, first.source) != (c.text, c.keyword, c.mark, c.source):
            raise ClauseError(f"clause {c.ref!r} is defined twice with different text/keyword/mark: "
                              f"in {first.file} and in {c.file}")
    return out


# libyaml's loader when PyYAML has it (as catalogue/__init__.py): the same documents, read some
# ten times faster (``conformance analyze`` loads every clause file to name its rules' clauses).
_LOADER = getattr(yaml, "CSafeLoader", yaml.SafeLoader)


@lru_cache(maxsize=4)
def _load_dir(directory: str) -> tuple[Clause, ...]:
    entries: list[Clause] = []
    for path in sorted(Path(directory).glob("*.yaml")):
        with open(path, encoding="utf-8") as fh:
            try:
                data = yaml.load(fh, Loader=_LOADER)
            except yaml.YAMLError as e:
                raise ClauseError(f"{path}: {e}") from None
        entries.extend(parse_clauses(data, str(path)))
    return tuple(entries)


def load_clauses(directory: Path | str | None = None) -> dict[str, Clause]:
    """Every clause of ``clauses/*.yaml`` by ref (:class:`ClauseError` on a conflict)."""
    return merge(_load_dir(str(directory or CLAUSE_DIR)))


def quote_of(ref: str, clauses: dict[str, Clause] | None = None) -> str:
    """The quoted sentence(s) of ``ref`` for a report ("" when none is known)."""
    try:
        clauses = load_clauses() if clauses is None else clauses
    except (ClauseError, OSError):
        return ""
    found = [c for c in lookup(ref, clauses) if isinstance(c, Clause)] if ref else []
    return " / ".join(f"{c.ref}: \u201c{c.text}\u201d" if len(found) > 1 else c.text for c in found)


# -- verbatim matching ---------------------------------------------------------------------------

_FOOTER_RE = re.compile(r"^\S.*\[Page \d+\]\s*$")
_HEADER_RE = re.compile(r"^RFC \d+ .*\S\s*$")
_HYPHEN_RE = re.compile(r"(?<=[A-Za-z])- (?=[a-z])")


def normalise(text: str) -> str:
    """Whitespace collapsed, a word hyphenated over a line end joined."""
    return _HYPHEN_RE.sub("-", " ".join(text.split()))


def strip_rfc_pages(text: str) -> str:
    """The RFC text without form feeds and without its page footer/header lines."""
    lines = []
    for line in text.replace("\f", "\n").splitlines():
        if _FOOTER_RE.match(line):
            continue
        if _HEADER_RE.match(line) and re.search(r"(19|20)\d\d\s*$", line) and "  " in line.strip():
            continue  # "RFC 5626    Client-Initiated Connections in SIP    October 2009"
        lines.append(line)
    return "\n".join(lines)


def _markdown(text: str) -> str:
    """test-purposes.md: blockquote markers, emphasis and inline code marks removed."""
    text = re.sub(r"(?m)^\s*>\s?", "", text)
    return text.replace("**", "").replace("`", "")


def prepare_source(text: str, source: str) -> str:
    if source.startswith("rfc"):
        return normalise(strip_rfc_pages(text))
    return normalise(_markdown(text))


def find_verbatim(quote: str, prepared: str) -> bool:
    """Whether ``quote`` (wrapped any way) is in ``prepared`` (from :func:`prepare_source`)."""
    q = normalise(quote)
    if q in prepared:
        return True
    # 3GPP quotes in the catalogue are sometimes in typographic quotes or markdown emphasis
    return normalise(_markdown(q)) in prepared


def spec_dir(project_root: Path) -> Path | None:
    """``../shared/spec`` from the project root (a git worktree looks one level further up)."""
    for base in (project_root.parent, project_root.parent.parent):
        d = base / "shared" / "spec"
        if (d / "rfc").is_dir():
            return d
    return None


@lru_cache(maxsize=64)
def source_text(spec: str, source: str) -> str | None:
    """The prepared text a clause of ``source`` is quoted from (None: not available)."""
    d = Path(spec)
    path = d / "rfc" / f"{source}.txt" if source.startswith("rfc") else d / "test-purposes.md"
    if not path.is_file():
        return None
    return prepare_source(path.read_text(encoding="utf-8", errors="replace"), source)
