"""The reference's layout holds: one subpackage per role, every import at module top, no cycle in
its module import graph, no module reaching into another module's private members, and only
the server opening sockets.  Read from the AST of conformance/sut/**, so nothing is imported."""

from __future__ import annotations

import ast
from pathlib import Path

import pytest

import conformance

SUT = Path(conformance.__file__).parent / "sut"
ROLES = ("common", "edge", "ims", "registrar", "server")
TOP_MODULES = {"__init__", "__main__", "actions", "cli", "config", "flow"}
SOCKET_MODULES = {"socket", "selectors"}


def _modules(root: Path, package: str) -> dict[str, Path]:
    """Dotted module name -> file, for every module under ``root`` (package ``package``)."""
    out = {}
    for path in sorted(root.rglob("*.py")):
        parts = list(path.relative_to(root).with_suffix("").parts)
        if parts[-1] == "__init__":
            parts = parts[:-1]
        out[".".join([package, *parts])] = path
    return out


def _is_package(path: Path) -> bool:
    return path.name == "__init__.py"


def _imported(name: str, path: Path, node: ast.ImportFrom | ast.Import, known: dict) -> list[str]:
    """The modules of ``known`` an import statement in module ``name`` loads."""
    if isinstance(node, ast.Import):
        return [a.name for a in node.names if a.name in known]
    if node.level:
        base = name.split(".") if _is_package(path) else name.split(".")[:-1]
        base = base[: len(base) - node.level + 1]
        module = ".".join(base + ([node.module] if node.module else []))
    else:
        module = node.module or ""
    out = [module] if module in known else []
    out += [f"{module}.{a.name}" for a in node.names if f"{module}.{a.name}" in known]
    return out


def import_graph(root: Path, package: str) -> dict[str, set[str]]:
    known = _modules(root, package)
    graph: dict[str, set[str]] = {name: set() for name in known}
    for name, path in known.items():
        for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
            if isinstance(node, (ast.Import, ast.ImportFrom)):
                graph[name].update(m for m in _imported(name, path, node, known) if m != name)
    return graph


def find_cycle(graph: dict[str, set[str]]) -> list[str] | None:
    """One cycle of the graph as a path (first node repeated at the end), or None."""
    state: dict[str, int] = {}
    stack: list[str] = []

    def visit(node: str) -> list[str] | None:
        state[node] = 1
        stack.append(node)
        for nxt in sorted(graph[node]):
            if state.get(nxt) == 1:
                return stack[stack.index(nxt):] + [nxt]
            if nxt not in state:
                found = visit(nxt)
                if found:
                    return found
        stack.pop()
        state[node] = 2
        return None

    for node in sorted(graph):
        if node not in state:
            found = visit(node)
            if found:
                return found
    return None


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


def private_reaches(root: Path) -> list[str]:
    """``x._name`` on anything but ``self``/``cls``, and ``from m import _name``, as file:line."""
    out = []
    for path in sorted(root.rglob("*.py")):
        where = path.relative_to(root)
        for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
            if isinstance(node, ast.Attribute) and node.attr.startswith("_") \
                    and not node.attr.startswith("__") \
                    and not (isinstance(node.value, ast.Name) and node.value.id in ("self", "cls")):
                out.append(f"{where}:{node.lineno}: {ast.unparse(node)}")
            if isinstance(node, ast.ImportFrom) and (node.level or (node.module or "").startswith("conformance")):
                out += [f"{where}:{node.lineno}: import {a.name}" for a in node.names
                        if a.name.startswith("_") and not a.name.startswith("__")]
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


def test_the_reference_import_graph_has_no_cycle():
    graph = import_graph(SUT, "conformance.sut")
    assert graph["conformance.sut.server.reference"] >= {"conformance.sut.ims.proxy",
                                                         "conformance.sut.server.protected_tcp"}
    assert find_cycle(graph) is None


def test_no_module_of_the_reference_reaches_into_private_members():
    assert private_reaches(SUT) == []


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
    """A package with a function-level import that closes a cycle and a private reach."""
    pkg = tmp_path / "pkg"
    (pkg / "sub").mkdir(parents=True)
    (pkg / "__init__.py").write_text("")
    (pkg / "sub" / "__init__.py").write_text("")
    (pkg / "a.py").write_text("from .sub import b\n")
    (pkg / "sub" / "b.py").write_text("def f(server):\n    from ..a import x\n    return server._conns\n")
    return pkg


def test_the_checks_catch_what_they_forbid(planted):
    assert find_cycle(import_graph(planted, "pkg")) == ["pkg.a", "pkg.sub.b", "pkg.a"]
    assert nested_imports(planted) == ["sub/b.py:2"]
    assert private_reaches(planted) == ["sub/b.py:3: server._conns"]
