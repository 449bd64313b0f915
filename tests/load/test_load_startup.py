"""What `conformance load` does before its first request: the modules it imports and the
machine description it writes (its start-up CPU counts in benchmarks/load_vs_sipp.py)."""

import argparse
import json
import os
import platform
import subprocess
import sys
from pathlib import Path

from conformance.load.cli import build_parser, machine

ROOT = Path(__file__).resolve().parents[2]

# Imported by nothing on the load path: each costs start-up CPU (platform.platform() runs
# `uname -p` in a child process; argparse's own width lookup imports shutil and its compression
# modules; secrets imports hashlib and OpenSSL's bindings)
NOT_IMPORTED = ("platform", "subprocess", "shutil", "bz2", "lzma", "secrets", "hashlib", "uuid", "random",
                "html", "conformance.sip.headers", "conformance.sip.framing")

_SET_UP = """
import json, sys
from conformance.load.cli import build_parser, machine, scenario_from_args
from conformance.load.generator import LoadGenerator
from conformance.load.stats import LoadStats
sc = scenario_from_args(build_parser().parse_args(["--ues", "3", "--rate", "10", "--ue-address", "127.0.0.1"]))
gen = LoadGenerator(sc)
proto = gen._prototype(0, 5999, 1)
machine()
LoadStats().summary()
gen.close()
print(json.dumps([m for m in %r if m in sys.modules]))
"""


def test_the_load_path_imports_none_of_the_costly_modules():
    # -S: no site (a virtualenv's .pth finders import modules of their own); the package from here
    env = {**os.environ, "PYTHONPATH": str(ROOT)}
    out = subprocess.run([sys.executable, "-S", "-c", _SET_UP % (NOT_IMPORTED,)], env=env, cwd=ROOT,
                         capture_output=True, text=True, timeout=60)
    assert out.returncode == 0, out.stderr
    assert json.loads(out.stdout) == []


def test_the_machine_description_is_platform_s():
    m = machine()
    assert m["python"] == platform.python_version() and m["cpu_count"] == os.cpu_count()
    if platform.processor() in ("", "unknown", platform.machine()):  # platform() leaves it out then
        assert m["platform"] == platform.platform()
    assert m["platform"].startswith(platform.system())


def test_the_help_is_argparse_s_own_at_any_width(monkeypatch):
    for columns in ("60", "200"):
        monkeypatch.setenv("COLUMNS", columns)
        p = build_parser()
        ours = p.format_help()
        p.formatter_class = argparse.RawDescriptionHelpFormatter  # argparse finding the width itself
        assert ours == p.format_help()
        if columns == "60":
            narrow = ours
    assert len(ours.splitlines()) < len(narrow.splitlines())  # the width was followed
