"""``conformance analyze CAPTURE``: judge a pcap / pcapng offline.

Exit status:

====  ==========================================================================
0     analysed; no rule (or the case) failed
1     analysed; at least one rule (or the case) failed
2     usage error, or the file cannot be opened
3     the capture holds no SIP message and no keep-alive (nothing was judged)
4     the capture is truncated (what could be read was analysed)
5     a link type is not supported (its packets were skipped)
6     the file is not a pcap or pcapng capture
130   interrupted (Ctrl-C)
====  ==========================================================================

Problems with the input take precedence over verdicts: a partial analysis is reported, but the
status says the input was not whole.
"""

from __future__ import annotations

import argparse
import os
import sys
from pathlib import Path

from .progress import CaptureProgress, add_options as add_progress_option, wanted

EXIT_OK, EXIT_FAIL, EXIT_USAGE, EXIT_NO_SIP, EXIT_TRUNCATED, EXIT_LINK_TYPE, EXIT_NOT_CAPTURE = range(7)
EXIT_INTERRUPTED = 130  # Ctrl-C (128 + SIGINT, as shells report it)


def _parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(prog="conformance analyze",
                                description="Judge SIP Outbound (RFC 5626) behaviour offline from a pcap/pcapng.",
                                epilog=__doc__.split("Exit status:")[1] if __doc__ else None,
                                formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("capture", help="pcap or pcapng file")
    p.add_argument("--json", metavar="FILE", help="write the analysis as JSON")
    p.add_argument("--html", metavar="FILE", help="write the analysis as a self-contained HTML page")
    p.add_argument("--case", metavar="CASE.yaml", help="re-judge this suite case from the capture (a case file, or "
                   "a folder such as testcases/ searched for the case id)")
    p.add_argument("--id", dest="case_id", metavar="ID", help="which case of a multi-case file (default: the "
                   "capture's file name, <ID>-<transport>.pcap)")
    p.add_argument("--tls-keylog", metavar="FILE", help="NSS key log (SSLKEYLOGFILE format) with the TLS sessions' "
                   "secrets, beside those of a pcapng's Decryption Secrets Blocks; TLS records without their "
                   "secrets are not judged (the verdict is then at best inconclusive)")
    p.add_argument("--transport", choices=("udp", "tcp", "tls", "ws", "wss"), help="the case's transport (default: from the file name)")
    p.add_argument("--target", metavar="PROFILE", help="target profile: for --case its strict flag and timers; "
                   "its capability outbound holds a registrar that shows no RFC 5626 to RFC 5626's duties "
                   "(without it, such a registrar is classified legacy and those rules are recorded only); "
                   "a UE's profile (role: ue): the capabilities the UE checks hold the UEs to")
    p.add_argument("--strict", action="store_true", help="SHOULD violations fail")
    p.add_argument("--keepalive-bound", type=float, default=10.0,
                   help="seconds a CRLF ping / STUN request may wait for its answer (RFC 5626 §4.4.1: 10)")
    p.add_argument("-j", "--processes", default="auto", metavar="N",
                   help="split the analysis by AOR over N processes (same results; a capture with other "
                        "requests than REGISTER is analysed in one); auto: 2 for a capture of 32 MB or more "
                        "when there are 2 CPUs, else 1")
    p.add_argument("--ue-by", choices=("instance", "aor"), default="instance",
                   help="what makes one UE in the UE findings: its AOR and +sip.instance (default), or its AOR "
                        "alone (a capture of one device per AOR: an instance that changes is then judged)")
    p.add_argument("--judge", choices=("network", "ue", "both"), default=None,
                   help="what decides the exit status: the network's rules (default), the UEs' checks "
                        "(default with a --target of role ue), or both")
    p.add_argument("-q", "--quiet", action="store_true", help="print only the verdict line (and no progress line)")
    add_progress_option(p)
    return p


def _processes(value: str, path: Path) -> int:
    if value != "auto":
        try:
            return max(1, int(value))
        except ValueError:
            return 1
    import threading

    if not hasattr(os, "fork") or threading.active_count() > 1 or path.stat().st_size < 32 << 20:
        return 1
    return min(2, os.cpu_count() or 1)


def main(argv: list[str] | None = None) -> int:
    from .capture import LINK_TYPE, NOT_A_CAPTURE, TRUNCATED

    args = _parser().parse_args(argv)
    path = Path(args.capture)
    if not path.is_file():
        print(f"conformance analyze: {path}: no such file", file=sys.stderr)
        return EXIT_USAGE
    if args.tls_keylog and not Path(args.tls_keylog).is_file():
        print(f"conformance analyze: --tls-keylog {args.tls_keylog}: no such file", file=sys.stderr)
        return EXIT_USAGE
    case_doc = None
    ue_caps = None  # a --target of role ue: the capabilities the UEs are judged against
    try:
        if args.case:
            from .rejudge import CaseSelectionError, rejudge_file

            try:
                analysis, case_doc = rejudge_file(path, Path(args.case), case_id=args.case_id,
                                                  transport=args.transport, target=args.target,
                                                  strict=args.strict or None, tls_keylog=args.tls_keylog)
            except CaseSelectionError as exc:
                print(f"conformance analyze: {exc}", file=sys.stderr)
                return EXIT_USAGE
        else:
            from .analyzer import analyze

            outbound = ue_caps = None
            if args.target:
                from ..yamlio.errors import CaseError as TargetError
                from ..targets.loader import load_target

                try:
                    target = load_target(Path(args.target))
                except (TargetError, OSError) as exc:
                    print(f"conformance analyze: cannot load target {args.target}: {exc}", file=sys.stderr)
                    return EXIT_USAGE
                if getattr(target, "role", "") == "ue":  # a UE's profile: what the UE declares
                    ue_caps = list(target.capabilities)
                else:
                    outbound = target.declares("outbound")
            show = wanted(sys.stderr, quiet=args.quiet, force=args.progress)
            with CaptureProgress(sys.stderr, show, "analyze", path.stat().st_size) as progress:
                analysis = analyze(str(path), strict=args.strict, keepalive_bound=args.keepalive_bound,
                                   processes=_processes(args.processes, path), outbound=outbound,
                                   tls_keylog=args.tls_keylog, ue_by=args.ue_by, ue_capabilities=ue_caps,
                                   on_progress=progress if show else None)
    except KeyboardInterrupt:  # the progress line is already blanked
        print("conformance analyze: interrupted", file=sys.stderr)
        return EXIT_INTERRUPTED
    except OSError as exc:
        print(f"conformance analyze: {path}: {exc}", file=sys.stderr)
        return EXIT_USAGE
    from ..report.capture_analysis import console, to_dict, write_html, write_json

    doc = to_dict(analysis, case_doc)
    if args.json:
        write_json(Path(args.json), doc)
    if args.html:
        write_html(Path(args.html), doc)
    text = console(doc)
    print(text.splitlines()[-1] if args.quiet else text)
    kinds = {p.kind for p in analysis.problems}
    for p in analysis.problems:
        print(f"conformance analyze: {p.kind}: {p.message}", file=sys.stderr)
    if NOT_A_CAPTURE in kinds:
        return EXIT_NOT_CAPTURE
    if TRUNCATED in kinds:
        return EXIT_TRUNCATED
    if LINK_TYPE in kinds:
        return EXIT_LINK_TYPE
    if analysis.messages == 0 and not any(r.evaluated for r in analysis.judge.results.values()):
        # Nothing judged: no SIP message, and no keep-alive either (a capture of keep-alives
        # alone is judged on them, below).
        unread = doc.get("streams", {}).get("not_judged")
        print(f"conformance analyze: {path}: no SIP message or keep-alive found"
              + (f" ({unread})" if unread else ""), file=sys.stderr)
        return EXIT_NO_SIP
    verdict = case_doc["verdict"] if case_doc is not None else doc["verdict"]
    judge = args.judge or ("ue" if ue_caps is not None else "network")
    verdicts = {"network": [verdict], "ue": [doc.get("ue_verdict")], "both": [verdict, doc.get("ue_verdict")]}[judge]
    return EXIT_FAIL if "fail" in verdicts else EXIT_OK


if __name__ == "__main__":
    sys.exit(main())
