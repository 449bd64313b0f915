"""Load YAML case files into :mod:`conformance.cases.model` objects.

Three passes per document, each failing with a :class:`CaseError` naming file, line and key:

1. YAML, through the source-mapping loader (syntax errors, duplicate keys);
2. ``conformance/schema/case.schema.yaml`` (shapes, types, unknown keys, ranges);
3. the rules JSON Schema cannot express: one action per step, flow and UE names that must
   exist, ids unique within the file (and across files with :func:`check_unique_ids`),
   ``expect`` and ``classify`` not together, status classes such as ``2xx``.

The language is described in docs/case-format.md.
"""

from __future__ import annotations

import re
from pathlib import Path
from typing import Any, Iterable

from ..meaning.checks import CHECKS
from ..steps import KINDS
from ..yamlio.errors import CaseError
from .model import CaseSpec, CheckSpec, ClassSpec, EdgeSpec, Expect, FlowSpec, Grade, Location, StepSpec, UESpec
from ..yamlio.source import YDict, did_you_mean, format_path, line_of, load_documents, plain, schema_validator, show, validate

__all__ = [
    "ACTIONS", "FLOW_ACTIONS", "LEVELS", "SCHEMA_PATH", "CaseError",
    "check_unique_ids", "load_case_file", "load_case_text", "parse_status",
]

SCHEMA_PATH = Path(__file__).resolve().parent.parent / "schema" / "case.schema.yaml"

#: Step actions (the registry of step kinds, conformance/steps/), in the order the docs list them.
ACTIONS = tuple(KINDS)
#: Actions whose value is a flow name or ``{flow: NAME, ...options}``.
FLOW_ACTIONS = tuple(name for name, kind in KINDS.items() if kind.needs_flow)
#: Flow actions that may name no flow: ``close: {last_delivered: true}``.
LEVELS = ("MUST", "SHOULD", "MAY")
CHECK_OPTIONS = ("level", "ref", "ue", "reading")
MAX_WAIT = 30

_CLASS_RE = re.compile(r"^([1-6])xx$")


def _validator():
    return schema_validator(SCHEMA_PATH)


def parse_status(value: Any) -> list[int]:
    """``200`` -> ``[200]``, ``[200, 202]`` -> same, ``"2xx"`` -> ``[200, ..., 299]``.

    Raises ``ValueError`` for anything else (codes outside 100-699, other strings).
    """
    if isinstance(value, bool):
        raise ValueError(f"expected a status code, got {show(value)}")
    if isinstance(value, int):
        if not 100 <= value <= 699:
            raise ValueError(f"a status code is from 100 to 699, got {value}")
        return [value]
    if isinstance(value, str):
        m = _CLASS_RE.match(value.strip())
        if not m:
            raise ValueError(f"expected a status code or a class like 2xx, got {show(value)}")
        base = int(m.group(1)) * 100
        return list(range(base, base + 100))
    if isinstance(value, list) and value:
        out: list[int] = []
        for v in value:
            for code in parse_status(v):
                if code not in out:
                    out.append(code)
        return out
    raise ValueError(f"expected a status code, a list of codes or a class like 2xx, got {show(value)}")


def load_case_file(path: str | Path) -> list[CaseSpec]:
    """All cases of one YAML file (``---`` separates documents; empty documents are skipped)."""
    source, docs = load_documents(path, error_class=CaseError)
    return _build_all(str(path), source, docs)


def load_case_text(text: str, name: str = "<string>") -> list[CaseSpec]:
    """Like :func:`load_case_file`, for YAML already in memory (``name`` is used in errors)."""
    source, docs = load_documents(name, text=text, error_class=CaseError)
    return _build_all(name, source, docs)


def check_unique_ids(cases: Iterable[CaseSpec]) -> None:
    """Raise :class:`CaseError` at the second definition of an id used twice (across files)."""
    seen: dict[str, CaseSpec] = {}
    for case in cases:
        first = seen.get(case.id)
        if first is not None:
            loc = case.location or Location("<unknown>", 0, "id")
            where = first.location or Location("<unknown>", 0)
            raise CaseError(f"duplicate case id {case.id!r}, first defined at {where.file}:{where.line}",
                            file=loc.file, line=loc.line, key="id")
        seen[case.id] = case


def _build_all(file: str, source: str, docs: list[tuple[int, Any]]) -> list[CaseSpec]:
    if len(docs) == 1 and isinstance(docs[0][1], dict) and docs[0][1].get("role") == "ue":
        return []  # a UE case (conformance.uecert.loader): no network case in it
    cases: list[CaseSpec] = []
    for doc_line, data in docs:
        cases.append(_Builder(file, source, doc_line).case(data))
    seen: dict[str, CaseSpec] = {}
    for case in cases:
        if case.id in seen:
            first = seen[case.id].location
            raise CaseError(f"duplicate case id {case.id!r}, first used on line {first.line if first else '?'}",
                            file=file, line=case.location.line if case.location else 0, key="id", source=source)
        seen[case.id] = case
    return cases


