"""The subscribe and notify step kinds (steps/subscribe.py) on a scripted run, no socket: the
SUBSCRIBE's answer and its NOTIFY judged together, a NOTIFY that came during another step judged
by the next notify step, and a notify step that hears nothing waits its bound and says so."""

from __future__ import annotations

from dataclasses import dataclass, field
from types import SimpleNamespace

from conformance.cases.loader import load_case_text
from conformance.engine.api import RunStates
from conformance.meaning.checks import CheckContext
from conformance.meaning.judging import StepJudge
from conformance.meaning.results import StepResult
from conformance.sip.message import Request, Response
from conformance.sip.reginfo import Contact, RegInfo, Registration, render_reginfo
from conformance.steps import KINDS
from conformance.ue.model import UE, FlowState

CASE = """\
id: RE-STEP
title: steps
purpose: subscribe, then NOTIFYs after a change.
ues:
  a:
    flows:
      f1: {address: 1, reg_id: 1, edge: {}}
      f2: {address: 2, reg_id: 2, edge: {}}
steps:
  - subscribe: f1
    expect:
      status: 2xx
      status_ref: "RFC 3680 §4.6"
      status_level: SHOULD
      checks:
        - notify: {sent: true}
        - reginfo: {flows: [f1], count: 1}
  - notify: {subscription: reg, timeout: 2}
    expect:
      checks:
        - notify: {sent: true}
          level: SHOULD
          ref: "RFC 6665 §4.2.2"
        - reginfo: {flows: [f1, f2], count: 2}
          level: SHOULD
          ref: "RFC 6665 §4.2.2; RFC 3680 §4.7.2"
"""
AOR = "sip:alice@ims.test"
INSTANCE = "<urn:uuid:00000000-0000-0000-0000-0000000000aa>"


@dataclass
class ScriptedRun(RunStates):
    """Just the run API the two kinds use; the SUT is a script."""

    case: object
    ues: dict = field(default_factory=dict)
    deliveries: list = field(default_factory=list)
    messages: list = field(default_factory=list)
    clock: float = 0.0
    waits: list = field(default_factory=list)
    sent: list = field(default_factory=list)
    on_exchange: object = None      # request -> deliveries arriving meanwhile

    def __post_init__(self):
        RunStates.__init__(self)
        self.target = SimpleNamespace(timers=SimpleNamespace(response=2.0), capabilities=["reg-event"])

    def flow(self, name):
        for ue in self.ues.values():
            if name in ue.flows:
                return ue, ue.flows[name]
        raise KeyError(name)

    def endpoint(self, flow, *, new_connection=False):
        return object()

    def now(self):
        return self.clock

    def wait(self, seconds, until=None):
        self.waits.append(seconds)
        if until is None or not until():
            self.clock += seconds

    def exchange(self, flow_name, ep, request, timeout=None, dst=None):
        self.sent.append(request)
        self.messages.append(SimpleNamespace(note=""))
        idx = len(self.messages) - 1
        for req in (self.on_exchange(request) if self.on_exchange else []):
            self.deliver(flow_name, req)
        to = f"{request.get('To')};tag=nt"
        response = Response(status=200, reason="OK", headers=[
            ("From", request.get("From")), ("To", to), ("Call-ID", request.call_id), ("CSeq", request.get("CSeq")),
            ("Expires", request.get("Expires")), ("Contact", "<sip:127.0.0.1:5060>")])
        self.messages.append(SimpleNamespace(note=""))
        return response, idx, len(self.messages) - 1, ""

    def deliver(self, flow_name, request):
        self.messages.append(SimpleNamespace(note=""))
        self.deliveries.append((flow_name, request, len(self.messages) - 1))

    def context(self, ue, request, response, why, ue_override=None):
        flows = {f.name: u.contact_uri(f) for u in self.ues.values() for f in u.flows.values()}
        return CheckContext(request=request, response=response, instance=ue.instance, flow_contacts=flows,
                            flow_reg_ids={"f1": 1, "f2": 2}, no_response_reason=why or "no final response")

    def judge(self, step, result, ctx, idx):
        StepJudge(self.case, False, lambda n: INSTANCE, {"reg-event"}).judge(step, result, ctx, idx)


def make_run():
    [case] = load_case_text(CASE)
    ue = UE(name="a", user="alice", impu=AOR, impi="alice@ims.test", domain="ims.test", instance=INSTANCE)
    for i, spec in enumerate(case.ues["a"].flows.values()):
        ue.flows[spec.name] = FlowState(spec=spec, local_ip=f"127.0.0.1{i + 1}", transport="udp",
                                        local_port=5070 + i, edge=spec.edge)
    return ScriptedRun(case=case, ues={"a": ue}), case, ue


def notify_for(subscribe: Request, cseq: int, version: int, state: str, contacts) -> Request:
    body = render_reginfo(RegInfo(version, state, (Registration(AOR, "r1", "active", tuple(contacts)),)))
    return Request(method="NOTIFY", uri="sip:alice@127.0.0.11:5070;ob", headers=[
        ("From", f"<{AOR}>;tag=nt"), ("To", subscribe.get("From")), ("Call-ID", subscribe.call_id),
        ("CSeq", f"{cseq} NOTIFY"), ("Event", "reg"), ("Subscription-State", "active;expires=600"),
        ("Content-Type", "application/reginfo+xml")], body=body)


def contact(ue, flow, cid, reg_id):
    return Contact(id=cid, state="active", event="registered", uri=ue.contact_uri(flow), instance=INSTANCE,
                   reg_id=reg_id)


def run_step(run, case, i):
    step = case.steps[i]
    result = StepResult(name=step.name, action=step.action, flow=step.flow)
    KINDS[step.action].live(run, step, result)
    return result


def outcomes(result):
    return [(f.check, f.outcome) for f in result.findings]


def test_subscribe_judges_its_answer_and_the_immediate_notify_then_notify_takes_what_came_meanwhile():
    run, case, ue = make_run()
    f1, f2 = ue.flows["f1"], ue.flows["f2"]
    run.on_exchange = lambda req: [notify_for(req, 1, 0, "full", [contact(ue, f1, "c1", 1)])]
    first = run_step(run, case, 0)
    assert all(o == "pass" for _, o in outcomes(first)), outcomes(first)
    assert "NOTIFY of subscription reg: version 0 full" in run.messages[run.deliveries[0][2]].note
    subscribe = run.sent[0]
    assert subscribe.get("Event") == "reg" and subscribe.get("Record-Route")
    # a REGISTER step runs; its NOTIFY reaches the flow then, before the notify step
    run.deliver("f1", notify_for(subscribe, 2, 1, "partial", [contact(ue, f2, "c2", 2)]))
    second = run_step(run, case, 1)
    assert all(o == "pass" for _, o in outcomes(second)), outcomes(second)
    assert run.waits[-1] == 0.05          # it was there: no waiting beyond the settle


def test_notify_step_without_a_notify_waits_its_bound_and_warns():
    run, case, ue = make_run()
    run.on_exchange = lambda req: [notify_for(req, 1, 0, "full", [contact(ue, ue.flows["f1"], "c1", 1)])]
    run_step(run, case, 0)
    second = run_step(run, case, 1)
    assert 2.0 in run.waits
    assert ("NOTIFY of subscription reg", "warn") in outcomes(second)
    assert second.note == "no NOTIFY of subscription reg within 2 s"


def test_subscribe_without_a_notify_fails_the_must():
    run, case, ue = make_run()
    first = run_step(run, case, 0)
    assert ("NOTIFY of subscription reg", "fail") in outcomes(first)
    assert 2.0 in run.waits               # the target's response timer bounds the wait
