"""YAML case files as pytest collectors and items (the tavern pattern).

A file is a :class:`CaseFile`; each case in it becomes one :class:`CaseItem` per transport,
named ``ID[udp]`` / ``ID[tcp]`` (and ``ID[tls]``, ``ID[ws]``, ``ID[wss]`` for a case over TCP where
the target declares them), carrying its requirements (R1, R2, ...) as pytest markers.  A
malformed file is a collection error for that file only, with file, line and key.
"""

from __future__ import annotations

import pytest

from ..cases.loader import load_case_file
from ..cases.model import CaseSpec
from ..engine.applicability import item_transports
from ..meaning.results import CaseResult
from ..meaning.verdict import Verdict
from ..report.failure import render_failure
from ..yamlio.errors import CaseError
from .state import STATE_KEY


class CaseVerdictFailure(Exception):
    """Raised by an item whose case verdict is fail, inconclusive or error."""

    def __init__(self, result: CaseResult):
        super().__init__(result.reason)
        self.result = result


class CaseFile(pytest.File):
    def collect(self):
        state = self.config.stash.get(STATE_KEY, None)
        cases = load_case_file(self.path)
        for case in cases:
            target = state.target if state is not None else None
            yield from case_items(self, CaseItem, case, item_transports(case, target))

    def repr_failure(self, excinfo, style=None):
        if isinstance(excinfo.value, CaseError):
            return str(excinfo.value)
        return super().repr_failure(excinfo)


def case_items(parent: pytest.File, item_class, case, transports):
    """One item per transport, ``ID[transport]``, marked with the case's requirements; the
    case id registered with the run (a second definition elsewhere is an error there)."""
    state = parent.config.stash.get(STATE_KEY, None)
    if state is not None:
        state.register_case_id(case, str(parent.path))
    for transport in transports:
        item = item_class.from_parent(parent, name=f"{case.id}[{transport}]", case=case, transport=transport)
        for req in case.requirements:
            item.add_marker(req)
        item.add_marker(f"transport_{transport}")
        yield item


class CaseItem(pytest.Item):
    def __init__(self, *, case: CaseSpec, transport: str, **kwargs):
        super().__init__(**kwargs)
        self.case = case
        self.transport = transport
        self.result: CaseResult | None = None
        self.user_properties.extend([
            ("test_purposes", ", ".join(case.test_purposes)),
            ("references", "; ".join(case.references)),
            ("requirements", ", ".join(case.requirements)),
        ])

    @property
    def location(self):
        line = (self.case.location.line - 1) if self.case.location else 0
        return (self.fspath.relto(self.config.rootdir) or str(self.path), line, self.name)

    def reportinfo(self):
        line = (self.case.location.line - 1) if self.case.location else 0
        return self.path, line, f"{self.name}: {self.case.title}"

    def runtest(self) -> None:
        self._run_with(self.config.stash[STATE_KEY].run_case)

    def _run_with(self, run) -> None:
        self.result = run(self.case, self.transport)
        self.user_properties.extend(verdict_properties(self.result))
        v = self.result.verdict
        if v == Verdict.NOT_APPLICABLE:
            pytest.skip(f"not applicable: {self.result.reason}")
        if v != Verdict.PASS:
            raise CaseVerdictFailure(self.result)

    def repr_failure(self, excinfo, style=None):
        if isinstance(excinfo.value, CaseVerdictFailure):
            return render_failure(excinfo.value.result)
        return super().repr_failure(excinfo)


def verdict_properties(r: CaseResult) -> list[tuple[str, str]]:
    """The verdict as the item's user properties, so pytest's JUnit, pytest-html and any other
    plugin see it (not only the suite's own reports)."""
    props = [("verdict", str(r.verdict)), ("reason", r.reason)]
    if r.classification:
        props.append(("classification", r.classification))
    if r.warnings:
        props.append(("warnings", "; ".join(r.warnings)))
    if r.pcap:
        props.append(("pcap", r.pcap))
    return props
