"""Per-session state of the plugin: the target, its SUT, the run token, the output folders, and
what the run gathered for its reports (the case results, the files that could not be loaded).

It lives on the pytest config (``config.stash[STATE_KEY]``), one per session, so two sessions
in one process (pytester, a pytest.main() caller) never share results."""

from __future__ import annotations

import uuid
from pathlib import Path

import pytest

from ..yamlio.errors import CaseError
from ..cases.model import CaseSpec
from ..engine.applicability import not_applicable_reason, not_applicable_result
from ..engine.regt import EmulatedRegistrar
from ..engine.runner import CaseRun
from ..meaning.results import CaseResult
from ..targets.model import Target
from ..meaning.verdict import Verdict
from ..control.sutctl import SutController, SutStartError
from ..topology import describe
from ..topology.netns import Topology, TopologyUnavailable, cleanup_stale


class RunState:
    def __init__(self, target: Target, *, pcap_dir: Path, reports_dir: Path, strict: bool | None,
                 long: bool = False):
        self.target = target
        self.pcap_dir = pcap_dir
        self.reports_dir = reports_dir
        self.strict = strict
        self.long = long  # UE targets: run long: true cases too (make run-ue)
        self.sut = SutController(target)
        self.run_token = uuid.uuid4().hex[:6]
        self._sut_error: str | None = None
        self._ids: dict[str, tuple[str, int]] = {}  # case id -> (file, line) of its first definition
        self.regt = None  # the emulated registrar, for an edge-only target
        self.topology = None  # the running network-namespace topology (target.topology)
        self._silent: list[str] = []  # consecutive attempted cases in which the SUT sent nothing
        self.sut_dead: str | None = None  # why the rest of the run is not attempted
        self.results: list[dict] = []  # each finished case's result (CaseResult.to_dict()), in order
        self.collection_errors: list[str] = []  # node ids of the case files that could not be loaded
        self.not_cases: list[str] = []  # YAML files of a --case-path folder left alone (no id:/steps:)

    @property
    def target_info(self) -> dict:
        """The target as the reports name it."""
        t = self.target
        return {"name": t.name, "description": t.description, "path": t.path, "role": t.role,
                "capabilities": list(t.capabilities), "strict": bool(self.strict or t.strict)}

    def register_case_id(self, case: CaseSpec, file: str) -> None:
        """A case id names one case in the whole run: its second definition, in another file, is
        an error at that file and line naming the first (within one file the loader says so)."""
        line = case.location.line if case.location else 0
        other = self._ids.get(case.id)
        if other is not None and other[0] != file:
            raise CaseError(f"case id {case.id!r} is already used in {other[0]}:{other[1]}", file, line, "id")
        self._ids[case.id] = (file, line)

    def run_case(self, case: CaseSpec, transport: str) -> CaseResult:
        reason = not_applicable_reason(case, transport, self.target)
        if reason:
            return not_applicable_result(case, transport, self.target, reason)
        if self._sut_error is None and self.target.topology is not None and self.topology is None:
            self._sut_error = self._start_topology()
        if self._sut_error is None:
            try:
                next_hop = None
                if self.target.role == "edge" and self.regt is None:
                    t = self.target
                    self.regt = EmulatedRegistrar(t.regt_host, t.regt_port, t.regt_transport)
                if self.regt is not None:
                    next_hop = (*self.regt.address, self.target.regt_transport)
                address = self.sut.start(next_hop=next_hop)
            except (SutStartError, OSError) as exc:
                self._sut_error = str(exc)
        if self._sut_error is not None:
            r = not_applicable_result(case, transport, self.target, "")
            r.verdict = Verdict.INCONCLUSIVE
            r.reason = f"SUT not available: {self._sut_error}"
            return r
        if self.sut_dead is not None:
            r = not_applicable_result(case, transport, self.target, "")
            r.verdict = Verdict.INCONCLUSIVE
            r.reason = f"SUT dead, case not attempted: {self.sut_dead}"
            return r
        run = CaseRun(case, transport, self.target, address, pcap_dir=self.pcap_dir,
                      run_token=self.run_token, strict=self.strict, peer=self.sut.peer_address, regt=self.regt,
                      topology=self.topology)
        result = run.run()
        self._watch_liveness(result)
        return result

    def run_ue_case(self, case, transport: str) -> CaseResult:
        """A UE case (role ue target): the suite plays the network (conformance.uecert.runner)."""
        from ..uecert.runner import UeCaseRun

        return UeCaseRun(case, transport, self.target, self.pcap_dir, self.strict, long=self.long,
                         run_token=self.run_token).run()

    def _watch_liveness(self, result: CaseResult) -> None:
        """Count cases in which not one message came from the SUT; after ``sut_dead_after`` of them
        in a row, the SUT is taken for dead and the remaining cases are not attempted."""
        if result.verdict == Verdict.ERROR:
            return  # the suite's own fault says nothing about the SUT
        heard = any(m.direction == "received" and m.text for m in result.messages)
        # a TLS / WebSocket handshake the SUT answered (and refused: certificate, 401) is a live SUT
        heard = heard or any(f.check == "TLS/WebSocket handshake" and "not finished within" not in f.observed
                             for s in result.steps for f in s.findings)
        if heard:
            self._silent = []
            return
        self._silent.append(result.id)
        limit = self.target.sut_dead_after
        if limit and len(self._silent) >= limit:
            self.sut_dead = (f"nothing came from the SUT in {len(self._silent)} consecutive cases "
                             f"({', '.join(self._silent)}; sut_dead_after: {limit})")

    def _start_topology(self) -> str | None:
        """Create the target's topology; why it cannot be, or None.  A case of a target whose
        topology cannot be created is inconclusive (the SUT sits inside it), with the reason."""
        spec = self.target.topology
        try:
            cleanup_stale()
            self.topology = Topology(spec).up()
        except (TopologyUnavailable, OSError) as exc:
            self.topology = None
            return f"topology {describe(spec)} cannot be created: {exc}"
        self.sut.topology = self.topology
        return None

    def close(self) -> None:
        try:
            self.sut.stop()
            if self.regt is not None:
                self.regt.close()
        finally:
            if self.topology is not None:
                self.topology.down()
                self.topology = None


STATE_KEY = pytest.StashKey[RunState]()
