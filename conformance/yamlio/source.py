"""A YAML loader that remembers where everything was written.

Case files and target profiles are read with :class:`SourceLoader`, a ``yaml.SafeLoader`` whose
mappings and sequences come back as :class:`YDict` and :class:`YList`: plain ``dict`` and
``list`` subclasses that also carry pyyaml's ``start_mark``/``end_mark`` and the line of each
key (mappings) or item (sequences).  Scalars stay plain Python values (``True``, ``None`` and
``int`` cannot carry attributes); their lines live in the parent's side tables and are read with
:func:`line_of`.

Two things a plain ``SafeLoader`` accepts are errors here: a key written twice in one mapping
(both lines are named), and anything that is not valid YAML (the file and the line pyyaml
reports).  Both raise :class:`~conformance.yamlio.errors.CaseError`, or the subclass the caller
passes (``TargetError`` for target profiles).
"""

from __future__ import annotations

import functools
from pathlib import Path
from typing import Any

import yaml
from yaml.nodes import MappingNode, ScalarNode

from .errors import CaseError

__all__ = [
    "SourceLoader", "YDict", "YList", "did_you_mean", "format_path", "line_of", "load_documents",
    "plain", "show", "validate", "value_line",
]


class YDict(dict):
    """A mapping from YAML: ``start_mark``/``end_mark`` and the 1-based line of each key."""

    start_mark: Any = None
    end_mark: Any = None

    def __init__(self, *args, **kwargs):
        super().__init__(*args, **kwargs)
        self.key_lines: dict[Any, int] = {}
        self.value_lines: dict[Any, int] = {}
        self.duplicates: list[tuple[Any, int, int]] = []  # (key, first line, repeated line)


class YList(list):
    """A sequence from YAML: ``start_mark``/``end_mark`` and the 1-based line of each item."""

    start_mark: Any = None
    end_mark: Any = None

    def __init__(self, *args):
        super().__init__(*args)
        self.item_lines: list[int] = []


def _line(mark) -> int:
    return mark.line + 1


def line_of(node: Any, key: Any = None, default: int = 0) -> int:
    """The 1-based line of ``node`` itself, or of ``node[key]`` (the key's line for mappings).

    Works for :class:`YDict` (``key`` a mapping key), :class:`YList` (``key`` an index) and
    falls back to ``default`` for anything that did not come from YAML.
    """
    if key is not None:
        if isinstance(node, YDict) and key in node.key_lines:
            return node.key_lines[key]
        if isinstance(node, YList) and isinstance(key, int) and 0 <= key < len(node.item_lines):
            return node.item_lines[key]
    mark = getattr(node, "start_mark", None)
    return _line(mark) if mark is not None else default


def value_line(node: Any, key: Any, default: int = 0) -> int:
    """The line where the *value* of ``node[key]`` starts (may differ from the key's line)."""
    if isinstance(node, YDict) and key in node.value_lines:
        return node.value_lines[key]
    return line_of(node, key, default)


class _SourceConstructor:
    """The constructors of :class:`SourceLoader`, shared with its libyaml twin."""

    error_class: type[CaseError] = CaseError
    source_name: str = "<string>"
    source_text: str | None = None

    def construct_yaml_map(self, node: MappingNode):
        data = YDict()
        data.start_mark, data.end_mark = node.start_mark, node.end_mark
        yield data
        self._refuse_duplicates(node, data.duplicates)
        self.flatten_mapping(node)  # YAML merge keys ("<<"): own keys override merged ones
        for key_node, value_node in node.value:
            key = self.construct_object(key_node, deep=True)
            try:
                hash(key)
            except TypeError:
                raise self._error(_line(key_node.start_mark), "a mapping key must be a plain value, "
                                  f"got {show(key)}") from None
            data[key] = self.construct_object(value_node, deep=False)
            data.key_lines[key] = _line(key_node.start_mark)
            data.value_lines[key] = _line(value_node.start_mark)

    def construct_yaml_seq(self, node):
        data = YList()
        data.start_mark, data.end_mark = node.start_mark, node.end_mark
        yield data
        data.extend(self.construct_sequence(node, deep=False))
        data.item_lines = [_line(child.start_mark) for child in node.value]

    def _refuse_duplicates(self, node: MappingNode, duplicates: list) -> None:
        seen: dict[Any, int] = {}
        for key_node, _ in node.value:
            if not isinstance(key_node, ScalarNode) or key_node.tag == "tag:yaml.org,2002:merge":
                continue
            key = self.construct_object(key_node)
            line = _line(key_node.start_mark)
            if key in seen:  # raised with its key path by load_documents
                duplicates.append((key, seen[key], line))
            seen[key] = line

    def _error(self, line: int, message: str, key: str = "") -> CaseError:
        return self.error_class(message, file=self.source_name, line=line, key=key,
                                source=self.source_text)


