"""A case whose stimulus a declared local policy refuses by design (``applies_unless``) is not
applicable to a target declaring that policy, instead of failing a SUT that does what it
declares (e.g. reject-non-outbound refusing a Contact without reg-id, RFC 5626 §6 ¶7)."""

from __future__ import annotations

from pathlib import Path

import pytest

from conformance.yamlio.errors import CaseError
from conformance.cases.loader import load_case_file
from conformance.engine.applicability import not_applicable_reason
from conformance.targets.loader import load_target

ROOT = Path(__file__).resolve().parents[2]


def _case(path, case_id):
    return next(c for c in load_case_file(ROOT / path) if c.id == case_id)


def test_a_declared_policy_makes_the_case_not_applicable():
    reg013 = _case("testcases/registrar/reg-id-ignored.yaml", "REG-013")
    assert reg013.applies_unless == ["reject-non-outbound"]
    policy = load_target(ROOT / "tests" / "targets" / "reference-outbound-only.yaml")
    plain = load_target(ROOT / "targets" / "reference-rel8.yaml")
    reason = not_applicable_reason(reg013, "udp", policy)
    assert reason and "'reject-non-outbound'" in reason and "REG-013" in reason
    assert not_applicable_reason(reg013, "udp", plain) is None
    # the policy's own case still applies there
    reg021 = _case("testcases/registrar/policy.yaml", "REG-021")
    assert not_applicable_reason(reg021, "udp", policy) is None


def test_an_unknown_policy_names_file_line_and_key(tmp_path):
    text = (ROOT / "testcases/registrar/reg1a.yaml").read_text()
    text = text.replace("applies_to: [outbound]", "applies_to: [outbound]\napplies_unless: [reject-non-outbond]", 1)
    f = tmp_path / "x.yaml"
    f.write_text(text)
    with pytest.raises(CaseError) as e:
        load_case_file(f)
    assert "applies_unless" in str(e.value) and "unknown capability" in str(e.value)
