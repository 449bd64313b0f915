"""Session set-up for the project's own tests: compiled bytecode kept for the session.

Under PYTHONDONTWRITEBYTECODE (the developer sessions set it to keep the tree free of
__pycache__) every Python process compiles every module it imports from source: each xdist
worker, and each of the ~200 suite and analysis subprocesses the tests start (about 2 s of CPU
a run of ``conformance run``, more than half its start-up).  Here the bytecode goes to a folder of
the session instead (PYTHONPYCACHEPREFIX, so still nothing in the tree): made once by the
controller before the workers start (they and every subprocess inherit the environment),
removed at its end.  A caller who writes bytecode, or has a prefix of their own, is left alone.

Under pytest-xdist the first worker (gw0) collects alone, the others once it is done: each
collection imports, compiles and assertion-rewrites the ~600 modules of the tests and the
package (about 11 s of CPU cold, 3.4 s from the bytecode gw0 leaves), and five cold at once on
two cores were the first half minute of make test.
"""

from __future__ import annotations

import os
import shutil
import signal
import sys
import tempfile
import time

import pytest

_OWNER = "CONFORMANCE_TESTS_PYCACHE_OWNER"
_SESSION = "CONFORMANCE_TESTS_SESSION_DIR"  # the controller's; holds gw0's "collected" mark
_SESSION_OWNER = "CONFORMANCE_TESTS_SESSION_OWNER"

# A shell without job control starts a background command (`make test &`, nohup in a script) with
# SIGINT ignored, and every process under it inherits that: Python then installs no Ctrl-C handler,
# and the tests that interrupt a run with SIGINT (exit 5, reports marked incomplete, the progress
# line blanked, TUN devices removed) wait out their bounds and fail (seen in a clean-clone run
# started that way).  The tests are about the suite's answer to Ctrl-C, so they get a Ctrl-C.
if signal.getsignal(signal.SIGINT) is signal.SIG_IGN:
    signal.signal(signal.SIGINT, signal.default_int_handler)

if os.environ.get("PYTHONDONTWRITEBYTECODE") and not os.environ.get("PYTHONPYCACHEPREFIX"):
    os.environ["PYTHONPYCACHEPREFIX"] = tempfile.mkdtemp(prefix="conformance-tests-pycache-")
    os.environ[_OWNER] = str(os.getpid())
    del os.environ["PYTHONDONTWRITEBYTECODE"]

if not os.environ.get("PYTEST_XDIST_WORKER") and not os.environ.get(_SESSION):
    os.environ[_SESSION] = tempfile.mkdtemp(prefix="conformance-tests-session-")
    os.environ[_SESSION_OWNER] = str(os.getpid())


@pytest.hookimpl(hookwrapper=True)
def pytest_collection(session):
    """xdist workers after gw0 wait (at most 2 minutes) until it has collected, where bytecode is
    written: they then read what it compiled and rewrote instead of doing it again."""
    worker = os.environ.get("PYTEST_XDIST_WORKER")
    mark = os.path.join(os.environ[_SESSION], "collected") if os.environ.get(_SESSION) else None
    if worker and worker != "gw0" and mark and not sys.dont_write_bytecode:
        deadline = time.monotonic() + 120
        while not os.path.exists(mark) and time.monotonic() < deadline:
            time.sleep(0.05)
    try:
        yield
    finally:
        if worker == "gw0" and mark:
            open(mark, "w").close()


def pytest_unconfigure(config):
    if os.environ.get(_OWNER) == str(os.getpid()):
        shutil.rmtree(os.environ["PYTHONPYCACHEPREFIX"], ignore_errors=True)
    if os.environ.get(_SESSION_OWNER) == str(os.getpid()):
        shutil.rmtree(os.environ[_SESSION], ignore_errors=True)


def pytest_collection_modifyitems(config, items):
    """The longest files first (tests/long_files.py), so that none runs alone at the end of an
    xdist run; each file's tests keep their order.  Every worker collects the same order."""
    from long_files import longest_first

    items[:] = [items[k] for k in longest_first([item.nodeid for item in items])]