class SourceLoader(_SourceConstructor, yaml.SafeLoader):
    """``yaml.SafeLoader`` building :class:`YDict`/:class:`YList` and noting duplicate keys.

    ``error_class`` (a :class:`CaseError` subclass) and ``source_name`` are set by
    :func:`load_documents`.
    """


SourceLoader.add_constructor("tag:yaml.org,2002:map", SourceLoader.construct_yaml_map)
SourceLoader.add_constructor("tag:yaml.org,2002:seq", SourceLoader.construct_yaml_seq)

# The same with libyaml's parser (PyYAML built with it), several times faster: collecting the
# suite's cases is most of `conformance run`'s start-up (benchmarks/suite.py).  A file it cannot
# read cleanly is read again with SourceLoader, so that errors are worded and placed as always.
_CSourceLoader = None
if getattr(yaml, "__with_libyaml__", False):
    class _CSourceLoader(_SourceConstructor, yaml.CSafeLoader):  # type: ignore[no-redef]
        pass

    _CSourceLoader.add_constructor("tag:yaml.org,2002:map", _CSourceLoader.construct_yaml_map)
    _CSourceLoader.add_constructor("tag:yaml.org,2002:seq", _CSourceLoader.construct_yaml_seq)


def _documents(loader):
    """(document line, data, node) for each non-empty document the loader reads."""
    while loader.check_node():
        node = loader.get_node()
        if node is None:
            continue
        data = loader.construct_document(node)
        if data is not None:
            yield _line(node.start_mark), data


def _load_fast(text: str, name: str, error_class) -> list[tuple[int, Any]] | None:
    """Every document read with libyaml, or None (no libyaml, or anything but a clean read)."""
    if _CSourceLoader is None:
        return None
    loader = _CSourceLoader(text)
    loader.error_class, loader.source_name, loader.source_text = error_class, name, text
    docs: list[tuple[int, Any]] = []
    try:
        for line, data in _documents(loader):
            if _first_duplicate(data, []) is not None:
                return None
            docs.append((line, data))
    except Exception:
        return None
    finally:
        loader.dispose()
    return docs


def load_documents(path: str | Path | None = None, *, text: str | None = None,
                   error_class: type[CaseError] = CaseError) -> tuple[str, list[tuple[int, Any]]]:
    """Read every YAML document of a file (or of ``text``).

    Returns ``(source_text, [(document_line, data), ...])``: ``document_line`` is the 1-based
    line where the document starts; empty documents are left out.  Errors are ``error_class``.
    """
    name = str(path) if path is not None else "<string>"
    if text is None:
        try:
            text = Path(path).read_text(encoding="utf-8")  # type: ignore[arg-type]
        except OSError as e:
            raise error_class(f"cannot read the file: {e.strerror or e}", file=name, line=0) from None
        except UnicodeDecodeError as e:
            raise error_class(f"not UTF-8 text: {e.reason} at byte {e.start}", file=name, line=0) from None

    fast = _load_fast(text, name, error_class)
    if fast is not None:
        return text, fast
    loader = SourceLoader(text)
    loader.error_class, loader.source_name, loader.source_text = error_class, name, text
    docs: list[tuple[int, Any]] = []
    try:
        for doc_line, data in _documents(loader):
            dup = _first_duplicate(data, [])
            if dup is not None:
                path, key, first, line = dup
                raise error_class(f"duplicate key {key!r}: first written on line {first}, again on line {line}",
                                  file=name, line=line, key=format_path(path + [key]), source=text)
            docs.append((doc_line, data))
    except yaml.MarkedYAMLError as e:
        mark = e.problem_mark or e.context_mark
        parts = [p for p in (e.context, e.problem) if p]
        if e.context_mark is not None and e.problem_mark is not None and e.context_mark.line != e.problem_mark.line:
            parts[0:1] = [f"{e.context} (line {_line(e.context_mark)})"] if e.context else []
        message = "invalid YAML: " + ", ".join(parts) if parts else "invalid YAML"
        raise error_class(message, file=name, line=_line(mark) if mark else 0, source=text) from None
    except yaml.YAMLError as e:
        raise error_class(f"invalid YAML: {e}", file=name, line=0, source=text) from None
    finally:
        loader.dispose()
    return text, docs


