"""close: {last_delivered: true} after a request that reached no flow cannot close anything: the
step stops the case as not possible (inconclusive for the step), so the earlier failed delivery
check keeps the case's verdict, instead of an engine error."""

from __future__ import annotations

from types import SimpleNamespace

import pytest

from conformance.engine.api import StepNotPossible
from conformance.steps.close import close


def test_nothing_delivered_is_not_possible_not_an_error():
    run = SimpleNamespace(deliveries=[], endpoints={}, closed_flows=set())
    step = SimpleNamespace(flow=None, options={"last_delivered": True})
    with pytest.raises(StepNotPossible, match="no flow has received a request yet"):
        close(run, step, SimpleNamespace())
