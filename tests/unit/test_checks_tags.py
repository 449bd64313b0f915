"""The require / supported option-tag checks (conformance/meaning/checks/tags.py)."""

import pytest

from conformance.meaning.checks import CHECKS, CheckContext
from conformance.meaning.checks.tags import default_ref_require, option_tag_check
from conformance.sip.message import Response

require = option_tag_check("Require")
supported = option_tag_check("Supported")


def one(observations):
    assert len(observations) == 1
    return observations[0]


def test_has_tag_present(make_response, make_ctx):
    o = one(require({"has": "outbound"}, make_ctx(make_response("Require: outbound"))))
    assert o.ok is True
    assert o.label == "Require has outbound"
    assert o.expected == "Require: outbound"
    assert o.observed == "Require: outbound"


def test_has_tag_absent_header(make_response, make_ctx):
    o = one(require({"has": "outbound"}, make_ctx(make_response())))
    assert o.ok is False
    assert o.observed == "no Require header"


def test_has_tag_other_tags_only(make_response, make_ctx):
    o = one(require({"has": "outbound"}, make_ctx(make_response("Require: path, gruu"))))
    assert o.ok is False
    assert "path, gruu" in o.observed


def test_lacks_tag(make_response, make_ctx):
    r = make_ctx(make_response("Require: path"))
    o = one(require({"lacks": "outbound"}, r))
    assert o.ok is True
    assert o.label == "Require lacks outbound"
    assert o.expected == "no 'outbound' in Require"
    o2 = one(require({"lacks": "path"}, r))
    assert o2.ok is False


def test_lacks_with_no_header_passes(make_response, make_ctx):
    assert one(require({"lacks": "outbound"}, make_ctx(make_response()))).ok is True


def test_tag_in_second_of_multiple_require_headers(make_response, make_ctx):
    r = make_ctx(make_response("Require: path", "Require: outbound"))
    assert one(require({"has": "outbound"}, r)).ok is True
    assert one(require({"has": "path"}, r)).ok is True
    assert one(require({"lacks": "outbound"}, r)).ok is False


def test_tag_in_comma_list(make_response, make_ctx):
    r = make_ctx(make_response("Require: path,outbound , gruu"))
    assert one(require({"has": "outbound"}, r)).ok is True


def test_compact_supported_form(make_response, make_ctx):
    # "k" is the compact form of Supported (RFC 3261 §7.3.3); Require has none.
    r = make_ctx(make_response("k: path, outbound"))
    assert one(supported({"has": "outbound"}, r)).ok is True
    assert one(require({"has": "outbound"}, r)).ok is False


@pytest.mark.parametrize("header, arg", [
    ("Require: OutBound", "outbound"),
    ("Require: outbound", "OUTBOUND"),
    ("require: Outbound", "Outbound"),
])
def test_tags_case_insensitive(make_response, make_ctx, header, arg):
    o = one(require({"has": arg}, make_ctx(make_response(header))))
    assert o.ok is True
    assert one(require({"lacks": arg}, make_ctx(make_response(header)))).ok is False


def test_label_uses_lower_case_tag(make_response, make_ctx):
    o = one(require({"has": "OutBound"}, make_ctx(make_response())))
    assert o.label == "Require has outbound"


@pytest.mark.parametrize("value", ["out bound", "outbound;x", "\"outbound\"", "path, @@"])
def test_unparseable_require_is_a_violation(make_response, make_ctx, value):
    r = Response(status=200, reason="OK", headers=[("Require", value)])
    o = one(require({"has": "outbound"}, make_ctx(r)))
    assert o.ok is False
    assert o.observed.startswith("unparseable Require")
    # also for "lacks": garbage is not evidence of absence
    assert one(require({"lacks": "outbound"}, make_ctx(r))).ok is False


def test_no_response_is_inconclusive():
    c = CheckContext(request=None, response=None, no_response_reason="timeout after 4 s")
    for check, args in ((require, {"has": "outbound"}), (require, {"lacks": "outbound"}),
                        (supported, {"has": "path"})):
        o = one(check(args, c))
        assert o.ok is None
        assert o.observed == "timeout after 4 s"


def test_default_ref_require():
    assert default_ref_require({"has": "outbound"}) == "RFC 5626 §6 ¶8"
    assert default_ref_require({"lacks": "outbound"}) == "RFC 5626 §6 ¶6"
    assert CHECKS["require"].ref({"has": "x"}) == "RFC 5626 §6 ¶8"
    assert CHECKS["require"].ref({"lacks": "x"}) == "RFC 5626 §6 ¶6"
