"""The CI gate's decisions (conformance/gate.py) and `conformance init` (conformance/profile_init.py),
on hand-built results: no sockets, no subprocesses."""

from __future__ import annotations

import argparse
import io

import pytest
import yaml

from conformance import gate
from conformance.baseline import TODO, Expected, Table, load_table
from conformance.profile_init import add_arguments, run as init_run
from conformance.targets.loader import load_target


def case(item: str, verdict: str, reason: str = "", received: bool = True, **kw) -> dict:
    messages = [{"direction": "sent", "text": "REGISTER ..."}]
    if received:
        messages.append({"direction": "received", "text": "SIP/2.0 200 OK ..."})
    return {"id": item, "verdict": verdict, "reason": reason, "messages": messages, "steps": [], **kw}


def test_verdict_codes():
    assert gate.verdict_code([case("A", "pass"), case("B", "not applicable")]) == gate.OK
    assert gate.verdict_code([case("A", "pass"), case("B", "inconclusive")]) == gate.INCONCLUSIVE
    assert gate.verdict_code([case("A", "inconclusive"), case("B", "fail")]) == gate.FAILED
    assert gate.verdict_code([case("A", "error")]) == gate.FAILED  # the suite's fault is never a pass


def test_unreachable_only_when_nothing_answered_in_any_applicable_case():
    silent = [case("A", "inconclusive", received=False), case("B", "not applicable", received=False)]
    assert gate.sut_unreachable(silent)
    icmp = case("C", "inconclusive", received=False)
    icmp["messages"].append({"direction": "received", "text": "", "summary": "ICMP port unreachable from x"})
    assert gate.sut_unreachable([icmp])
    assert not gate.sut_unreachable(silent + [case("D", "inconclusive")])  # one case got an answer
    assert not gate.sut_unreachable(silent + [case("E", "fail", received=False)])
    assert not gate.sut_unreachable([case("F", "not applicable", received=False)])  # nothing applicable


def table(**cases) -> Table:
    return Table(target="t.yaml", cases=cases)


def test_baseline_differences_and_their_code():
    t = table(**{"A": Expected("pass"), "B": Expected("fail", "Require", "why"), "C": Expected("pass"),
                 "D": Expected("pass", classification="outbound"), "E": Expected("pass")})
    results = [case("A", "inconclusive"), case("B", "fail", "Contact missing"), case("C", "pass"),
               case("D", "pass", classification="legacy"), case("X", "pass")]
    check = gate.check_baseline(t, results, narrowed=False)
    kinds = {d.item: d.kind for d in check.diffs}
    assert kinds == {"A": "new-inconclusive", "B": "reason", "D": "classification", "E": "missing", "X": "extra"}
    assert gate.baseline_code(check.diffs) == gate.FAILED
    only_inconclusive = gate.check_baseline(table(A=Expected("pass")), [case("A", "inconclusive")], narrowed=False)
    assert gate.baseline_code(only_inconclusive.diffs) == gate.INCONCLUSIVE
    fixed = gate.check_baseline(table(B=Expected("fail", "Require", "why")), [case("B", "pass")], narrowed=False)
    assert [d.kind for d in fixed.diffs] == ["fixed"] and gate.baseline_code(fixed.diffs) == gate.FAILED
    # narrowed selection: baseline cases not run are not missing
    narrowed = gate.check_baseline(t, [case("C", "pass")], narrowed=True)
    assert narrowed.diffs == [] and len(narrowed.ignored) == 4 and gate.baseline_code(narrowed.diffs) == gate.OK


def test_write_updated_keeps_why_and_link_and_marks_new_fails(tmp_path):
    path = tmp_path / "baseline.yaml"
    path.write_text("# my SUT's accepted verdicts\ntarget: t.yaml\ncases:\n"
                    "  B: {verdict: fail, reason_contains: Require, why: it omits it, link: 'https://x.invalid/1'}\n"
                    "  C: pass\n")
    old = load_table(path)
    todo = gate.write_updated(path, old, [case("B", "fail", "Require lacks outbound"), case("C", "fail", "Path")],
                              "other.yaml")
    assert todo == ["C"]
    text = path.read_text()
    assert text.startswith("# my SUT's accepted verdicts\n")
    new = load_table(path)
    assert new.target == "t.yaml"
    assert (new.cases["B"].why, new.cases["B"].link) == ("it omits it", "https://x.invalid/1")
    assert new.cases["C"].why == TODO and new.cases["C"].reason_contains == "Path"
    fresh = tmp_path / "new.yaml"
    gate.write_updated(fresh, None, [case("A", "pass")], "targets/mine.yaml")
    assert fresh.read_text().startswith("# Accepted verdicts") and load_table(fresh).target == "targets/mine.yaml"


