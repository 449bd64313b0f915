"""Keep-alive loops of the engine (ping/stun/keepalive with every/for/unit), against the embedded
reference CSCF as a registrar with direct flows and a small Flow-Timer (RFC 5626 §6 ¶11)."""

from __future__ import annotations

import time
from pathlib import Path

import pytest

from conformance.yamlio.errors import CaseError
from conformance.cases.loader import load_case_text
from conformance.engine.runner import CaseRun
from conformance.sut.config import SutConfig
from conformance.sut.server import ReferenceCscf
from conformance.targets.loader import target_from_dict
from conformance.meaning.verdict import Verdict

LOOP = """
id: LOOP-001
title: keep-alive loop
purpose: a loop of keep-alives in Flow-Timer units keeps a direct flow
references: ["RFC 5626 §5.4"]
ues:
  a:
    flows:
      f1: {address: 1, reg_id: 1}
steps:
  - register: f1
    expect:
      status: 200
      status_ref: "RFC 5626 §6 ¶8 (binding)"
      checks:
        - header: {name: Flow-Timer, matches: "^1$"}
          ref: "RFC 5626 §5.4 ¶3"
          level: MAY
  - keepalive: {flow: f1, every: 0.5, for: 1.5, unit: flow_timer}
    expect:
      checks:
        - keepalive: {}
        - {KIND: {}}
  - fetch: f1
    expect:
      checks:
        - contacts: {include: [f1]}
"""


def _target(port: int):
    return target_from_dict({
        "name": "loop", "host": "127.0.0.1", "port": port, "capabilities": ["outbound"],
        "ue_addresses": ["127.0.0.21", "127.0.0.22", "127.0.0.23"],
        "timers": {"t1": 0.1, "t2": 0.4, "response": 1.0, "connect": 1.0},
    })


@pytest.mark.parametrize("transport, kind", [("tcp", "pong"), ("udp", "stun_mapped")])
def test_a_keepalive_loop_keeps_the_flow_past_flow_timer_plus_grace(transport, kind, tmp_path: Path):
    case = load_case_text(LOOP.replace("KIND", kind))[0]
    with ReferenceCscf(SutConfig(flow_timer=1, flow_grace=0.3)) as sut:
        started = time.monotonic()
        result = CaseRun(case, transport, _target(sut.port), sut.address, pcap_dir=tmp_path).run()
        took = time.monotonic() - started
    assert result.verdict == Verdict.PASS, result.reason
    loop = result.steps[1]
    sent = [m for m in result.messages if m.step == loop.name and m.direction == "sent"]
    assert len(sent) == 3 and "3 keep-alive(s), every 0.5 s for 1.5 s" in loop.note
    assert 1.5 <= took < 3.5                                  # the loop lasts 'for', bounded


def test_a_silent_direct_flow_loses_its_binding(tmp_path: Path):
    case = load_case_text(LOOP.replace("  - keepalive: {flow: f1, every: 0.5, for: 1.5, unit: flow_timer}\n"
                                       "    expect:\n      checks:\n        - keepalive: {}\n"
                                       "        - {KIND: {}}\n", "  - wait: 1.6\n")
                          .replace("contacts: {include: [f1]}", "contacts: {exclude: [f1]}"))[0]
    with ReferenceCscf(SutConfig(flow_timer=1, flow_grace=0.3)) as sut:
        # UDP: the fetch is new traffic from the same flow, after the binding went (section 7)
        result = CaseRun(case, "udp", _target(sut.port), sut.address, pcap_dir=tmp_path).run()
    assert result.verdict == Verdict.PASS, result.reason


def test_a_loop_in_flow_timer_units_without_a_flow_timer_is_inconclusive(tmp_path: Path):
    case = load_case_text(LOOP.replace("KIND", "pong").replace('- header: {name: Flow-Timer, matches: "^1$"}',
                                                                 "- require: {has: outbound}"))[0]
    with ReferenceCscf(SutConfig()) as sut:                  # no Flow-Timer configured
        result = CaseRun(case, "tcp", _target(sut.port), sut.address, pcap_dir=tmp_path).run()
    assert result.verdict == Verdict.INCONCLUSIVE
    assert "no Flow-Timer in its latest 2xx" in result.reason


@pytest.mark.parametrize("options, fragment", [
    ("{flow: f1, every: 1}", "for"),
    ("{flow: f1, for: 1}", "every"),
    ("{flow: f1, every: 1, for: 31}", "30"),
    ("{flow: f1, every: 0, for: 1}", "every"),
    ("{flow: f1, every: 1, for: 2, unit: minutes}", "unit"),
    ("{flow: f1, every: 1, for: 2, call_id: new}", "call_id"),
    ("{flow: f1, late: 0.25}", "every"),
    ("{flow: f1, every: 1, for: 2, late: 9}", "late"),
])
def test_loop_options_are_checked_by_the_loader(options, fragment):
    text = f"""
id: LOOP-002
title: t
purpose: p
ues:
  a:
    flows:
      f1: {{address: 1, reg_id: 1}}
steps:
  - ping: {options}
"""
    with pytest.raises(CaseError) as info:
        load_case_text(text)
    assert fragment in str(info.value)


def test_late_delays_each_interval_in_seconds_whatever_the_unit():
    from types import SimpleNamespace

    from conformance.engine.api import RunStates
    from conformance.engine.keepalive_loop import loop_plan
    from conformance.engine.registration import RegistrationState

    run = RunStates()
    run.state(RegistrationState).flow_timers["f1"] = 2
    flow = SimpleNamespace(name="f1")
    step = SimpleNamespace(options={"every": 1.0, "for": 2, "unit": "flow_timer", "late": 0.25})
    assert loop_plan(run, step, flow) == (2.25, 4.0)          # 100% of Flow-Timer 2 s, 0.25 s late
    step.options.pop("late")
    assert loop_plan(run, step, flow) == (2.0, 4.0)
