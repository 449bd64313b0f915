"""An expected-verdict row may accept a second, intermittent verdict (a race in the SUT): only
that verdict, only for the stated fail, and only with a why; it survives a table rewrite."""

from __future__ import annotations

import pytest

from conformance.baseline import Expected, Table, TableError, compare, load_table, render, updated

ROW = Expected(verdict="pass", intermittent="fail", reason_contains="RFC 6665 §4.2.1.2", why="a race")


def result(verdict: str, reason: str = "") -> dict:
    return {"id": "REGEV-003[udp]", "verdict": verdict, "reason": reason, "steps": []}


def table() -> Table:
    return Table(target="t.yaml", cases={"REGEV-003[udp]": ROW})


def test_either_verdict_matches_but_only_the_stated_fail():
    assert compare(table(), [result("pass")]) == []
    assert compare(table(), [result("fail", "reginfo [MUST, RFC 6665 §4.2.1.2]: stale")]) == []
    [diff] = compare(table(), [result("fail", "notify [MUST, RFC 3680 §5.1]: not well-formed")])
    assert diff.kind == "new-fail"
    [diff] = compare(table(), [result("inconclusive", "no NOTIFY")])
    assert diff.kind == "new-inconclusive"


def test_a_rewrite_keeps_the_row_whichever_verdict_came(tmp_path):
    for got in (result("pass"), result("fail", "x RFC 6665 §4.2.1.2 y")):
        assert updated(table(), [got], "t.yaml").cases["REGEV-003[udp]"] == ROW
    path = tmp_path / "t.yaml"
    path.write_text(render(table()), encoding="utf-8")
    assert load_table(path).cases["REGEV-003[udp]"] == ROW


@pytest.mark.parametrize("row", [
    "{verdict: pass, intermittent: fail, why: a race}",                          # which fail?
    "{verdict: pass, intermittent: fail, reason_contains: x}",                   # why?
    "{verdict: pass, intermittent: pass, why: a race}",                          # not a second verdict
])
def test_an_incomplete_intermittent_row_is_refused(tmp_path, row):
    path = tmp_path / "t.yaml"
    path.write_text(f"target: t.yaml\ncases:\n  A[udp]: {row}\n", encoding="utf-8")
    with pytest.raises(TableError, match="intermittent"):
        load_table(path)
