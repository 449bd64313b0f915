"""`conformance analyze` judges the UEs of a capture with the UE checks (ue_observe.py, ue_judge.py).

The real checks live in conformance/uecert/checks (written elsewhere); these tests register a
few small checks of their own (names starting with ``plumb_``) to prove the plumbing: what a
check sees of the capture, that its findings reach the console, --json and --html, that a MUST
violation fails the capture and its exit status, that a check without evidence is inconclusive,
and that a check needing a capability the UE does not show is not applicable.
"""

from __future__ import annotations

import json
import sys
from pathlib import Path

import pytest

from conformance.analysis.analyzer import analyze
from conformance.analysis.reading import contacts_of
from conformance.analysis.cli import EXIT_FAIL, EXIT_OK, main
from conformance.analysis.parallel import analyze_parallel
from conformance.report.capture_analysis import console, to_dict
from conformance.uecert import checks as C
from conformance.uecert.observation import IN, OUT, PING

sys.path.insert(0, str(Path(__file__).parent))
from ue_craft import AOR, INSTANCE, OTHER_INSTANCE, UE1, UE2, UeCapture, broken, conformant  # noqa: E402

SEEN: list = []  # the observations the plumbing checks were given


@pytest.fixture
def plumbing():
    """Three checks registered for the test, removed after it."""
    names = ["plumb_reg_id_distinct", "plumb_keepalive_interval", "plumb_secagree", "plumb_live_only"]

    @C.ue_check("plumb_reg_id_distinct", level="MUST", ref="RFC 5626 §4.2.1", summary="distinct reg-id per flow")
    def reg_id_distinct(obs, args, ctx):
        SEEN.append(obs)
        by_reg_id: dict = {}
        for e in obs.requests("REGISTER"):
            for c in contacts_of(e.msg):
                if c.reg_id is not None:
                    by_reg_id.setdefault(c.reg_id, {})[e.flow] = e.index
        return [C.UeOutcome(len(flows) == 1, "one flow per reg-id", f"reg-id {r} on {len(flows)} flow(s)",
                            index=max(flows.values()), what=f"reg-id {r}") for r, flows in by_reg_id.items()]

    @C.ue_check("plumb_keepalive_interval", level="MUST", ref="RFC 5626 §4.4.1", summary="pings within Flow-Timer")
    def keepalive_interval(obs, args, ctx):
        out = []
        for flow in {e.flow for e in obs.events if e.kind == PING and e.direction == IN}:
            pings = obs.keepalives(flow)
            gaps = [(b.time - a.time, b.index) for a, b in zip(pings, pings[1:])]
            worst = max(gaps) if gaps else None
            out.append(C.UeOutcome(None if worst is None else worst[0] <= 30, "at most 30 s",
                                   "one ping" if worst is None else f"{worst[0]:.1f} s",
                                   index=worst[1] if worst else None, what=str(flow)))
        return out  # no ping at all: nothing judged (inconclusive)

    @C.ue_check("plumb_secagree", level="MUST", ref="TS 33.203", summary="Security-Client", needs=("sec-agree",))
    def secagree(obs, args, ctx):
        return [C.UeOutcome(False, "never called", "called")]

    @C.ue_check("plumb_live_only", level="MUST", ref="RFC 5626 §4.5", summary="live only", offline=False)
    def live_only(obs, args, ctx):
        return [C.UeOutcome(False, "never called offline", "called")]

    SEEN.clear()
    yield
    for n in names:
        C.UE_CHECKS.pop(n, None)


def _check(ue: dict, name: str) -> dict:
    return next(c for c in ue["checks"] if c["check"] == name)


def _findings(ue: dict, name: str) -> list[dict]:
    return [f for f in ue["findings"] if f["step"] == name]


def test_a_conformant_ue_its_observation_flows_and_findings(tmp_path, plumbing):
    path, pk = conformant(tmp_path / "good.pcap")
    a = analyze(str(path))
    doc = to_dict(a)
    assert doc["verdict"] == "pass"
    [ue] = doc["ue"]
    assert (ue["aor"], ue["instance"], ue["capabilities"]) == (AOR, INSTANCE, ["outbound"])
    # what the check was given: the UE's REGISTERs (IN) and the 2xx (OUT), pings, opens, closes
    [obs] = SEEN
    assert obs.aor == AOR and obs.timers is not None
    regs = [e.index for e in obs.requests("REGISTER")]
    assert regs == [pk["reg1"][0], pk["reg2"][0], pk["ref1"][0], pk["ref2"][0], pk["del2"][0]]
    assert obs.response_to(next(obs.requests("REGISTER"))).index == pk["reg1"][1]
    assert [e.index for e in obs.keepalives()] == sorted(pk["pings1"] + pk["pings2"])
    assert [(e.kind, e.index, e.direction) for e in obs.events if e.kind in ("open", "close")] == [
        ("open", pk["syn1"], IN), ("open", pk["syn2"], IN), ("close", pk["fin2"], IN), ("close", pk["fin2"] + 1, OUT)]
    # the findings
    assert _check(ue, "plumb_reg_id_distinct")["verdict"] == "pass"
    assert {f["outcome"] for f in _findings(ue, "plumb_keepalive_interval")} == {"pass"}
    assert _check(ue, "plumb_secagree")["verdict"] == "not applicable"
    assert all(c["check"] != "plumb_live_only" for c in ue["checks"])
    # the flows, in the JSON
    f1, f2 = ue["flows"]
    assert (f1["reg_ids"], f1["created"], f1["refreshed"], f1["removed"]) == (["1"], pk["reg1"][1], [pk["ref1"][1]], None)
    assert (f2["reg_ids"], f2["created"], f2["removed"], f2["closed"][0]) == (["2"], pk["reg2"][1], pk["del2"][1], pk["fin2"])
    assert f1["flow_timer"] == 30 and f1["keepalives"]["count"] == 11
    assert f1["keepalives"]["intervals"] == {"min": 27.0, "median": 27.0, "max": 27.0}
    assert f1["keepalives"]["of_flow_timer"]["median"] == 0.9


