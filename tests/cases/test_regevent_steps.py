"""The reg-event step and check kinds in case files (steps/subscribe.py, meaning/checks/reginfo.py):
what loads, and what the loader refuses with file, line and key."""

from __future__ import annotations

import pytest

from conformance.cases.loader import load_case_text
from conformance.yamlio.errors import CaseError

CASE = """\
id: RE-001
title: reg event
purpose: subscribe and wait.
ues:
  a:
    flows:
      f1: {address: 1, reg_id: 1}
      f2: {address: 2, reg_id: 2}
steps:
  - register: f1
  - subscribe: {flow: f1, expires: 300}
    expect:
      checks:
        - notify: {sent: true}
        - reginfo: {flows: [f1], count: 1}
  - notify: {subscription: reg, timeout: 2}
    expect:
      checks:
        - reginfo_record: {event: {f1: registered}, registration: active}
  - notify:
  - subscribe: f1
"""


def test_subscribe_and_notify_load_with_their_options():
    [case] = load_case_text(CASE)
    sub, wait, bare, plain = case.steps[1], case.steps[2], case.steps[3], case.steps[4]
    assert (sub.action, sub.flow, sub.ue, sub.options) == ("subscribe", "f1", "a", {"expires": 300})
    assert [c.kind for c in sub.expect.checks] == ["notify", "reginfo"]
    assert (wait.action, wait.flow, wait.options) == ("notify", None, {"subscription": "reg", "timeout": 2})
    assert wait.name == "notify of subscription reg"
    assert bare.options == {"subscription": "reg"}
    assert (plain.action, plain.flow, plain.options) == ("subscribe", "f1", {})


@pytest.mark.parametrize("old, new, line, key, fragment", [
    ("  - subscribe: {flow: f1, expires: 300}", "  - subscribe: {flow: f9}", 11, "steps[1].subscribe.flow",
     "unknown flow"),
    ("  - subscribe: {flow: f1, expires: 300}", "  - subscribe: {flow: f1, expires: -1}", 11,
     "steps[1].subscribe", ""),
    ("  - notify: {subscription: reg, timeout: 2}", "  - notify: {subscription: reg, count: 0}", 16,
     "steps[2].notify", ""),
    ("        - reginfo: {flows: [f1], count: 1}", "        - reginfo: {flows: [f7]}", 15,
     "steps[1].expect.checks[1].reginfo.flows", "f7"),
    ("        - notify: {sent: true}", "        - notify: {sent: false}", 14,
     "steps[1].expect.checks[0].notify", ""),
])
def test_bad_values_are_refused_where_they_are(old, new, line, key, fragment):
    assert old in CASE
    with pytest.raises(CaseError) as info:
        load_case_text(CASE.replace(old, new))
    err = info.value
    assert err.line == line and err.key.startswith(key), (err.line, err.key, err.message)
    assert fragment in err.message
