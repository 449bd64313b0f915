"""Non-INVITE client transaction timers (conformance/ue/transaction.py, RFC 3261 §17.1.2)."""

import pytest

from conformance.ue.transaction import RETRANSMIT, TIMEOUT, ClientTransaction


def tx(reliable=False, t1=0.5, t2=4.0, timeout=32.0, started=100.0):
    return ClientTransaction(reliable=reliable, t1=t1, t2=t2, timeout=timeout, started=started)


def drive(t, until):
    """Fire every deadline up to ``until``; return (time, event) pairs."""
    events = []
    while True:
        d = t.next_deadline()
        if d is None or d > until:
            return events
        events.append((d, t.on_timer(d)))


def gaps(times, start):
    out, prev = [], start
    for x in times:
        out.append(round(x - prev, 6))
        prev = x
    return out


def test_udp_timer_e_doubles_up_to_t2():
    t = tx(timeout=100.0)
    events = drive(t, 100.0 + 30.0)
    retrans = [when for when, ev in events if ev == RETRANSMIT]
    assert all(ev == RETRANSMIT for _, ev in events)
    assert gaps(retrans, 100.0)[:8] == [0.5, 1.0, 2.0, 4.0, 4.0, 4.0, 4.0, 4.0]
    assert t.retransmissions == len(retrans)
    assert t.state == "trying"


def test_timer_e_capped_by_small_t2():
    t = tx(t1=0.5, t2=1.0, timeout=100.0)
    retrans = [w for w, ev in drive(t, 105.0) if ev == RETRANSMIT]
    assert gaps(retrans, 100.0)[:5] == [0.5, 1.0, 1.0, 1.0, 1.0]


def test_timer_f_is_64_t1_when_timeout_larger():
    t = tx(t1=0.5, timeout=1000.0)
    events = drive(t, 200.0)
    assert events[-1] == (132.0, TIMEOUT)  # 100 + 64 * 0.5
    assert t.state == "terminated"
    assert t.next_deadline() is None
    assert t.on_timer(200.0) is None


def test_timer_f_bounded_by_timeout():
    t = tx(t1=0.5, timeout=5.0)
    events = drive(t, 200.0)
    assert events[-1] == (105.0, TIMEOUT)
    retrans = [w for w, ev in events if ev == RETRANSMIT]
    assert retrans == [100.5, 101.5, 103.5]  # the next one (107.5) is after Timer F
    assert t.retransmissions == 3


def test_timer_f_beats_a_simultaneous_timer_e():
    t = tx(t1=0.5, timeout=1.5)  # E due at 100.5, 101.5; F at 101.5
    assert drive(t, 110.0) == [(100.5, RETRANSMIT), (101.5, TIMEOUT)]


def test_on_timer_before_deadline_does_nothing():
    t = tx()
    assert t.next_deadline() == 100.5
    assert t.on_timer(100.2) is None
    assert t.retransmissions == 0
    assert t.next_deadline() == 100.5


def test_provisional_switches_timer_e_to_t2():
    t = tx(timeout=100.0)
    assert t.on_timer(100.5) == RETRANSMIT  # next at 101.5 (interval 1.0)
    assert t.on_response(100) is False
    assert t.state == "proceeding"
    assert t.next_deadline() == 101.5  # the running timer is not restarted
    assert t.on_timer(101.5) == RETRANSMIT
    assert t.next_deadline() == 105.5  # from here on T2
    assert t.on_timer(105.5) == RETRANSMIT
    assert t.next_deadline() == 109.5


def test_provisional_before_first_retransmission():
    t = tx(timeout=100.0)
    t.on_response(183)
    retrans = [w for w, ev in drive(t, 115.0) if ev == RETRANSMIT]
    assert gaps(retrans, 100.0) == [0.5, 4.0, 4.0, 4.0]


@pytest.mark.parametrize("status", [200, 202, 302, 439, 503, 699])
def test_final_response_stops_timers(status):
    t = tx()
    t.on_timer(100.5)
    assert t.on_response(status) is True
    assert t.state == "completed"
    assert t.next_deadline() is None
    assert t.on_timer(1000.0) is None
    assert t.retransmissions == 1
    # responses after completion are absorbed
    assert t.on_response(200) is False
    assert t.on_response(100) is False
    assert t.state == "completed"


def test_final_after_provisional():
    t = tx()
    assert t.on_response(100) is False
    assert t.on_response(200) is True
    assert t.next_deadline() is None


def test_timeout_state_ignores_late_response():
    t = tx(timeout=1.0)
    drive(t, 200.0)
    assert t.state == "terminated"
    assert t.on_response(200) is False
    assert t.state == "terminated"


def test_tcp_never_retransmits():
    t = tx(reliable=True, timeout=10.0)
    assert t.next_deadline() == 110.0
    assert t.on_timer(100.5) is None
    assert t.on_timer(104.0) is None
    assert t.retransmissions == 0
    assert drive(t, 200.0) == [(110.0, TIMEOUT)]
    assert t.retransmissions == 0


def test_tcp_provisional_keeps_only_timer_f():
    t = tx(reliable=True, timeout=10.0)
    t.on_response(100)
    assert t.state == "proceeding"
    assert t.next_deadline() == 110.0
    assert drive(t, 200.0) == [(110.0, TIMEOUT)]


def test_tcp_timer_f_64_t1():
    t = tx(reliable=True, t1=0.1, timeout=60.0)
    assert t.next_deadline() == pytest.approx(100.0 + 6.4)
