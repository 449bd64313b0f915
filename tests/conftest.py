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
import signal
import tempfile

_OWNER = "CONFORMANCE_TESTS_PYCACHE_OWNER"

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


def pytest_unconfigure(config):
    if os.environ.get(_OWNER) == str(os.getpid()):
        shutil.rmtree(os.environ["PYTHONPYCACHEPREFIX"], ignore_errors=True)


def pytest_collection_modifyitems(config, items):
    """The longest files first (tests/long_files.py), so that none runs alone at the end of an
    xdist run; each file's tests keep their order.  Every worker collects the same order."""
    from long_files import longest_first

    items[:] = [items[k] for k in longest_first([item.nodeid for item in items])]
