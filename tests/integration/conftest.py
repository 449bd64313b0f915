"""Fixtures shared by the integration tests."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import pytest


@pytest.fixture(scope="session")
def installed_suite(tmp_path_factory):
    """The suite built as a wheel and installed in a fresh venv outside the repository (one per
    session, shared by the xdist workers: session_shared.py; see wheel_venv.py).  No test changes
    it (the pipeline examples' pip install of the same wheel finds it installed)."""
    from session_shared import held, session_dir
    from wheel_venv import InstalledSuite, install

    shared = session_dir(tmp_path_factory)
    folder, done = shared / "installed-suite", shared / "installed-suite.json"
    with held(shared / "installed-suite.lock"):
        if done.exists():
            return InstalledSuite(**{k: Path(v) for k, v in json.loads(done.read_text()).items()})
        shutil.rmtree(folder, ignore_errors=True)  # what an install that failed left
        suite = install(folder)
        done.write_text(json.dumps({"venv": str(suite.venv), "wheel": str(suite.wheel), "src": str(suite.src)}))
        return suite
