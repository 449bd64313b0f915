"""Step kinds and the engine helpers they call use the case run only through the run API: every
``run.<name>`` they read or call is declared by :class:`conformance.engine.api.RunApi`, so the
Protocol is the whole contract a new step kind needs (and a rename in CaseRun cannot break a step
kind silently)."""

import ast
from pathlib import Path

from conformance.engine.api import RunApi

ROOT = Path(__file__).resolve().parents[2] / "conformance"
DECLARED = {n for n in dir(RunApi) if not n.startswith("_")} | set(RunApi.__annotations__)


def run_names(tree: ast.AST) -> list[tuple[int, str]]:
    """(line, name) of every ``run.<name>``."""
    return sorted((node.lineno, node.attr) for node in ast.walk(tree)
                  if isinstance(node, ast.Attribute) and isinstance(node.value, ast.Name) and node.value.id == "run")


def test_the_reader_sees_run_members():
    assert run_names(ast.parse("def live(run, step, result):\n    run.flow('f1')\n    x = run.nope\n")) == \
        [(2, "flow"), (3, "nope")]
    assert {"flow", "endpoint", "exchange", "await_final", "wait", "record", "context", "judge", "now",
            "state"} <= DECLARED


def test_step_kinds_and_engine_helpers_use_only_the_run_api():
    undeclared = []
    for path in sorted([*(ROOT / "steps").glob("*.py"), *(ROOT / "engine").glob("*.py")]):
        for line, name in run_names(ast.parse(path.read_text(), str(path))):
            if name not in DECLARED:
                undeclared.append(f"{path.relative_to(ROOT.parent)}:{line}: run.{name}")
    assert not undeclared, "run members outside the run API (engine/api.py RunApi):\n" + "\n".join(undeclared)
