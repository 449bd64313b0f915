"""UE case files (``testcases/ue/*.yaml``, top-level ``role: ue``) as pytest collectors and
items, for a target with role ``ue`` only: one item per transport, ``ID[udp]`` / ``ID[tcp]``
(tls / ws / wss too where both the case and the UE target list them)."""

from __future__ import annotations

import pytest

from ..uecert.loader import load_ue_case_file
from ..uecert.model import UeCaseSpec
from ..yamlio.errors import CaseError
from .items import CaseItem, case_items
from .state import STATE_KEY

ORDER = ("udp", "tcp", "tls", "ws", "wss")


def ue_item_transports(case: UeCaseSpec, target) -> list[str]:
    """The case's transports that the UE target offers, in the usual order; a case over TCP also
    runs over tls, ws and wss where the target declares them (a flow over them is a connection as
    TCP's is, as for network cases: engine/applicability.item_transports)."""
    offered = set(getattr(target, "transports", None) or ORDER)
    wanted = set(case.transports)
    if "tcp" in wanted:
        wanted |= {"tls", "ws", "wss"}
    return [t for t in ORDER if t in wanted and t in offered]


class UeCaseFile(pytest.File):
    def collect(self):
        state = self.config.stash.get(STATE_KEY, None)
        case = load_ue_case_file(self.path)
        yield from case_items(self, UeCaseItem, case, ue_item_transports(case, state.target if state else None))

    def repr_failure(self, excinfo, style=None):
        if isinstance(excinfo.value, CaseError):
            return str(excinfo.value)
        return super().repr_failure(excinfo)


class UeCaseItem(CaseItem):
    """Reporting as a network case item (verdicts, properties, failures); running through
    :meth:`~conformance.plugin.state.RunState.run_ue_case`."""

    def runtest(self) -> None:
        state = self.config.stash[STATE_KEY]
        self._run_with(state.run_ue_case)
