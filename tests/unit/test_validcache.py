"""Documents found valid are remembered (yamlio/validcache.py); a bad one is never skipped."""

from __future__ import annotations

import pytest

from conformance.cases.loader import load_case_file
from conformance.yamlio import validcache
from conformance.yamlio.errors import CaseError

GOOD = """id: VC-001
title: t
purpose: p
test_purposes: [TP_REG_001]
references: ["RFC 5626 §6"]
ues:
  a:
    flows:
      f1: {address: 1, reg_id: 1, edge: {}}
steps:
  - register: f1
    expect: {status: 200, status_ref: "RFC 3261 §10.3 step 8"}
"""


@pytest.fixture
def cache(tmp_path, monkeypatch):
    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path / "cache"))
    monkeypatch.delenv("OUTBOUND_CONFORMANCE_NO_VALID_CACHE", raising=False)
    return tmp_path / "cache" / "outbound-conformance" / "valid"


def test_a_valid_case_is_remembered_and_a_bad_one_still_fails(tmp_path, cache):
    path = tmp_path / "vc.yaml"
    path.write_text(GOOD)
    load_case_file(path)
    assert len(list(cache.rglob("*"))) == 2  # one folder, one key
    load_case_file(path)  # from the cache: same result
    path.write_text(GOOD.replace("register: f1", "register: {flow: f1, bogus_option: 3}"))
    with pytest.raises(CaseError) as exc:
        load_case_file(path)
    assert "bogus_option" in str(exc.value) and exc.value.line
    assert len([p for p in cache.rglob("*") if p.is_file()]) == 1  # the bad one is not remembered


def test_the_cache_can_be_turned_off(tmp_path, cache, monkeypatch):
    monkeypatch.setenv("OUTBOUND_CONFORMANCE_NO_VALID_CACHE", "1")
    path = tmp_path / "vc.yaml"
    path.write_text(GOOD)
    load_case_file(path)
    assert not cache.exists()


def test_the_key_depends_on_schema_and_document():
    a = validcache.digest("s1", {"id": "X"})
    assert a == validcache.digest("s1", {"id": "X"})
    assert a != validcache.digest("s2", {"id": "X"}) and a != validcache.digest("s1", {"id": "Y"})


def test_a_schema_checked_once_is_remembered_and_a_bad_one_is_checked_every_time(cache):
    from jsonschema.exceptions import SchemaError

    schemas = cache.parent / "schemas"
    validcache.check_schema({"type": "object"}, b"type: object\n")
    assert len([p for p in schemas.rglob("*") if p.is_file()]) == 1
    validcache.check_schema({"type": "object"}, b"type: object\n")  # from the cache
    for _ in range(2):
        with pytest.raises(SchemaError):
            validcache.check_schema({"type": 12}, b"type: 12\n")
    assert len([p for p in schemas.rglob("*") if p.is_file()]) == 1
    assert not cache.exists()  # documents' keys apart
