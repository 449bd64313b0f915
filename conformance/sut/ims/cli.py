"""The ``conformance sut --ims`` options: the reference P-CSCF with IMS AKA and sec-agree
(TS 33.203, TS 24.229 5.2.2; sut/ims/proxy.py) standalone, as the targets' ``embedded: {ims: true}``.

    conformance sut --ims [--topology core|edge] [--subscribers FILE] [--pcscf-alg ALG/EALG ...]

``--ims`` implies ``--topology core`` (the P-CSCF in front of the reference S-CSCF) unless
``--topology edge`` is given.  ``--subscribers`` is a YAML mapping as a target's
``sec_agree.subscribers`` (IMPI, or ``"*"`` for any, to ``{k, opc | op, sqn, amf, algorithm}``);
without it every IMPI has the TS 35.208 test set 1 credentials.  Raw ESP sockets need root.
"""

from __future__ import annotations

import argparse

import yaml

from ...ims.secagree import ALG_PAIRS
from ...ims.subscriber import parse_subscribers


def add_arguments(p: argparse.ArgumentParser) -> None:
    g = p.add_argument_group("IMS P-CSCF (IMS AKA, sec-agree, ESP; needs root)")
    g.add_argument("--ims", action="store_true",
                   help="the edge is an IMS P-CSCF: 401 with AKAv1-MD5 and Security-Server, four SAs, "
                        "UDP inside ESP on its protected ports (implies --topology core)")
    g.add_argument("--subscribers", metavar="FILE", default=None,
                   help="YAML: IMPI (or \"*\") -> {k, opc|op, sqn, amf, algorithm}; "
                        "default TS 35.208 test set 1 for every IMPI")
    g.add_argument("--pcscf-alg", action="append", default=[], metavar="ALG/EALG",
                   help="the P-CSCF's (alg, ealg) preference, repeatable; default "
                        + ", ".join("/".join(p) for p in ALG_PAIRS))


def topology(args: argparse.Namespace) -> str:
    return args.topology or ("core" if args.ims else "registrar")


def config_kwargs(args: argparse.Namespace) -> dict:
    """SutConfig keyword arguments for the IMS options; ValueError on bad input."""
    if not args.ims:
        if args.subscribers or args.pcscf_alg:
            raise ValueError("--subscribers and --pcscf-alg need --ims")
        return {}
    if topology(args) == "registrar":
        raise ValueError("--ims needs --topology core or edge (the IMS P-CSCF is the edge)")
    subscribers = None
    if args.subscribers:
        try:
            with open(args.subscribers, encoding="utf-8") as fh:
                data = yaml.safe_load(fh)
        except (OSError, yaml.YAMLError) as exc:
            raise ValueError(f"--subscribers {args.subscribers}: {exc}") from None
        if not isinstance(data, dict) or not data:
            raise ValueError(f"--subscribers {args.subscribers}: expected a mapping IMPI -> credentials")
        subscribers = parse_subscribers(data)
    algs = []
    for text in args.pcscf_alg:
        pair = tuple(text.split("/"))
        if pair not in ALG_PAIRS:
            raise ValueError(f"--pcscf-alg {text!r}: one of " + ", ".join("/".join(p) for p in ALG_PAIRS))
        algs.append(pair)
    return {"ims": True, "subscribers": subscribers, "pcscf_algs": tuple(algs)}


def describe(cscf, shown_host: str, config) -> str | None:
    """The line printed after start: where the protected ports are."""
    ports = getattr(cscf, "protected_ports", None)
    if not config.ims or ports is None:
        return None
    who = ", ".join(sorted(config.subscribers)) if config.subscribers else "* (TS 35.208 test set 1)"
    return (f"IMS P-CSCF (IMS AKA, sec-agree, ESP): protected server port udp {shown_host}:{ports[0]}, "
            f"protected client port udp {shown_host}:{ports[1]}; subscribers: {who}")
