"""conformance.registry: the discovery both registries (step kinds, check kinds) use."""

import uuid

import pytest

from conformance.registry import discover


@pytest.fixture
def package(tmp_path, monkeypatch):
    """A package of kinds, named afresh per test (the import system caches packages by name)."""
    pkg = tmp_path / f"kindpkg_{uuid.uuid4().hex[:8]}"
    pkg.mkdir()
    (pkg / "__init__.py").write_text("")
    (pkg / "helper.py").write_text("raise RuntimeError('a skipped helper was imported')\n")
    (pkg / "_private.py").write_text("raise RuntimeError('a private module was imported')\n")
    (pkg / "one.py").write_text("from types import SimpleNamespace as N\nKIND = N(name='b', order=2)\n")
    (pkg / "family.py").write_text("from types import SimpleNamespace as N\n"
                                   "KINDS = (N(name='z', order=1), N(name='a', order=2))\n")
    (pkg / "plain.py").write_text("X = 1\n")
    monkeypatch.syspath_prepend(str(tmp_path))
    return pkg


def test_kinds_come_from_kind_and_kinds_in_order_and_helpers_are_not_imported(package):
    found = discover([str(package)], package.name, "test kind", skip=("helper",))
    assert list(found) == ["z", "a", "b"]        # by (order, name)


def test_a_name_defined_twice_is_refused_with_what_it_is(package):
    (package / "again.py").write_text("from types import SimpleNamespace as N\nKIND = N(name='a', order=5)\n")
    with pytest.raises(RuntimeError, match="test kind 'a' is defined twice"):
        discover([str(package)], package.name, "test kind", skip=("helper",))


def test_the_real_registries_are_filled():
    from conformance.meaning.checks import CHECKS
    from conformance.steps import KINDS

    assert {"register", "packet", "storm"} <= set(KINDS) and {"contacts", "require", "status"} <= set(CHECKS)
