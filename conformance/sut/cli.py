"""``conformance sut``: run the reference CSCF until SIGINT or SIGTERM.

    conformance sut --mode rel8|rel7 --listen IP:PORT [--fault NAME ...] [--domain D]
                    [--flow-timer N] [--flow-grace S] [--min-expires N] [--allow-non-loopback]
                    [--topology registrar|edge|core] [--core-port N] [--edge-mode rel8|rel7]
                    [--next-hop IP:PORT] [--next-hop-transport udp|tcp]
                    [--core-transport udp|tcp] [--branch-timeout S] [--flow-token-key K]
                    [--digest-auth PASSWORD-TEMPLATE] [--[no-]reg-event] [--[no-]gruu]
                    [--ims [--subscribers FILE] [--pcscf-alg ALG/EALG ...]]
                    [--tls-port N] [--ws-port N] [--wss-port N] [--tls-cert FILE --tls-key FILE]
                    [--ws-auth REALM] [--tls-keylog FILE]

``--tls-port``/``--ws-port``/``--wss-port`` add SIP over TLS, WebSocket and secure WebSocket
(RFC 7118) listeners beside UDP/TCP (0 picks a free port; TLS tries 5061 first); the certificate
is the suite's test CA server pair unless ``--tls-cert``/``--tls-key`` name another.

``--listen`` is where UEs talk to the reference: the registrar (topology registrar) or the edge
proxy (edge, core).  In the core topology the S-CSCF listens on ``--core-port`` (0 picks one)
and the edge forwards to it; in the edge topology the edge forwards to ``--next-hop``.
``--ims`` makes the edge an IMS P-CSCF with IMS AKA and sec-agree (sut/ims/cli.py; root).

Listening is refused outside 127.0.0.0/8 and ::1 unless ``--allow-non-loopback`` is given:
the reference carries deliberate faults and, unless ``--digest-auth``, no authentication, so it
stays on the host.
"""

from __future__ import annotations

import argparse
import ipaddress
import signal
import sys
import threading

from .config import EDGE_MODES, KNOWN_FAULTS, MODES, TOPOLOGIES, TRANSPORTS, SutConfig
from .ims import cli as ims_cli
from .server.reference import ReferenceCore


def parse_listen(text: str) -> tuple[str, int]:
    """``IP:PORT`` or ``[IPv6]:PORT`` -> (ip, port); raises ValueError."""
    if text.startswith("["):
        host, sep, port = text[1:].partition("]:")
        if not sep:
            raise ValueError(f"expected [IPv6]:PORT, got {text!r}")
    else:
        host, sep, port = text.rpartition(":")
        if not sep:
            raise ValueError(f"expected IP:PORT, got {text!r}")
    ip = ipaddress.ip_address(host)
    if not port.isdigit() or int(port) > 65535:
        raise ValueError(f"bad port {port!r}")
    return str(ip), int(port)


def build_parser() -> argparse.ArgumentParser:
    faults = "; ".join(f"{k}: {v}" for k, v in sorted(KNOWN_FAULTS.items()))
    p = argparse.ArgumentParser(prog="conformance sut", description=__doc__.split("\n\n")[0])
    p.add_argument("--mode", choices=MODES, default="rel8")
    p.add_argument("--listen", default="127.0.0.1:5060", help="IP:PORT (UDP and TCP); port 0 picks one")
    p.add_argument("--fault", action="append", default=[], metavar="NAME",
                   help=f"switch on a deliberate fault (repeatable). {faults}")
    p.add_argument("--domain", default="ims.test")
    p.add_argument("--flow-timer", type=int, default=None,
                   help="send Flow-Timer N with outbound 2xx and supervise those flows")
    p.add_argument("--flow-grace", type=float, default=10.0,
                   help="seconds beyond Flow-Timer before a silent flow is declared failed")
    p.add_argument("--min-expires", type=int, default=None)
    p.add_argument("--allow-non-loopback", action="store_true")
    p.add_argument("--topology", choices=TOPOLOGIES, default=None,
                   help="registrar (default), edge, or core (the default with --ims)")
    p.add_argument("--core-port", type=int, default=0, help="the S-CSCF's port (topology core)")
    p.add_argument("--edge-mode", choices=EDGE_MODES, default="rel8")
    p.add_argument("--next-hop", default=None, metavar="IP:PORT",
                   help="the registrar behind the edge (topology edge)")
    p.add_argument("--next-hop-transport", choices=TRANSPORTS, default="udp")
    p.add_argument("--core-transport", choices=TRANSPORTS, default="tcp",
                   help="edge to S-CSCF transport (topology core)")
    p.add_argument("--branch-timeout", type=float, default=4.0)
    p.add_argument("--flow-token-key", default=None)
    p.add_argument("--digest-auth", default=None, metavar="TEMPLATE",
                   help="require HTTP Digest (MD5) on REGISTER; the password of a user is TEMPLATE "
                        "with {impi} replaced by the username (e.g. 'secret-{impi}')")
    p.add_argument("--reg-event", action=argparse.BooleanOptionalAction, default=None,
                   help="serve the RFC 3680 reg event package (default: on in rel8 and rel7)")
    p.add_argument("--gruu", action=argparse.BooleanOptionalAction, default=None,
                   help="hand out RFC 5627 GRUUs (default: on in rel8)")
    p.add_argument("--tls-port", type=int, default=None, metavar="N",
                   help="serve SIP over TLS on N (0: 5061 if free, else any)")
    p.add_argument("--ws-port", type=int, default=None, metavar="N",
                   help="serve SIP over WebSocket (RFC 7118) on N (0: any)")
    p.add_argument("--wss-port", type=int, default=None, metavar="N",
                   help="serve SIP over secure WebSocket on N (0: any)")
    p.add_argument("--tls-cert", default=None, metavar="FILE",
                   help="server certificate chain (default: the suite's test CA server certificate)")
    p.add_argument("--tls-key", default=None, metavar="FILE", help="its private key")
    p.add_argument("--ws-auth", default=None, metavar="REALM",
                   help="answer the WebSocket upgrade 401 (Basic realm) until it carries "
                        "Authorization (RFC 7118 section 7)")
    p.add_argument("--tls-keylog", default=None, metavar="FILE",
                   help="append the TLS session keys to FILE (NSS key log, for Wireshark)")
    ims_cli.add_arguments(p)
    return p


