"""One Kamailio profile at a time across pytest-xdist workers.

The Kamailio profiles listen on fixed loopback ports (suts/kamailio/kamailioctl.sh), and
``make test`` runs test files beside each other (--dist loadfile): test_kamailio.py's table of a
profile and that profile's own smoke test (test_kamailio_regevent.py, test_kamailio_tls_ws.py)
would otherwise start the same instance twice or stop it under each other. Each holds this
lock (an flock on a file in the system's temp dir) while its Kamailio runs; the wait is bounded.
"""

from __future__ import annotations

import contextlib
import fcntl
import os
import tempfile
import time
from pathlib import Path

LOCK = Path(tempfile.gettempdir()) / "outbound-conformance-kamailio-ports.lock"


@contextlib.contextmanager
def kamailio_ports(timeout: float = 900.0):
    """Hold the lock (waiting at most ``timeout`` s for another worker's Kamailio run)."""
    fd = os.open(LOCK, os.O_RDWR | os.O_CREAT, 0o666)
    try:
        deadline = time.monotonic() + timeout
        while True:
            try:
                fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
                break
            except BlockingIOError:
                if time.monotonic() > deadline:
                    raise TimeoutError(f"{LOCK} held by another Kamailio test for more than {timeout:g} s")
                time.sleep(0.2)
        yield
    finally:
        os.close(fd)  # releases the lock