class _Builder:
    """Validates one document and turns it into a :class:`CaseSpec`."""

    def __init__(self, file: str, source: str, doc_line: int):
        self.file, self.source, self.doc_line = file, source, doc_line
        self.flows: dict[str, str] = {}  # flow name -> UE name
        self.ues: dict[str, UESpec] = {}

    # -- helpers --------------------------------------------------------------------------------

    def error(self, message: str, node: Any, key: Any = None, path: list | None = None) -> CaseError:
        line = line_of(node, key, default=0) or line_of(node, default=self.doc_line) or self.doc_line
        return CaseError(message, file=self.file, line=line, key=format_path(path or []), source=self.source)

    def loc(self, node: Any, key: Any, path: list) -> Location:
        line = line_of(node, key, default=0) or line_of(node, default=self.doc_line)
        return Location(self.file, line, format_path(path))

    def flow_ref(self, name: Any, node: Any, key: Any, path: list, what: str = "flow") -> str:
        if name not in self.flows:
            declared = ", ".join(self.flows) or "none"
            raise self.error(f"unknown {what} {show(name)}{did_you_mean(name, self.flows)}; "
                             f"this case declares: {declared}", node, key, path)
        return name

    # -- the document ---------------------------------------------------------------------------

    def case(self, data: Any) -> CaseSpec:
        if not isinstance(data, dict):
            raise CaseError(f"a case must be a mapping (id:, title:, ...), got {show(data)}",
                            file=self.file, line=self.doc_line, source=self.source)
        validate(data, _validator(), file=self.file, source=self.source, doc_line=self.doc_line)

        ues: dict[str, UESpec] = {}
        for ue_name, ue in data["ues"].items():
            ues[ue_name] = self.ue(ue_name, ue, data["ues"])
        self.ues = ues
        for i, cap in enumerate(data.get("applies_to", [])):
            self.capability(cap, data["applies_to"], i, ["applies_to", i])
        for i, cap in enumerate(data.get("applies_unless", [])):
            self.capability(cap, data["applies_unless"], i, ["applies_unless", i])

        steps = [self.step(s, data["steps"], i) for i, s in enumerate(data["steps"])]
        return CaseSpec(
            id=data["id"],
            title=data["title"].strip(),
            purpose=data["purpose"].strip(),
            references=list(data.get("references", [])),
            requirements=list(data.get("requirements", [])),
            test_purposes=list(data.get("test_purposes", [])),
            applies_to=list(data.get("applies_to", [])),
            applies_unless=list(data.get("applies_unless", [])),
            transports=list(data.get("transports", ["udp", "tcp"])),
            ues=ues,
            steps=steps,
            roles=list(data.get("roles", ["registrar", "core"])),
            tags=list(data.get("tags", [])),
            location=Location(self.file, line_of(data, "id", self.doc_line), "id"),
            topology=list(data.get("topology", [])),
        )

    def capability(self, cap: str, node: Any, key: Any, path: list) -> None:
        from ..targets.loader import KNOWN_CAPABILITIES

        if cap not in KNOWN_CAPABILITIES:
            raise self.error(f"unknown capability {show(cap)}{did_you_mean(cap, KNOWN_CAPABILITIES)}; "
                             f"known: {', '.join(KNOWN_CAPABILITIES)}", node, key, path)

    def ue(self, name: str, data: YDict, parent: YDict) -> UESpec:
        flows: dict[str, FlowSpec] = {}
        for fname, f in data["flows"].items():
            path = ["ues", name, "flows", fname]
            if fname == "new":
                raise self.error("'new' cannot name a flow (call_id: new means a fresh Call-ID)",
                                 data["flows"], fname, path)
            if fname in self.flows:
                raise self.error(f"flow {fname!r} is already declared by UE {self.flows[fname]!r}; "
                                 "flow names are unique within a case", data["flows"], fname, path)
            self.flows[fname] = name
            edge = f.get("edge")
            if edge is True:
                edge_spec: EdgeSpec | None = EdgeSpec()
            elif isinstance(edge, dict):
                edge_spec = EdgeSpec(path=edge.get("path", True), ob=edge.get("ob", True),
                                     extra_path=list(edge.get("extra_path", [])),
                                     in_front=bool(edge.get("in_front", False)))
            else:
                edge_spec = None
            flows[fname] = FlowSpec(name=fname, address=f["address"], reg_id=f.get("reg_id"),
                                    transport=f.get("transport"), edge=edge_spec, site=int(f.get("site", 1)),
                                    port=f.get("port"), socket=f.get("socket"), contact=f.get("contact"),
                                    tls=plain(f["tls"]) if "tls" in f else None,
                                    ws=plain(f["ws"]) if "ws" in f else None,
                                    location=self.loc(data["flows"], fname, path))
        aka = plain(data["aka"]) if "aka" in data else None
        if aka:
            from ..ims.subscriber import DEFAULT_SUBSCRIBERS, parse_subscriber

            try:
                parse_subscriber({k: v for k, v in aka.items() if k != "sqn_ms"},
                                 base=DEFAULT_SUBSCRIBERS["*"])
            except ValueError as exc:
                raise self.error(str(exc), data, "aka", ["ues", name, "aka"]) from None
        aor_of = data.get("aor_of")
        if aor_of is not None and (aor_of == name or aor_of not in parent or list(parent).index(aor_of) > list(parent).index(name)):
            raise self.error(f"aor_of: {show(aor_of)} names no UE declared before {name!r}", data, "aor_of",
                             ["ues", name, "aor_of"])
        return UESpec(name=name, instance=data.get("instance", True), flows=flows,
                      location=self.loc(parent, name, ["ues", name]), aka=aka, aor_of=aor_of)

    # -- steps ----------------------------------------------------------------------------------

    def step(self, data: YDict, steps: Any, index: int) -> StepSpec:
        path: list = ["steps", index]
        actions = [k for k in data if k in ACTIONS]
        if not actions:
            raise self.error(f"a step needs an action: one of {', '.join(ACTIONS)}", steps, index, path)
        if len(actions) > 1:
            raise self.error(f"a step has exactly one action, this one has {' and '.join(actions)}",
                             data, actions[1], path + [actions[1]])
        if "classify" in data and isinstance(data.get("expect"), dict) and "checks" in data["expect"]:
            # expect: {status: ...} next to classify is fine (the status holds for every class);
            # checks belong to the classes, or it is unclear which outcome they decide.
            raise self.error("a step with classify keeps its checks in the classes; next to classify, "
                             "expect may only give status", data["expect"], "checks", path + ["expect", "checks"])

        action = actions[0]
        value = data[action]
        flow: str | None = None
        options: dict[str, Any] = {}
        ue_name: str | None = None
        parse = KINDS[action].parse
        if parse is not None:   # a value the generic flow/options form does not read (steps/)
            options, flow, ue_name, name = parse(self, action, value, path)
        else:
            if action == "close" and isinstance(value, dict) and value.get("last_delivered"):
                options = {"last_delivered": True}
            elif isinstance(value, dict):
                if "flow" not in value:
                    raise self.error(f"{action} needs 'flow:'" + (" or 'last_delivered: true'" if action == "close" else ""),
                                     data, action, path + [action])
                flow = self.flow_ref(value["flow"], value, "flow", path + [action, "flow"])
                options = {k: plain(v) for k, v in value.items() if k != "flow"}
                if action == "race":   # the second flow of the race (steps/race.py)
                    self.flow_ref(value["with"], value, "with", path + [action, "with"])
                self.step_options(value, path + [action])
            else:
                flow = self.flow_ref(value, data, action, path + [action])
            name = f"{action} {flow or 'last delivered flow'}"

        expect = None
        if "expect" in data:
            expect = self.expect(data["expect"], path + ["expect"], data)
        classify = None
        if "classify" in data:
            classify = self.classify(data["classify"], path + ["classify"])
        unclassified = self.grade(data["unclassified"], path + ["unclassified"]) if "unclassified" in data else None
        if unclassified is not None and classify is None:
            raise self.error("'unclassified' grades a classify step: this step has no classify",
                             data, "unclassified", path + ["unclassified"])
        return StepSpec(action=action, flow=flow, ue=self.flows.get(flow) if flow else ue_name,
                        options=options, expect=expect, classify=classify, unclassified=unclassified,
                        preamble=bool(data.get("preamble", False)), name=name,
                        location=self.loc(steps, index, path))

    def step_options(self, opts: YDict, path: list) -> None:
        call_id = opts.get("call_id")
        if call_id is not None and call_id != "new":
            if call_id not in self.flows:
                declared = ", ".join(self.flows)
                raise self.error(f"call_id must be 'new' or a flow name, got {show(call_id)}"
                                 f"{did_you_mean(call_id, list(self.flows) + ['new'])}; "
                                 f"this case declares: {declared}", opts, "call_id", path + ["call_id"])
        for i, c in enumerate(opts.get("contacts", [])):
            self.flow_ref(c["flow"], c, "flow", path + ["contacts", i, "flow"])
        digest = opts.get("digest")
        if isinstance(digest, dict) and "replay" in digest:
            self.flow_ref(digest["replay"], digest, "replay", path + ["digest", "replay"])
        elif isinstance(digest, dict) and digest.get("as") not in self.ues:
            raise self.error(f"unknown UE {show(digest.get('as'))}{did_you_mean(str(digest.get('as')), list(self.ues))}; "
                             f"this case declares: {', '.join(self.ues)}", digest, "as", path + ["digest", "as"])

    def expect(self, data: YDict, path: list, step: YDict) -> Expect:
        status = None
        if "status" in data:
            try:
                status = parse_status(data["status"])
            except ValueError as e:  # the schema lets little through; this is the backstop
                raise self.error(str(e), data, "status", path + ["status"]) from None
            if "status_ref" not in data and not step.get("preamble", False):
                # a preamble's status only decides whether the state under test was reached
                # (inconclusive otherwise): every other status is a verdict and names its clause
                raise self.error("a status expectation names its clause: add 'status_ref:' (the sentence "
                                 "that requires this status, with an entry in conformance/catalogue/clauses/) "
                                 "and its 'status_level:'", data, "status", path + ["status"])
        checks = [self.check(c, data["checks"], i, path + ["checks", i])
                  for i, c in enumerate(data.get("checks", []))]
        return Expect(status=status, status_level=data.get("status_level", "MUST"),
                      status_ref=data.get("status_ref"), or_closed=bool(data.get("or_closed", False)),
                      checks=checks,
                      location=self.loc(step, "expect", path))

    def classify(self, data: Any, path: list) -> list[ClassSpec]:
        out: list[ClassSpec] = []
        names: dict[str, int] = {}
        for i, c in enumerate(data):
            if c["name"] in names:
                raise self.error(f"class {c['name']!r} is already defined on line {names[c['name']]}",
                                 c, "name", path + [i, "name"])
            names[c["name"]] = line_of(c, "name")
            checks = [self.check(x, c["checks"], j, path + [i, "checks", j])
                      for j, x in enumerate(c["checks"])]
            out.append(ClassSpec(name=c["name"], description=c["description"].strip(), checks=checks,
                                 location=self.loc(data, i, path + [i]),
                                 fails=self.grade(c["fails"], path + [i, "fails"]) if "fails" in c else None))
        return out

    def grade(self, data: YDict, path: list) -> Grade:
        when = data.get("when")
        if when is not None:
            self.capability(when, data, "when", path + ["when"])
        return Grade(level=data.get("level", "MAY"), ref=data.get("ref"), when=when,
                     reading=data.get("reading"))

    def check(self, data: YDict, parent: Any, index: int, path: list) -> CheckSpec:
        kinds = [k for k in data if k not in CHECK_OPTIONS]
        if not kinds:
            raise self.error(f"a check needs a kind: one of {', '.join(CHECKS)}", parent, index, path)
        if len(kinds) > 1:
            raise self.error(f"one check per entry, this one has {' and '.join(kinds)}; "
                             "write them as separate list items", data, kinds[1], path + [kinds[1]])
        kind = kinds[0]
        if kind not in CHECKS:  # the schema already refuses these; kept for safety
            raise self.error(f"unknown check kind {kind!r}{did_you_mean(kind, CHECKS)}",
                             data, kind, path + [kind])
        args = data[kind]
        for key in CHECKS[kind].flow_args:        # arguments naming the case's flows
            value = args.get(key)
            if isinstance(value, list):
                for i, name in enumerate(value):
                    self.flow_ref(name, value, i, path + [kind, key, i])
            elif value is not None:
                self.flow_ref(value, args, key, path + [kind, key])
        if kind == "status":
            try:
                args = dict(args, **{"in": parse_status(args["in"])})
            except ValueError as e:
                raise self.error(str(e), args, "in", path + [kind, "in"]) from None
        elif kind == "header" and "matches" in args:
            try:
                re.compile(args["matches"])
            except re.error as e:
                raise self.error(f"not a valid regular expression: {e}", args, "matches",
                                 path + [kind, "matches"]) from None
        if "ref" not in data and CHECKS[kind].ref(args if isinstance(args, dict) else {}) is None:
            raise self.error(f"a {kind} check has no usual clause: give the sentence it enforces with "
                             "'ref:' (and its 'level:')", parent, index, path)
        ue = data.get("ue")
        if ue is not None and ue not in self.ues:
            raise self.error(f"unknown UE {show(ue)}{did_you_mean(ue, self.ues)}; "
                             f"this case declares: {', '.join(self.ues)}", data, "ue", path + ["ue"])
        return CheckSpec(kind=kind, args=plain(args), level=data.get("level"), ref=data.get("ref"),
                         ue=ue, location=self.loc(parent, index, path), reading=data.get("reading"))
