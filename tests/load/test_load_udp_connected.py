"""UDP sockets connected to the SUT hear only answers from the SUT's own address and port: a SUT
that answers from another port gets no 2xx counted, with a hint naming --udp-unconnected, and
with --udp-unconnected the same SUT's answers count."""

from __future__ import annotations

import socket
import threading

from conformance.cli import main as conformance_main


def _answer(request: bytes) -> bytes:
    head = request.split(b"\r\n\r\n", 1)[0].split(b"\r\n")
    keep = [h for h in head[1:] if h.split(b":", 1)[0].strip().lower()
            in (b"via", b"from", b"to", b"call-id", b"cseq", b"contact")]
    keep = [h + b";tag=sut1" if h.lower().startswith(b"to:") else h for h in keep]
    return b"\r\n".join([b"SIP/2.0 200 OK", *keep, b"Expires: 600", b"Content-Length: 0", b"", b""])


class _SutAnsweringFromAnotherPort:
    def __init__(self):
        self.inbox = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
        self.inbox.bind(("127.0.0.1", 0))
        self.inbox.settimeout(0.2)
        self.outbox = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
        self.outbox.bind(("127.0.0.1", 0))
        self.port = self.inbox.getsockname()[1]
        self.stop = threading.Event()
        self.thread = threading.Thread(target=self._serve, daemon=True)

    def _serve(self):
        while not self.stop.is_set():
            try:
                data, peer = self.inbox.recvfrom(65535)
            except OSError:
                continue
            if data.startswith(b"REGISTER"):
                self.outbox.sendto(_answer(data), peer)

    def __enter__(self):
        self.thread.start()
        return self

    def __exit__(self, *exc):
        self.stop.set()
        self.thread.join(timeout=2)
        self.inbox.close()
        self.outbox.close()


def _load(port: int, *extra: str) -> int:
    return conformance_main(["load", "--port", str(port), "--ues", "2", "--rate", "100", "--refreshes", "0",
                             "--timeout", "0.6", "-q", *extra])


def test_answers_from_another_port_are_not_heard_and_the_hint_names_the_option(capsys):
    with _SutAnsweringFromAnotherPort() as sut:
        assert _load(sut.port) == 1
    out = capsys.readouterr()
    assert "0 of 2 REGISTER transactions got a 2xx" in out.out
    assert "--udp-unconnected" in out.err


def test_with_udp_unconnected_the_same_answers_count(capsys):
    with _SutAnsweringFromAnotherPort() as sut:
        assert _load(sut.port, "--udp-unconnected") == 0
    out = capsys.readouterr()
    assert "2 of 2 REGISTER transactions got a 2xx" in out.out
    assert "--udp-unconnected" not in out.err
