"""``conformance load``: REGISTER load against a registrar / S-CSCF (or the embedded reference).

    conformance load --target targets/kamailio-registrar.yaml --transport udp --ues 5000 --rate 1000
    conformance load --embedded --ues 200 --rate 200 --reg2-share 0.5 --refreshes 2 --json load.json
    conformance load --embedded --transport wss --ues 200 --rate 200 --refreshes 5

Prints a progress line every second, then the rate, the latency percentiles and the failures
by cause; ``--json`` and ``--html`` write them (the HTML page with a plot).  Over tls, ws and wss
each flow's connection set-up (TLS handshake, WebSocket upgrade) is counted apart: how many, and
their mean wall and CPU time.  Exit status: 0 when
every transaction got a 2xx, 1 when some failed, 3 on a usage error.
"""

from __future__ import annotations

import argparse
import os
import sys
from pathlib import Path

from .scenario import LoadScenario


def _columns() -> int:
    """The terminal's width as ``shutil.get_terminal_size`` gives it ($COLUMNS, else stdout's
    terminal, else 80), without importing shutil (and its compression modules) at start-up."""
    try:
        columns = int(os.environ.get("COLUMNS", "0"))
    except ValueError:
        columns = 0
    if columns <= 0:
        try:
            columns = os.get_terminal_size(sys.__stdout__.fileno()).columns
        except (AttributeError, ValueError, OSError):
            columns = 0
    return columns or 80


class _HelpFormatter(argparse.RawDescriptionHelpFormatter):
    """argparse's formatter with the width argparse would find (``_columns``): argparse makes
    one for every option added, and finding the width itself imports shutil."""

    def __init__(self, prog, indent_increment=2, max_help_position=24, width=None):
        super().__init__(prog, indent_increment, max_help_position, _columns() - 2 if width is None else width)


def machine() -> dict:
    """What the result document says of the machine: ``platform.platform()``'s text on Linux made
    from uname(2) and the C library's version without the platform module, whose ``platform()``
    runs ``uname -p`` in a child process (CPU the benchmark counts as the generator's)."""
    u = os.uname()
    try:
        libc = os.confstr("CS_GNU_LIBC_VERSION") if u.sysname == "Linux" else None
    except (ValueError, OSError):
        libc = None
    parts = libc.split(None, 1) if libc else []
    if len(parts) == 2:  # platform._platform's text and clean-up
        text = "-".join(x.strip() for x in (u.sysname, u.release, u.machine, "with", "".join(parts)) if x)
        for c in ' /\\:;"()':
            text = text.replace(c, "_" if c == " " else "-")
        text = text.replace("unknown", "")
        while "--" in text:
            text = text.replace("--", "-")
        text = text.rstrip("-")
    else:
        import platform

        text = platform.platform()
    return {"platform": text, "cpu_count": os.cpu_count(), "python": sys.version.split()[0]}


