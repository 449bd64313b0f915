"""Build the wheel and install it in a fresh virtual environment, outside the repository.

Used by test_package.py and test_ci_examples.py through the session fixture ``installed_suite``
(tests/integration/conftest.py): one wheel and one venv per test session.  The wheel is built
from a copy of the sources (so nothing is written into the checkout), with pip's build
isolation (setuptools from PyPI or the local pip cache) and, when that cannot be had, with the
running interpreter's setuptools.  The venv has no system site packages; the wheel's
dependencies come from PyPI or the pip cache.
"""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
from dataclasses import dataclass
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
SOURCES = ["pyproject.toml", "setup.py", "README.md", "conformance", "testcases", "targets"]


@dataclass
class InstalledSuite:
    venv: Path
    wheel: Path
    src: Path  # the copy of the sources the wheel was built from

    @property
    def bin(self) -> Path:
        return self.venv / "bin"

    @property
    def python(self) -> Path:
        return self.bin / "python"

    def env(self) -> dict[str, str]:
        """An environment for commands of the venv: its bin first, nothing of the checkout."""
        # no PYTHONPYCACHEPREFIX (tests/conftest.py's): the venv's own __pycache__ (pip compiled it) is read
        env = {k: v for k, v in os.environ.items()
               if k not in ("PYTHONPATH", "VIRTUAL_ENV", "PYTHONHOME", "PYTHONPYCACHEPREFIX")}
        env["PATH"] = f"{self.bin}{os.pathsep}{env.get('PATH', '')}"
        env["VIRTUAL_ENV"] = str(self.venv)
        env["PYTHONDONTWRITEBYTECODE"] = "1"
        return env

    def run(self, *cmd: str, cwd: Path, timeout: float = 180) -> subprocess.CompletedProcess:
        return subprocess.run(list(cmd), cwd=cwd, env=self.env(), capture_output=True, text=True, timeout=timeout)


def copy_sources(dest: Path) -> Path:
    dest.mkdir(parents=True)
    ignore = shutil.ignore_patterns("__pycache__", "*.pyc", "*.egg-info")
    for name in SOURCES:
        src = ROOT / name
        if src.is_dir():
            shutil.copytree(src, dest / name, ignore=ignore)
        else:
            shutil.copy2(src, dest / name)
    return dest


def build_wheel(src: Path, out: Path) -> Path:
    base = [sys.executable, "-m", "pip", "wheel", "--no-deps", "--quiet", "--wheel-dir", str(out)]
    proc = subprocess.run(base + [str(src)], capture_output=True, text=True, timeout=300)
    if proc.returncode != 0:  # no setuptools>=68 to be had: build with this interpreter's
        proc = subprocess.run(base + ["--no-build-isolation", str(src)], capture_output=True, text=True, timeout=300)
    assert proc.returncode == 0, f"pip wheel failed:\n{proc.stdout[-3000:]}{proc.stderr[-3000:]}"
    wheels = sorted(out.glob("outbound_conformance-*.whl"))
    assert len(wheels) == 1, wheels
    return wheels[0]


def make_venv(venv: Path, wheel: Path) -> None:
    # the base interpreter, not the venv the tests run in (a venv of a venv is still a plain venv)
    subprocess.run([sys.executable, "-m", "venv", str(venv)], check=True, timeout=120)
    cfg = (venv / "pyvenv.cfg").read_text()
    assert "include-system-site-packages = false" in cfg, cfg
    proc = subprocess.run([str(venv / "bin" / "python"), "-m", "pip", "install", "--quiet",
                           "--disable-pip-version-check", str(wheel)],
                          capture_output=True, text=True, timeout=600)
    assert proc.returncode == 0, f"pip install of the wheel failed:\n{proc.stdout[-3000:]}{proc.stderr[-3000:]}"


def install(tmp: Path) -> InstalledSuite:
    src = copy_sources(tmp / "src")
    wheel = build_wheel(src, tmp / "dist")
    make_venv(tmp / "venv", wheel)
    return InstalledSuite(venv=tmp / "venv", wheel=wheel, src=src)
