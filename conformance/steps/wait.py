"""``wait: SECONDS``: listen on every open endpoint for a while (at most 30 s), e.g. for an expiry."""

from __future__ import annotations

from ..cases.model import StepSpec
from ..engine.api import RunApi
from ..meaning.results import StepResult
from .kind import StepKind


def wait(run: RunApi, step: StepSpec, result: StepResult) -> None:
    run.wait(float(step.options.get("seconds", 0)))


def parse(loader, action: str, value, path: list):
    """(options, flow, ue name, step name) of ``wait: SECONDS``."""
    return {"seconds": value}, None, None, f"wait {value:g}s"


def offline(replay, step: StepSpec, result: StepResult) -> None:
    """Nothing to judge: a pause between exchanges."""


KIND = StepKind(
    name="wait", summary="Seconds to wait, at most 30.",
    schema={"type": "number", "minimum": 0, "maximum": 30, "x-expected": "a number of seconds from 0 to 30"},
    needs_flow=False, live=wait, offline=offline, parse=parse, order=140,
    extra={"usage": "`wait: SECONDS`", "table": "waits (at most 30 s), e.g. for an expiry"})
