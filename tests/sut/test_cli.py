"""``conformance sut`` / ``python -m conformance.sut``."""

from __future__ import annotations

import os
import re
import signal
import socket
import subprocess
import sys
from pathlib import Path

import pytest

from conformance.sip.message import parse_message
from conformance.sut.cli import build_parser, main, parse_listen
from test_server import options

ROOT = Path(__file__).resolve().parents[2]


def test_parse_listen():
    assert parse_listen("127.0.0.1:5060") == ("127.0.0.1", 5060)
    assert parse_listen("[::1]:0") == ("::1", 0)
    for bad in ("127.0.0.1", "localhost:5060", "127.0.0.1:x", "127.0.0.1:70000", "[::1]5060"):
        with pytest.raises(ValueError):
            parse_listen(bad)


@pytest.mark.parametrize("argv", [["--listen", "10.1.2.3:5060"], ["--listen", "0.0.0.0:5060"],
                                  ["--fault", "nope", "--listen", "127.0.0.1:0"],
                                  ["--listen", "nonsense"]])
def test_refusals(argv, capsys):
    assert main(argv) == 2
    assert "conformance sut" in capsys.readouterr().err


def test_runs_until_sigterm():
    env = dict(os.environ, PYTHONPATH=str(ROOT))
    proc = subprocess.Popen(
        [sys.executable, "-m", "conformance.sut", "--mode", "rel7", "--listen", "127.0.0.1:0",
         "--fault", "list-only-newest"], stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
        env=env, cwd=ROOT)
    try:
        line = proc.stdout.readline()
        m = re.search(r"listening on udp\+tcp 127\.0\.0\.1:(\d+)", line)
        assert m, line + proc.stderr.read() if proc.poll() is not None else line
        assert "rel7" in line and "list-only-newest" in line
        port = int(m.group(1))
        with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as c:
            c.settimeout(3)
            c.bind(("127.0.0.1", 0))
            c.sendto(options(c.getsockname()[1], "cli"), ("127.0.0.1", port))
            assert parse_message(c.recvfrom(65536)[0]).status == 200
        proc.send_signal(signal.SIGTERM)
        assert proc.wait(timeout=5) == 0
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait()
        proc.stdout.close()
        proc.stderr.close()


def test_core_topology_prints_both_addresses():
    env = dict(os.environ, PYTHONPATH=str(ROOT))
    proc = subprocess.Popen(
        [sys.executable, "-m", "conformance.sut", "--topology", "core", "--listen", "127.0.0.1:0",
         "--flow-token-key", "k"], stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
        env=env, cwd=ROOT)
    try:
        proc.stdout.readline()
        line = proc.stdout.readline()
        m = re.search(r"edge .* 127\.0\.0\.1:(\d+); S-CSCF .* 127\.0\.0\.1:(\d+)", line)
        assert m, line
        for port in m.groups():
            with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as c:
                c.settimeout(3)
                c.bind(("127.0.0.1", 0))
                c.sendto(options(c.getsockname()[1], "cli-" + port), ("127.0.0.1", int(port)))
                assert parse_message(c.recvfrom(65536)[0]).status == 200
        proc.send_signal(signal.SIGTERM)
        assert proc.wait(timeout=5) == 0
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait()
        proc.stdout.close()
        proc.stderr.close()


@pytest.mark.parametrize("argv", [["--topology", "edge", "--listen", "127.0.0.1:0"],
                                  ["--topology", "mesh", "--listen", "127.0.0.1:0"]])
def test_topology_refusals(argv, capsys):
    with pytest.raises(SystemExit) if "mesh" in argv else _nullcontext():
        assert main(argv) == 2


class _nullcontext:
    def __enter__(self):
        return self

    def __exit__(self, *exc):
        return False


def test_reg_event_and_gruu_switches():
    args = build_parser().parse_args(["--no-reg-event", "--gruu"])
    assert (args.reg_event, args.gruu) == (False, True)
    args = build_parser().parse_args([])
    assert (args.reg_event, args.gruu) == (None, None)        # the mode's defaults
