"""The ``conformance`` command: run the suite, run the reference CSCF, list cases, write a profile.

``conformance run`` exits 0 (all applicable passed / all verdicts as in the baseline), 1
(failures), 2 (inconclusive only), 3 (usage or input error), 4 (SUT unreachable) or 5
(interrupted); see conformance/gate.py and docs/ci-gate.md.
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

from . import __version__
from .report.html_report import PYTEST_HTML_OPTIONS


def _repo_root() -> Path:
    return Path(__file__).resolve().parent.parent


def default_cases_dir() -> Path:
    """./testcases when there is one, else the suite's own cases (checkout or installed package)."""
    from .resources import cases_dir

    if (Path.cwd() / "testcases").is_dir():
        return Path.cwd() / "testcases"
    return cases_dir()


class _ArgumentParser(argparse.ArgumentParser):
    """A bad option is a usage error: exit 3 (argparse's default is 2, our "inconclusive")."""

    def error(self, message: str):
        self.print_usage(sys.stderr)
        self.exit(3, f"{self.prog}: error: {message}\n")


class _RunWatcher:
    """A plugin for the run of ``conformance run``: collection errors and interrupts."""

    def __init__(self) -> None:
        self.collection_errors = 0
        self.interrupted = False

    def pytest_collectreport(self, report) -> None:
        if report.failed:
            self.collection_errors += 1

    def pytest_keyboard_interrupt(self, excinfo) -> None:
        self.interrupted = True


def _sigterm_as_interrupt(signum, frame):
    raise KeyboardInterrupt(f"signal {signum}")


def cmd_run(args: argparse.Namespace, extra: list[str]) -> int:
    """pytest over the cases, then the CI gate's exit code (conformance/gate.py)."""
    import json
    import signal

    from . import gate
    from .baseline import Table, TableError, load_table

    def done(code: int, why: str = "", meaning: str = "") -> int:
        print(f"conformance: exit {code} ({meaning or gate.MEANING[code]}{': ' + why if why else ''})", flush=True)
        return code

    table: Table | None = None
    baseline = Path(args.baseline) if args.baseline else None
    if args.update_baseline and baseline is None:
        print("conformance run: --update-baseline needs --baseline FILE (the file to write)", file=sys.stderr)
        return done(gate.USAGE)
    if baseline is not None and (baseline.exists() or not args.update_baseline):
        try:
            table = load_table(baseline)
        except TableError as exc:
            print(f"conformance run: {exc}", file=sys.stderr)
            return done(gate.USAGE, "bad baseline")

    import pytest

    cases = [str(p) for p in (args.cases or [default_cases_dir()])]
    missing = [c for c in cases if not Path(c.split("::")[0]).exists()]
    if missing:
        print(f"conformance run: no such case file or folder: {', '.join(missing)}", file=sys.stderr)
        return done(gate.USAGE, f"no such case file or folder: {', '.join(missing)}")
    reports = Path(args.reports_dir)
    argv = cases + [
        "-p", "no:cacheprovider",
        # plugins of other packages that the YAML cases never use: Hypothesis's alone costs most
        # of a second of start-up (benchmarks/suite.py); pytest ignores -p no: for absent ones
        "-p", "no:hypothesispytest", "-p", "no:locust",
        "--continue-on-collection-errors",
        f"--reports-dir={reports}",
        f"--pcap-dir={args.pcap_dir}",
        f"--html={reports / 'report.html'}", "--self-contained-html",
        # the report's rows: failures first, not-applicable cases last and folded (report/html_report.py)
        *(arg for option in PYTEST_HTML_OPTIONS for arg in ("-o", option)),
        "-o", "console_output_style=count",
        # installed from a wheel, `conformance` is imported before pytest loads the plugin's entry
        # point, so pytest cannot assert-rewrite it (YAML cases need no rewriting)
        "-W", "ignore::pytest.PytestAssertRewriteWarning",
        "-rN",
    ]
    # the case files and folders given, wherever they are (not only under a folder named testcases)
    argv += [f"--case-path={c.split('::')[0]}" for c in cases]
    if args.target:
        argv.append(f"--target={args.target}")
    if args.keyword:
        argv += ["-k", args.keyword]
    if args.marker:
        argv += ["-m", args.marker]
    if args.strict:
        argv.append("--conformance-strict")
    if getattr(args, "long", False):
        argv.append("--long")
    argv.append("-q" if args.quiet else "-v")  # one line per case with its verdict, by default
    if args.jobs:
        argv += ["-n", str(args.jobs)]
    argv += extra
    results_path = reports / "results.json"
    try:
        results_path.unlink()  # a stale file from an earlier run must not be judged
    except FileNotFoundError:
        pass
    watcher = _RunWatcher()
    previous = signal.signal(signal.SIGTERM, _sigterm_as_interrupt)
    try:
        rc = int(pytest.main(argv, plugins=[watcher]))
    finally:
        signal.signal(signal.SIGTERM, previous)
    results: list[dict] = []
    if results_path.exists():
        results = json.loads(results_path.read_text(encoding="utf-8")).get("cases", [])

    if rc == gate.PYTEST_INTERRUPTED or watcher.interrupted:
        return done(gate.INTERRUPTED, f"{len(results)} finished case(s) reported in {results_path}, "
                                      "marked incomplete" if results else "no case finished")
    if rc in (gate.PYTEST_USAGE_ERROR, gate.PYTEST_INTERNAL_ERROR):
        return done(gate.USAGE, "internal error" if rc == gate.PYTEST_INTERNAL_ERROR else "pytest usage error (see above)")
    if watcher.collection_errors:
        return done(gate.USAGE, f"{watcher.collection_errors} case file(s) could not be loaded")
    if rc == gate.PYTEST_NO_TESTS or not results:
        return done(gate.USAGE, "no case selected")
    if gate.sut_unreachable(results):
        return done(gate.UNREACHABLE, "every applicable case inconclusive, nothing received from the SUT")
    if baseline is None:
        return done(gate.verdict_code(results))

    narrowed = bool(args.keyword or args.marker or args.cases)
    if table is not None:
        check = gate.check_baseline(table, results, narrowed=narrowed)
        for line in check.lines(baseline):
            print(line)
    if args.update_baseline:
        target = args.target or str(results[0].get("target") or "reference-rel8")
        # with -k, -m or case paths only the entries of the cases that ran are refreshed
        todo = gate.write_updated(baseline, table, results, target, keep_others=narrowed)
        print(f"wrote {baseline}: {len(results)} case(s)")
        if todo:
            print(f"{len(todo)} new fail(s) got why: \"TODO ...\": write what the SUT sends and which clause "
                  f"it breaks ({', '.join(todo)})")
        return done(gate.OK, meaning=f"baseline {baseline} written")
    code = gate.baseline_code(check.diffs)
    return done(code, meaning="every verdict is the accepted one" if code == gate.OK else
                f"{len(check.diffs)} difference(s) from the baseline")


