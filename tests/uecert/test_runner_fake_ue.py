"""The UE case runner (conformance.uecert.runner) with a fake driver that sends real REGISTERs
over UDP/TCP: verdicts from the checks, not applicable from capabilities, driver actions and
long cases, inconclusive when the UE stays silent, the pcap and the message ladder."""

from __future__ import annotations

import time

import pytest

from conformance.meaning.verdict import Verdict
from conformance.targets.model import Target
from conformance.uecert.loader import load_ue_case_text
from conformance.uecert.model import UeProfile, UeTimers
from conformance.uecert.runner import UeCaseRun

import uecert_fake_driver
from uecert_fake_driver import FakeDriver


def _target(**kw) -> Target:
    return Target(name="ue-fake", role="ue", port=0, transports=["udp", "tcp"],
                  capabilities=["outbound", "multi-flow", "deregister"],
                  ue=UeProfile(driver="fake", start_timeout=2, timers=UeTimers(1, 1, 1)), **kw)


CASE = """
role: ue
id: UE-TST-001
title: fake UE registers with Supported outbound
purpose: the runner end to end
requires: [outbound]
script:
  - ue: start
  - ue: {add_flow: {address: 2}}
  - await: {time: {seconds: 0.3}}
  - network: send_request
  - await: {response: {within: 3}}
checks:
  - test_fake_supported_outbound: {}
  - test_fake_registers: {at_least: 2}
"""


def _case(text=CASE, **replace):
    for k, v in replace.items():
        text = text.replace(k, v)
    return load_ue_case_text(text, "<test>")


@pytest.fixture(autouse=True)
def _no_fault():
    FakeDriver.fault = None
    yield
    FakeDriver.fault = None


@pytest.mark.parametrize("transport", ["udp", "tcp"])
def test_a_conformant_fake_ue_passes_with_pcap_and_ladder(transport, tmp_path):
    r = UeCaseRun(_case(), transport, _target(), tmp_path).run()
    assert r.verdict == Verdict.PASS, r.reason
    assert r.id == f"UE-TST-001[{transport}]"
    summaries = [m.summary for m in r.messages]
    assert sum(s.startswith("REGISTER") for s in summaries) == 2
    assert any(s.startswith("MESSAGE") for s in summaries)
    assert (tmp_path / f"UE-TST-001_{transport}_.pcap").exists() and r.pcap
    notes = [s.note for s in r.steps]
    assert "the UE answered" in notes


def test_the_fault_fails_the_case_naming_the_header(tmp_path):
    FakeDriver.fault = "no-supported-outbound"
    r = UeCaseRun(_case(), "udp", _target(), tmp_path).run()
    assert r.verdict == Verdict.FAIL
    assert "Supported: outbound" in r.reason
    failing = [f for f in r.findings if f.outcome == "fail"]
    assert failing and failing[0].message_index is not None
    assert r.messages[failing[0].message_index].summary.startswith("REGISTER")
    assert any(s.name == "UE log" and "REGISTER" in s.note for s in r.steps)


@pytest.mark.parametrize("change,verdict,words", [
    (lambda t: setattr(t, "capabilities", ["deregister"]), Verdict.NOT_APPLICABLE, "'outbound'"),
    (lambda t: setattr(t.ue, "driver", "nonesuch"), Verdict.INCONCLUSIVE, "nonesuch"),  # not a crash
], ids=["capability-missing", "unknown-driver"])
def test_what_the_target_lacks_decides_before_anything_runs(tmp_path, change, verdict, words):
    t = _target()
    change(t)
    r = UeCaseRun(_case(), "udp", t, tmp_path).run()
    assert r.verdict == verdict and words in r.reason and not r.messages


def test_not_applicable_when_the_driver_cannot_move(tmp_path):
    case = _case(CASE.replace("  - ue: {add_flow: {address: 2}}\n", "  - ue: {move: {flow: 1, address: 2}}\n"))
    r = UeCaseRun(case, "udp", _target(), tmp_path).run()
    assert r.verdict == Verdict.NOT_APPLICABLE and "cannot move" in r.reason


def test_long_cases_only_with_long(tmp_path):
    case = _case(CASE.replace("requires:", "long: true\nrequires:"))
    r = UeCaseRun(case, "udp", _target(), tmp_path).run()
    assert r.verdict == Verdict.NOT_APPLICABLE and "make run-ue" in r.reason
    assert UeCaseRun(case, "udp", _target(), tmp_path, long=True).run().verdict == Verdict.PASS


def test_a_silent_ue_is_inconclusive_within_its_start_timeout(tmp_path, monkeypatch):
    monkeypatch.setattr(FakeDriver, "start", lambda self, net, workdir: None)
    t = _target()
    t.ue.start_timeout = 0.5
    t0 = time.monotonic()
    r = UeCaseRun(_case(), "tcp", t, tmp_path).run()
    assert r.verdict == Verdict.INCONCLUSIVE and "no REGISTER within 0.5 s" in r.reason
    assert time.monotonic() - t0 < 3


def test_a_network_action_it_cannot_do_is_inconclusive_with_the_reason(tmp_path):
    case = _case(CASE.replace("  - network: send_request\n", "  - network: notify_deregistered\n"))
    r = UeCaseRun(case, "udp", _target(), tmp_path).run()
    assert r.verdict == Verdict.INCONCLUSIVE and "NOTIFY" in r.reason
    assert r.pcap  # written in finally


def test_a_driver_exception_is_an_error_verdict(tmp_path, monkeypatch):
    def boom(self, *a, **k):
        raise RuntimeError("driver bug")
    monkeypatch.setattr(FakeDriver, "add_flow", boom)
    r = UeCaseRun(_case(), "udp", _target(), tmp_path).run()
    assert r.verdict == Verdict.ERROR and "driver bug" in r.reason


assert uecert_fake_driver.DRIVERS["fake"]


def test_an_await_counts_what_the_previous_line_caused(tmp_path):
    """``await: register`` right after ``ue: start`` / ``ue: add_flow`` counts the REGISTER the
    line caused even when it came before the await began (no wasted wait, no race)."""
    case = _case(CASE.replace("  - await: {time: {seconds: 0.3}}\n",
                              "  - await: {register: {count: 1, within: 3}}\n")
                 .replace("  - ue: start\n", "  - ue: start\n  - await: {register: {count: 1, within: 3}}\n"))
    r = UeCaseRun(case, "udp", _target(), tmp_path).run()
    assert r.verdict == Verdict.PASS, r.reason
    notes = {s.name: s.note for s in r.steps}
    assert notes["2. await.register"] == "1 any REGISTER(s) answered within 3 s"
    assert notes["4. await.register"] == "1 any REGISTER(s) answered within 3 s"
    assert r.duration < 2.5


def test_a_driver_call_that_never_returns_is_inconclusive_within_a_bound(tmp_path, monkeypatch):
    import threading

    from conformance.uecert import script

    release = threading.Event()
    monkeypatch.setattr(script, "DRIVER_CALL_BOUND", 0.5)
    monkeypatch.setattr(FakeDriver, "add_flow", lambda self, address: release.wait(5))
    t0 = time.monotonic()
    r = UeCaseRun(_case(), "udp", _target(), tmp_path).run()
    release.set()
    assert r.verdict == Verdict.INCONCLUSIVE and "driver.add_flow did not return within 0.5 s" in r.reason
    assert time.monotonic() - t0 < 3