def main(argv: list[str] | None = None) -> int:
    parser = build_parser()
    args = parser.parse_args(argv)
    try:
        host, port = parse_listen(args.listen)
        next_hop = None
        if args.next_hop:
            nh_host, nh_port = parse_listen(args.next_hop)
            next_hop = (nh_host, nh_port, args.next_hop_transport)
        if not 0 <= args.core_port <= 65535:
            raise ValueError(f"bad --core-port {args.core_port}")
        config = SutConfig(mode=args.mode, domain=args.domain, faults=frozenset(args.fault),
                           flow_timer=args.flow_timer, flow_grace=args.flow_grace,
                           min_expires=args.min_expires,
                           topology=ims_cli.topology(args), edge_mode=args.edge_mode,
                           edge_next_hop=next_hop, core_transport=args.core_transport,
                           branch_timeout=args.branch_timeout, flow_token_key=args.flow_token_key,
                           digest_auth=(None if args.digest_auth is None else
                                        (lambda user, t=args.digest_auth: t.replace("{impi}", user))),
                           reg_event=args.reg_event, gruu=args.gruu,
                           tls_port=args.tls_port, ws_port=args.ws_port, wss_port=args.wss_port,
                           tls_cert=args.tls_cert, tls_key=args.tls_key, ws_auth=args.ws_auth,
                           tls_keylog=args.tls_keylog,
                           **ims_cli.config_kwargs(args))
    except ValueError as exc:
        print(f"conformance sut: {exc}", file=sys.stderr)
        return 2
    if not ipaddress.ip_address(host).is_loopback and not args.allow_non_loopback:
        print(f"conformance sut: refusing to listen on {host} (not loopback); "
              "pass --allow-non-loopback to insist", file=sys.stderr)
        return 2

    stop = threading.Event()

    def on_signal(signum, frame):  # noqa: ARG001
        stop.set()

    previous = {s: signal.signal(s, on_signal) for s in (signal.SIGINT, signal.SIGTERM)}
    try:
        try:
            cscf = ReferenceCore(config, host=host, port=port, core_port=args.core_port).start()
        except OSError as exc:
            print(f"conformance sut: cannot listen on {args.listen}: {exc}", file=sys.stderr)
            return 1
        shown = f"[{host}]" if ":" in host else host
        faults = ", ".join(sorted(config.faults)) or "none"
        print(f"reference CSCF ({config.mode}, domain {config.domain}, faults: {faults}) "
              f"listening on udp+tcp {shown}:{cscf.port}", flush=True)
        streams = {t: p for t, p in cscf.ports.items() if t not in ("udp", "tcp")}
        if streams:
            print("also " + ", ".join(f"{t} {shown}:{p}" for t, p in streams.items()), flush=True)
        ims_line = ims_cli.describe(cscf, shown, config)
        if ims_line:
            print(ims_line, flush=True)
        if config.topology != "registrar":
            edge = cscf.edge_address
            core = cscf.core_address
            print(f"topology {config.topology} (edge {config.edge_mode}): edge (UEs register here) "
                  f"udp+tcp {shown}:{edge[1]}; "
                  + (f"S-CSCF (peers send here) udp+tcp {shown}:{core[1]}" if core else
                     f"next hop {config.edge_next_hop[0]}:{config.edge_next_hop[1]}/"
                     f"{config.edge_next_hop[2]}"), flush=True)
        try:
            while not stop.wait(0.5):
                pass
        finally:
            cscf.stop()
    finally:
        for s, handler in previous.items():
            signal.signal(s, handler)
    return 0


if __name__ == "__main__":  # pragma: no cover
    sys.exit(main())
