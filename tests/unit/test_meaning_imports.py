"""The meaning layer (conformance/meaning/) and the sans-IO UE (conformance/ue/: model, transactions,
UAS answers) open no socket: nothing they import, directly or through other modules of the
package, at module level or inside a function, is a socket module or a module of the I/O layers.  So checks judge a pcap
as they judge a live run, and the in-memory UE <-> reference harness needs no network."""

import ast
import subprocess
import sys
from pathlib import Path

import conformance

PACKAGE = Path(conformance.__file__).resolve().parent
#: Modules that open or drive sockets, raw packets or devices.
SOCKET_MODULES = {"socket", "selectors", "ssl", "socketserver", "asyncio", "scapy", "http", "urllib.request"}
#: Packages of conformance/ that do I/O (or control what does): never reached from the two layers.
IO_PACKAGES = {"engine", "sut", "plugin", "topology", "control", "report", "analysis", "load", "mangler",
               "targets"}
LAYERS = ("meaning", "ue")
#: The in-memory harness pairs the UE with the reference registrar's sans-IO core (conformance/sut/),
#: which the UE itself must not import; that it opens no socket tests/unit/test_r1_r3_in_memory.py
#: proves with socket.socket refusing.
NOT_IN_LAYERS = {"conformance.ue.harness"}


def _module_file(name: str) -> Path | None:
    path = PACKAGE.parent.joinpath(*name.split("."))
    for candidate in (path / "__init__.py", path.with_suffix(".py")):
        if candidate.exists():
            return candidate
    return None


def _imports(name: str, extra: dict[str, str]) -> list[tuple[str, int]]:
    """Every module ``name`` imports anywhere in its body, with the line (``extra``: sources of
    modules that are not files)."""
    if name in extra:
        package, text = name.rpartition(".")[0], extra[name]
    else:
        path = _module_file(name)
        package = name if path.name == "__init__.py" else name.rpartition(".")[0]
        text = path.read_text(encoding="utf-8")
    out = []
    for node in ast.walk(ast.parse(text)):
        if isinstance(node, ast.Import):
            out += [(alias.name, node.lineno) for alias in node.names]
        elif isinstance(node, ast.ImportFrom):
            base = node.module or ""
            if node.level:
                parts = package.split(".")[:len(package.split(".")) - node.level + 1]
                base = ".".join(parts + ([node.module] if node.module else []))
            out.append((base, node.lineno))
            out += [(f"{base}.{alias.name}", node.lineno) for alias in node.names
                    if base.startswith("conformance") and _module_file(f"{base}.{alias.name}")]
    return out


def _layer_modules() -> list[str]:
    names = {".".join(p.relative_to(PACKAGE.parent).with_suffix("").parts).removesuffix(".__init__")
             for layer in LAYERS for p in (PACKAGE / layer).rglob("*.py")}
    return sorted(names - NOT_IN_LAYERS)


def forbidden_imports(roots: list[str], extra: dict[str, str] | None = None) -> list[str]:
    """Each forbidden import reachable from ``roots``, with the chain of imports that reaches it."""
    extra = extra or {}
    chains = {root: [root] for root in roots}
    todo = list(roots)
    problems = []
    while todo:
        name = todo.pop()
        for target, line in _imports(name, extra):
            where = f"{' -> '.join(chains[name])} (line {line})"
            top = target.split(".")
            if target in SOCKET_MODULES or top[0] in SOCKET_MODULES:
                problems.append(f"{where} imports {target}")
            elif top[0] == "conformance":
                if len(top) > 1 and top[1] in IO_PACKAGES:
                    problems.append(f"{where} imports {target}")
                    continue
                for k in range(2, len(top) + 1):      # a package's __init__ runs too
                    sub = ".".join(top[:k])
                    if sub not in chains and _module_file(sub):
                        chains[sub] = chains[name] + [sub]
                        todo.append(sub)
    return sorted(set(problems))


def test_meaning_and_ue_import_no_socket_and_no_io_layer():
    roots = _layer_modules()
    assert "conformance.meaning.checks.secagree" in roots and "conformance.ue.model" in roots
    assert forbidden_imports(roots) == []


def test_the_rule_sees_imports_through_other_modules_and_inside_functions():
    # conformance.ims.espio opens sockets: reached through a function-level import, it is named
    probe = {"conformance.meaning.probe": "def f():\n    from ..ims import espio\n"}
    found = forbidden_imports(["conformance.meaning.probe"], probe)
    assert any("conformance.meaning.probe -> conformance.ims.espio" in p and "imports socket" in p
               for p in found), found
    probe = {"conformance.meaning.probe": "from ..engine.regt import answer\n"}
    assert forbidden_imports(["conformance.meaning.probe"], probe) == [
        "conformance.meaning.probe (line 1) imports conformance.engine.regt"]


def test_importing_the_layers_loads_no_socket_module():
    code = ("import sys\n"
            + "".join(f"import {m}\n" for m in _layer_modules())
            + "bad = sorted(m for m in sys.modules if m.split('.')[0] in ('socket', 'selectors', 'ssl', 'scapy')"
              " or m.split('.')[:2] in ([ 'conformance', p] for p in " + repr(sorted(IO_PACKAGES)) + "))\n"
            + "print(bad); sys.exit(1 if bad else 0)\n")
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True)
    assert done.returncode == 0, done.stdout + done.stderr
