"""The ``conformance`` command: run the suite, run the reference CSCF, list cases."""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

from . import __version__


def _repo_root() -> Path:
    return Path(__file__).resolve().parent.parent


def default_cases_dir() -> Path:
    for base in (Path.cwd(), _repo_root()):
        if (base / "testcases").is_dir():
            return base / "testcases"
    return Path.cwd() / "testcases"


def cmd_run(args: argparse.Namespace, extra: list[str]) -> int:
    import pytest

    cases = [str(p) for p in (args.cases or [default_cases_dir()])]
    reports = Path(args.reports_dir)
    argv = cases + [
        "-p", "no:cacheprovider",
        "--continue-on-collection-errors",
        f"--reports-dir={reports}",
        f"--pcap-dir={args.pcap_dir}",
        f"--html={reports / 'report.html'}", "--self-contained-html",
        "-o", "console_output_style=count",
        "-rN",
    ]
    if args.target:
        argv.append(f"--target={args.target}")
    if args.keyword:
        argv += ["-k", args.keyword]
    if args.marker:
        argv += ["-m", args.marker]
    if args.strict:
        argv.append("--conformance-strict")
    argv.append("-q" if args.quiet else "-v")  # one line per case with its verdict, by default
    if args.jobs:
        argv += ["-n", str(args.jobs)]
    argv += extra
    return int(pytest.main(argv))


def cmd_list(args: argparse.Namespace) -> int:
    from .cases.errors import CaseError
    from .cases.loader import load_case_file
    from .engine.runner import not_applicable_reason

    if getattr(args, "coverage", False):
        return cmd_coverage(args)
    target = None
    if args.target:
        from .targets.loader import load_target

        target = load_target(Path(args.target))
    status = 0
    for path in sorted(Path(p) for d in (args.cases or [default_cases_dir()]) for p in Path(d).rglob("*.y*ml")):
        try:
            cases = load_case_file(path)
        except CaseError as exc:
            print(f"error: {exc}", file=sys.stderr)
            status = 2
            continue
        for c in cases:
            for t in c.transports:
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
    return 2 if errors else 0


def main(argv: list[str] | None = None) -> int:
    argv = list(sys.argv[1:] if argv is None else argv)
    extra: list[str] = []
    if "--" in argv:
        i = argv.index("--")
        argv, extra = argv[:i], argv[i + 1 :]
    p = argparse.ArgumentParser(prog="conformance", description=__doc__)
    p.add_argument("--version", action="version", version=f"%(prog)s {__version__}")
    sub = p.add_subparsers(dest="command", required=True)

    r = sub.add_parser("run", help="run the suite against a target (default: embedded reference CSCF)")
    r.add_argument("--target", help="target profile YAML (default: targets/reference-rel8.yaml)")
    r.add_argument("-k", dest="keyword", help="select cases by keyword expression (as pytest -k)")
    r.add_argument("-m", dest="marker", help="select cases by requirement marker, e.g. R2 (as pytest -m)")
    r.add_argument("--strict", action="store_true", help="SHOULD violations fail the case")
    r.add_argument("--reports-dir", default="reports")
    r.add_argument("--pcap-dir", default="pcaps")
    r.add_argument("-n", dest="jobs", help="parallel workers (pytest-xdist), e.g. auto")
    r.add_argument("-q", dest="quiet", action="store_true", help="one character per case instead of a line")
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

    an = sub.add_parser("analyze", help="judge a pcap/pcapng offline (conformance analyze -h)", add_help=False)
    an.add_argument("rest", nargs=argparse.REMAINDER)
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
    return 2


if __name__ == "__main__":
    sys.exit(main())