def test_the_console_timeline_per_aor_and_instance(tmp_path, plumbing):
    path, pk = conformant(tmp_path / "good.pcap")
    text = console(to_dict(analyze(str(path))))
    lines = text.splitlines()
    at = lines.index(f"  flows of {AOR} {INSTANCE}:")
    head, row1, row2 = lines[at + 1:at + 4]
    assert head.split() == ["flow", "reg-id", "transport", "UE", "address", "network", "created", "refreshed",
                            "replaced", "removed", "other", "answers"]
    assert row1.split() == ["1", "1", "tcp", f"{UE1[0]}:{UE1[1]}", "127.0.0.1:5060", str(pk["reg1"][1]),
                            str(pk["ref1"][1]), "-", "-", "-"]
    assert row2.split() == ["2", "2", "tcp", f"{UE2[0]}:{UE2[1]}", "127.0.0.1:5060", str(pk["reg2"][1]),
                            str(pk["ref2"][1]), "-", str(pk["del2"][1]), "-"]
    col = head.index("created")  # aligned: each row's value starts under its heading
    assert (row1[col:].split()[0], row2[col:].split()[0]) == (str(pk["reg1"][1]), str(pk["reg2"][1]))
    assert row1[col - 2:col] == row2[col - 2:col] == "  "
    assert (f"    flow 1 keep-alives: 11 crlf (11 answered), every 27/27/27 s (min/median/max) = 90/90/90 % of "
            f"Flow-Timer 30 s; connection opened {pk['syn1']}") in lines
    assert f"closed {pk['fin2']} by the UE (FIN)" in lines[at + 5]
    # the UE section comes after the rules table, and -q keeps the verdict line only
    assert text.index("UE findings") > text.index("R1-require")
    assert lines[-1] == "verdict: PASS"


def test_a_broken_ue_fails_with_the_packets_and_the_exit_status(tmp_path, plumbing, capsys):
    path, pk = broken(tmp_path / "bad.pcap")
    doc = to_dict(analyze(str(path)))
    assert (doc["verdict"], doc["ue_verdict"]) == ("pass", "fail")  # the network passes; the UE's MUST violations fail the UEs
    assert all(r["verdict"] != "fail" for r in doc["rules"])
    [ue] = doc["ue"]
    [reuse] = _findings(ue, "plumb_reg_id_distinct")
    assert (reuse["outcome"], reuse["message_index"], reuse["observed"]) == ("fail", pk["reg2"][0], "reg-id 1 on 2 flow(s)")
    slow = {f["outcome"] for f in _findings(ue, "plumb_keepalive_interval")}
    assert slow == {"fail"}
    f1, f2 = ue["flows"]
    assert (f1["reg_ids"], f2["reg_ids"], f1["replaced"]) == (["1"], ["1"], pk["reg2"][1])
    assert f1["keepalives"]["of_flow_timer"] == {"min": 1.333, "median": 1.333, "max": 1.333}
    assert f2["keepalives"] is None  # flow 2: no ping, so its interval check is not made
    # the network's verdict decides by default (the UE side is often a test tool); --judge ue the UEs'
    assert main([str(path)]) == EXIT_OK
    assert "UE verdict: FAIL" in capsys.readouterr().out
    code = main([str(path), "--judge", "ue", "--json", str(tmp_path / "a.json"), "--html", str(tmp_path / "a.html")])
    out = capsys.readouterr().out
    assert code == EXIT_FAIL
    assert (f"    FAIL plumb_reg_id_distinct [MUST, RFC 5626 §4.2.1] packet {pk['reg2'][0]}: distinct reg-id per "
            f"flow (reg-id 1): expected one flow per reg-id; observed reg-id 1 on 2 flow(s)") in out.splitlines()
    assert f"{pk['reg2'][1]} (by flow 2)" in out
    doc = json.loads((tmp_path / "a.json").read_text())
    assert doc["ue"][0]["verdict"] == "fail" and doc["ue_verdict"] == "fail" and doc["verdict"] == "pass"
    page = (tmp_path / "a.html").read_text()
    assert "<h2>UEs</h2>" in page and "plumb_reg_id_distinct" in page and "by flow 2" in page
    assert main([str(conformant(tmp_path / "good.pcap")[0]), "-q", "--judge", "both"]) == EXIT_OK


