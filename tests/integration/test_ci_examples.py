"""The pipeline examples (docs/ci/github-actions.yml, docs/ci/gitlab-ci.yml) work as written.

Each file is parsed as YAML and its shell commands run here, in order, in a fresh venv with the
suite installed from the built wheel (``CONFORMANCE_PACKAGE`` is the wheel instead of the git
URL), in a directory outside the repository holding what the user's repository would:
``ci/my-cscf.yaml`` (docs/ci/my-cscf.yaml) and ``ci/baseline.yaml`` (written here first with
``--update-baseline`` against the embedded reference, as a user accepts the verdicts once).  The
SUT the examples start is the reference CSCF (``conformance sut``) on a free port instead of
5060.  The run must pass the gate and leave every artifact the examples publish; with a faulty
SUT the same commands must fail the job.

Marked ``package`` with test_package.py (same wheel and venv).
"""

from __future__ import annotations

import json
import os
import shutil
import signal
import socket
import subprocess
import xml.etree.ElementTree as ET
from pathlib import Path

import pytest
import yaml

from wheel_venv import ROOT

pytestmark = pytest.mark.package

DOCS = ROOT / "docs" / "ci"


def _free_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


@pytest.fixture(scope="module")
def accepted(installed_suite, tmp_path_factory) -> Path:
    """The baseline a user writes once: every verdict of the reference, accepted."""
    tmp = tmp_path_factory.mktemp("accept")
    proc = installed_suite.run("conformance", "run", "-q", "--target", "reference-rel8", "--baseline",
                               str(tmp / "baseline.yaml"), "--update-baseline", "--reports-dir", str(tmp / "r"),
                               "--pcap-dir", str(tmp / "p"), cwd=tmp)
    assert proc.returncode == 0 and (tmp / "baseline.yaml").exists(), proc.stdout[-3000:]
    return tmp / "baseline.yaml"


def _project(tmp: Path, accepted: Path, port: int) -> Path:
    """A user's repository: the profile of their SUT and its accepted verdicts."""
    work = tmp / "my-cscf-repo"
    (work / "ci").mkdir(parents=True)
    profile = (DOCS / "my-cscf.yaml").read_text()
    assert "port: 5060" in profile
    (work / "ci" / "my-cscf.yaml").write_text(profile.replace("port: 5060", f"port: {port}"))
    shutil.copy(accepted, work / "ci" / "baseline.yaml")
    return work


def _shell(cmd: str, work: Path, env: dict[str, str], port: int, timeout: float = 240) -> subprocess.CompletedProcess:
    """One step, as the CI systems run it (bash -eo pipefail), 5060 replaced by a free port."""
    return subprocess.run(["bash", "--noprofile", "--norc", "-eo", "pipefail", "-c", cmd.replace("5060", str(port))],
                          cwd=work, env=env, capture_output=True, text=True, timeout=timeout,
                          stdin=subprocess.DEVNULL)


def _stop_leftover_sut(work: Path) -> None:
    pidfile = work / "sut.pid"
    if pidfile.exists():
        try:
            os.kill(int(pidfile.read_text().strip()), signal.SIGTERM)
        except (ValueError, ProcessLookupError):
            pass


def _check_artifacts(work: Path, paths: list[str]) -> None:
    for p in paths:
        path = work / p.rstrip("/")
        assert path.exists(), f"the example publishes {p}, which the run did not write"
        if path.is_dir():
            assert list(path.glob("*.pcap")), p
    junit = ET.parse(work / "reports" / "junit.xml").getroot().find("testsuite")
    results = json.loads((work / "reports" / "results.json").read_text())
    assert int(junit.get("tests")) == len(results["cases"]) > 50
    assert int(junit.get("skipped")) == results["counts"]["not applicable"]
    assert junit.get("failures") == "0" and junit.get("errors") == "0"
    assert results["meta"]["target"]["name"] == "my-cscf"


