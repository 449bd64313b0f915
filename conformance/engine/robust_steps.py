"""Robustness steps (TP_ROB_003, TP_ROB_004): a burst of REGISTERs sent without waiting."""

from __future__ import annotations

from .limit_steps import LIMIT_STEPS

ROBUST_STEPS: dict = {}

#: Every step kind of the two modules, for the runner's dispatch.
STEPS = {**LIMIT_STEPS, **ROBUST_STEPS}
