"""The ``packet:`` step kind: names resolved to addresses, the refusal to spoof outside the
suite's namespaces, and the live handler against a fake run (no socket: the raw socket is a fake
that keeps what Scapy would have sent)."""

from __future__ import annotations

from types import SimpleNamespace

import pytest
from scapy.layers.inet import IP, UDP, defragment

from conformance.cases.model import FlowSpec
from conformance.engine.registration import RegistrationState
from conformance.engine.transport import TransportError
from conformance.meaning.verdict import INCONCLUSIVE
from conformance.meaning.results import StepResult
from conformance.sip.errors import LocalProtocolError
from conformance.sip.message import parse_message
from conformance.steps import KINDS
from conformance.engine.packet_build import Datagram
from conformance.steps import packet as packet_step
from conformance.steps.packet import CraftedEndpoint, addressing, spoof_refusal, template_fields
from conformance.ue.model import UE, FlowState

FLOWS = {"f1": ("198.18.1.2", 5062), "fb": ("198.18.3.2", 5064)}
SUT = ("198.18.2.2", 5060)


def test_the_kind_is_registered_with_its_schema():
    kind = KINDS["packet"]
    assert kind.needs_flow and kind.offline is None and kind.offline_reason
    assert kind.schema["required"] == ["flow", "sip"]
    assert set(kind.schema["properties"]) == {"flow", "ip", "udp", "esp", "sip", "timeout"}


def test_defaults_are_the_flows_own_address_and_the_sut():
    a = addressing({}, "f1", FLOWS, SUT)
    assert (a.src, a.sport, a.dst, a.dport, a.answer_flow, a.spoofed) == ("198.18.1.2", 5062, *SUT, "f1", False)


def test_another_flows_source_is_spoofed_and_answered_there():
    a = addressing({"ip": {"src": "fb"}}, "f1", FLOWS, SUT)
    assert (a.src, a.sport, a.answer_flow, a.spoofed) == ("198.18.3.2", 5064, "fb", True)
    # the address of fb with f1's port is no flow: nothing of the tester's gets the answer
    b = addressing({"ip": {"src": "fb"}, "udp": {"sport": "f1", "dport": 5070}}, "f1", FLOWS, SUT)
    assert (b.src, b.sport, b.dport, b.answer_flow, b.spoofed) == ("198.18.3.2", 5062, 5070, None, True)
    c = addressing({"ip": {"src": "198.18.1.9"}, "udp": {"sport": 40000}}, "f1", FLOWS, SUT)
    assert (c.src, c.sport, c.answer_flow) == ("198.18.1.9", 40000, None)


def test_a_flow_without_a_socket_is_an_error():
    with pytest.raises(LocalProtocolError, match="flow fz has no socket"):
        addressing({"ip": {"src": "fz"}}, "f1", FLOWS, SUT)


def test_the_source_has_the_suts_ip_version():
    with pytest.raises(LocalProtocolError, match="different IP versions"):
        addressing({"ip": {"src": "2001:db8:1::9"}, "udp": {"sport": 1}}, "f1", FLOWS, SUT)


def test_a_tcp_flow_is_refused():
    run = FakeRun()
    run.flow("f1")[1].transport = "tcp"
    with pytest.raises(LocalProtocolError, match="crafts UDP datagrams"):
        packet_step.live(run, step(sip={"template": "register"}), StepResult(name="p", action="packet", flow="f1"))


def test_spoofing_only_inside_the_namespaces_and_their_ranges():
    own = addressing({}, "f1", FLOWS, SUT)
    assert spoof_refusal(own, "198.18.1.2", has_topology=False) is None
    spoofed = addressing({"ip": {"src": "fb"}}, "f1", FLOWS, SUT)
    assert "never on the host's loopback" in spoof_refusal(spoofed, "198.18.1.2", has_topology=False)
    assert spoof_refusal(spoofed, "198.18.1.2", has_topology=True) is None
    outside = addressing({"ip": {"src": "10.0.0.1"}, "udp": {"sport": 1}}, "f1", FLOWS, SUT)
    assert "outside the topology" in spoof_refusal(outside, "198.18.1.2", has_topology=True)


# -- the live handler against a fake run ----------------------------------------------------
class FakeRaw:
    def __init__(self):
        self.sent, self.closed = [], False

    def send(self, pkt):
        self.sent.append(bytes(pkt))
        return len(self.sent[-1])

    def close(self):
        self.closed = True


