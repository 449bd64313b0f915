"""The suite as users install it: a wheel (and a git URL) in a fresh venv, run outside the checkout.

The wheel must carry the ``conformance`` command, the pytest plugin's entry point, the YAML
cases, the reference target profiles, the schemas and the catalogue, all of one version; run
from a directory that is not the checkout, the installed suite finds its own cases and its
default target and passes every applicable case against the embedded reference.

Marked ``package`` (deselect with ``-m 'not package'``); about 20 s with a warm pip cache.
"""

from __future__ import annotations

import json
import shutil
import subprocess
import sys
import zipfile
from pathlib import Path

import pytest

import conformance

from wheel_venv import ROOT

pytestmark = pytest.mark.package


@pytest.fixture(scope="module")
def workdir(tmp_path_factory) -> Path:
    """An empty directory outside the repository (no testcases/, no targets/ next to it)."""
    d = tmp_path_factory.mktemp("user-project")
    assert ROOT not in d.parents
    return d


def checkout_items(target: str) -> list[str]:
    """The case items ``conformance list`` shows in the checkout, for a profile of targets/."""
    proc = subprocess.run([sys.executable, "-m", "conformance", "list", "--target", f"targets/{target}.yaml"],
                          cwd=ROOT, capture_output=True, text=True, timeout=120)
    assert proc.returncode == 0, proc.stderr
    return sorted(line.split()[0] for line in proc.stdout.splitlines())


def test_the_wheel_carries_cases_profiles_schemas_and_catalogue(installed_suite):
    names = set(zipfile.ZipFile(installed_suite.wheel).namelist())
    cases = {p.relative_to(ROOT / "testcases").as_posix() for p in (ROOT / "testcases").rglob("*.yaml")}
    assert cases and {f"conformance/testcases/{c}" for c in cases} <= names
    profiles = {p.name for p in (ROOT / "targets").glob("reference-*.yaml")}
    assert {f"conformance/profiles/{p}" for p in profiles} <= names
    assert not any(n.startswith("conformance/profiles/kamailio") for n in names)  # they need suts/ scripts
    assert {"conformance/schema/case.schema.yaml", "conformance/schema/target.schema.yaml",
            "conformance/catalogue/test_purposes.yaml"} <= names
    assert not any("__pycache__" in n for n in names)
    entry_points = next(n for n in names if n.endswith(".dist-info/entry_points.txt"))
    text = zipfile.ZipFile(installed_suite.wheel).read(entry_points).decode()
    assert "conformance = conformance.cli:main" in text and "conformance.plugin.hooks" in text
    assert installed_suite.wheel.name.startswith(f"outbound_conformance-{conformance.__version__}-")


def test_version_is_one_for_command_distribution_and_package(installed_suite, workdir):
    proc = installed_suite.run("conformance", "--version", cwd=workdir)
    assert proc.returncode == 0 and proc.stdout.strip() == f"conformance {conformance.__version__}", proc
    proc = installed_suite.run(
        "python", "-c",
        "import importlib.metadata as m, conformance, conformance.resources as r;"
        "print(m.version('outbound-conformance'), conformance.__version__, conformance.__file__, r.cases_dir())",
        cwd=workdir)
    dist_version, pkg_version, pkg_file, cases = proc.stdout.split()
    assert dist_version == pkg_version == conformance.__version__
    site = installed_suite.venv.resolve()
    assert Path(pkg_file).resolve().is_relative_to(site), pkg_file  # not the checkout
    assert Path(cases).resolve().is_relative_to(site) and Path(cases).name == "testcases"


def test_list_finds_the_installed_cases(installed_suite, workdir):
    proc = installed_suite.run("conformance", "list", "--target", "reference-rel7", cwd=workdir)
    assert proc.returncode == 0, proc.stderr
    items = sorted(line.split()[0] for line in proc.stdout.splitlines())
    assert items == checkout_items("reference-rel7") and len(items) > 50
    assert any(line.startswith("REG-030[udp]") and "[applies]" in line for line in proc.stdout.splitlines())


