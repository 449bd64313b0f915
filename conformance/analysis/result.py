"""What one analysis of a capture holds, and the bounded logs of registrations, terminating
requests and keep-alives it keeps: shared by the serial analysis (analyzer.py) and the split one
(parallel.py), which builds the same Analysis from its processes' parts."""

from __future__ import annotations

import json
from dataclasses import dataclass, field

from .capture import CaptureReader, Problem
from .reassembly import Reassembler, WireEvent
from .rules import Judge
from .timeline import Delivery, KeepAlive, RegisterOutcome, Timeline

MAX_LOG = 2000  # registrations / deliveries / keep-alives listed in the report
CACHE_MAX = 65536  # parsed name-addrs and URIs kept by text while analysing
_PACK = json.JSONEncoder(separators=(",", ":"), ensure_ascii=False, check_circular=False).encode


class PackedLog:
    """A report log (registrations, deliveries, keep-alives): its entries (dicts of JSON values)
    held as compact JSON texts, some 600 bytes against the 4 kB of the dict and its lists and
    strings.  ``append`` takes a dict; ``extend`` takes texts already packed (``pack``).  Reading
    it (iteration, indexing) gives equal dicts; ``texts`` gives the stored texts, which the JSON
    report writes as they are (capture_analysis.write_json).

    Not a ``list``: code that reaches a list at C level (``json.dumps``, ``list.copy``) would see
    the texts, not the entries.  ``json.dumps`` refuses it unless given ``default=plain``."""

    __slots__ = ("_texts",)

    def __init__(self, entries=()) -> None:
        self._texts: list[str] = [_PACK(e) for e in entries]

    @staticmethod
    def pack(entry: dict) -> str:
        return _PACK(entry)

    def append(self, entry: dict) -> None:
        self._texts.append(_PACK(entry))

    def extend(self, texts) -> None:
        """Add entries already packed (``pack``'s texts, as the split's processes send them)."""
        self._texts.extend(texts)

    def texts(self) -> list[str]:
        return self._texts

    def __len__(self) -> int:
        return len(self._texts)

    def __iter__(self):
        loads = json.loads
        for text in self._texts:
            yield loads(text)

    def __getitem__(self, i):
        if isinstance(i, slice):
            return [json.loads(t) for t in self._texts[i]]
        return json.loads(self._texts[i])

    def __reduce__(self):  # pickled as its texts
        return _packed_log, (self._texts,)

    def __eq__(self, other) -> bool:
        if isinstance(other, PackedLog):
            return self._texts == other._texts or list(self) == list(other)
        if isinstance(other, list):
            return list(self) == other
        return NotImplemented

    __hash__ = None  # type: ignore[assignment]

    def __repr__(self) -> str:
        return f"PackedLog({len(self._texts)} entries)"


class Entries:
    """A report list made as it is read: ``make(item)`` of each of ``items`` (a binding's dict
    with its history, say), so that the document of a large capture never holds all of them
    at once; write_json writes them one at a time.  Read like a list (iteration, indexing,
    ``len``, equality with a list); ``json.dumps`` takes it with ``default=plain``."""

    __slots__ = ("_items", "_make")

    def __init__(self, items: list, make) -> None:
        self._items = items
        self._make = make

    def __len__(self) -> int:
        return len(self._items)

    def __iter__(self):
        return map(self._make, self._items)

    def __getitem__(self, i):
        if isinstance(i, slice):
            return [self._make(x) for x in self._items[i]]
        return self._make(self._items[i])

    def __eq__(self, other) -> bool:
        if isinstance(other, (Entries, list)):
            return list(self) == list(other)
        return NotImplemented

    __hash__ = None  # type: ignore[assignment]

    def __repr__(self) -> str:
        return f"Entries({len(self._items)} entries)"


def plain(obj):
    """``default=`` for ``json.dumps`` of a report document: a PackedLog or Entries as the list
    of its entries."""
    if isinstance(obj, (PackedLog, Entries)):
        return list(obj)
    raise TypeError(f"Object of type {type(obj).__name__} is not JSON serializable")


def _packed_log(texts: list[str]) -> PackedLog:
    log = PackedLog()
    log.extend(texts)
    return log


@dataclass
class Analysis:
    path: str
    problems: list[Problem]
    judge: Judge
    timeline: Timeline
    reader: CaptureReader
    reassembler: Reassembler
    seconds: float
    registrations: PackedLog = field(default_factory=PackedLog)
    deliveries: PackedLog = field(default_factory=PackedLog)
    keepalives: PackedLog = field(default_factory=PackedLog)
    events: list[WireEvent] | None = None  # kept only when asked (``--case``)
    processes: list[dict] | None = None  # per process (events seen, peak RSS) when split by AOR
    serial_because: str = ""  # why a split analysis was not used
    ues: list[dict] = field(default_factory=list)  # each UE's flows and UE-check findings (ue_judge.py)
    ue_note: str = ""  # what the bounds of the UE observation left out

    @property
    def messages(self) -> int:
        return self.timeline.counts.messages


def register_log(out: RegisterOutcome) -> dict:
    ex = out.exchange
    resp = ex.response
    return {"packets": ex.packets, "time": round(ex.req_event.time, 6), "aor": out.aor,
            "flow": [ex.req_event.transport, list(ex.req_event.src), list(ex.req_event.dst)],
            "call_id": ex.request.call_id, "cseq": ex.request.get("CSeq"),
            "status": f"{resp.status} {resp.reason}" if resp is not None else None,
            "contacts": [str(c) for c in out.contacts] + (["*"] if out.star else []),
            "supported": ex.request.values("Supported"), "require": resp.values("Require") if resp else [],
            "path": ex.request.values("Path"), "response_path": resp.values("Path") if resp else [],
            "changes": [{"kind": c.kind, "binding": c.binding.label(), "reg_id": c.binding.reg_id,
                         "instance": c.binding.instance} for c in out.changes]}


def log_item(a: Analysis, item) -> None:
    if isinstance(item, RegisterOutcome):
        if len(a.registrations) < MAX_LOG:
            a.registrations.append(register_log(item))
    elif isinstance(item, Delivery):
        if len(a.deliveries) < MAX_LOG:
            b = item.binding
            ev = item.event
            a.deliveries.append({"packet": ev.number, "method": item.request.method, "aor": b.aor,
                                 "binding": b.label(), "binding_state": b.state, "by_request_uri": item.by_uri,
                                 "on_registered_flow": item.on_flow,
                                 "flow": [ev.transport, list(ev.src), list(ev.dst)]})
    elif isinstance(item, KeepAlive):
        if len(a.keepalives) < MAX_LOG:
            r = item.request
            a.keepalives.append({"kind": "CRLF ping" if item.kind == "pong" else "STUN Binding",
                                 "packets": [r.number] + ([item.answer.number] if item.answer else []),
                                 "flow": [r.transport, list(r.src), list(r.dst)],
                                 "delay_ms": round(item.delay * 1000, 3) if item.delay is not None else None,
                                 "mapped": list(item.mapped) if item.mapped else None, "note": item.note})
