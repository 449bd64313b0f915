"""Load UE case files (``testcases/ue/*.yaml``, top-level ``role: ue``, one case per file) into
:class:`~conformance.uecert.model.UeCaseSpec`.

Same passes and error quality as the network case loader (each problem a
:class:`~conformance.yamlio.errors.CaseError` naming file, line and key): YAML through the
source-mapping loader, ``conformance/schema/ue_case.schema.yaml``, then what a schema cannot say:
one action per script line with a known name (:data:`~conformance.uecert.model.ACTIONS`),
known check names (:func:`conformance.uecert.checks.load_all`), known UE capabilities.
"""

from __future__ import annotations

import re
from pathlib import Path
from typing import Any

from ..yamlio.errors import CaseError, Location
from ..yamlio.source import (did_you_mean, format_path, line_of, load_documents, plain, schema_validator, show,
                             validate)
from .capabilities import KNOWN_UE_CAPABILITIES
from .model import ACTIONS, NetworkBehaviour, UeAction, UeCaseSpec, UeCheckSpec

__all__ = ["SCHEMA_PATH", "is_ue_case_file", "load_ue_case_file", "load_ue_case_text"]

SCHEMA_PATH = Path(__file__).resolve().parent.parent / "schema" / "ue_case.schema.yaml"
CHECK_OPTIONS = ("level", "ref")
_ROLE_UE = re.compile(r"^role[ \t]*:[ \t]*['\"]?ue['\"]?[ \t]*(#.*)?$", re.M)


def is_ue_case_file(path: str | Path) -> bool:
    """A file whose top level says ``role: ue`` (read as text: cheap, and a broken file is still
    routed to the UE loader, which then says what is wrong)."""
    try:
        return _ROLE_UE.search(Path(path).read_text(encoding="utf-8", errors="replace")) is not None
    except OSError:
        return False


def load_ue_case_file(path: str | Path, *, checks: dict | None = None) -> UeCaseSpec:
    """The UE case in ``path``; ``checks``: the check registry (default: every check module)."""
    source, docs = load_documents(path, error_class=CaseError)
    return _build(str(path), source, docs, checks)


def load_ue_case_text(text: str, name: str = "<string>", *, checks: dict | None = None) -> UeCaseSpec:
    source, docs = load_documents(name, text=text, error_class=CaseError)
    return _build(name, source, docs, checks)


def _build(file: str, source: str, docs: list, checks: dict | None) -> UeCaseSpec:
    if not docs:
        raise CaseError("the file holds no UE case", file=file, line=1, source=source)
    if len(docs) > 1:
        raise CaseError("a UE case file holds one case; found another document here", file=file,
                        line=docs[1][0], source=source)
    doc_line, data = docs[0]
    if not isinstance(data, dict):
        raise CaseError(f"a UE case is a mapping (role: ue, id:, script:, checks:), got {show(data)}",
                        file=file, line=doc_line, source=source)
    validate(data, schema_validator(SCHEMA_PATH), file=file, source=source, doc_line=doc_line, error_class=CaseError)
    if checks is None:
        from .checks import load_all

        checks = load_all()

    def error(message: str, node: Any, key: Any, path: list) -> CaseError:
        line = line_of(node, key, default=0) or line_of(node, default=doc_line)
        return CaseError(message, file=file, line=line, key=format_path(path), source=source)

    def loc(node: Any, key: Any, path: list) -> Location:
        return Location(file, line_of(node, key, default=0) or line_of(node, default=doc_line), format_path(path))

    for i, cap in enumerate(data.get("requires", [])):
        if cap not in KNOWN_UE_CAPABILITIES:
            raise error(f"unknown UE capability {show(cap)}{did_you_mean(cap, KNOWN_UE_CAPABILITIES)}; "
                        f"known: {', '.join(KNOWN_UE_CAPABILITIES)}", data["requires"], i, ["requires", i])

    script = []
    for i, line in enumerate(data["script"]):
        (actor, value), = line.items()
        path = ["script", i, actor]
        if isinstance(value, str):
            name, args = value, {}
        else:
            (name, args), = value.items()
            args = plain(args) or {}
        known = ACTIONS[actor]
        if name not in known:
            raise error(f"unknown {actor} action {show(name)}{did_you_mean(name, known)}; known: "
                        f"{', '.join(known)}", line, actor, path)
        script.append(UeAction(actor, name, args, loc(line, actor, path)))

    specs = []
    for i, item in enumerate(data["checks"]):
        names = [k for k in item if k not in CHECK_OPTIONS]
        if len(names) != 1:
            raise error(f"a check line names one check (besides {', '.join(CHECK_OPTIONS)}); found "
                        f"{', '.join(map(str, names)) or 'none'}", data["checks"], i, ["checks", i])
        kind = names[0]
        if kind not in checks:
            raise error(f"unknown UE check {show(kind)}{did_you_mean(kind, checks)}; known: "
                        f"{', '.join(sorted(checks)) or '(none registered)'}", item, kind, ["checks", i, kind])
        args = item[kind]
        if args is not None and not isinstance(args, dict):
            raise error(f"the arguments of {kind} are a mapping (or nothing), got {show(args)}", item, kind,
                        ["checks", i, kind])
        if "level" in item and "ref" not in item:
            raise error("level: overrides the check's own level; give the ref: that justifies it",
                        item, "level", ["checks", i, "level"])
        specs.append(UeCheckSpec(kind, plain(args) or {}, item.get("level"), item.get("ref"),
                                 loc(item, kind, ["checks", i, kind])))

    net = plain(data.get("network", {}))
    return UeCaseSpec(
        id=data["id"], title=data["title"], purpose=data["purpose"],
        test_purposes=list(data.get("test_purposes", [])), references=list(data.get("references", [])),
        requirements=list(data.get("requirements", [])), requires=list(data.get("requires", [])),
        transports=list(data.get("transports", ["udp", "tcp"])), network=NetworkBehaviour(**net),
        script=script, checks=specs, long=bool(data.get("long", False)),
        location=Location(file, line_of(data, "id", default=doc_line), "id"), path=file)