def test_run_against_the_embedded_reference_outside_the_checkout(installed_suite, workdir):
    proc = installed_suite.run("conformance", "run", "-q", cwd=workdir)
    out = proc.stdout + proc.stderr
    assert proc.returncode == 0, out[-3000:]
    assert "conformance: exit 0" in out and "PytestAssertRewriteWarning" not in out
    res = json.loads((workdir / "reports" / "results.json").read_text())
    assert res["meta"]["version"] == conformance.__version__ and res["meta"]["complete"] is True
    assert res["meta"]["target"]["name"] == "reference-rel8"
    assert sorted(c["id"] for c in res["cases"]) == checkout_items("reference-rel8")
    assert {c["verdict"] for c in res["cases"]} == {"pass", "not applicable"}
    cert = json.loads((workdir / "reports" / "certificate.json").read_text())
    assert cert["suite_version"] == conformance.__version__ and cert["catalogue_size"] > 0
    for name in ("report.html", "junit.xml", "certificate.html"):
        assert (workdir / "reports" / name).stat().st_size > 0
    assert len(list((workdir / "pcaps").glob("*.pcap"))) == res["counts"]["pass"]
    # the installed suite judges with its own cases and the packaged profile
    assert all(Path(c["location"].split(":")[0]).resolve().is_relative_to(installed_suite.venv.resolve())
               for c in res["cases"]), res["cases"][0]["location"]


def test_bundled_profile_by_name_and_baseline(installed_suite, workdir):
    args = ["conformance", "run", "-q", "--target", "reference-rel7", "--baseline", "baseline-rel7.yaml",
            "--reports-dir", "r7", "--pcap-dir", "p7", "-k", "REG"]
    proc = installed_suite.run(*args, "--update-baseline", cwd=workdir)
    assert proc.returncode == 0, proc.stdout[-3000:] + proc.stderr[-2000:]
    assert "wrote baseline-rel7.yaml" in proc.stdout
    proc = installed_suite.run(*args, cwd=workdir)
    assert proc.returncode == 0, proc.stdout[-3000:] + proc.stderr[-2000:]
    assert "every verdict is the accepted one" in proc.stdout


def test_plain_pytest_uses_the_installed_plugin(installed_suite, workdir):
    """The pytest11 entry point: plain pytest over the installed cases, pytest's own exit status."""
    cases = installed_suite.run("python", "-c", "import conformance.resources as r; print(r.cases_dir())",
                                cwd=workdir).stdout.strip()
    proc = installed_suite.run("python", "-m", "pytest", cases, "-q", "-p", "no:cacheprovider",
                               "--target", "reference-rel7", "--reports-dir", "rp", "--pcap-dir", "pp",
                               "-k", "REG-030", cwd=workdir)
    assert proc.returncode == 0, proc.stdout[-3000:]
    assert "2 passed" in proc.stdout
    assert (workdir / "rp" / "results.json").exists()


def test_install_from_a_git_url(installed_suite, tmp_path):
    """pip install git+URL builds the same package (cases included)."""
    if shutil.which("git") is None:
        pytest.skip("git is not installed")
    repo = tmp_path / "repo"
    shutil.copytree(installed_suite.src, repo)
    git = ["git", "-c", "user.name=t", "-c", "user.email=t@example.invalid", "-c", "init.defaultBranch=main"]
    for cmd in (["init", "-q"], ["add", "-A"], ["commit", "-q", "-m", "suite"]):
        subprocess.run(git + cmd, cwd=repo, check=True, capture_output=True, timeout=60)
    target = tmp_path / "from-git"
    proc = installed_suite.run("python", "-m", "pip", "install", "--quiet", "--no-deps", "--disable-pip-version-check",
                               "--target", str(target), f"git+file://{repo}", cwd=tmp_path,
                               timeout=300)
    assert proc.returncode == 0, proc.stdout[-2000:] + proc.stderr[-3000:]
    assert (target / "conformance" / "cli.py").exists()
    assert (target / "conformance" / "testcases" / "registrar" / "reg1a.yaml").exists()
    assert (target / "conformance" / "profiles" / "reference-rel8.yaml").exists()
    assert (target / "conformance" / "schema" / "target.schema.yaml").exists()
