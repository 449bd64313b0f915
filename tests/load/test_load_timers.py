"""Timer E and Timer F of the load generator's UDP transactions (RFC 3261 §17.1.2.2), against a
responder on 127.0.0.1 that loses datagrams on purpose; and the UDP pacing (a token bucket, on a fake clock)."""

from __future__ import annotations

import re
import socket
import struct
import threading
import time

from conformance.load.generator import PACE_HEADROOM, PACE_MIN_DEPTH, LoadGenerator, Pacer
from conformance.load.scenario import LoadScenario

_BRANCH = re.compile(rb"branch=([^;\r\n]+)")
# Linux's SO_TIMESTAMPNS (not in Python's socket module): the kernel stamps each datagram as it
# arrives, so an arrival's time does not wait for the responder thread to get the GIL from the
# generator (a 5 ms switch interval, more on a loaded machine: a T1 gap was once seen at 42.9 ms)
_SO_TIMESTAMPNS = 35


def _stamped(s: socket.socket):
    """recvfrom with the kernel's arrival time (CLOCK_REALTIME) where the platform gives it."""
    try:
        s.setsockopt(socket.SOL_SOCKET, _SO_TIMESTAMPNS, 1)
    except OSError:
        return lambda: (*s.recvfrom(65535), time.time())

    def recv():
        data, anc, _, peer = s.recvmsg(65535, 64)
        for level, kind, raw in anc:
            if level == socket.SOL_SOCKET and kind == _SO_TIMESTAMPNS and len(raw) >= 16:
                sec, nsec = struct.unpack("qq", raw[:16])
                return data, peer, sec + nsec / 1e9
        return data, peer, time.time()

    return recv


def _responder(answer):
    """A UDP responder on a free port: ``answer(branch, copy, data)`` returns the responses to
    send for the copy-th arrival (0, 1, ...) of a request; arrivals recorded with their time."""
    s = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
    s.bind(("127.0.0.1", 0))
    s.settimeout(0.1)
    seen: dict[bytes, list[float]] = {}
    stop = threading.Event()
    recv = _stamped(s)

    def loop():
        while not stop.is_set():
            try:
                data, peer, at = recv()
            except socket.timeout:
                continue
            branch = _BRANCH.search(data).group(1)
            arrivals = seen.setdefault(branch, [])
            arrivals.append(at)
            for status in answer(branch, len(arrivals) - 1, data):
                head = data.split(b"\r\n", 1)[1]
                s.sendto(f"SIP/2.0 {status} X\r\n".encode() + head, peer)

    t = threading.Thread(target=loop, daemon=True)
    t.start()
    return s.getsockname()[1], seen, lambda: (stop.set(), t.join(2), s.close())


def test_a_lost_request_is_retransmitted_at_t1_then_2t1_and_counted_once():
    # the first two copies of every request are lost, the third answered
    port, seen, close = _responder(lambda b, copy, d: [200] if copy == 2 else [])
    try:
        sc = LoadScenario(port=port, ues=5, rate=100.0, refreshes=0, t1=0.05, t2=4.0, timeout=3.0)
        s = LoadGenerator(sc).run().summary()
    finally:
        close()
    assert s["ok"] == 5 and s["failed"] == 0 and s["retransmissions"] == 10
    for arrivals in seen.values():
        assert len(arrivals) == 3
        first, second = arrivals[1] - arrivals[0], arrivals[2] - arrivals[1]
        assert 0.045 <= first < 0.2 and 0.095 <= second < 0.3, arrivals  # T1, then 2*T1


def test_a_provisional_response_moves_timer_e_to_t2_and_timer_f_ends_it():
    # 100 Trying to every copy, never a final response: retransmissions at T2 until Timer F
    port, seen, close = _responder(lambda b, copy, d: [100])
    try:
        sc = LoadScenario(port=port, ues=2, rate=100.0, refreshes=0, t1=0.05, t2=0.2, timeout=1.0)
        s = LoadGenerator(sc).run().summary()
    finally:
        close()
    assert s["ok"] == 0 and s["failed"] == 2 and set(s["failures"]) == {"timeout"}
    for arrivals in seen.values():
        gaps = [b - a for a, b in zip(arrivals, arrivals[1:])]
        assert gaps and all(0.18 <= g < 0.4 for g in gaps[1:]), gaps  # T2 once proceeding
        assert 3 <= len(arrivals) <= 7, arrivals  # Timer F at 1 s


def test_pacer_bounds_a_late_turn_to_its_depth():
    pacer = Pacer(16000, 64, now=0.0)
    assert pacer.depth == 48  # 3 ms of 16,000 datagrams/s
    pacer.spend(pacer.take(0.0))
    assert pacer.take(0.020) == 48  # 20 ms late: 640 due, no more than the depth leaves at once
    pacer.spend(48)
    assert pacer.take(0.020) == 0  # nothing left within the same instant
    assert Pacer(100, 64, now=0.0).depth == PACE_MIN_DEPTH
    assert Pacer(1e6, 64, now=0.0).depth == 64  # never beyond the transport's batch
    assert Pacer(0, 64, now=0.0).take(5.0) == 64  # no rate: the batch


def test_pacer_reaches_the_offered_rate_over_time():
    """1 ms turns for 2 s, each sending all it may, with the backlog of work always there: the
    datagrams sent reach the offered rate times the headroom (the bucket refills as it drains);
    with turns 3 ms apart (a slow loop) still at least the offered rate."""
    for turn, least in ((0.001, 16000 * PACE_HEADROOM * 0.97), (0.003, 16000 * 0.97)):
        pacer, sent, now = Pacer(16000, 64, now=0.0), 0, 0.0
        while now < 2.0:
            now += turn
            n = pacer.take(now)
            pacer.spend(n)
            sent += n
        assert least * 2.0 <= sent <= 16000 * PACE_HEADROOM * 2.0 + 64, (turn, sent)