"""Fixtures of the IMS security tests."""

from __future__ import annotations

import pytest

from conformance.ims.secagree import ALG_PAIRS


@pytest.fixture(params=ALG_PAIRS, ids=lambda p: f"{p[0]}+{p[1]}")
def pair(request):
    return request.param
