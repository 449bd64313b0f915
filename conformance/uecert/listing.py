"""``conformance list --target <a role ue target>``: the UE cases' items and whether each applies."""

from __future__ import annotations

import sys
from pathlib import Path

from ..yamlio.errors import CaseError
from .loader import is_ue_case_file, load_ue_case_file

__all__ = ["is_ue_case_file", "list_ue_case"]


def list_ue_case(path: Path, target) -> int:
    """Print one line per item of the UE case in ``path``; 3 if it cannot be loaded, else 0."""
    from ..plugin.ue_items import ue_item_transports
    from .runner import UeCaseRun

    try:
        case = load_ue_case_file(path)
    except CaseError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 3
    for t in ue_item_transports(case, target):
        why = UeCaseRun(case, t, target, ".").not_applicable_reason()
        applies = "  [applies]" if why is None else f"  [not applicable: {why}]"
        print(f"{case.id}[{t}]  {','.join(case.requirements):<9} {case.title}{applies}")
    return 0
