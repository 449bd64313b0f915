"""Fixtures of the reference-CSCF tests."""

import pytest

from sut_helpers import Sut


@pytest.fixture
def sut():
    return Sut()


@pytest.fixture
def rel7():
    return Sut(mode="rel7")