def cmd_list(args: argparse.Namespace) -> int:
    from .yamlio.errors import CaseError
    from .cases.loader import load_case_file
    from .engine.applicability import item_transports, not_applicable_reason
    from .uecert.listing import is_ue_case_file, list_ue_case

    if getattr(args, "coverage", False):
        return cmd_coverage(args)
    target = None
    if args.target:
        from .targets.loader import load_target

        from .yamlio.errors import TargetError
        from .resources import profile_path

        path = Path(args.target)
        if not path.exists() and profile_path(args.target) is not None:
            path = profile_path(args.target)
        try:
            target = load_target(path)
        except TargetError as exc:
            print(f"error: {exc}", file=sys.stderr)
            return 3
    status = 0
    for path in sorted(Path(p) for d in (args.cases or [default_cases_dir()])
                       for p in ([Path(d)] if Path(d).is_file() else Path(d).rglob("*.y*ml"))):
        ue_target = target is not None and target.role == "ue"
        if ue_target or is_ue_case_file(path):
            # a UE target lists only UE cases (role: ue files), any other target never them
            if ue_target and is_ue_case_file(path):
                status = max(status, list_ue_case(path, target))
            continue
        try:
            cases = load_case_file(path)
        except CaseError as exc:
            print(f"error: {exc}", file=sys.stderr)
            status = 3  # input error, as for conformance run
            continue
        for c in cases:
            for t in item_transports(c, target):
                applies = ""
                if target is not None:
                    why = not_applicable_reason(c, t, target)
                    applies = "  [applies]" if why is None else f"  [not applicable: {why}]"
                print(f"{c.id}[{t}]  {','.join(c.requirements):<9} {c.title}{applies}")
    return status


