"""``nat: rebind`` / ``nat: flush``: steps that act on the topology's NAT.

- ``rebind``: the NAT's public address changes and every mapping is forgotten (a NAT rebinding,
  RFC 5626 §4.4.2: the UE learns it from a changed XOR-MAPPED-ADDRESS).
- ``flush``: every mapping is forgotten (conntrack flushed), the public address stays.
"""

from __future__ import annotations

from ..cases.model import StepSpec
from ..engine.api import RunApi
from ..meaning.results import StepResult
from ..sip.errors import LocalProtocolError
from .kind import StepKind


def nat(run: RunApi, step: StepSpec, result: StepResult) -> None:
    topo = run.topology
    what = step.options.get("do") or step.options.get("action")
    if topo is None:
        raise LocalProtocolError("nat: the target has no network topology")
    if what == "rebind":
        old, new = topo.rebind()
        result.note = f"NAT rebinding: public address {old} -> {new}, every mapping forgotten"
    elif what == "flush":
        topo.flush()
        result.note = "NAT mappings flushed (conntrack -F)"
    else:
        raise LocalProtocolError(f"nat: unknown action {what!r} (rebind, flush)")


def parse(loader, action: str, value, path: list):
    """(options, flow, ue name, step name) of ``nat: rebind|flush``."""
    return {"do": value}, None, None, f"nat {value}"


KIND = StepKind(
    name="nat",
    summary=("Acts on the topology's NAT: rebind (its public address changes and every mapping is forgotten) "
             "or flush (every mapping is forgotten)."),
    schema={"enum": ["rebind", "flush"], "x-expected": "rebind or flush"},
    needs_flow=False, live=nat, parse=parse, order=150,
    extra={"usage": "`nat: rebind` / `nat: flush`",
           "table": ("the topology's NAT changes its public address and forgets its mappings / forgets its "
                     "mappings ([topologies.md](topologies.md))")})
