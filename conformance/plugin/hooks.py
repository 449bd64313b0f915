"""The pytest plugin (entry point ``pytest11``): YAML cases as items, verdicts as outcomes.

Verdicts map onto pytest so that CI and pytest's own options work: pass -> passed, fail ->
failed, inconclusive and error -> failed (with their own status word, never shown as a pass),
not applicable -> skipped with the reason.  The exit status is therefore 0 exactly when every
applicable case passed.  Each case's result travels on its report (``report.conformance``), so
results are gathered the same way with and without pytest-xdist.
"""

from __future__ import annotations

import datetime as _dt
import os
import re
import signal
import sys
import threading
from pathlib import Path

import pytest

from .. import __version__
from ..meaning.verdict import Verdict
from ..report.certificate import write_certificate
from ..report.junit import write_junit
from ..report.summary import summary_lines, write_results
from ..resources import profile_path
from ..targets.loader import load_target
from ..targets.model import EmbeddedSut, Target
from . import html_hooks
from ..uecert.loader import is_ue_case_file
from .items import CaseFile
from .ue_items import UeCaseFile
from .state import STATE_KEY, RunState

VERDICT_WORDS = {
    "pass": ("passed", "PASS"),
    "fail": ("failed", "FAIL"),
    "inconclusive": ("inconclusive", "INCONCLUSIVE"),
    "not applicable": ("not applicable", "NOT APPLICABLE"),
    "error": ("error", "ERROR"),
}
LETTERS = {"pass": ".", "fail": "F", "inconclusive": "I", "not applicable": "n", "error": "E"}


def pytest_addoption(parser):
    g = parser.getgroup("conformance", "SIP Outbound conformance suite")
    g.addoption("--target", default=None, metavar="PROFILE",
                help="target profile (YAML) of the SUT; default: the embedded reference CSCF (rel8)")
    g.addoption("--conformance-strict", dest="conformance_strict", action="store_true", default=None,
                help="SHOULD violations fail the case instead of warning")
    g.addoption("--pcap-dir", default="pcaps", help="where each case's pcap is written (default: pcaps)")
    g.addoption("--reports-dir", default="reports",
                help="where results.json and junit.xml are written (default: reports)")
    g.addoption("--long", dest="conformance_long", action="store_true", default=False,
                help="UE targets: also run the long cases (long: true, RFC default timers; make run-ue)")
    g.addoption("--case-path", dest="case_paths", action="append", default=[], metavar="PATH",
                help="a folder (or file) of case files wherever it is (conformance run passes its "
                     "arguments so); YAML files there that look like cases (a top-level id: or steps:) "
                     "are collected, besides those under a folder named testcases")


def _default_target_path(config) -> Path | None:
    for base in (Path(str(config.rootpath)), Path(__file__).resolve().parents[2]):
        p = base / "targets" / "reference-rel8.yaml"
        if p.exists():
            return p
    return profile_path("reference-rel8")  # an installed package: conformance/profiles/


def _load_target(config):
    opt = config.getoption("target")
    if opt:
        # a file, or the name of a profile the suite ships (--target reference-rel7)
        if not Path(opt).exists() and profile_path(opt) is not None:
            return load_target(profile_path(opt))
        return load_target(Path(opt))
    path = _default_target_path(config)
    if path is not None:
        return load_target(path)
    return Target(name="reference-rel8", port=0, capabilities=["outbound", "path"], embedded=EmbeddedSut())


