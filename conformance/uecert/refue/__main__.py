"""The reference UE as a process: ``python -m conformance.uecert.refue --edge udp=127.0.0.1:5060 ...``.

It registers as booted, prints each trace line on stdout as it happens, and takes one command
a line on stdin: ``register [FLOW [ADDRESS]]``, ``add_flow ADDRESS``, ``move FLOW ADDRESS``,
``deregister FLOW`` / ``deregister all``, ``call AOR``, ``quit``.  It stops on ``quit``, end of
input, SIGTERM or after ``--duration`` seconds (a bound, default one hour), without
de-registering (a power-off).  For tools and the command driver; the suite's own driver runs
the agent in-process (conformance.uecert.drivers.reference).
"""

from __future__ import annotations

import argparse
import signal
import sys
import threading
import uuid
from pathlib import Path

from ..model import UeTimers
from . import FAULTS
from .agent import RefUe
from .config import TRANSPORTS, RefUeConfig


def _edge(text: str) -> tuple[str, tuple[str, int]]:
    transport, _, hostport = text.partition("=")
    host, _, port = hostport.rpartition(":")
    if not (transport and host and port.isdigit()):
        raise argparse.ArgumentTypeError(f"--edge wants TRANSPORT=HOST:PORT, not {text!r}")
    return transport, (host.strip("[]"), int(port))


def _instance(args) -> str:
    if args.instance:
        return args.instance if args.instance.startswith("<") else f"<{args.instance}>"
    path = Path(args.instance_file) if args.instance_file else None
    if path is not None and path.is_file() and path.read_text().strip():
        return path.read_text().strip()
    value = f"<urn:uuid:{uuid.uuid4()}>"
    if path is not None:
        path.write_text(value + "\n")
    return value


def parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(prog="python -m conformance.uecert.refue", description=__doc__.split("\n\n")[0])
    p.add_argument("--aor", required=True)
    p.add_argument("--impi")
    p.add_argument("--password", default="")
    p.add_argument("--domain")
    p.add_argument("--edge", type=_edge, action="append", required=True, help="TRANSPORT=HOST:PORT")
    p.add_argument("--transport", default="udp", choices=list(TRANSPORTS))
    p.add_argument("--ca", help="tls / wss: the CA file")
    p.add_argument("--address", action="append", help="a local address (repeat; flow 1 uses the first)")
    p.add_argument("--instance", help="urn:uuid:... (default: --instance-file, else a new one)")
    p.add_argument("--instance-file", help="keeps the instance across restarts")
    p.add_argument("--fault", choices=sorted(FAULTS))
    p.add_argument("--timers", default="30,90,1800", help="base_time_all_failed,base_time_not_all_failed,max_time")
    p.add_argument("--expires", type=int, default=3600)
    p.add_argument("--duration", type=float, default=3600.0)
    return p


def _run(ue: RefUe, line: str) -> bool:
    words = line.split()
    if not words:
        return True
    cmd, rest = words[0], words[1:]
    if cmd == "quit":
        return False
    if cmd == "register":
        ue.register(int(rest[0]) if rest else 1, rest[1] if len(rest) > 1 else None)
    elif cmd == "add_flow":
        ue.add_flow(rest[0])
    elif cmd == "move":
        ue.move(int(rest[0]), rest[1])
    elif cmd == "deregister":
        ue.deregister(None if rest[:1] == ["all"] else int(rest[0]), all=rest[:1] == ["all"])
    elif cmd == "call":
        ue.call(rest[0])
    else:
        raise ValueError(f"unknown command {cmd!r}")
    return True


def main(argv=None) -> int:
    args = parser().parse_args(argv)
    base_all, base_not_all, max_time = (float(x) for x in args.timers.split(","))
    domain = args.domain or args.aor.split("@", 1)[-1]
    cfg = RefUeConfig(aor=args.aor, impi=args.impi or args.aor.split(":", 1)[-1], password=args.password,
                      domain=domain, edge=dict(args.edge), transport=args.transport,
                      addresses=args.address or ["127.0.0.1"], instance=_instance(args), fault=args.fault,
                      expires=args.expires, ca_file=args.ca, timers=UeTimers(max_time=max_time, base_time_all_failed=base_all,
                                                            base_time_not_all_failed=base_not_all))
    done = threading.Event()
    signal.signal(signal.SIGTERM, lambda *_: done.set())
    ue = RefUe(cfg, on_trace=lambda t: print(t, flush=True))

    def commands():
        for line in sys.stdin:
            try:
                if not _run(ue, line):
                    break
            except Exception as exc:  # noqa: BLE001 - reported, the UE goes on
                print(f"error: {exc}", flush=True)
        done.set()

    ue.start()
    threading.Thread(target=commands, daemon=True).start()
    try:
        done.wait(args.duration)
    finally:
        ue.stop()
    return 0


if __name__ == "__main__":
    sys.exit(main())
