"""``conformance replay CAPTURE --target PROFILE``: replay the UE side of a capture against a SUT.

Exit status: 0 every answer matches the captured one on what matters; 1 at least one differs;
2 usage error or unreadable capture; 3 the capture holds no UE request to replay; 4 the SUT
could not be started or reached; 130 interrupted (Ctrl-C).
"""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path

from .progress import CaptureProgress, CountProgress, add_options as add_progress_option, wanted

EXIT_SAME, EXIT_DIFFERENT, EXIT_USAGE, EXIT_NOTHING, EXIT_UNREACHABLE = range(5)
EXIT_INTERRUPTED = 130


def _parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(prog="conformance replay", description=__doc__.split("\n\n")[0],
                                epilog=__doc__.split("\n\n", 1)[1], formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("capture", help="pcap or pcapng file")
    p.add_argument("--target", required=True, help="target profile of the SUT to replay against")
    p.add_argument("--ue", action="append", metavar="IP", help="the UE side's address (default: who sends REGISTER)")
    p.add_argument("--tls-keylog", metavar="FILE", help="NSS key log with the captured TLS sessions' secrets "
                   "(beside a pcapng's Decryption Secrets Blocks)")
    p.add_argument("--keep-timing", action="store_true", help="keep the captured gaps between requests")
    p.add_argument("--output", metavar="PCAP", help="the new capture (default: CAPTURE.replay.pcap beside it; "
                   ".replay.pcapng when a flow is replayed over TLS, with its keys)")
    p.add_argument("--json", metavar="FILE", help="write the comparison as JSON")
    p.add_argument("--as-case", metavar="YAML", nargs="?", const="", help="also write a YAML case skeleton "
                   "(default: testcases/replayed/<capture name>.yaml)")
    p.add_argument("-q", "--quiet", action="store_true", help="print only the summary line (and no progress line)")
    add_progress_option(p)
    return p


def main(argv: list[str] | None = None) -> int:
    try:
        return _main(_parser().parse_args(argv))
    except KeyboardInterrupt:  # any progress line is already blanked
        print("conformance replay: interrupted", file=sys.stderr)
        return EXIT_INTERRUPTED


def _main(args: argparse.Namespace) -> int:
    path = Path(args.capture)
    if not path.is_file():
        print(f"conformance replay: {path}: no such file", file=sys.stderr)
        return EXIT_USAGE
    from ..control.sutctl import SutController, SutStartError
    from ..targets.loader import load_target
    from .replay import Replayer, load_exchanges

    try:
        target = load_target(Path(args.target))
    except Exception as exc:  # a bad profile: its own precise message
        print(f"conformance replay: {exc}", file=sys.stderr)
        return EXIT_USAGE
    show = wanted(sys.stderr, quiet=args.quiet, force=args.progress)
    with CaptureProgress(sys.stderr, show, "replay (reading)", path.stat().st_size) as progress:
        exchanges, problems = load_exchanges(str(path), set(args.ue) if args.ue else None, args.tls_keylog,
                                             on_progress=progress if show else None)
    for p in problems:
        print(f"conformance replay: warning: {p}", file=sys.stderr)
    if not exchanges:
        print(f"conformance replay: {path}: no request from the UE side to replay", file=sys.stderr)
        return EXIT_NOTHING
    if args.as_case is not None:
        from .skeleton import case_skeleton

        out = Path(args.as_case) if args.as_case else Path("testcases/replayed") / f"{path.stem}.yaml"
        out.parent.mkdir(parents=True, exist_ok=True)
        out.write_text(case_skeleton(exchanges, path.name), encoding="utf-8")
        print(f"case skeleton: {out}")
    sut = SutController(target)
    try:
        address = sut.start()
    except SutStartError as exc:
        print(f"conformance replay: {exc}", file=sys.stderr)
        return EXIT_UNREACHABLE
    try:
        replayer = Replayer(target, address, keep_timing=args.keep_timing)
        with CountProgress(sys.stderr, show, "replay", "requests") as progress:
            steps = replayer.run(exchanges, on_step=progress if show else None)
    finally:
        sut.stop()
    tls = any(ex.flow[0] in ("tls", "wss") for ex in exchanges)
    output = Path(args.output) if args.output else path.with_suffix(".replay.pcapng" if tls else ".replay.pcap")
    replayer.write(output)
    differing = 0
    doc = []
    for s in steps:
        cap = f"{s.exchange.captured.status}" if s.exchange.captured else "-"
        new = f"{s.replayed.status}" if s.replayed else "-"
        mark = "same" if not s.diffs else "DIFFERENT"
        differing += bool(s.diffs)
        if not args.quiet:
            print(f"#{s.exchange.number:<5} {s.exchange.request.summary()[:40]:<40} captured {cap:<4} "
                  f"replayed {new:<4} {mark}" + (f"  ({s.note})" if s.note else ""))
            for d in s.diffs:
                print(f"        {d.header}: captured {d.captured!r}\n"
                      f"        {' ' * len(d.header)}  replayed {d.replayed!r}")
        doc.append({"packet": s.exchange.number, "request": s.exchange.request.summary(), "captured": cap,
                    "replayed": new, "note": s.note, "diffs": [vars(d) for d in s.diffs]})
    print(f"{len(steps)} request(s) replayed, {differing} answer(s) differ; new capture: {output}")
    if args.json:
        Path(args.json).write_text(json.dumps({"capture": str(path), "target": target.name, "steps": doc}, indent=2))
    unreachable = all(s.replayed is None and "connect" in s.note for s in steps)
    if unreachable:
        return EXIT_UNREACHABLE
    return EXIT_DIFFERENT if differing else EXIT_SAME