def pytest_configure(config):
    for req, text in (("R1", "outbound signalled"), ("R2", "all bindings listed"),
                      ("R3", "instance and reg-id decide add or replace"), ("P1", "Rel-7 S-CSCF"),
                      ("P2", "Rel-7 P-CSCF"), ("REGEV", "reg event package (RFC 3680)"),
                      ("GRUU", "GRUUs (RFC 5627)"), ("transport_udp", "over UDP"), ("transport_tcp", "over TCP")):
        config.addinivalue_line("markers", f"{req}: {text}")
    if config.getoption("target"):
        config.option.continue_on_collection_errors = True
    try:
        target = _load_target(config)
    except Exception as exc:  # a bad profile is a usage error, reported before anything runs
        raise pytest.UsageError(str(exc)) from None
    strict = config.getoption("conformance_strict")
    # The SUT starts lazily, at the first case that runs, so an xdist controller never starts it.
    state = config.stash[STATE_KEY] = RunState(target, pcap_dir=Path(config.getoption("pcap_dir")),
                                               reports_dir=Path(config.getoption("reports_dir")),
                                               strict=True if strict else None,
                                               long=bool(config.getoption("conformance_long")))
    config.pluginmanager.register(ResultRecorder(state), "conformance-results")
    if config.pluginmanager.hasplugin("html"):
        config.pluginmanager.register(html_hooks, "conformance-html")
    _catch_sigterm(config)


_SIGTERM_PREVIOUS = pytest.StashKey[object]()


def _sigterm_interrupts(signum, frame):
    raise KeyboardInterrupt(f"signal {signum}")


def _catch_sigterm(config) -> None:
    """Plain ``pytest testcases``: SIGTERM ends the run like Ctrl-C (reports written, marked
    incomplete, the SUT stopped).  ``conformance run`` installs the same handler itself; a
    handler someone else installed is left alone."""
    if threading.current_thread() is not threading.main_thread() or hasattr(config, "workerinput"):
        return
    if signal.getsignal(signal.SIGTERM) is signal.SIG_DFL:
        config.stash[_SIGTERM_PREVIOUS] = signal.signal(signal.SIGTERM, _sigterm_interrupts)


def pytest_unconfigure(config):
    previous = config.stash.get(_SIGTERM_PREVIOUS, None)
    if previous is not None:
        signal.signal(signal.SIGTERM, previous)

    state = config.stash.get(STATE_KEY, None)
    if state is not None:
        state.close()


_CASE_LIKE = re.compile(r"^(?:id|steps)[ \t]*:", re.M)
_GIVEN = pytest.StashKey[tuple]()


def _given(config) -> tuple[set[Path], list[Path]]:
    """(YAML files named on the command line, folders given with --case-path), resolved."""
    got = config.stash.get(_GIVEN, None)
    if got is None:
        base = Path(str(config.invocation_params.dir))
        files = set()
        for arg in config.args:
            p = (base / str(arg).split("::")[0]).resolve()
            if p.suffix in (".yaml", ".yml"):
                files.add(p)
        dirs = []
        for arg in config.getoption("case_paths") or []:
            p = (base / arg).resolve()
            if p.is_file():
                files.add(p)
            else:
                dirs.append(p)
        got = config.stash[_GIVEN] = (files, dirs)
    return got


def is_case_file(config, file_path: Path) -> bool:
    """A YAML file is collected as a case file when it lies under a folder named ``testcases``,
    when it was named on the command line (if it is no case, loading it says why), or when it
    lies under a folder given with --case-path and looks like a case (a top-level ``id:`` or
    ``steps:``; other YAML there, such as a target profile, is left alone)."""
    if file_path.suffix not in (".yaml", ".yml"):
        return False
    if "testcases" in file_path.parts:
        return True
    files, dirs = _given(config)
    path = file_path.resolve()
    if path in files:
        return True
    if any(d == path or d in path.parents for d in dirs):
        try:
            case_like = _CASE_LIKE.search(path.read_text(encoding="utf-8", errors="replace")) is not None
        except OSError:
            return True  # unreadable: loading it says so
        if not case_like:
            config.stash[STATE_KEY].not_cases.append(str(file_path))
        return case_like
    return False


def pytest_collect_file(parent, file_path: Path):
    """A UE target (role ue) collects only UE case files (top-level ``role: ue``); any other
    target never collects them (its expected tables are as before)."""
    if not is_case_file(parent.config, file_path):
        return None
    state = parent.config.stash.get(STATE_KEY, None)
    ue_target = state is not None and state.target.role == "ue"
    if is_ue_case_file(file_path):
        return UeCaseFile.from_parent(parent, path=file_path) if ue_target else None
    return None if ue_target else CaseFile.from_parent(parent, path=file_path)


