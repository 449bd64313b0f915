"""Batched UDP system calls (sendmmsg / recvmmsg through ctypes, Linux): the datagrams leave and
arrive whole and in order, a full batch is split over calls, errors come back as errno values;
and the generator gives the same result with and without them."""

from __future__ import annotations

import errno
import socket
import threading

import pytest

from conformance.load import mmsg
from conformance.load.generator import LoadGenerator
from conformance.load.scenario import LoadScenario

pytestmark = pytest.mark.skipif(mmsg._CALLS is None, reason="no sendmmsg / recvmmsg here")


def _pair():
    a, b = socket.socket(socket.AF_INET, socket.SOCK_DGRAM), socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
    for s in (a, b):
        s.bind(("127.0.0.1", 0))
        s.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 1 << 20)
    a.connect(b.getsockname())
    b.connect(a.getsockname())
    a.setblocking(False)
    b.setblocking(False)
    return a, b


def test_datagrams_of_several_lengths_arrive_whole_and_in_order_both_ways():
    a, b = _pair()
    try:
        ma, mb = mmsg.batch_for(a), mmsg.batch_for(b)
        datas = [b"REGISTER %d " % i + b"x" * (i * 37 % 1500) for i in range(200)]
        assert ma.send(datas) == (200, 0)
        got = []
        while True:
            more, err = mb.recv()
            if err:
                assert err == errno.EAGAIN
                break
            assert len(more) <= mmsg.RECV_SLOTS
            got += more
        assert got == datas
        big = [b"y" * 30000, b"z" * 3]  # larger than the send buffer it starts with
        assert mb.send(big) == (2, 0)
        assert [a.recv(65535) for _ in big] == big
    finally:
        a.close(), b.close()


def test_a_batch_beyond_the_slots_is_sent_from_where_the_last_call_stopped():
    a, b = _pair()
    try:
        ma = mmsg.batch_for(a)
        datas = [b"%d" % i for i in range(mmsg.SEND_SLOTS + 5)]
        assert ma.send(datas) == (mmsg.SEND_SLOTS, 0)
        assert ma.send(datas, mmsg.SEND_SLOTS) == (5, 0)
        assert [b.recv(100) for _ in datas] == datas
    finally:
        a.close(), b.close()


def test_nothing_waiting_and_an_icmp_error_come_back_as_errno():
    a, b = _pair()
    port = b.getsockname()[1]
    b.close()  # nobody there: the first datagram draws ICMP port unreachable
    try:
        ma = mmsg.batch_for(a)
        assert ma.recv() == ([], errno.EAGAIN)
        assert ma.send([b"one"]) == (1, 0)
        codes = set()
        for _ in range(50):
            codes.add(ma.send([b"two"])[1])
            if errno.ECONNREFUSED in codes:
                break
        assert errno.ECONNREFUSED in codes, (port, codes)
    finally:
        a.close()


def _run(port: int, batch: bool) -> dict:
    sc = LoadScenario(port=port, ues=300, rate=3000.0, refreshes=1, refresh_interval=0.05, udp_batch=batch)
    gen = LoadGenerator(sc)
    s = gen.run().summary()
    return {"batched": bool(gen.udp_batch), "ok": s["ok"], "failed": s["failed"]}


def test_the_generator_gets_every_answer_with_and_without_batching():
    srv = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
    srv.bind(("127.0.0.1", 0))
    srv.settimeout(0.05)
    stop = threading.Event()

    def serve():
        while not stop.is_set():
            try:
                data, peer = srv.recvfrom(65535)
            except OSError:
                continue
            via = next(h for h in data.split(b"\r\n") if h.startswith(b"Via:"))
            srv.sendto(b"SIP/2.0 200 OK\r\n" + via + b"\r\nContent-Length: 0\r\n\r\n", peer)

    t = threading.Thread(target=serve, daemon=True)
    t.start()
    try:
        port = srv.getsockname()[1]
        assert _run(port, True) == {"batched": True, "ok": 600, "failed": 0}
        assert _run(port, False) == {"batched": False, "ok": 600, "failed": 0}
    finally:
        stop.set(), t.join(2), srv.close()
