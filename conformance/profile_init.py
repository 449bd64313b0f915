"""``conformance init``: write a starter target profile for a SUT.

On a terminal it asks for each field it was not given (Enter keeps the default shown); in a
pipeline (stdin not a terminal, or ``--no-input``) it takes flags and defaults only:

    conformance init --name my-scscf --role registrar --host 10.0.0.5 --port 5060 \\
        --transports udp,tcp --domain ims.example --capability outbound --capability path \\
        --output targets/my-scscf.yaml

The profile is checked against the target schema (``conformance.targets.loader``) before it is
written, and an existing file is left alone unless ``--force`` is given.  Exit codes: 0 written,
3 invalid input or the file exists (see docs/ci-gate.md).
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path
from typing import Any, Callable, TextIO

import yaml

ROLES = ("registrar", "edge", "core")
DEFAULTS: dict[str, Any] = {
    "name": "my-cscf",
    "description": "",
    "role": "registrar",
    "host": "127.0.0.1",
    "port": 5060,
    "transports": ["udp", "tcp"],
    "domain": "ims.test",
    "capabilities": ["outbound", "path"],
    "ue_addresses": ["127.0.0.11", "127.0.0.12", "127.0.0.13"],
}
IDENTITY_DEFAULTS = {"impu": "sip:{user}@{domain}", "impi": "{user}@{domain}", "user": "ue-{case}-{ue}-{run}"}


def _split(values: list[str] | None) -> list[str] | None:
    """Repeatable, comma-separated option values as one list (None when not given)."""
    if values is None:
        return None
    out: list[str] = []
    for v in values:
        out += [x.strip() for x in v.split(",") if x.strip()]
    return out


def add_arguments(p: argparse.ArgumentParser) -> None:
    p.add_argument("--name", help=f"profile name, letters, digits, . - _ (default {DEFAULTS['name']})")
    p.add_argument("--description", help="free text for reports: product, version, configuration")
    p.add_argument("--role", choices=ROLES, help="registrar (S-CSCF), edge (P-CSCF) or core (both)")
    p.add_argument("--host", help="IP address the SUT listens on (default 127.0.0.1)")
    p.add_argument("--port", type=int, help="SIP port of the SUT (default 5060)")
    p.add_argument("--transports", action="append", metavar="LIST", help="udp,tcp (default both)")
    p.add_argument("--domain", help="home domain of the identities (default ims.test)")
    p.add_argument("--capability", "--capabilities", dest="capabilities", action="append", metavar="NAME",
                   help="a capability the SUT declares (repeatable or comma-separated; "
                        "docs/targets.md lists them; default outbound,path)")
    p.add_argument("--ue-address", "--ue-addresses", dest="ue_addresses", action="append", metavar="IP",
                   help="addresses the emulated UEs send from, IP1, IP2, IP3 (repeatable or comma-separated)")
    p.add_argument("--impu", help="public identity template (default sip:{user}@{domain})")
    p.add_argument("--impi", help="private identity template (default {user}@{domain})")
    p.add_argument("--user", help="user part template from {case} {ue} {run} (default ue-{case}-{ue}-{run})")
    p.add_argument("--strict", action="store_true", default=None, help="SHOULD violations fail the case")
    p.add_argument("--output", "-o", help="file to write (default targets/NAME.yaml; - for stdout)")
    p.add_argument("--force", action="store_true", help="overwrite an existing file")
    p.add_argument("--no-input", action="store_true", help="never ask, even on a terminal")


def _ask(prompt: str, default: Any, stdin: TextIO, stdout: TextIO,
         parse: Callable[[str], Any] = str) -> Any:
    shown = ",".join(default) if isinstance(default, list) else ("" if default is None else str(default))
    while True:
        stdout.write(f"{prompt} [{shown}]: ")
        stdout.flush()
        line = stdin.readline()
        if not line:  # end of input: take the default
            stdout.write("\n")
            return default
        text = line.strip()
        if not text:
            return default
        try:
            return parse(text)
        except ValueError as exc:
            stdout.write(f"  {exc}\n")


def _port(text: str) -> int:
    if not text.isdigit() or not 0 < int(text) < 65536:
        raise ValueError("a port number, 1 to 65535")
    return int(text)


def _role(text: str) -> str:
    if text not in ROLES:
        raise ValueError(f"one of {', '.join(ROLES)}")
    return text


def _list(text: str) -> list[str]:
    return [x.strip() for x in text.split(",") if x.strip()]


def collect(args: argparse.Namespace, *, interactive: bool, stdin: TextIO, stdout: TextIO) -> dict[str, Any]:
    """The profile as plain data, from the flags, the answers and the defaults."""
    from .targets.loader import KNOWN_CAPABILITIES

    given = {
        "name": args.name, "description": args.description, "role": args.role, "host": args.host,
        "port": args.port, "transports": _split(args.transports), "domain": args.domain,
        "capabilities": _split(args.capabilities), "ue_addresses": _split(args.ue_addresses),
    }
    if interactive:
        stdout.write("A target profile for your SUT (docs/targets.md). Enter keeps the value in brackets.\n")
        questions = [
            ("name", "Profile name", str),
            ("description", "Description (product, version)", str),
            ("role", f"Role ({'/'.join(ROLES)})", _role),
            ("host", "SUT IP address", str),
            ("port", "SUT SIP port", _port),
            ("transports", "Transports (udp,tcp)", _list),
            ("domain", "Home domain", str),
            ("capabilities", "Capabilities, comma-separated (" + ", ".join(KNOWN_CAPABILITIES) + ")", _list),
            ("ue_addresses", "UE addresses IP1,IP2,IP3", _list),
        ]
        for key, prompt, parse in questions:
            if given[key] is None:
                given[key] = _ask(prompt, DEFAULTS[key], stdin, stdout, parse)
    data: dict[str, Any] = {}
    for key in ("name", "description", "role", "host", "port", "transports", "domain", "capabilities",
                "ue_addresses"):
        value = given[key] if given[key] is not None else DEFAULTS[key]
        if key == "description" and not value:
            continue
        data[key] = value
    identities = {k: getattr(args, k) for k in IDENTITY_DEFAULTS if getattr(args, k)}
    data["identities"] = {**IDENTITY_DEFAULTS, **identities}
    if args.strict:
        data["strict"] = True
    return data


HEADER = """\
# Target profile for {name}, written by `conformance init` (suite {version}).
# Every field: docs/targets.md.  Declare only the capabilities the SUT implements: a case needing
# one it does not declare is "not applicable"; a wrongly declared one turns into failures.
# Known capabilities: {capabilities}.
# To have the suite start and stop the SUT around the run, add:
#   managed: {{start: [./start-sut.sh], stop: [./stop-sut.sh], ready_timeout: 20}}
"""


def render(data: dict[str, Any]) -> str:
    from . import __version__
    from .targets.loader import KNOWN_CAPABILITIES

    body = yaml.safe_dump(data, sort_keys=False, default_flow_style=None, allow_unicode=True, width=100)
    return HEADER.format(name=data["name"], version=__version__,
                         capabilities=", ".join(KNOWN_CAPABILITIES)) + body


def run(args: argparse.Namespace, stdin: TextIO | None = None, stdout: TextIO | None = None,
        stderr: TextIO | None = None) -> int:
    from .yamlio.errors import TargetError
    from .targets.loader import load_target, target_from_dict

    stdin = stdin or sys.stdin
    stdout = stdout or sys.stdout
    stderr = stderr or sys.stderr
    interactive = not args.no_input and stdin.isatty()
    if not interactive and args.name is None:
        stderr.write("conformance init: give --name (stdin is not a terminal, so nothing is asked)\n")
        return 3
    # the questions go where the profile does not: stderr when the profile is written to stdout
    data = collect(args, interactive=interactive, stdin=stdin, stdout=stderr if args.output == "-" else stdout)
    try:
        target_from_dict(data, source="the new profile")
    except TargetError as exc:
        stderr.write(f"conformance init: {exc}\n")
        return 3
    text = render(data)
    if args.output == "-":
        stdout.write(text)
        return 0
    out = Path(args.output) if args.output else Path("targets") / f"{data['name']}.yaml"
    if out.exists() and not args.force:
        stderr.write(f"conformance init: {out} exists; give --force to overwrite it\n")
        return 3
    out.parent.mkdir(parents=True, exist_ok=True)
    out.write_text(text, encoding="utf-8")
    try:
        load_target(out)  # the file as the suite will read it
    except TargetError as exc:  # pragma: no cover - render() writes what target_from_dict accepted
        stderr.write(f"conformance init: the written profile does not load: {exc}\n")
        return 3
    stdout.write(f"wrote {out}\n  check it: conformance list --target {out}\n"
                 f"  run it:   conformance run --target {out}\n")
    return 0