class ResultRecorder:
    """The hooks pytest calls without the config (a report alone), bound to the run's state.
    Results are gathered from the reports, so they arrive alike with and without pytest-xdist."""

    def __init__(self, state: RunState):
        self.state = state

    def pytest_collectreport(self, report):
        """A case file that could not be loaded: remembered for the summary and the certificate
        (a run with one is never an overall pass)."""
        if report.failed:
            self.state.collection_errors.append(str(report.nodeid or report.fspath))

    def pytest_runtest_logreport(self, report):
        data = getattr(report, "conformance", None)
        if data and report.when == "call":
            self.state.results.append(data)


@pytest.hookimpl(hookwrapper=True)
def pytest_runtest_makereport(item, call):
    outcome = yield
    report = outcome.get_result()
    result = getattr(item, "result", None)
    if call.when == "call" and result is not None:
        report.conformance = result.to_dict()
        if result.verdict == Verdict.NOT_APPLICABLE:
            # the case file and line, and the plain reason: not the place in items.py that skipped
            path, line, _ = item.reportinfo()
            report.longrepr = (os.fspath(path), line + 1, f"not applicable: {result.reason}")
        if item.config.pluginmanager.hasplugin("html"):
            report.extras = getattr(report, "extras", []) + html_hooks.extras_for(result, item.config)


def pytest_report_teststatus(report, config):
    data = getattr(report, "conformance", None)
    if data and report.when == "call":
        v = data["verdict"]
        cat, word = VERDICT_WORDS[v]
        return cat, LETTERS[v], word
    return None


def pytest_sessionfinish(session, exitstatus):
    config = session.config
    if hasattr(config, "workerinput"):
        return
    state = config.stash[STATE_KEY]
    results = state.results
    collect_errors = list(dict.fromkeys(state.collection_errors))
    interrupted = int(exitstatus) == int(pytest.ExitCode.INTERRUPTED)
    if not results and not interrupted:
        return
    reports_dir = Path(config.getoption("reports_dir"))
    meta = {
        "suite": "outbound-conformance", "version": __version__,
        "finished": _dt.datetime.now(_dt.timezone.utc).isoformat(timespec="seconds"),
        "target": state.target_info, "exitstatus": int(exitstatus),
        "complete": int(exitstatus) in (0, 1),
        # pytest's INTERRUPTED (Ctrl-C, SIGINT, SIGTERM): conformance run maps it to its exit code 5
        "interrupted": interrupted,
        # set when the run gave up on a SUT that stopped answering (target sut_dead_after)
        "sut_dead": state.sut_dead,
        # files that could not be loaded: the run is then no verdict on the SUT (overall: error)
        "collection_errors": collect_errors,
        "command": " ".join(sys.argv), "cwd": os.getcwd(),
    }
    write_results(reports_dir / "results.json", results, meta)
    write_junit(reports_dir / "junit.xml", results, meta)
    write_certificate(reports_dir, results, meta)


def pytest_terminal_summary(terminalreporter, exitstatus, config):
    if hasattr(config, "workerinput"):
        return  # the controller reports the whole run
    state = config.stash[STATE_KEY]
    skipped = list(dict.fromkeys(state.not_cases))
    if skipped:
        terminalreporter.write_line(f"not collected as cases (no top-level id: or steps:): {', '.join(skipped[:10])}"
                                    + (f" and {len(skipped) - 10} more" if len(skipped) > 10 else ""))
    results = state.results
    if not results:
        return
    tr = terminalreporter
    tr.section("conformance verdicts")
    for line in summary_lines(results, collection_errors=len(set(state.collection_errors))):
        tr.write_line(line)
    tr.write_line(f"results: {Path(config.getoption('reports_dir')) / 'results.json'}  "
                  f"junit: {Path(config.getoption('reports_dir')) / 'junit.xml'}  "
                  f"certificate: {Path(config.getoption('reports_dir')) / 'certificate.html'}  "
                  f"pcaps: {config.getoption('pcap_dir')}/")


__all__ = ["Verdict"]
