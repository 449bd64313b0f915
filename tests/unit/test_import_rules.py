"""The layering rules of docs/architecture.md, read from the source (every import, at module top or
inside a function):

- wire (conformance/sip/) imports nothing of the package outside sip/;
- meaning (meaning/, ue/) reaches no socket: tests/unit/test_meaning_imports.py;
- plugin/ sees the reference only through the target profile (control/ starts it): it imports no
  module of sut/;
- the package's import graph has no cycle (a cycle kept alive by imports inside functions is
  still a cycle).

Each failure names the module, and for a reach the chain of imports that makes it.
"""

from __future__ import annotations

import ast
import sys
from functools import lru_cache
from pathlib import Path


ROOT = Path(__file__).resolve().parents[2]
PKG = ROOT / "conformance"


def _name(path: Path) -> str:
    parts = list(path.relative_to(ROOT).with_suffix("").parts)
    if parts[-1] == "__init__":
        parts = parts[:-1]
    return ".".join(parts)


MODULES = {_name(p): p for p in PKG.rglob("*.py")}


@lru_cache(maxsize=None)
def imports(module: str) -> tuple[frozenset[str], frozenset[str]]:
    """(modules of the package, top-level names of other modules) that ``module`` imports."""
    path = MODULES[module]
    base = module.split(".") if path.name == "__init__.py" else module.split(".")[:-1]
    inner, outer = set(), set()
    for node in ast.walk(ast.parse(path.read_text(), str(path))):
        if isinstance(node, ast.Import):
            for alias in node.names:
                (inner if alias.name in MODULES else outer).add(
                    alias.name if alias.name in MODULES else alias.name.split(".")[0])
        elif isinstance(node, ast.ImportFrom):
            if node.level:
                target = ".".join(base[: len(base) - node.level + 1] + ([node.module] if node.module else []))
            else:
                target = node.module or ""
            if not target.startswith("conformance"):
                outer.add(target.split(".")[0])
                continue
            for alias in node.names:
                full = f"{target}.{alias.name}"
                inner.add(full if full in MODULES else target)
    inner.discard(module)
    return frozenset(m for m in inner if m in MODULES), frozenset(outer)


def _in(module: str, *packages: str) -> bool:
    return any(module == f"conformance.{p}" or module.startswith(f"conformance.{p}.") for p in packages)


def test_wire_imports_only_wire():
    bad = [f"{m} imports {', '.join(sorted(d for d in imports(m)[0] if not _in(d, 'sip')))}"
           for m in MODULES if _in(m, "sip") and any(not _in(d, "sip") for d in imports(m)[0])]
    assert not bad, "the wire layer (conformance/sip/) reaches outside itself:\n" + "\n".join(bad)


def test_plugin_imports_no_reference_module():
    bad = [f"{m} imports {d}" for m in MODULES if _in(m, "plugin") for d in imports(m)[0] if _in(d, "sut")]
    assert not bad, ("plugin/ sees the reference only through the target profile and control/:\n"
                     + "\n".join(bad))


def _cycles(nodes=None, edges=None) -> list[list[str]]:
    """The strongly connected groups of more than one module (Tarjan), of the package's import
    graph or of a given one (``nodes``, ``edges(node)``)."""
    nodes = sorted(MODULES) if nodes is None else nodes
    edges = edges or (lambda m: imports(m)[0])
    sys.setrecursionlimit(max(10000, sys.getrecursionlimit()))
    index, low, stack, on, out, counter = {}, {}, [], set(), [], [0]

    def visit(v):
        index[v] = low[v] = counter[0]
        counter[0] += 1
        stack.append(v)
        on.add(v)
        for w in edges(v):
            if w not in index:
                visit(w)
                low[v] = min(low[v], low[w])
            elif w in on:
                low[v] = min(low[v], index[w])
        if low[v] == index[v]:
            comp = []
            while True:
                w = stack.pop()
                on.discard(w)
                comp.append(w)
                if w == v:
                    break
            if len(comp) > 1:
                out.append(sorted(comp))

    for m in nodes:
        if m not in index:
            visit(m)
    return out


def test_no_import_cycles():
    cycles = _cycles()
    assert not cycles, "import cycles (modules that import each other, at top or inside functions):\n" + \
        "\n".join(" <-> ".join(c) for c in cycles)


def test_rules_see_real_imports():
    """The reader must find what is there, or every rule above passes vacuously."""
    assert "conformance.sip.message" in imports("conformance.meaning.checks.context")[0]
    assert "socket" in imports("conformance.engine.transport")[1]


def test_the_cycle_finder_finds_a_planted_cycle():
    graph = {"a": {"b"}, "b": {"c"}, "c": {"a"}, "d": {"a"}, "e": set()}
    assert _cycles(list(graph), graph.__getitem__) == [["a", "b", "c"]]
    assert _cycles(["d", "e"], {"d": {"e"}, "e": set()}.__getitem__) == []