def build_parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(prog="conformance load", description=__doc__.split("\n\n")[0],
                                formatter_class=_HelpFormatter,
                                epilog=__doc__.split("\n\n", 1)[1])
    where = p.add_argument_group("where")
    where.add_argument("--target", help="target profile YAML (host, port, domain, ue_addresses); not started")
    where.add_argument("--host", help="SUT address (default: the profile's, else 127.0.0.1)")
    where.add_argument("--port", type=int, help="SUT port (default: the profile's, else 5060)")
    where.add_argument("--domain", help="home domain (default: the profile's, else ims.test)")
    where.add_argument("--ue-address", action="append", dest="ue_addresses",
                       help="a local address for the UEs (repeat; the second is Reg2's, the third Reg1b's)")
    where.add_argument("--embedded", action="store_true", help="start the embedded reference CSCF in this process")
    what = p.add_argument_group("what")
    what.add_argument("--transport", choices=("udp", "tcp", "tls", "ws", "wss"), default="udp",
                      help="tls / ws / wss: the target's ports:, tls: and ws: settings (--embedded: the "
                           "reference's listeners, the suite's test CA)")
    what.add_argument("--ues", type=int, default=1000, help="UEs (AORs), default 1000")
    what.add_argument("--rate", type=float, default=500.0, help="initial registrations started per second")
    what.add_argument("--reg2-share", type=float, default=0.0,
                      help="share of UEs that add a second flow (reg-id 2, second address), 0..1")
    what.add_argument("--refreshes", type=int, default=1, help="refreshes per flow (-1: until --duration)")
    what.add_argument("--refresh-interval", type=float, default=1.0, help="seconds from a 2xx to the next refresh")
    what.add_argument("--reg1b-share", type=float, default=0.0,
                      help="share of refreshes sent as Reg1b (same reg-id from another address), 0..1")
    what.add_argument("--storm-at", type=float, help="seconds after the start: every registered flow refreshes at once")
    what.add_argument("--expires", type=int, default=600)
    what.add_argument("--duration", type=float, help="stop starting transactions after this many seconds")
    what.add_argument("--max-outstanding", type=int, default=5000, help="transactions in progress at once")
    what.add_argument("--tcp-connections", type=int, default=0,
                      help="TCP: connections per address shared by the flows (default 0: one per flow)")
    what.add_argument("--udp-unconnected", dest="udp_connect", action="store_false",
                      help="UDP: sockets not connected to the SUT (for one that answers from another address "
                           "or port; each send then names the destination)")
    what.add_argument("--udp-unbatched", dest="udp_batch", action="store_false",
                      help="UDP: one system call per datagram (default on Linux: a turn's datagrams in one "
                           "sendmmsg, the responses read by recvmmsg)")
    what.add_argument("--turn-ms", type=float, default=None,
                      help="the generator's shortest turn in ms (default 2 over UDP; 1 over TCP, TLS, WS and WSS, "
                           "up to 2 at rates that fill a 1 ms turn with fewer than 24 requests; at least 1): "
                           "what comes due within "
                           "a turn leaves together, over UDP in clumps of a turn's worth of the offered rate; "
                           "longer turns cost less CPU per transaction but send larger bursts")
    what.add_argument("--timeout", type=float, default=8.0, help="seconds a transaction may take (Timer F bound)")
    what.add_argument("--auth-password", help="answer Digest (MD5) challenges with this password")
    out = p.add_argument_group("output")
    out.add_argument("--json", metavar="FILE")
    out.add_argument("--html", metavar="FILE")
    out.add_argument("-q", "--quiet", action="store_true", help="no progress lines")
    return p


def scenario_from_args(args) -> LoadScenario:
    sc = LoadScenario()
    if args.target:
        from ..resources import profile_path
        from ..targets.loader import load_target

        path = Path(args.target)
        if not path.exists() and profile_path(args.target) is not None:
            path = profile_path(args.target)
        t = load_target(path)
        sc.host, sc.port, sc.domain = t.host, t.port_of(args.transport), t.domain
        sc.ue_addresses = list(t.ue_addresses)
        if args.transport in ("tls", "ws", "wss"):
            from ..engine.streamsetup import tls_client, ws_client

            tls, ws = tls_client(t, None), ws_client(t)
            sc.tls_ca, sc.tls_server_name, sc.tls_verify = tls.ca, tls.server_name, tls.verify
            sc.ws_path, sc.ws_host = ws.path, ws.host
    for name in ("host", "port", "domain", "ue_addresses"):
        v = getattr(args, name)
        if v:
            setattr(sc, name, v)
    for name in ("transport", "ues", "rate", "reg2_share", "refreshes", "refresh_interval", "reg1b_share",
                 "storm_at", "expires", "duration", "max_outstanding", "tcp_connections", "timeout", "auth_password",
                 "turn_ms", "udp_connect", "udp_batch"):
        setattr(sc, name, getattr(args, name))
    return sc


def _progress_printer(stream):
    def show(s: dict) -> None:
        lat = f"{s['latency_ms']} ms" if s["latency_ms"] is not None else "-"
        print(f"[{s['t']:6.1f} s] sent {s['sent']}  2xx {s['ok']}  failed {s['failed']}  "
              f"in progress {s['outstanding']}  {s['rate']}/s  mean latency {lat}", file=stream, flush=True)
    return show


