"""No module touches a private member of another module: ``obj._name`` is for ``self``/``cls`` and
for names its own module defines (a helper class's ``_claim`` beside it); step kinds use the public run API
(engine/api.py), and every other package uses the others' public names.  The whole package is
walked; each reach is named as file:line."""

import ast
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2] / "conformance"
#: Other libraries' names that are theirs to define: the standard library's ``os._exit``, and
#: Scapy's pcap readers' ``_read_packet`` (analysis/capture.py calls it on Scapy's readers and on
#: its own fast reader, which stands in for them).
PUBLIC = {"os._exit", "reader._read_packet"}


def _is_private(name: str) -> bool:
    return name.startswith("_") and not (name.startswith("__") and name.endswith("__"))


def defined_here(tree: ast.AST) -> set[str]:
    """The private names a module defines: functions, classes, assigned names and attributes."""
    names = set()
    for node in ast.walk(tree):
        if isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef, ast.ClassDef)):
            names.add(node.name)
        elif isinstance(node, ast.Name) and isinstance(node.ctx, ast.Store):
            names.add(node.id)
        elif isinstance(node, ast.Attribute) and isinstance(node.ctx, ast.Store):
            names.add(node.attr)
    return {n for n in names if _is_private(n)}


def private_reaches(tree: ast.AST) -> list[tuple[int, str]]:
    """(line, text) of every ``x._name`` and ``from m import _name`` whose name the module does
    not define itself."""
    own = defined_here(tree)
    found = []
    for node in ast.walk(tree):
        if isinstance(node, ast.Attribute) and _is_private(node.attr) and node.attr not in own:
            if isinstance(node.value, ast.Name) and node.value.id in ("self", "cls"):
                continue    # the class's own or inherited member
            if ast.unparse(node) not in PUBLIC:
                found.append((node.lineno, ast.unparse(node)))
        elif isinstance(node, ast.ImportFrom) and (node.level or (node.module or "").startswith("conformance")):
            found += [(node.lineno, f"import {a.name}") for a in node.names if _is_private(a.name)]
    return sorted(found)


def test_the_walker_finds_a_reach_and_spares_the_modules_own_names():
    tree = ast.parse("from .x import _hidden\n"
                     "class Box:\n    def __init__(self):\n        self._mine = 1\n    def _put(self): pass\n"
                     "def f(run, box):\n    run._flow('a')\n    box._put()\n    box._mine\n"
                     "    x = type(run).__name__\n    run.sec._hub\n"
                     "class Sub(Base):\n    def g(self):\n        return self._inherited()\n")
    assert private_reaches(tree) == [(1, "import _hidden"), (7, "run._flow"), (11, "run.sec._hub")]


def test_no_module_reaches_into_another_modules_private_members():
    reaches = []
    for path in sorted(ROOT.rglob("*.py")):
        for line, text in private_reaches(ast.parse(path.read_text(), str(path))):
            reaches.append(f"{path.relative_to(ROOT.parent)}:{line}: {text}")
    assert not reaches, "private members reached from outside their module:\n" + "\n".join(reaches)
