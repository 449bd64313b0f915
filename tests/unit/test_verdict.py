"""verdict.grade and verdict.combine (conformance/meaning/verdict.py)."""

import pytest

from conformance.meaning.verdict import (FAIL, INCONCLUSIVE, INFO, PASS, WARN, CaseVerdict, Finding, Verdict,
                                 combine, grade)


@pytest.mark.parametrize("ok, level, strict, expected", [
    (True, "MUST", False, PASS),
    (True, "MUST", True, PASS),
    (True, "SHOULD", False, PASS),
    (True, "SHOULD", True, PASS),
    (True, "MAY", False, PASS),
    (True, "MAY", True, PASS),
    (False, "MUST", False, FAIL),
    (False, "MUST", True, FAIL),
    (False, "SHOULD", False, WARN),
    (False, "SHOULD", True, FAIL),
    (False, "MAY", False, INFO),
    (False, "MAY", True, INFO),
    (None, "MUST", False, INCONCLUSIVE),
    (None, "MUST", True, INCONCLUSIVE),
    (None, "SHOULD", False, INCONCLUSIVE),
    (None, "SHOULD", True, INCONCLUSIVE),
    (None, "MAY", False, INCONCLUSIVE),
    (None, "MAY", True, INCONCLUSIVE),
])
def test_grade_every_combination(ok, level, strict, expected):
    assert grade(ok, level, strict) == expected


def test_grade_default_is_not_strict():
    assert grade(False, "SHOULD") == WARN


@pytest.mark.parametrize("level", ["must", "RECOMMENDED", "", "SHALL"])
def test_grade_rejects_unknown_level(level):
    with pytest.raises(ValueError):
        grade(True, level)


def _f(outcome, check="c", step="s1", level="MUST", expected="e", observed="o", ref="RFC 1 §1"):
    return Finding(check=check, level=level, ref=ref, outcome=outcome, expected=expected,
                   observed=observed, step=step)


def test_finding_describe_and_to_dict():
    f = _f(FAIL, check="Require has outbound", step="reg1", expected="Require: outbound",
           observed="no Require header", ref="RFC 5626 §6 ¶8")
    text = f.describe()
    assert text == ("reg1: Require has outbound [MUST, RFC 5626 §6 ¶8]: expected Require: outbound; "
                    "observed no Require header")
    d = f.to_dict()
    assert d["outcome"] == "fail" and d["check"] == "Require has outbound"
    assert d["message_index"] is None and d["location"] == ""


def test_verdict_str_is_value():
    assert str(Verdict.NOT_APPLICABLE) == "not applicable"
    assert str(Verdict.PASS) == "pass"


def test_no_findings_is_inconclusive():
    v = combine([])
    assert v.verdict == Verdict.INCONCLUSIVE
    assert v.reason == "no check was evaluated"
    assert v.warnings == []


def test_all_pass():
    v = combine([_f(PASS), _f(PASS)])
    assert v == CaseVerdict(Verdict.PASS, "all checks passed", [])


def test_info_does_not_fail_or_warn():
    v = combine([_f(PASS), _f(INFO, level="MAY")])
    assert v.verdict == Verdict.PASS
    assert v.warnings == []


def test_fail_beats_inconclusive_and_pass():
    fail = _f(FAIL, check="bad")
    v = combine([_f(PASS), _f(INCONCLUSIVE, check="unknown"), fail])
    assert v.verdict == Verdict.FAIL
    assert v.reason == fail.describe()
    assert "unknown" not in v.reason


def test_several_fails_joined():
    a, b = _f(FAIL, check="a"), _f(FAIL, check="b")
    v = combine([a, _f(PASS), b])
    assert v.reason == f"{a.describe()}; {b.describe()}"


def test_inconclusive_beats_pass():
    inc = _f(INCONCLUSIVE, check="no answer", observed="no final response")
    v = combine([_f(PASS), inc])
    assert v.verdict == Verdict.INCONCLUSIVE
    assert v.reason == inc.describe()


def test_warnings_listed_and_pass_reason_counts_them():
    w1 = _f(WARN, check="w1", level="SHOULD")
    v = combine([_f(PASS), w1])
    assert v.verdict == Verdict.PASS
    assert v.warnings == [w1.describe()]
    assert v.reason == "all checks passed (1 warning)"
    w2 = _f(WARN, check="w2", level="SHOULD")
    v2 = combine([w1, w2, _f(PASS)])
    assert v2.reason == "all checks passed (2 warnings)"
    assert v2.warnings == [w1.describe(), w2.describe()]


def test_warnings_kept_on_fail():
    w = _f(WARN, check="w", level="SHOULD")
    v = combine([w, _f(FAIL)])
    assert v.verdict == Verdict.FAIL
    assert v.warnings == [w.describe()]


def test_only_warnings_is_pass():
    v = combine([_f(WARN, level="SHOULD")])
    assert v.verdict == Verdict.PASS


def test_error_wins_over_everything():
    v = combine([_f(FAIL), _f(INCONCLUSIVE), _f(WARN, check="w", level="SHOULD")],
                preamble_failed=True, error="socket exploded", stopped_reason="stop")
    assert v.verdict == Verdict.ERROR
    assert v.reason == "socket exploded"
    assert len(v.warnings) == 1


def test_preamble_failure_is_inconclusive_with_the_failed_check():
    fail = _f(FAIL, check="preamble status", step="setup")
    v = combine([fail], preamble_failed=True)
    assert v.verdict == Verdict.INCONCLUSIVE
    assert v.reason == f"preamble did not reach the state under test: {fail.describe()}"


def test_preamble_failure_without_fails_uses_stopped_reason():
    v = combine([_f(PASS)], preamble_failed=True, stopped_reason="timeout waiting for 200")
    assert v.verdict == Verdict.INCONCLUSIVE
    assert v.reason == "preamble did not reach the state under test: timeout waiting for 200"


def test_preamble_failure_default_reason():
    v = combine([], preamble_failed=True)
    assert v.verdict == Verdict.INCONCLUSIVE
    assert v.reason == "preamble did not reach the state under test: preamble failed"


def test_stopped_reason_makes_passing_case_inconclusive():
    v = combine([_f(PASS)], stopped_reason="connection reset by SUT")
    assert v.verdict == Verdict.INCONCLUSIVE
    assert v.reason == "connection reset by SUT"


def test_stopped_reason_does_not_hide_a_fail():
    v = combine([_f(FAIL)], stopped_reason="connection reset")
    assert v.verdict == Verdict.FAIL


def test_combine_accepts_a_generator():
    v = combine(f for f in [_f(PASS)])
    assert v.verdict == Verdict.PASS


def test_describe_without_ref_shows_level_only():
    f = _f(FAIL, check="SUT reachable", ref="", step="reg1", expected="a connection", observed="refused")
    assert f.describe() == "reg1: SUT reachable [MUST]: expected a connection; observed refused"