def _first_duplicate(data: Any, path: list, _seen: set | None = None):
    """``(path, key, first_line, line)`` of the duplicate key written first in the file, or None."""
    seen = _seen if _seen is not None else set()
    if id(data) in seen:  # YAML aliases can make the tree a graph
        return None
    seen.add(id(data))
    found = []
    if isinstance(data, YDict):
        found += [(line, path, key, first) for key, first, line in data.duplicates]
        children = list(data.items())
    elif isinstance(data, YList):
        children = list(enumerate(data))
    else:
        return None
    for k, v in children:
        sub = _first_duplicate(v, path + [k], seen)
        if sub is not None:
            found.append((sub[3], *sub[:3]))
    if not found:
        return None
    line, p, key, first = min(found, key=lambda f: f[0])
    return p, key, first, line


def plain(value: Any) -> Any:
    """A deep copy of ``value`` with :class:`YDict`/:class:`YList` turned into dict/list."""
    if isinstance(value, dict):
        return {k: plain(v) for k, v in value.items()}
    if isinstance(value, list):
        return [plain(v) for v in value]
    return value


# --- JSON-schema validation with errors that point at the YAML -------------------------------

def format_path(parts) -> str:
    """``["steps", 2, "expect"]`` -> ``"steps[2].expect"``."""
    out = ""
    for p in parts:
        if isinstance(p, int):
            out += f"[{p}]"
        else:
            out += f".{p}" if out else str(p)
    return out


def resolve(data: Any, parts) -> Any:
    """The value at ``parts`` inside ``data`` (or None when the path does not exist)."""
    for p in parts:
        try:
            data = data[p]
        except (KeyError, IndexError, TypeError):
            return None
    return data


def show(value: Any) -> str:
    """A value as an error message quotes it: ``'abc'``, ``12``, ``true``, ``a mapping``."""
    if isinstance(value, bool):
        return "true" if value else "false"
    if value is None:
        return "nothing (null)"
    if isinstance(value, dict):
        return f"a mapping ({', '.join(map(str, value))})" if value else "an empty mapping"
    if isinstance(value, list):
        return "a list"
    if isinstance(value, str):
        return repr(value) if len(value) <= 60 else repr(value[:57] + "...")
    return str(value)


_TYPE_NAMES = {"string": "a string", "integer": "an integer", "number": "a number",
               "boolean": "true or false", "array": "a list", "object": "a mapping", "null": "null"}


def _quote_list(items) -> str:
    items = [str(i) for i in items]
    return ", ".join(items[:-1]) + f" or {items[-1]}" if len(items) > 1 else "".join(items)


def did_you_mean(word: Any, candidates) -> str:
    import difflib

    candidates = [str(c) for c in candidates]
    same_case = [c for c in candidates if c.lower() == str(word).lower()]
    close = same_case or difflib.get_close_matches(str(word), candidates, n=1, cutoff=0.6)
    return f" (did you mean {close[0]!r}?)" if close else ""


def _expected_text(error) -> str | None:
    """The ``x-expected`` of the outermost schema that judged this very value, if any."""
    found = None
    node = error
    while node is not None:
        if list(node.absolute_path) != list(error.absolute_path):
            break
        if isinstance(node.schema, dict) and "x-expected" in node.schema:
            found = node.schema["x-expected"]
        node = node.parent
    return found


