"""Running a function inside a network namespace (setns in a helper thread): the one primitive
both the topology (netns.py) and the NAT capture (capture.py) need."""

from __future__ import annotations

import ctypes
import os
import threading

CLONE_NEWNET = 0x40000000


def _libc():
    libc = ctypes.CDLL(None, use_errno=True)
    libc.setns.argtypes = [ctypes.c_int, ctypes.c_int]
    return libc


def in_namespace(path: str, fn, *args):
    """Run ``fn(*args)`` in a helper thread inside the network namespace at ``path``; return
    its result (or raise its exception).  Threads it starts stay in that namespace."""
    box: dict = {}

    def body():
        try:
            fd = os.open(path, os.O_RDONLY)
            try:
                if _libc().setns(fd, CLONE_NEWNET) != 0:
                    err = ctypes.get_errno()
                    raise OSError(err, f"setns({path}): {os.strerror(err)}")
            finally:
                os.close(fd)
            box["value"] = fn(*args)
        except BaseException as exc:  # noqa: BLE001 - handed to the caller
            box["error"] = exc

    t = threading.Thread(target=body, name="netns-helper", daemon=True)
    t.start()
    t.join()
    if "error" in box:
        raise box["error"]
    return box.get("value")
