"""Fixtures shared by the integration tests."""

from __future__ import annotations

import pytest


@pytest.fixture(scope="session")
def installed_suite(tmp_path_factory):
    """The suite built as a wheel and installed in a fresh venv outside the repository (one per
    session; see wheel_venv.py)."""
    from wheel_venv import install

    return install(tmp_path_factory.mktemp("installed-suite"))
