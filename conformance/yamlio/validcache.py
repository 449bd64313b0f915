"""A cache of documents already found valid against a schema, shared by the processes of a machine.

Validating every case file against the case schema is most of a suite run's start-up (jsonschema
descends the step schemas of ~200 files: about 0.7 s of CPU each run).  A document valid once is
valid again as long as the schema, the document and jsonschema are the same, so its digest over
the three is remembered as an empty file.  Only valid documents are remembered: a bad one is
validated, and its error reported, every time.  Any problem with the cache folder (read-only,
missing) just means no cache.  OUTBOUND_CONFORMANCE_NO_VALID_CACHE=1 turns it off.
"""

from __future__ import annotations

import functools
import hashlib
import json
import os
from pathlib import Path
from typing import Any


def _folder(kind: str = "valid") -> Path | None:
    if os.environ.get("OUTBOUND_CONFORMANCE_NO_VALID_CACHE"):
        return None
    base = os.environ.get("XDG_CACHE_HOME") or os.path.join(os.path.expanduser("~"), ".cache")
    return Path(base) / "outbound-conformance" / kind


def digest(schema_digest: str, data: Any) -> str:
    doc = json.dumps(data, sort_keys=True, default=repr, separators=(",", ":"))
    return hashlib.sha256(f"{schema_digest}\n{doc}".encode()).hexdigest()


def known_valid(key: str, kind: str = "valid") -> bool:
    folder = _folder(kind)
    return folder is not None and (folder / key[:2] / key).exists()


def remember_valid(key: str, kind: str = "valid") -> None:
    folder = _folder(kind)
    if folder is None:
        return
    try:
        (folder / key[:2]).mkdir(parents=True, exist_ok=True)
        (folder / key[:2] / key).touch()
    except OSError:
        pass


def check_schema(schema: dict, schema_text: bytes) -> None:
    """``Draft202012Validator.check_schema(schema)`` (raises SchemaError on a bad schema), done
    once per schema text and jsonschema version: each process that loads a schema checked it
    against the meta-schema, about 0.25 s of CPU for the case schema, at each suite run."""
    from jsonschema import Draft202012Validator

    key = digest(schema_digest(schema_text), "draft 2020-12 meta-schema")
    if known_valid(key, "schemas"):  # a folder of their own, beside the documents'
        return
    Draft202012Validator.check_schema(schema)
    remember_valid(key, "schemas")


@functools.lru_cache(maxsize=16)
def schema_digest(schema_text: bytes) -> str:
    try:
        from importlib.metadata import version as _version

        version = _version("jsonschema")
    except Exception:  # noqa: BLE001 - no version known: the schema text alone keys it
        version = "?"
    return hashlib.sha256(version.encode() + b"\n" + schema_text).hexdigest()
