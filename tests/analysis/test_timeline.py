"""The registration model: Reg1a, Reg2, Reg1b, refresh and de-registration from crafted exchanges."""

from analysis_craft import INSTANCE, REGISTRAR, UE1, UE2, UE3, contact, message_to, ok, register

from conformance.analysis.reassembly import WireEvent
from conformance.analysis.timeline import Delivery, RegisterOutcome, Timeline
from conformance.sip.message import parse_message


class Feeder:
    def __init__(self):
        self.t = Timeline()
        self.n = 0
        self.out = []

    def send(self, src, dst, data, when=None):
        self.n += 1
        ev = WireEvent(self.n, when if when is not None else 1000.0 + self.n, "udp", src, dst, "sip", data,
                       parse_message(data), first=self.n)
        self.out += self.t.feed(ev)
        return self.out[-1] if self.out else None

    def exchange(self, src, req, contacts, when=None, **kw):
        self.send(src, REGISTRAR, req, when)
        return self.send(REGISTRAR, src, ok(req, contacts, **kw), when)


def _changes(out: RegisterOutcome):
    return sorted((c.kind, c.binding.reg_id, c.binding.uri.split("@")[1]) for c in out.changes)


def test_reg1a_reg2_reg1b_refresh_deregister():
    f = Feeder()
    c1, c2, c3 = contact(UE1, 1), contact(UE2, 2), contact(UE3, 1)
    out = f.exchange(UE1, register(UE1, call_id="a", branch="z9hG4bK1"), [c1])
    assert _changes(out) == [("created", "1", "10.0.0.1:40001")]
    out = f.exchange(UE2, register(UE2, call_id="b", branch="z9hG4bK2", reg_id=2), [c1, c2])
    assert _changes(out) == [("created", "2", "10.0.0.2:40002")]
    out = f.exchange(UE3, register(UE3, call_id="c", branch="z9hG4bK3", reg_id=1), [c3, c2])  # Reg1b
    assert _changes(out) == [("created", "1", "10.0.0.3:40003"), ("replaced", "1", "10.0.0.1:40001")]
    out = f.exchange(UE2, register(UE2, call_id="b", cseq=2, branch="z9hG4bK4", reg_id=2), [c3, c2])
    assert _changes(out) == [("refreshed", "2", "10.0.0.2:40002")]
    out = f.exchange(UE2, register(UE2, call_id="b", cseq=3, branch="z9hG4bK5", reg_id=2, expires=0), [c3])
    assert _changes(out) == [("removed", "2", "10.0.0.2:40002")]
    active = f.t.bindings("sip:ue@ims.test")
    assert [(b.reg_id, b.instance, b.flow[1]) for b in active] == [("1", INSTANCE, UE3)]
    out = f.exchange(UE3, register(UE3, call_id="c", cseq=2, branch="z9hG4bK6",
                                   contacts=["*"]), [])
    assert _changes(out) == [("removed", "1", "10.0.0.3:40003")]
    assert f.t.bindings("sip:ue@ims.test") == []


def test_expiry_and_legacy_overwrite():
    f = Feeder()
    f.exchange(UE1, register(UE1, call_id="a", expires=10), [contact(UE1, 1, 10)], when=0.0)
    out = f.exchange(UE2, register(UE2, call_id="b", reg_id=2), [contact(UE2, 2)], when=100.0)
    assert ("expired", "1", "10.0.0.1:40001") in _changes(out)
    # A Rel-7 registrar overwrites the instance's binding: the old one is "overwritten".
    out = f.exchange(UE3, register(UE3, call_id="c", reg_id=3), [contact(UE3, 3)], when=101.0, require=None)
    assert ("overwritten", "2", "10.0.0.2:40002") in _changes(out)


def test_terminating_requests_and_their_flow():
    f = Feeder()
    f.exchange(UE1, register(UE1, call_id="a"), [contact(UE1, 1)])
    f.exchange(UE3, register(UE3, call_id="c"), [contact(UE3, 1)])  # Reg1b: UE1's flow replaced
    f.send(REGISTRAR, UE3, message_to(UE3, f"sip:ue@{UE3[0]}:{UE3[1]}", "m1"))
    f.send(REGISTRAR, UE1, message_to(UE1, f"sip:ue@{UE1[0]}:{UE1[1]}", "m2"))
    d = [o for o in f.out if isinstance(o, Delivery)]
    assert [(x.binding.state, x.on_flow, x.by_uri) for x in d] == [("active", True, True), ("replaced", True, True)]


def test_non_2xx_changes_nothing_and_retransmission_is_one_exchange():
    f = Feeder()
    req = register(UE1, call_id="a")
    f.send(UE1, REGISTRAR, req)
    f.send(UE1, REGISTRAR, req)  # retransmission
    out = f.send(REGISTRAR, UE1, ok(req, [], status="439 First Hop Lacks Outbound Support", require=None))
    assert isinstance(out, RegisterOutcome) and out.listed is None and out.exchange.retransmissions == 1
    assert f.t.bindings("sip:ue@ims.test") == []