def explain(error, data: Any, doc_line: int) -> tuple[list, int, str]:
    """``(key path parts, line, message)`` for one jsonschema error on ``data``."""
    path = list(error.absolute_path)
    inst = error.instance
    schema = error.schema if isinstance(error.schema, dict) else {}
    v = error.validator

    def line_at(parts) -> int:
        if not parts:
            return line_of(data, default=doc_line) or doc_line
        container = resolve(data, parts[:-1])
        return line_of(container, parts[-1], default=0) or line_of(container, default=doc_line) or doc_line

    if "propertyNames" in error.absolute_schema_path:
        container = resolve(data, path)
        expected = _expected_text(error) or "a valid name"
        return path + [inst], line_of(container, inst, doc_line), f"expected {expected}, got {show(inst)}"

    if v in ("additionalProperties", "unevaluatedProperties") and isinstance(inst, dict):
        import re

        known = list(schema.get("properties", {}))
        patterns = list(schema.get("patternProperties", {}))
        extra = [k for k in inst if k not in known and not any(re.search(p, str(k)) for p in patterns)]
        extra.sort(key=lambda k: line_of(inst, k))
        if extra:
            k = extra[0]
            what = schema.get("x-unknown", "key")
            hint = did_you_mean(k, known)
            if not hint and known:
                hint = f"; allowed here: {', '.join(known)}"
            return path + [k], line_of(inst, k, doc_line), f"unknown {what} {show(k)}{hint}"

    if v == "required" and isinstance(inst, dict):
        missing = [r for r in error.validator_value if r not in inst]
        if missing:
            line = line_at(path)  # the line naming the incomplete mapping ("managed:", "- register:")
            return path + [missing[0]], line, f"missing required key {missing[0]!r}"

    line = line_at(path)
    expected = _expected_text(error)
    if expected is not None:
        return path, line, f"expected {expected}, got {show(inst)}"

    vv = error.validator_value
    if v == "type":
        types = [vv] if isinstance(vv, str) else list(vv)
        message = f"expected {_quote_list(_TYPE_NAMES.get(t, t) for t in types)}, got {show(inst)}"
    elif v == "enum":
        message = f"expected {_quote_list(vv)}, got {show(inst)}{did_you_mean(inst, vv)}"
    elif v == "const":
        message = f"expected {show(vv)}, got {show(inst)}"
    elif v == "minimum":
        message = f"must be at least {vv}, got {show(inst)}"
    elif v == "maximum":
        message = f"must be at most {vv}, got {show(inst)}"
    elif v == "exclusiveMinimum":
        message = f"must be more than {vv}, got {show(inst)}"
    elif v == "exclusiveMaximum":
        message = f"must be less than {vv}, got {show(inst)}"
    elif v in ("minItems", "minProperties", "minLength"):
        message = "must not be empty" if vv == 1 else f"must have at least {vv} entries"
    elif v in ("maxItems", "maxProperties", "maxLength"):
        message = f"must have at most {vv} entr{'y' if vv == 1 else 'ies'}"
    elif v == "uniqueItems":
        seen: list = []
        dup = next((x for x in inst if x in seen or seen.append(x)), None)
        message = f"{show(dup)} is listed twice"
    elif v == "pattern":
        message = f"{show(inst)} does not match the pattern {vv}"
    else:
        message = error.message
    return path, line, message


def _narrow(error):
    """Descend into an ``anyOf``/``oneOf`` when exactly one branch fits the value's type.

    ``best_match`` stops at the ``anyOf`` when its branches tie; but when the value is a mapping
    and only one branch accepts mappings, that branch's complaint ("unknown key 'flw'") is the
    useful one.
    """

    while error.validator in ("anyOf", "oneOf") and error.context:
        branches: dict = {}
        for sub in error.context:
            branches.setdefault(sub.relative_schema_path[0], []).append(sub)
        fitting = [errs for errs in branches.values()
                   if not any(e.validator == "type" and list(e.absolute_path) == list(error.absolute_path)
                              for e in errs)]
        if len(fitting) != 1:
            break
        error = min(fitting[0], key=lambda e: _VALIDATOR_RANK.get(e.validator, 5))
    return error


_VALIDATOR_RANK = {"additionalProperties": 0, "required": 1, "type": 2}


def validate(data: Any, validator, *, file: str, source: str | None, doc_line: int,
             error_class: type[CaseError] = CaseError, prefix: list | None = None) -> None:
    """Validate ``data`` with a jsonschema ``validator``; raise the first problem in file order.

    Each top-level error is narrowed with ``jsonschema.exceptions.best_match`` (which descends
    into ``anyOf``/``oneOf``), located with the source marks, and the one written first in the
    file wins, so fixing errors top to bottom works.
    """
    from jsonschema.exceptions import best_match

    from . import validcache

    key = None
    entry = _SCHEMA_DIGESTS.get(id(validator))
    if entry is not None and entry[0] is validator:
        key = validcache.digest(entry[1], data)
        if validcache.known_valid(key):
            return
    found = []
    for err in validator.iter_errors(data):
        best = _narrow(best_match([err]))
        parts, line, message = explain(best, data, doc_line)
        found.append((line, len(found), parts, message))
    if not found:
        if key is not None:
            validcache.remember_valid(key)
        return
    line, _, parts, message = min(found)
    raise error_class(message, file=file, line=line, key=format_path((prefix or []) + parts), source=source)


@functools.lru_cache(maxsize=8)
def schema_validator(path: Path, error_class: type[CaseError] = CaseError):
    """The checked JSON Schema (draft 2020-12) validator of a schema file written in YAML."""
    from jsonschema import Draft202012Validator

    _, docs = load_documents(path, error_class=error_class)
    schema = plain(docs[0][1])
    from .validcache import check_schema, schema_digest

    text = Path(path).read_bytes()
    check_schema(schema, text)  # once per schema text (yamlio/validcache.py)
    validator = Draft202012Validator(schema)
    # documents found valid against this schema text are remembered (yamlio/validcache.py)
    _SCHEMA_DIGESTS[id(validator)] = (validator, schema_digest(text))
    return validator


_SCHEMA_DIGESTS: dict[int, tuple[Any, str]] = {}  # id of a schema_validator() validator -> (it, digest)