def run(sc: LoadScenario, *, progress=None, embedded: bool = False) -> dict:
    """Run one scenario; the result document (scenario, machine, summary)."""
    from .generator import LoadGenerator

    ref = None
    if embedded:
        from ..sut.config import SutConfig
        from ..sut.server.reference import ReferenceCscf

        flows = sc.ues * 2 + 16
        if sc.transport != "udp" and sc.tcp_connections == 0 and flows > 200:
            sc.tcp_connections = 8  # the reference accepts at most 256 connections (sut/server/connections.py)
        streams = {f"{sc.transport}_port": 0} if sc.transport in ("tls", "ws", "wss") else {}
        ref = ReferenceCscf(SutConfig(max_bindings=max(10_000, flows), **streams), host=sc.host, port=0)
        ref.start()
        sc.port = ref.ports[sc.transport]
        if sc.transport in ("tls", "wss"):
            from ..wire.testca import ensure_test_ca

            sc.tls_ca, sc.tls_server_name = str(ensure_test_ca().ca_cert), "ims.test"
    try:
        stats = LoadGenerator(sc, progress=progress).run()
    finally:
        if ref is not None:
            ref.stop()
    return {"tool": "conformance load", "scenario": sc.to_dict(),
            "machine": machine(),
            "embedded_reference": embedded, "summary": stats.summary()}


def main(argv: list[str] | None = None) -> int:
    p = build_parser()
    try:
        args = p.parse_args(argv)
    except SystemExit as exc:
        return 0 if exc.code == 0 else 3
    try:
        sc = scenario_from_args(args)
    except Exception as exc:  # a bad profile
        print(f"conformance load: {exc}", file=sys.stderr)
        return 3
    if sc.ues < 1 or sc.rate < 0 or not (0 <= sc.reg2_share <= 1) or not (0 <= sc.reg1b_share <= 1):
        print("conformance load: --ues must be >= 1, --rate >= 0, shares within 0..1", file=sys.stderr)
        return 3
    if sc.refreshes < 0 and sc.duration is None:
        print("conformance load: --refreshes -1 (until the end) needs --duration", file=sys.stderr)
        return 3
    doc = run(sc, progress=None if args.quiet else _progress_printer(sys.stderr), embedded=args.embedded)
    s = doc["summary"]
    lat = s["latency_ms"]
    print(f"{s['ok']} of {s['transactions']} REGISTER transactions got a 2xx in {s['elapsed_s']} s: "
          f"{s['rate_per_s']}/s (peak {s['peak_rate_per_s']}/s), {s['retransmissions']} retransmission(s)")
    print(f"latency ms: p50 {lat['p50']}  p90 {lat['p90']}  p99 {lat['p99']}  max {lat['max']}")
    if "connections" in s:
        c = s["connections"]
        print(f"{sc.transport} connection set-ups (counted apart): {c['set_ups']}, {c['failed']} failed; "
              f"mean {c['wall_ms_mean']} ms wall, {c['cpu_ms_mean']} ms CPU each")
    if s["failures"]:
        print("failures: " + ", ".join(f"{k}: {v}" for k, v in sorted(s["failures"].items(), key=lambda kv: -kv[1])))
    else:
        print("failures: none")
    if s["ok"] == 0 and sc.transport == "udp" and sc.udp_connect:
        print("hint: no 2xx at all over UDP; the generator's sockets are connected to "
              f"{sc.host}:{sc.port} and hear only answers from there: a SUT that answers from another "
              "address or port needs --udp-unconnected", file=sys.stderr)
    from .stats import write_html, write_json

    if args.json:
        write_json(Path(args.json), doc)
    if args.html:
        write_html(Path(args.html), doc)
    return 0 if s["failed"] == 0 and s["ok"] > 0 else 1


if __name__ == "__main__":
    sys.exit(main())
