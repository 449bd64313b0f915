"""No module touches a private member of another module's objects: ``obj._name`` is for ``self``
and ``cls`` only.  Step kinds use the public run API (engine/api.py); engine and analysis
modules use each other's public names.  The test names each reach as file:line."""

import ast
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2] / "conformance"
PACKAGES = ("steps", "engine", "analysis")
OWN = {"self", "cls"}
#: Other libraries' names that are theirs to define: the standard library's ``os._exit``, and
#: Scapy's pcap readers' ``_read_packet`` (analysis/capture.py calls it on Scapy's readers and on
#: its own fast reader, which stands in for them).
PUBLIC = {"os._exit", "reader._read_packet"}


def _is_private(name: str) -> bool:
    return name.startswith("_") and not (name.startswith("__") and name.endswith("__"))


def private_reaches(tree: ast.AST) -> list[tuple[int, str]]:
    """(line, text) of every ``x._name`` where ``x`` is not ``self``/``cls``."""
    found = []
    for node in ast.walk(tree):
        if isinstance(node, ast.Attribute) and _is_private(node.attr):
            owner = node.value
            if isinstance(owner, ast.Name) and owner.id in OWN:
                continue
            if isinstance(owner, ast.Call) and isinstance(owner.func, ast.Name) and owner.func.id == "super":
                continue    # the class's own member, through its base
            if ast.unparse(node) in PUBLIC:
                continue
            found.append((node.lineno, ast.unparse(node)))
    return sorted(found)


def test_the_walker_finds_a_reach_and_spares_self():
    tree = ast.parse("def f(run, self):\n    run._flow('a')\n    self._mine = 1\n    x = type(run).__name__\n"
                     "    super()._base()\n    run.sec._hub\n")
    assert private_reaches(tree) == [(2, "run._flow"), (6, "run.sec._hub")]


def test_no_module_reaches_into_another_modules_private_members():
    reaches = []
    for package in PACKAGES:
        for path in sorted((ROOT / package).rglob("*.py")):
            for line, text in private_reaches(ast.parse(path.read_text(), str(path))):
                reaches.append(f"{path.relative_to(ROOT.parent)}:{line}: {text}")
    assert not reaches, "private members reached from outside their class:\n" + "\n".join(reaches)
