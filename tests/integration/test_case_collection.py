"""A user's own case files, anywhere: collected from the folders and files given to
``conformance run``; a file that is no case, or a case id used twice, is an error at file:line;
and a run in which a case file could not be loaded is never an overall pass (issue 16)."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

from suite_runner import ROOT, run_suite

REG1A = ROOT / "testcases" / "registrar" / "reg1a.yaml"  # REG-001, a quick case the reference passes


def _case(path: Path, case_id: str) -> Path:
    """The suite's REG-001 under another id (whatever the case format is on this branch)."""
    text = REG1A.read_text(encoding="utf-8")
    assert "\nid: REG-001\n" in "\n" + text
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(("\n" + text).replace("\nid: REG-001\n", f"\nid: {case_id}\n", 1)[1:], encoding="utf-8")
    return path


def _overall(run) -> tuple[str, str]:
    line = next(ln for ln in run.output.splitlines() if ln.startswith("overall:"))
    cert = json.loads((run.reports / "certificate.json").read_text())
    return line, cert["overall"]


def test_cases_in_a_folder_not_named_testcases_run(tmp_path):
    mine = tmp_path / "mycases"
    _case(mine / "sub" / "mine.yaml", "MY-001")
    shutil.copy(ROOT / "targets" / "reference-rel8.yaml", mine / "profile.yaml")  # not a case: left alone
    run = run_suite(tmp_path / "r", str(mine))
    assert run.returncode == 0, run.output[-3000:]
    assert run.verdicts() == {"MY-001[udp]": "pass", "MY-001[tcp]": "pass"}
    assert "not collected as cases (no top-level id: or steps:): " in run.output and "profile.yaml" in run.output


def test_a_case_file_named_anywhere_runs(tmp_path):
    path = _case(tmp_path / "elsewhere" / "x.yaml", "MY-002")
    run = run_suite(tmp_path / "r", str(path))
    assert run.returncode == 0, run.output[-3000:]
    assert set(run.verdicts()) == {"MY-002[udp]", "MY-002[tcp]"}


def test_a_named_file_that_is_no_case_says_why(tmp_path):
    path = tmp_path / "mycases" / "x.yaml"
    path.parent.mkdir()
    shutil.copy(ROOT / "targets" / "reference-rel8.yaml", path)
    run = run_suite(tmp_path / "r", str(path))
    assert run.returncode == 3, run.output[-3000:]
    assert "x.yaml:3: name: unknown key 'name'" in run.output
    assert "1 case file(s) could not be loaded" in run.output
    run = run_suite(tmp_path / "m", str(tmp_path / "missing.yaml"))
    assert run.returncode == 3 and "no such case file or folder" in run.output


def test_a_case_id_used_in_two_files_is_an_error_naming_both_and_never_an_overall_pass(tmp_path):
    cases = tmp_path / "testcases"
    first = _case(cases / "a.yaml", "MY-DUP")
    second = _case(cases / "b.yaml", "MY-DUP")
    run = run_suite(tmp_path / "r", str(cases))
    assert "TypeError" not in run.output, run.output[-3000:]
    assert run.returncode == 3, run.output[-3000:]
    assert f"{second}:1: id: case id 'MY-DUP' is already used in {first}:1" in run.output
    # the other file's cases ran and passed, yet the run is no pass
    assert run.verdicts() == {"MY-DUP[udp]": "pass", "MY-DUP[tcp]": "pass"}
    line, cert = _overall(run)
    assert "PASS" not in line and line.startswith("overall: ERROR") and cert == "error"
    html = (run.reports / "certificate.html").read_text()
    assert "OVERALL: ERROR" in html and "could not be loaded" in html


def test_a_malformed_case_file_makes_a_passing_run_no_overall_pass(tmp_path):
    cases = tmp_path / "testcases"
    _case(cases / "good.yaml", "MY-003")
    (cases / "zz-bad.yaml").write_text("id: BAD-001\ntitle: t\npurpose: p\nues: {}\nsteps: [{register: f9}]\n")
    run = run_suite(tmp_path / "r", str(cases))
    assert run.returncode == 3 and "zz-bad.yaml" in run.output, run.output[-3000:]
    line, cert = _overall(run)
    assert line.startswith("overall: ERROR") and cert == "error"
    meta = run.results["meta"]
    assert meta["collection_errors"] and "zz-bad.yaml" in meta["collection_errors"][0]
