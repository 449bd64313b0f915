"""Work done once per test session and shared by every pytest-xdist worker (a suite run that
several tests judge, the installed wheel): a folder of the session and a lock per piece of work.

Under xdist each worker's base temporary folder is ``<session>/popen-gwN`` (the controller's
numbered folder, pytest-of-USER/pytest-N): the workers share its parent; without xdist the base
folder is the session's own.  The first worker that needs a piece of work does it under its lock;
the others wait on the lock and then read what it left.
"""

from __future__ import annotations

import fcntl
import os
from contextlib import contextmanager
from pathlib import Path
from typing import Iterator


def session_dir(tmp_path_factory) -> Path:
    base = tmp_path_factory.getbasetemp()
    root = base.parent if os.environ.get("PYTEST_XDIST_WORKER") else base
    shared = root / "shared"
    shared.mkdir(exist_ok=True)
    return shared


@contextmanager
def held(lock: Path) -> Iterator[None]:
    """An exclusive lock on ``lock`` (a file, made if missing) across processes; released on
    exit, also when the process dies."""
    with open(lock, "a") as f:
        fcntl.flock(f, fcntl.LOCK_EX)
        try:
            yield
        finally:
            fcntl.flock(f, fcntl.LOCK_UN)
