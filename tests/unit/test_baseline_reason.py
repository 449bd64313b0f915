"""An expected verdict other than fail may name its reason (reason_contains): the run must give
that verdict for that reason; rewrites keep it while it holds (conformance/baseline.py)."""

from __future__ import annotations

from conformance.baseline import Expected, Table, compare, load_table, render, updated


def _r(item, verdict, reason):
    return {"id": item, "verdict": verdict, "reason": reason}


def test_inconclusive_for_the_stated_reason_only():
    table = Table(target="t.yaml", cases={"TLS-004[tls]": Expected("inconclusive",
                                                                   reason_contains="certificate verify failed")})
    ok = _r("TLS-004[tls]", "inconclusive", "register f1: TLS to x: certificate verify failed: Hostname mismatch")
    other = _r("TLS-004[tls]", "inconclusive", "register f1: no final response")
    assert compare(table, [ok]) == []
    [d] = compare(table, [other])
    assert d.kind == "reason"


def test_rewrite_keeps_a_reason_that_still_holds_and_round_trips(tmp_path):
    table = Table(target="t.yaml", cases={"A[tls]": Expected("inconclusive", reason_contains="certificate")})
    new = updated(table, [_r("A[tls]", "inconclusive", "certificate verify failed")], "t.yaml")
    assert new.cases["A[tls]"].reason_contains == "certificate"
    path = tmp_path / "x.yaml"
    path.write_text(render(new))
    assert load_table(path).cases["A[tls]"].reason_contains == "certificate"
    gone = updated(table, [_r("A[tls]", "inconclusive", "no final response")], "t.yaml")
    assert gone.cases["A[tls]"].reason_contains == ""
