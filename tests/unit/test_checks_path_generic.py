"""path, header and flow_timer checks (conformance/meaning/checks/path.py, generic.py)."""

import pytest

from conformance.meaning.checks import CheckContext
from conformance.meaning.checks.generic import flow_timer_check, header_check
from conformance.meaning.checks.path import path_check
from conformance.sip.message import Request, Response

OB_PATH = "<sip:tok@ep-t.invalid;lr;ob>"


def req(*paths):
    return Request(method="REGISTER", uri="sip:ims.test", headers=[("Path", p) for p in paths])


def labels(obs):
    return {o.label: o for o in obs}


# -- path -------------------------------------------------------------------------------------
def test_path_echo_equal(make_response):
    ctx = CheckContext(req(OB_PATH), make_response(f"Path: {OB_PATH}"))
    [o] = path_check({"echo": True}, ctx)
    assert o.ok is True and o.label == "Path echoed"
    assert o.expected == f"Path: {OB_PATH}"


def test_path_echo_several_values_in_order(make_response):
    sent = req("<sip:p1.test;lr>", OB_PATH)
    ok = CheckContext(sent, make_response(f"Path: <sip:p1.test;lr>, {OB_PATH}"))
    assert path_check({"echo": True}, ok)[0].ok is True
    swapped = CheckContext(sent, make_response(f"Path: {OB_PATH}", "Path: <sip:p1.test;lr>"))
    assert path_check({"echo": True}, swapped)[0].ok is False


def test_path_echo_whitespace_normalised():
    sent = req("<sip:p1.test;lr>")
    resp = Response(headers=[("Path", "<sip:p1.test;lr>")])
    assert path_check({"echo": True}, CheckContext(sent, resp))[0].ok is True


def test_path_echo_missing_or_changed(make_response):
    ctx = CheckContext(req(OB_PATH), make_response())
    [o] = path_check({"echo": True}, ctx)
    assert o.ok is False and o.observed == "no Path"
    ctx = CheckContext(req(OB_PATH), make_response("Path: <sip:tok@ep-t.invalid;lr>"))
    assert path_check({"echo": True}, ctx)[0].ok is False


def test_path_echo_of_no_path(make_response):
    ctx = CheckContext(req(), make_response())
    [o] = path_check({"echo": True}, ctx)
    assert o.ok is True  # the tester sent no Path (the SUT's own edge adds one): nothing to compare
    assert "the request carried no Path" in o.observed
    ctx = CheckContext(None, make_response(f"Path: {OB_PATH}"))
    assert path_check({"echo": True}, ctx)[0].ok is None  # request unknown: no evidence


def test_path_present_absent(make_response):
    with_path = CheckContext(req(OB_PATH), make_response(f"Path: {OB_PATH}"))
    without = CheckContext(req(OB_PATH), make_response())
    assert path_check({"present": True}, with_path)[0].ok is True
    assert path_check({"present": True}, without)[0].ok is False
    [o] = path_check({"present": False}, without)
    assert o.ok is True and o.label == "Path absent"
    assert path_check({"present": False}, with_path)[0].ok is False


def test_path_ob(make_response):
    ctx = CheckContext(None, make_response(f"Path: {OB_PATH}, <sip:p2.test;lr>"))
    [o] = path_check({"ob": True}, ctx)
    assert o.ok is True
    ctx = CheckContext(None, make_response("Path: <sip:p2.test;lr>", f"Path: {OB_PATH}"))
    assert path_check({"ob": True}, ctx)[0].ok is False  # only the first URI counts


def test_path_ob_as_header_param_does_not_count(make_response):
    ctx = CheckContext(None, make_response("Path: <sip:tok@ep-t.invalid;lr>;ob"))
    assert path_check({"ob": True}, ctx)[0].ok is False


def test_path_ob_without_path_is_inconclusive(make_response):
    [o] = path_check({"ob": True}, CheckContext(None, make_response()))
    assert o.ok is None


def test_path_ob_unparseable():
    resp = Response(headers=[("Path", "<sip:tok@ep-t.invalid;lr;ob")])
    [o] = path_check({"ob": True}, CheckContext(None, resp))
    assert o.ok is False
    assert o.observed.startswith("unparseable Path")