def test_github_actions_example(installed_suite, accepted, tmp_path):
    doc = yaml.safe_load((DOCS / "github-actions.yml").read_text())
    assert set(doc.get("on", doc.get(True))) == {"push", "pull_request"}
    steps = doc["jobs"]["conformance"]["steps"]
    uses = {s["uses"].split("@")[0]: s for s in steps if "uses" in s}
    assert {"actions/checkout", "actions/setup-python", "actions/upload-artifact",
            "mikepenz/action-junit-report"} <= set(uses)
    artifacts = uses["actions/upload-artifact"]["with"]["path"].split()
    assert {"reports/junit.xml", "reports/report.html", "pcaps/"} <= set(artifacts)
    assert uses["mikepenz/action-junit-report"]["with"]["report_paths"] == "reports/junit.xml"
    assert all(s.get("if") == "always()" for s in (uses["actions/upload-artifact"], uses["mikepenz/action-junit-report"]))
    runs = [s for s in steps if "run" in s]
    assert [s["name"] for s in runs] == ["Install the conformance suite", "Start the SUT",
                                         "Run the suite against the baseline", "Stop the SUT"]

    port = _free_port()
    work = _project(tmp_path, accepted, port)
    env = {**installed_suite.env(), **doc["env"], "CONFORMANCE_PACKAGE": str(installed_suite.wheel)}
    try:
        for step in runs:
            proc = _shell(step["run"], work, env, port)
            assert proc.returncode == 0, f"step {step['name']!r} exited {proc.returncode}:\n" \
                                         f"{proc.stdout[-3000:]}{proc.stderr[-2000:]}"
            if step["name"] == "Run the suite against the baseline":
                assert "every verdict is the accepted one" in proc.stdout
                assert "conformance: exit 0" in proc.stdout
    finally:
        _stop_leftover_sut(work)
    _check_artifacts(work, [p for p in artifacts if p != "sut.log"])

    # the gate closes: the same steps against a SUT with a defect fail the run step (narrowed to
    # the registrar cases to keep it short)
    port = _free_port()
    faulty = {s["name"]: s["run"] for s in runs}
    faulty["Start the SUT"] = faulty["Start the SUT"].replace("--mode rel8", "--mode rel8 --fault omit-require-outbound")
    assert "--fault" in faulty["Start the SUT"]
    (work / "ci" / "my-cscf.yaml").write_text((DOCS / "my-cscf.yaml").read_text().replace("5060", str(port)))
    try:
        assert _shell(faulty["Start the SUT"], work, env, port).returncode == 0
        proc = _shell(faulty["Run the suite against the baseline"] + " -k REG-00", work, env, port)
    finally:
        _shell(faulty["Stop the SUT"], work, env, port)
        _stop_leftover_sut(work)
    assert proc.returncode == 1, proc.stdout[-3000:]
    assert "new-fail: expected pass, got fail" in proc.stdout and "Require has outbound" in proc.stdout
    junit = ET.parse(work / "reports" / "junit.xml").getroot().find("testsuite")
    assert int(junit.get("failures")) > 0


def test_gitlab_ci_example(installed_suite, accepted, tmp_path):
    doc = yaml.safe_load((DOCS / "gitlab-ci.yml").read_text())
    job = doc["conformance"]
    assert job["artifacts"]["when"] == "always"
    assert job["artifacts"]["reports"]["junit"] == "reports/junit.xml"
    assert {"reports/junit.xml", "reports/report.html", "pcaps/"} <= set(job["artifacts"]["paths"])
    script = job["script"]
    assert any("--baseline ci/baseline.yaml" in line for line in script)

    port = _free_port()
    work = _project(tmp_path, accepted, port)
    env = {**installed_suite.env(), **job["variables"], "CONFORMANCE_PACKAGE": str(installed_suite.wheel)}
    try:
        # GitLab runs the script lines as one shell script, then after_script in another shell
        proc = _shell("\n".join(script), work, env, port)
        after = _shell("\n".join(job["after_script"]), work, env, port)
    finally:
        _stop_leftover_sut(work)
    assert proc.returncode == 0, proc.stdout[-3000:] + proc.stderr[-2000:]
    assert after.returncode == 0, after.stderr
    assert "conformance: exit 0 (every verdict is the accepted one" in proc.stdout
    _check_artifacts(work, [p for p in job["artifacts"]["paths"] if p != "sut.log"])