class FakeRun:
    """The run API names the handler uses; send_and_judge/exchange send through the endpoint
    they are given, as the engine's do."""

    def __init__(self, *, topology=None, addresses=("127.0.0.11", "127.0.0.12"), sut=("127.0.0.1", 5060)):
        a = UE("a", "ue-a", "sip:ue-a@ims.test", "ue-a@ims.test", "ims.test", "<urn:uuid:1>")
        b = UE("b", "ue-b", "sip:ue-b@ims.test", "ue-b@ims.test", "ims.test", "<urn:uuid:2>")
        a.flows["f1"] = FlowState(FlowSpec(name="f1", address=1, reg_id=1), addresses[0], "udp", local_port=5062)
        b.flows["fb"] = FlowState(FlowSpec(name="fb", address=2, reg_id=1), addresses[1], "udp", local_port=5064)
        self.ues = {"a": a, "b": b}
        self.topology, self.peer, self.sut = topology, ("127.0.0.30", 5090), sut
        self.messages, self.deliveries, self.forwarded, self.pcap_packets = [], [], [], []
        self.pcap = SimpleNamespace(raw_ip=lambda when, data: self.pcap_packets.append(data))
        self.registration = RegistrationState()
        self.endpoints = {"peer": SimpleNamespace(closed=False, local=self.peer)}   # engine/peer.py
        self.calls = []

    def flow(self, name):
        return next((u, u.flows[name]) for u in self.ues.values() if name in u.flows)

    def endpoint(self, flow, *, new_connection=False):
        return SimpleNamespace(closed=False, local=(flow.local_ip, flow.local_port))

    def sut_for(self, ip):
        return self.sut

    def state(self, cls):
        assert cls is RegistrationState
        return self.registration

    def wall(self):
        return 1.0

    def record(self, direction, flow, transport, src, dst, data, summary, note=""):
        self.messages.append(SimpleNamespace(direction=direction, flow=flow, src=src, data=data, note=note))
        return len(self.messages) - 1

    def send_and_judge(self, step, result, ue, flow_name, ep, request):
        self.calls.append(("send_and_judge", flow_name, ep))
        ep.send(request.to_bytes(), self.sut)
        result.request_index = self.record("sent", flow_name, "udp", ep.local, self.sut, request.to_bytes(),
                                           request.summary())

    def exchange(self, flow_name, ep, request, timeout=None, dst=None):
        self.calls.append(("exchange", flow_name, ep))
        ep.send(request.to_bytes(), dst)
        return None, self.record("sent", flow_name, "udp", ep.local, dst, request.to_bytes(), "x"), None, "timeout"

    def take_exchange_findings(self):
        return []

    def wait(self, seconds, until=None):
        pass

    def context(self, ue, request, response, why):
        return SimpleNamespace(request=request, response=response)

    def judge(self, step, result, ctx, response_index):
        self.calls.append(("judge", ctx))


def step(**options):
    flow = options.pop("flow", "f1")
    return SimpleNamespace(name="packet f1", flow=flow, options=options, action="packet")


@pytest.fixture
def raw(monkeypatch):
    fake = FakeRaw()
    monkeypatch.setattr(packet_step, "raw_socket", lambda run, flow, ipv6: fake)
    return fake


def test_a_fragmented_register_goes_through_send_and_judge_and_into_the_pcap(raw):
    run, result = FakeRun(), StepResult(name="packet f1", action="packet", flow="f1")
    packet_step.live(run, step(ip={"fragment": 600}, sip={"template": "register", "pad": 1500}), result)
    kind, flow_name, ep = run.calls[0]
    assert (kind, flow_name, type(ep)) == ("send_and_judge", "f1", CraftedEndpoint)
    assert len(raw.sent) == 3 and raw.sent == run.pcap_packets and raw.closed
    whole = IP(bytes(defragment([IP(p) for p in raw.sent])[0]))
    assert (whole[IP].src, whole[UDP].sport, whole[IP].dst, whole[UDP].dport) == ("127.0.0.11", 5062, "127.0.0.1", 5060)
    message = parse_message(bytes(whole[UDP].payload))
    assert message.method == "REGISTER" and len(bytes(whole[UDP].payload)) == 1500
    assert run.messages[result.request_index].note == "3 IP fragments of at most 600 octets"


def test_a_retransmission_repeats_the_crafted_packets(raw):
    run = FakeRun()
    ep = CraftedEndpoint(run, Datagram("127.0.0.11", "127.0.0.1", 5062, 5060, b"", fragment=600), raw)
    data = b"OPTIONS sip:x SIP/2.0\r\n" + b"X: " + b"a" * 1000 + b"\r\nContent-Length: 0\r\n\r\n"
    ep.send(data, ("127.0.0.1", 5060))
    ep.send(data, ("127.0.0.1", 5060))
    assert ep.sent == [2, 2] and len(raw.sent) == 4 and len(run.pcap_packets) == 4


