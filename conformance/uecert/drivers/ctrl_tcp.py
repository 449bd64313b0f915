"""baresip's ctrl_tcp module: JSON in netstrings (``LEN:JSON,``) over a TCP connection.

A command is ``{"command": NAME, "params": TEXT, "token": T}``; baresip answers
``{"response": true, "ok": BOOL, "data": TEXT, "token": T}`` and, unasked, reports events as
``{"event": true, "class": ..., "type": "REGISTER_OK" | ..., "accountaor": ..., "param": ...}``.
The framing is sans-IO (:func:`encode`, :class:`Decoder`); :class:`CtrlTcp` is the connection,
read by a thread, every wait bounded.
"""

from __future__ import annotations

import itertools
import json
import socket
import threading
import time

from .base import DriverError


def encode(obj: dict) -> bytes:
    data = json.dumps(obj).encode()
    return str(len(data)).encode() + b":" + data + b","


class Decoder:
    """Feed bytes, get the complete netstrings' JSON objects (ValueError on a broken frame)."""

    def __init__(self):
        self._buf = b""

    def feed(self, data: bytes) -> list[dict]:
        self._buf += data
        out = []
        while True:
            colon = self._buf.find(b":")
            if colon < 0:
                if len(self._buf) > 10:
                    raise ValueError(f"not a netstring: {self._buf[:40]!r}")
                return out
            if not self._buf[:colon].isdigit():
                raise ValueError(f"not a netstring length: {self._buf[:colon][:20]!r}")
            size = int(self._buf[:colon])
            end = colon + 1 + size
            if len(self._buf) < end + 1:
                return out
            if self._buf[end:end + 1] != b",":
                raise ValueError("netstring without its closing comma")
            out.append(json.loads(self._buf[colon + 1:end]))
            self._buf = self._buf[end + 1:]


class CtrlTcp:
    """A connection to ctrl_tcp: :meth:`command` sends and waits (bounded) for its response;
    :attr:`events` collects what baresip reported on its own."""

    def __init__(self, address: tuple[str, int], connect_timeout: float = 10.0, alive=None):
        deadline = time.monotonic() + connect_timeout
        last: OSError | None = None
        self._sock = None
        while time.monotonic() < deadline:      # baresip opens the port once its modules loaded
            if alive is not None and not alive():
                raise DriverError("baresip ended before ctrl_tcp listened")
            try:
                self._sock = socket.create_connection(address, timeout=1.0)
                break
            except OSError as exc:
                last = exc
                time.sleep(0.1)
        if self._sock is None:
            raise DriverError(f"ctrl_tcp did not listen on {address[0]}:{address[1]} within "
                              f"{connect_timeout:g} s ({last})")
        self._sock.settimeout(0.5)
        self._cond = threading.Condition()
        self._responses: dict[str, dict] = {}
        self.events: list[dict] = []
        self.closed = False
        self._tokens = itertools.count(1)
        self._thread = threading.Thread(target=self._read, name="ctrl_tcp", daemon=True)
        self._thread.start()

    def _read(self) -> None:
        decoder = Decoder()
        while True:
            try:
                data = self._sock.recv(65536)
            except socket.timeout:
                if self.closed:
                    break
                continue
            except OSError:
                break
            if not data:
                break
            try:
                items = decoder.feed(data)
            except ValueError:
                break
            with self._cond:
                for item in items:
                    if item.get("response"):
                        self._responses[str(item.get("token"))] = item
                    elif item.get("event"):
                        self.events.append(item)
                self._cond.notify_all()
        with self._cond:
            self.closed = True
            self._cond.notify_all()

    def command(self, name: str, params: str = "", timeout: float = 5.0) -> dict:
        """Send a command, wait for its response (DriverError when none within ``timeout``)."""
        token = f"t{next(self._tokens)}"
        try:
            self._sock.sendall(encode({"command": name, "params": params, "token": token}))
        except OSError as exc:
            raise DriverError(f"ctrl_tcp: cannot send {name!r}: {exc}") from exc
        deadline = time.monotonic() + timeout
        with self._cond:
            while token not in self._responses:
                left = deadline - time.monotonic()
                if left <= 0 or self.closed:
                    raise DriverError(f"ctrl_tcp: no response to {name!r} within {timeout:g} s"
                                      + (" (connection closed)" if self.closed else ""))
                self._cond.wait(min(left, 0.5))
            return self._responses.pop(token)

    def wait_event(self, predicate, timeout: float, since: int = 0) -> dict | None:
        """The first event from index ``since`` on that satisfies ``predicate`` (None: none in time)."""
        deadline = time.monotonic() + timeout
        with self._cond:
            while True:
                for ev in self.events[since:]:
                    if predicate(ev):
                        return ev
                left = deadline - time.monotonic()
                if left <= 0 or self.closed:
                    return None
                self._cond.wait(min(left, 0.5))

    def close(self) -> None:
        self.closed = True
        try:
            self._sock.close()
        except OSError:
            pass
        self._thread.join(timeout=2.0)
