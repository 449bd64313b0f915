"""Errors in case files and target profiles, pointing at file, line and key.

``str(error)`` is ``"{file}:{line}: {key}: {message}"`` followed by the offending YAML lines
with their numbers, the first thing a case author needs to fix the file::

    testcases/reg.yaml:12: steps[1].expcet: unknown key 'expcet' (did you mean 'expect'?)
         11 |   - register: f2
      >  12 |     expcet:
         13 |       status: 200
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

__all__ = ["CaseError", "Location", "TargetError", "excerpt"]


@dataclass(frozen=True)
class Location:
    """Where something was written: file, 1-based line, and the key path (``steps[2].expect``)."""

    file: str
    line: int
    key: str = ""

    def __str__(self) -> str:
        key = f": {self.key}" if self.key else ""
        return f"{self.file}:{self.line}{key}"


def excerpt(source: str | None, line: int, before: int = 1, after: int = 2) -> str:
    """Lines ``line-before .. line+after`` of ``source``, numbered, the ``line`` itself marked."""
    if not source or line <= 0:
        return ""
    lines = source.splitlines()
    if line > len(lines):
        line = len(lines)
        if line == 0:
            return ""
    first, last = max(1, line - before), min(len(lines), line + after)
    width = len(str(last))
    return "\n".join(f"{'>' if n == line else ' '} {n:>{width}} | {lines[n - 1]}".rstrip()
                     for n in range(first, last + 1))


class CaseError(Exception):
    """A case file that cannot be loaded: where (``file``, ``line``, ``key``) and why (``message``).

    ``line`` is 1-based (0 when unknown, e.g. an unreadable file); ``key`` is a path into the
    document such as ``steps[2].expect.checks[0].require`` (list indices are 0-based), or ``""``.
    ``source`` is the file's text, used for the excerpt; when omitted it is read from ``file``.
    """

    what = "case"

    def __init__(self, message: str, file: str = "<string>", line: int = 0, key: str = "",
                 source: str | None = None):
        self.message = message
        self.file = str(file)
        self.line = line
        self.key = key
        if source is None and line > 0:
            try:
                source = Path(self.file).read_text(encoding="utf-8")
            except (OSError, ValueError):
                source = None
        self.excerpt = excerpt(source, line)
        super().__init__(self.headline)

    @property
    def headline(self) -> str:
        """The first line of ``str(self)``: ``file:line: key: message``."""
        where = f"{self.file}:{self.line}" if self.line else self.file
        key = f" {self.key}:" if self.key else ""
        return f"{where}:{key} {self.message}"

    @property
    def location(self) -> Location:
        return Location(self.file, self.line, self.key)

    def __str__(self) -> str:
        return f"{self.headline}\n{self.excerpt}" if self.excerpt else self.headline

    def __reduce__(self):  # picklable across pytest-xdist workers
        state = {"excerpt": self.excerpt}
        return (self.__class__, (self.message, self.file, self.line, self.key, ""), state)


class TargetError(CaseError):
    """A target profile that cannot be loaded (same fields and format as :class:`CaseError`)."""

    what = "target"
