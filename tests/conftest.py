"""Session set-up for the project's own tests: compiled bytecode kept for the session.

Under PYTHONDONTWRITEBYTECODE (the developer sessions set it to keep the tree free of
__pycache__) every Python process compiles every module it imports from source: each xdist
worker, and each of the ~200 suite and analysis subprocesses the tests start (about 2 s of CPU
a run of ``conformance run``, more than half its start-up).  Here the bytecode goes to a folder of
the session instead (PYTHONPYCACHEPREFIX, so still nothing in the tree): made once by the
controller before the workers start (they and every subprocess inherit the environment),
removed at its end.  A caller who writes bytecode, or has a prefix of their own, is left alone.
"""

from __future__ import annotations

import os
import shutil
import tempfile

_OWNER = "CONFORMANCE_TESTS_PYCACHE_OWNER"

if os.environ.get("PYTHONDONTWRITEBYTECODE") and not os.environ.get("PYTHONPYCACHEPREFIX"):
    os.environ["PYTHONPYCACHEPREFIX"] = tempfile.mkdtemp(prefix="conformance-tests-pycache-")
    os.environ[_OWNER] = str(os.getpid())
    del os.environ["PYTHONDONTWRITEBYTECODE"]


def pytest_unconfigure(config):
    if os.environ.get(_OWNER) == str(os.getpid()):
        shutil.rmtree(os.environ["PYTHONPYCACHEPREFIX"], ignore_errors=True)
