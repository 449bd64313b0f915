"""or_closed: a connection the SUT closed instead of answering is recognised whatever the flow's
transport, by the wording the endpoints use for it (engine/transport.py, engine/streamflow.py)."""

from __future__ import annotations

from types import SimpleNamespace

import pytest

from conformance.engine.streamflow import _NAMES
from conformance.meaning.judging import closed_before_answer


def ctx(why, response=None):
    return SimpleNamespace(response=response, no_response_reason=why)


@pytest.mark.parametrize("name", ["TCP", *_NAMES.values()])
def test_every_transport_close_counts(name):
    assert closed_before_answer(ctx(f"{name} connection closed by the SUT (EOF) before a final response came"))


def test_a_timeout_or_an_answer_does_not_count():
    assert not closed_before_answer(ctx("no final response within 4 s"))
    assert not closed_before_answer(ctx("TLS connection closed by the SUT before a final response", response=object()))
    assert not closed_before_answer(ctx("TLS connection closed by the SUT"))  # closed after the answer