def cmd_coverage(args: argparse.Namespace) -> int:
    """Each catalogue test purpose: the cases covering it, or why none does yet."""
    from .report.coverage import case_index, render_markdown, render_text

    index, errors = case_index([Path(p) for p in (args.cases or [default_cases_dir()])])
    for e in errors:
        print(f"error: {e}", file=sys.stderr)
    if args.markdown:
        sys.stdout.write(render_markdown(index))
    else:
        print("\n".join(render_text(index, uncovered_only=args.uncovered)))
    return 3 if errors else 0


def main(argv: list[str] | None = None) -> int:
    argv = list(sys.argv[1:] if argv is None else argv)
    extra: list[str] = []
    if "--" in argv:
        i = argv.index("--")
        argv, extra = argv[:i], argv[i + 1 :]
    p = _ArgumentParser(prog="conformance", description=__doc__.split("\n\n")[0])
    p.add_argument("--version", action="version", version=f"%(prog)s {__version__}")
    sub = p.add_subparsers(dest="command", required=True)

    r = sub.add_parser("run", help="run the suite against a target (default: embedded reference CSCF)")
    r.add_argument("--target", help="target profile YAML (default: targets/reference-rel8.yaml)")
    r.add_argument("-k", dest="keyword", help="select cases by keyword expression (as pytest -k)")
    r.add_argument("-m", dest="marker", help="select cases by requirement marker, e.g. R2 (as pytest -m)")
    r.add_argument("--strict", action="store_true", help="SHOULD violations fail the case")
    r.add_argument("--long", action="store_true",
                   help="UE targets (role ue): also run the long cases (RFC default timers; make run-ue)")
    r.add_argument("--reports-dir", default="reports")
    r.add_argument("--pcap-dir", default="pcaps")
    r.add_argument("-n", dest="jobs", help="parallel workers (pytest-xdist), e.g. auto")
    r.add_argument("-q", dest="quiet", action="store_true", help="one character per case instead of a line")
    r.add_argument("--baseline", metavar="FILE",
                   help="accepted verdicts (expected-table YAML): fail only on a difference from them")
    r.add_argument("--update-baseline", action="store_true",
                   help="with --baseline FILE: write FILE from this run (accepted fails keep their why)")
    r.add_argument("cases", nargs="*", help="case files or folders (default: testcases/)")

    s = sub.add_parser("sut", help="run the reference CSCF standalone", add_help=False)
    s.add_argument("rest", nargs=argparse.REMAINDER)

    ls = sub.add_parser("list", help="list the cases (and their applicability to a target)")
    ls.add_argument("--target")
    ls.add_argument("--coverage", action="store_true",
                    help="each catalogue test purpose: covered by which cases, or why not yet")
    ls.add_argument("--uncovered", action="store_true", help="with --coverage: only those not covered")
    ls.add_argument("--markdown", action="store_true", help="with --coverage: as docs/coverage.md")
    ls.add_argument("cases", nargs="*")

    ini = sub.add_parser("init", help="write a starter target profile for your SUT (asks on a terminal)")
    from .profile_init import add_arguments as _init_arguments

    _init_arguments(ini)

    sub.add_parser("replay", help="replay the UE side of a capture against a SUT (conformance replay -h)",
                   add_help=False)
    sub.add_parser("load", help="REGISTER load generator: rate, latency, failures (conformance load -h)",
                   add_help=False)
    an = sub.add_parser("analyze", help="judge a pcap/pcapng offline (conformance analyze -h)", add_help=False)
    an.add_argument("rest", nargs=argparse.REMAINDER)
    if argv[:1] == ["replay"]:
        from .analysis.replay_cli import main as replay_main

        return replay_main(argv[1:] + extra)
    if argv[:1] == ["load"]:
        from .load.cli import main as load_main

        return load_main(argv[1:] + extra)
    if argv[:1] == ["analyze"]:
        from .analysis.cli import main as analyze_main

        return analyze_main(argv[1:] + extra)
    if argv[:1] == ["sut"]:
        from .sut.cli import main as sut_main

        return sut_main(argv[1:] + extra)
    args = p.parse_args(argv)
    if args.command == "run":
        return cmd_run(args, extra)
    if args.command == "list":
        return cmd_list(args)
    if args.command == "init":
        from .profile_init import run as init_run

        return init_run(args)
    return 2


if __name__ == "__main__":
    sys.exit(main())