def test_a_refused_raw_send_is_a_transport_error():
    class Refusing(FakeRaw):
        def send(self, pkt):
            return 0

    ep = CraftedEndpoint(FakeRun(), Datagram("127.0.0.11", "127.0.0.1", 5062, 5060, b""), Refusing())
    with pytest.raises(TransportError, match="raw IP send"):
        ep.send(b"OPTIONS sip:x SIP/2.0\r\nContent-Length: 0\r\n\r\n", ("127.0.0.1", 5060))


def test_a_spoofed_source_on_loopback_is_inconclusive_and_sends_nothing(raw):
    run, result = FakeRun(), StepResult(name="packet f1", action="packet", flow="f1")
    packet_step.live(run, step(ip={"src": "fb"}, sip={"template": "register"}), result)
    assert raw.sent == [] and run.calls == []
    assert [f.outcome for f in result.findings] == [INCONCLUSIVE]
    assert "never on the host's loopback" in result.note


def test_without_root_the_step_is_inconclusive_with_the_reason(monkeypatch):
    def refuse(run, flow, ipv6):
        raise PermissionError(1, "Operation not permitted")

    monkeypatch.setattr(packet_step, "raw_socket", refuse)
    run, result = FakeRun(), StepResult(name="packet f1", action="packet", flow="f1")
    packet_step.live(run, step(sip={"template": "register"}), result)
    assert [f.outcome for f in result.findings] == [INCONCLUSIVE] and "needs root" in result.note


def test_a_spoofed_request_in_the_namespaces_is_answered_on_the_claimed_flow(raw):
    run = FakeRun(topology=SimpleNamespace(), addresses=("198.18.1.2", "198.18.3.2"), sut=("198.18.2.2", 5060))
    run.registration.last_path["f1"] = "sip:TOKEN1@198.18.2.2:5060;lr;ob"
    result = StepResult(name="packet fb", action="packet", flow="fb")
    template = ("MESSAGE {aor_b} SIP/2.0\nVia: SIP/2.0/UDP {via};branch={branch};rport\nRoute: <{path_f1}>\n"
                "From: <{aor_a}>;tag={tag}\nTo: <{aor_b}>\nCall-ID: {new_call_id}\nCSeq: 1 MESSAGE\n"
                "Content-Length: 0\n")
    packet_step.live(run, step(flow="fb", ip={"src": "f1"}, udp={"sport": "f1"}, sip={"template": template}), result)
    (kind, flow_name, ep), (_, ctx) = run.calls
    assert (kind, flow_name, ep.local) == ("exchange", "f1", ("198.18.1.2", 5062))
    [pkt] = [IP(p) for p in raw.sent]
    assert (pkt[IP].src, pkt[UDP].sport, pkt[IP].dst) == ("198.18.1.2", 5062, "198.18.2.2")
    sent = parse_message(bytes(pkt[UDP].payload))
    assert sent.values("Route") == ["<sip:TOKEN1@198.18.2.2:5060;lr;ob>"] and "ue-a" in sent.get("From")
    assert "198.18.3.2:5064" in sent.get("Via")   # UE-B wrote it
    assert ctx.dialog["sender"] == "f1" and ctx.dialog["token_flow"] == "f1"
    assert "source spoofed as f1" in run.messages[result.request_index].note


def test_template_fields_name_flows_and_ues():
    run = FakeRun()
    ue, flow = run.flow("f1")
    flow.dialog = SimpleNamespace(call_id="c@x", cseq=4, from_tag="t")
    fields = template_fields(ue, flow, run.ues, {"f1": "sip:tok@sut;lr"}, ("2001:db8:2::2", 5060))
    assert fields["path_f1"] == "sip:tok@sut;lr" and fields["aor_b"] == "sip:ue-b@ims.test"
    assert fields["contact_fb"].startswith("sip:ue-b@127.0.0.12:5064")
    assert (fields["sut"], fields["cseq"], fields["call_id"]) == ("[2001:db8:2::2]:5060", 4, "c@x")


def test_a_source_that_is_no_flow_is_sent_recorded_and_judged_without_an_answer(raw):
    run = FakeRun(topology=SimpleNamespace(), addresses=("198.18.1.2", "198.18.3.2"), sut=("198.18.2.2", 5060))
    result = StepResult(name="packet f1", action="packet", flow="f1")
    packet_step.live(run, step(ip={"src": "198.18.1.9"}, udp={"sport": 40000}, sip={"template": "register"}), result)
    [pkt] = [IP(p) for p in raw.sent]
    assert (pkt[IP].src, pkt[UDP].sport) == ("198.18.1.9", 40000)
    [(kind, ctx)] = run.calls
    assert kind == "judge" and ctx.response is None and ctx.dialog["sender"] == "f1"
    record = run.messages[result.request_index]
    assert (record.flow, record.src) == ("f1", ("198.18.1.9", 40000))
    assert "source spoofed as 198.18.1.9" in record.note and "no flow of the tester" in result.note