def test_path_all_args(make_response):
    ctx = CheckContext(req(OB_PATH), make_response(f"Path: {OB_PATH}"))
    obs = path_check({"echo": True, "present": True, "ob": True}, ctx)
    assert [o.ok for o in obs] == [True, True, True]
    assert len(obs) == 3


# -- header -----------------------------------------------------------------------------------
def test_header_present(make_response):
    ctx = CheckContext(None, make_response("Flow-Timer: 120"))
    [o] = header_check({"name": "Flow-Timer", "present": True}, ctx)
    assert o.ok is True and o.observed == "Flow-Timer: 120"
    [o] = header_check({"name": "Service-Route", "present": True}, ctx)
    assert o.ok is False and o.observed == "no Service-Route header"
    [o] = header_check({"name": "Service-Route", "present": False}, ctx)
    assert o.ok is True and o.label == "Service-Route absent"


def test_header_present_by_compact_name(make_response):
    ctx = CheckContext(None, make_response("k: outbound"))
    assert header_check({"name": "Supported", "present": True}, ctx)[0].ok is True


def test_header_matches(make_response):
    ctx = CheckContext(None, make_response("Server: ref-cscf/1.0", "Warning: 399 x \"y\""))
    [o] = header_check({"name": "Server", "matches": r"cscf/\d"}, ctx)
    assert o.ok is True
    assert header_check({"name": "Server", "matches": "^cscf"}, ctx)[0].ok is False
    assert header_check({"name": "Expires", "matches": ".*"}, ctx)[0].ok is False


def test_header_matches_any_line(make_response):
    ctx = CheckContext(None, make_response("P-Foo: a", "P-Foo: bb"))
    assert header_check({"name": "P-Foo", "matches": "^bb$"}, ctx)[0].ok is True


def test_header_present_and_matches(make_response):
    ctx = CheckContext(None, make_response("Min-Expires: 3600"))
    obs = header_check({"name": "Min-Expires", "present": True, "matches": r"^\d+$"}, ctx)
    assert [o.ok for o in obs] == [True, True]


# -- flow_timer -------------------------------------------------------------------------------
@pytest.mark.parametrize("lines, ok", [
    ((), True),
    (("Flow-Timer: 120",), True),
    (("Flow-Timer: 0",), True),
    (("Flow-Timer: 12a",), False),
    (("Flow-Timer: -5",), False),
    (("Flow-Timer: 1.5",), False),
    (("Flow-Timer: 120", "Flow-Timer: 120"), False),
])
def test_flow_timer(make_response, lines, ok):
    [o] = flow_timer_check({"valid": True}, CheckContext(None, make_response(*lines)))
    assert o.ok is ok


def test_flow_timer_empty_value():
    resp = Response(headers=[("Flow-Timer", "")])
    assert flow_timer_check({}, CheckContext(None, resp))[0].ok is False


# -- no response ------------------------------------------------------------------------------
@pytest.mark.parametrize("fn, args", [
    (path_check, {"echo": True}),
    (path_check, {"present": False}),
    (header_check, {"name": "Flow-Timer", "present": False}),
    (flow_timer_check, {"valid": True}),
])
def test_no_response_is_inconclusive(fn, args):
    [o] = fn(args, CheckContext(req(OB_PATH), None, no_response_reason="timer F fired"))
    assert o.ok is None
    assert o.observed == "timer F fired"


@pytest.mark.parametrize("lines, ok", [
    ((), True),                                               # no Flow-Timer at all
    (("Require: outbound", "Flow-Timer: 30"), True),          # RFC 5626 §5.4 / §6 ¶11
    (("Flow-Timer: 30",), False),                             # without Require: outbound
    (("Require: path", "Flow-Timer: 30"), False),
])
def test_flow_timer_only_with_require_outbound(make_response, lines, ok):
    [o] = flow_timer_check({"with_require": True}, CheckContext(None, make_response(*lines)))
    assert o.ok is ok and o.label == "Flow-Timer only with Require: outbound"
    both = flow_timer_check({"with_require": True, "valid": True}, CheckContext(None, make_response(*lines)))
    assert [x.label for x in both] == ["Flow-Timer only with Require: outbound", "Flow-Timer grammar"]
