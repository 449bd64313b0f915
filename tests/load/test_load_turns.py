"""--turn-ms: over UDP the requests due within a turn leave together, in clumps a turn apart."""

import socket
import threading
import time

from conformance.load.cli import build_parser, scenario_from_args
from conformance.load.generator import LoadGenerator
from conformance.load.scenario import LoadScenario


class _Answering:
    """A UDP registrar stub: a 200 for every request (its Via kept), arrival times recorded."""

    def __init__(self):
        self.sock = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
        self.sock.bind(("127.0.0.1", 0))
        self.sock.settimeout(0.2)
        self.port = self.sock.getsockname()[1]
        self.arrivals: list[float] = []
        self.stop = False
        self.thread = threading.Thread(target=self._serve, daemon=True)

    def _serve(self):
        while not self.stop:
            try:
                data, peer = self.sock.recvfrom(65535)
            except socket.timeout:
                continue
            self.arrivals.append(time.monotonic())
            self.sock.sendto(b"SIP/2.0 200 OK" + data[data.index(b"\r\n"):], peer)

    def __enter__(self):
        self.thread.start()
        return self

    def __exit__(self, *exc):
        self.stop = True
        self.thread.join(2)
        self.sock.close()


def _bursts(times: list[float], gap: float = 0.002) -> int:
    return 1 + sum(1 for a, b in zip(times, times[1:]) if b - a > gap)


def test_the_flag_reaches_the_scenario():
    assert scenario_from_args(build_parser().parse_args(["--turn-ms", "4"])).turn_ms == 4.0
    assert scenario_from_args(build_parser().parse_args([])).turn_ms is None


def test_the_default_turn_is_two_ms_over_udp_and_one_over_streams_at_high_rates():
    for transport, ms in (("udp", 2.0), ("tcp", 1.0), ("tls", 1.0)):
        gen = LoadGenerator(LoadScenario(transport=transport, rate=12_000))
        assert gen.sc.turn_ms == ms, transport
        gen.close()
    gen = LoadGenerator(LoadScenario(transport="udp", turn_ms=1.0))
    assert gen.sc.turn_ms == 1.0
    gen.close()


def test_the_default_turn_over_the_streams_lengthens_at_lower_rates_up_to_twice():
    """Over the streams a default turn carries about 24 requests (the offered rate counts the
    refreshes overlapping the ramp and the Reg2 flows); over UDP it stays 2 ms at any rate."""
    turn = lambda **kw: LoadScenario(**kw).default_turn_ms()  # noqa: E731
    assert turn(transport="tcp", rate=12_000) == 1.0  # 24,000 REGISTERs/s: 24 in 1 ms
    assert turn(transport="tcp", rate=8_000) == 1.5
    assert turn(transport="tcp", rate=6_000) == turn(transport="wss", rate=500) == turn(transport="tls", rate=0) == 2.0
    assert turn(transport="tcp", rate=8_000, refreshes=0) == 2.0  # 8,000/s: 24 in 3 ms, capped
    assert turn(transport="tcp", rate=8_000, reg2_share=0.5) == 1.0  # 24,000/s
    assert turn(transport="tcp", rate=30_000) == 1.0
    assert turn(transport="udp", rate=500) == turn(transport="udp", rate=6_000) == turn(transport="udp", rate=30_000) == 2.0
    gen = LoadGenerator(LoadScenario(transport="tcp", rate=6_000))
    assert gen.sc.turn_ms == 2.0  # what the generator fills in, and the result document shows
    gen.close()


def test_long_turns_send_in_clumps_a_turn_apart():
    with _Answering() as sut:
        sc = LoadScenario(port=sut.port, ues=200, rate=400, refreshes=0, ue_addresses=["127.0.0.1"],
                          turn_ms=50, timeout=4)
        st = LoadGenerator(sc).run()
    assert st.ok == 200 and st.failed == 0
    # 0.5 s of ramp in 50 ms turns: about 10 clumps (a 1 ms turn would send 200, 2.5 ms apart)
    assert _bursts(sorted(sut.arrivals)) <= 20