def test_a_check_without_evidence_is_inconclusive_never_a_pass(tmp_path, plumbing):
    c = UeCapture()
    c.register(0, UE1, transport="udp")  # no keep-alive at all
    path = c.write(tmp_path / "udp.pcap")
    [ue] = to_dict(analyze(str(path)))["ue"]
    assert _check(ue, "plumb_keepalive_interval")["verdict"] == "inconclusive"
    [f] = _findings(ue, "plumb_keepalive_interval")
    assert f["outcome"] == "inconclusive" and "nothing in the observation" in f["observed"]
    assert ue["verdict"] == "inconclusive"


def test_ues_by_instance_and_by_contact(tmp_path, plumbing):
    c = UeCapture()
    c.register(0, UE1, reg_id="1", call_id="a")
    c.register(1, UE2, reg_id="1", instance=OTHER_INSTANCE, call_id="b")  # the instance changed
    c.register(2, ("127.0.0.13", 40003), reg_id=None, instance=None, call_id="c", outbound=False)
    doc = to_dict(analyze(str(c.write(tmp_path / "three.pcap"))))
    assert [(u["instance"], u["contact"]) for u in doc["ue"]] == [
        (INSTANCE, None), (OTHER_INSTANCE, None), (None, "<sip:alice@127.0.0.13:40003;transport=tcp>")]
    assert doc["ue"][2]["capabilities"] == []
    assert _check(doc["ue"][2], "plumb_reg_id_distinct")["verdict"] == "inconclusive"
    assert f"  AOR {AOR}: 2 instances: several devices, or one UE whose +sip.instance changed" in console(doc)


def test_the_split_analysis_gives_the_serial_ue_part(tmp_path, plumbing):
    path, _ = conformant(tmp_path / "good.pcap")
    par, why = analyze_parallel(str(path), 2)
    assert par is not None and not why
    one, two = to_dict(analyze(str(path))), to_dict(par)
    assert one["ue"] and one["ue"] == two["ue"]


def test_ue_by_aor_puts_a_changed_instance_in_one_observation(tmp_path, plumbing, capsys):
    c = UeCapture()
    c.register(0, UE1, reg_id="1", call_id="a")
    c.register(1, UE2, reg_id="2", instance=OTHER_INSTANCE, call_id="b")  # the instance changed
    path = c.write(tmp_path / "two.pcap")
    [ue] = to_dict(analyze(str(path), ue_by="aor"))["ue"]
    assert (ue["aor"], ue["instance"], [f["reg_ids"] for f in ue["flows"]]) == (AOR, INSTANCE, [["1"], ["2"]])
    obs = SEEN[-1]
    seen = {i for e in obs.requests("REGISTER") for i in map(lambda c: c.instance, contacts_of(e.msg))}
    assert seen == {INSTANCE, OTHER_INSTANCE}  # what an instance check needs to see the change
    assert main([str(path), "--ue-by", "aor", "-j", "2", "--judge", "ue"]) != EXIT_OK  # the real instance check fails it
    out = capsys.readouterr().out
    assert "UE findings (1 UE(s)" in out
    assert "FAIL instance_stable" in out and OTHER_INSTANCE in out
    par, _ = analyze_parallel(str(path), 2, ue_by="aor")
    assert to_dict(par)["ue"] == to_dict(analyze(str(path), ue_by="aor"))["ue"]


def test_declared_capabilities_replace_those_read_from_the_traffic(tmp_path, plumbing):
    path, _ = conformant(tmp_path / "good.pcap")
    [ue] = to_dict(analyze(str(path), ue_capabilities=["outbound", "sec-agree"]))["ue"]
    assert _check(ue, "plumb_secagree")["verdict"] == "fail"  # declared, so judged (and this one fails)
    [ue] = to_dict(analyze(str(path), ue_capabilities=[]))["ue"]
    assert _check(ue, "plumb_secagree")["verdict"] == "not applicable"


def test_the_registrations_reading_is_shared_until_the_observation_grows(tmp_path, plumbing):
    from conformance.uecert.observation import Observation
    from conformance.uecert.registrations import registrations

    path, pk = conformant(tmp_path / "good.pcap")
    analyze(str(path))
    [obs] = SEEN
    view = registrations(obs)
    assert registrations(obs) is view  # read once for all the UE's checks
    kinds = [(r.index, r.kind, r.status) for r in view.regs]
    assert [i for i, _, _ in kinds] == [pk["reg1"][0], pk["reg2"][0], pk["ref1"][0], pk["ref2"][0], pk["del2"][0]]
    # an observation that grows is read again: event by event, the reading of what it holds
    grown = Observation()
    seen = []
    for e in obs.events:
        grown.add(e)
        seen.append([(r.index, r.kind, r.status) for r in registrations(grown).regs])
    assert seen[-1] == kinds
    assert seen[0] != kinds and len({len(s) for s in seen}) == len(kinds) + 1