# -- conformance init ---------------------------------------------------------------------------
class Tty(io.StringIO):
    def isatty(self) -> bool:
        return True


def init_args(*argv: str) -> argparse.Namespace:
    p = argparse.ArgumentParser()
    add_arguments(p)
    return p.parse_args(list(argv))


def test_init_from_flags_writes_a_valid_profile(tmp_path):
    out = tmp_path / "t.yaml"
    args = init_args("--name", "my-scscf", "--role", "core", "--host", "10.0.0.5", "--port", "5070",
                     "--transports", "tcp", "--domain", "ims.example", "--capability", "outbound",
                     "--capability", "path,terminating", "--ue-address", "10.0.0.11,10.0.0.12",
                     "--user", "ue-{case}-{run}", "--output", str(out))
    so, se = io.StringIO(), io.StringIO()
    assert init_run(args, stdin=io.StringIO(), stdout=so, stderr=se) == 0, se.getvalue()
    t = load_target(out)
    assert (t.name, t.role, t.host, t.port, t.transports, t.domain) == \
        ("my-scscf", "core", "10.0.0.5", 5070, ["tcp"], "ims.example")
    assert t.capabilities == ["outbound", "path", "terminating"] and t.ue_addresses == ["10.0.0.11", "10.0.0.12"]
    assert t.identities.user == "ue-{case}-{run}"
    assert out.read_text().startswith("# Target profile for my-scscf")
    # no overwrite without --force
    se = io.StringIO()
    assert init_run(args, stdin=io.StringIO(), stdout=io.StringIO(), stderr=se) == 3
    assert "--force" in se.getvalue()
    args.force, args.port = True, 5080
    assert init_run(args, stdin=io.StringIO(), stdout=io.StringIO(), stderr=io.StringIO()) == 0
    assert load_target(out).port == 5080


@pytest.mark.parametrize("argv, message", [
    (["--capability", "outbond"], "did you mean 'outbound'"),
    (["--host", "cscf.example"], "IP address literal"),
    (["--port", "70000"], "65535"),
    (["--transports", "sctp"], "transports"),
])
def test_init_refuses_what_the_schema_refuses(tmp_path, argv, message):
    se = io.StringIO()
    args = init_args("--name", "x", "--output", str(tmp_path / "x.yaml"), *argv)
    assert init_run(args, stdin=io.StringIO(), stdout=io.StringIO(), stderr=se) == 3
    assert message in se.getvalue() and not (tmp_path / "x.yaml").exists()


def test_init_needs_a_name_in_a_pipeline():
    se = io.StringIO()
    assert init_run(init_args(), stdin=io.StringIO(), stdout=io.StringIO(), stderr=se) == 3
    assert "--name" in se.getvalue()


def test_init_asks_on_a_terminal(tmp_path):
    out = tmp_path / "asked.yaml"
    # name, description, role (a wrong answer is asked again), host, port, transports, domain,
    # capabilities, UE addresses; Enter keeps the default
    answers = "lab-cscf\nVendor X 4.2\nproxy\nedge\n\n5080\nudp\n\noutbound,edge\n\n"
    so = io.StringIO()
    assert init_run(init_args("--output", str(out)), stdin=Tty(answers), stdout=so, stderr=io.StringIO()) == 0
    assert "one of registrar, edge, core" in so.getvalue()
    t = load_target(out)
    assert (t.name, t.description, t.role, t.host, t.port, t.transports, t.domain, t.capabilities) == \
        ("lab-cscf", "Vendor X 4.2", "edge", "127.0.0.1", 5080, ["udp"], "ims.test", ["outbound", "edge"])
    # flags given are not asked
    so, se = io.StringIO(), io.StringIO()
    assert init_run(init_args("--name", "n", "--role", "registrar", "--output", "-"), stdin=Tty(""),
                    stdout=so, stderr=se) == 0
    assert "Profile name" not in se.getvalue() and "Role" not in se.getvalue() and "Home domain" in se.getvalue()
    assert yaml.safe_load(so.getvalue()) == {  # stdout holds the profile alone, the questions went to stderr
        "name": "n", "role": "registrar", "host": "127.0.0.1", "port": 5060, "transports": ["udp", "tcp"],
        "domain": "ims.test", "capabilities": ["outbound", "path"],
        "ue_addresses": ["127.0.0.11", "127.0.0.12", "127.0.0.13"],
        "identities": {"impu": "sip:{user}@{domain}", "impi": "{user}@{domain}", "user": "ue-{case}-{ue}-{run}"}}
