"""The reference's layout holds: one subpackage per role, every import at module top, and only the
server opening sockets.  Read from the AST of conformance/sut/**, so nothing is imported.  (No
import cycle and no reach into another module's private members hold for the whole package:
tests/unit/test_import_rules.py, tests/unit/test_no_private_reach.py.)"""

from __future__ import annotations

import ast
from pathlib import Path

import pytest

import conformance

SUT = Path(conformance.__file__).parent / "sut"
ROLES = ("common", "edge", "ims", "registrar", "server")
TOP_MODULES = {"__init__", "__main__", "actions", "cli", "config", "flow"}
SOCKET_MODULES = {"socket", "selectors"}


def nested_imports(root: Path) -> list[str]:
    """Imports that are not at module level (inside a function or class), as file:line."""
    out = []
    for path in sorted(root.rglob("*.py")):
        tree = ast.parse(path.read_text(encoding="utf-8"))
        top = {id(n) for n in tree.body}
        top |= {id(n) for t in tree.body if isinstance(t, (ast.If, ast.Try))
                for n in ast.walk(t) if isinstance(n, (ast.Import, ast.ImportFrom))}
        for node in ast.walk(tree):
            if isinstance(node, (ast.Import, ast.ImportFrom)) and id(node) not in top:
                out.append(f"{path.relative_to(root)}:{node.lineno}")
    return out


def test_each_role_is_a_subpackage_and_only_the_shared_modules_stay_at_the_top():
    for role in ROLES:
        assert (SUT / role / "__init__.py").is_file(), f"sut/{role}/ is not a package"
    top = {p.stem for p in SUT.glob("*.py")}
    assert top == TOP_MODULES, f"modules beside the role packages: {sorted(top - TOP_MODULES)}"
    folders = {p.name for p in SUT.iterdir() if p.is_dir() and p.name != "__pycache__"}
    assert folders == set(ROLES)


def test_every_import_of_the_reference_is_at_module_top():
    assert nested_imports(SUT) == []


def test_only_the_server_imports_sockets():
    openers = []
    for path in sorted(SUT.rglob("*.py")):
        if path.relative_to(SUT).parts[0] == "server":
            continue
        for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
            names = [a.name for a in node.names] if isinstance(node, ast.Import) else \
                [node.module] if isinstance(node, ast.ImportFrom) and not node.level else []
            openers += [f"{path.relative_to(SUT)}: {n}" for n in names if n in SOCKET_MODULES]
    assert openers == []


@pytest.fixture
def planted(tmp_path):
    """A package with a function-level import."""
    pkg = tmp_path / "pkg"
    (pkg / "sub").mkdir(parents=True)
    (pkg / "__init__.py").write_text("")
    (pkg / "sub" / "__init__.py").write_text("")
    (pkg / "a.py").write_text("from .sub import b\n")
    (pkg / "sub" / "b.py").write_text("def f(server):\n    from ..a import x\n    return server._conns\n")
    return pkg


def test_the_checks_catch_what_they_forbid(planted):
    assert nested_imports(planted) == ["sub/b.py:2"]
