"""Free ports the suite binds are never ones Wireshark dissects as another protocol by number."""

from __future__ import annotations

import socket

from conformance.sip.wireshark_ports import CLAIMED_PORTS, bind_free_port


class Kernel:
    """Hands out the given ports in turn, as bind(0) would."""

    def __init__(self, ports):
        self.ports, self.made = list(ports), []

    def make(self):
        kernel = self

        class Sock:
            def __init__(self):
                self.port, self.closed = None, False
                kernel.made.append(self)

            def bind(self, addr):
                self.port = kernel.ports.pop(0)

            def getsockname(self):
                return ("127.0.0.1", self.port)

            def close(self):
                self.closed = True

        return Sock()


def test_a_claimed_port_is_held_while_the_next_is_tried_then_released():
    k = Kernel([44818, 47808, 40000])
    sock = bind_free_port(k.make, "127.0.0.1")
    assert sock.getsockname()[1] == 40000 and not sock.closed
    assert [s.closed for s in k.made[:2]] == [True, True]


def test_a_real_bind_gives_an_unclaimed_port():
    s = bind_free_port(lambda: socket.socket(socket.AF_INET, socket.SOCK_DGRAM), "127.0.0.1")
    try:
        assert s.getsockname()[1] not in CLAIMED_PORTS
    finally:
        s.close()


def test_enip_is_claimed():
    assert 44818 in CLAIMED_PORTS  # EtherNet/IP: a ROB-003 pcap once opened as "ENIP [Malformed Packet]"


def test_a_given_port_is_bound_as_asked():
    k = Kernel([5060])
    assert bind_free_port(k.make, "127.0.0.1", 5060).getsockname()[1] == 5060 and len(k.made) == 1
