"""Run one case against one SUT over one transport: the driver of the step kinds.

``CaseRun.run()`` never raises and never waits without a bound (engine/exchange.py); each step
is carried out by its kind's live handler (``conformance.steps.KINDS``) through the run API
(engine/api.py).  The case's pcap is written in a ``finally`` so it exists whatever happened.
"""

from __future__ import annotations

import time
import traceback
import uuid
from pathlib import Path

from ..cases.model import CaseSpec
from ..meaning.results import CaseResult, StepResult
from ..meaning.verdict import FAIL, INCONCLUSIVE, Finding, combine
from ..sip.errors import LocalProtocolError
from ..steps import KINDS
from ..targets.model import Target
from .api import RunStates, StepNotPossible
from .espstate import EspState
from .exchange import Exchange
from .judging import Judging
from .natview import merge_nat_view
from .recording import Recording, safe_name
from .setup import Setup
from .transport import Addr, HandshakeError, TcpListenEndpoint, TransportError, UdpEndpoint


class CaseRun(RunStates, Recording, Setup, Exchange, Judging):
    """One case run; its public members are the run API (engine/api.py) the step kinds use."""

    def __init__(self, case: CaseSpec, transport: str, target: Target, sut: Addr, *,
                 pcap_dir: Path | None = None, run_token: str | None = None, strict: bool | None = None,
                 peer: Addr | None = None, regt=None, topology=None):
        RunStates.__init__(self)
        Recording.__init__(self)
        Setup.__init__(self)
        Exchange.__init__(self)
        Judging.__init__(self)
        self.case = case
        # A running network-namespace topology (conformance/topology/netns.Topology): sockets of
        # addresses inside it are made in their namespace; the NAT's view is merged in the pcap.
        self.topology = topology
        cap = getattr(topology, "capture", None)
        self.nat_mark = cap.mark() if cap is not None else 0  # the NAT capture from here is this case's
        self.transport = transport
        self.target = target
        self.sut = sut
        # Where the PEER sends terminating requests: the S-CSCF (given by the SUT controller or
        # the target's peer host/port), else the SUT's own address.
        self.peer = peer or ((target.peer_host or sut[0]), target.peer_port or sut[1])
        self.pcap_dir = pcap_dir
        # The emulated registrar (REG-T) behind an edge-only SUT, and what reached it.
        self.regt = regt
        self.regt_core = None
        self.run_token = run_token or uuid.uuid4().hex[:6]
        self.strict = target.strict if strict is None else strict
        self.item_id = f"{case.id}[{transport}]"
        self.steps: list[StepResult] = []

    def run(self) -> CaseResult:
        error = None
        stopped = None
        preamble_failed = False
        try:
            self.make_ues()
            if self.regt is not None:
                self.regt.drain()
                self.regt_core = self.regt.new_core(self.target.domain)
                self.endpoints["reg-t"] = UdpEndpoint.adopt(self.regt.udp, self.on_wire)
                self.endpoints["reg-t-listen"] = TcpListenEndpoint(self.regt.tcp, self.on_wire)
            for step in self.case.steps:
                self.current_step = step.name
                self.step_marks = (len(self.forwarded), len(self.deliveries))
                result = StepResult(name=step.name, action=step.action, flow=step.flow,
                                    location=str(step.location or ""))
                self.steps.append(result)
                kind = KINDS.get(step.action)
                if kind is None:
                    raise LocalProtocolError(f"unknown action {step.action!r}")
                try:
                    kind.live(self, step, result)
                except TransportError as exc:
                    # Never pass or fail: the SUT could not be reached, or a TLS / WebSocket
                    # handshake (certificate, upgrade) did not let the flow open.
                    where = getattr(exc, "remote", None) or self.sut
                    shake = isinstance(exc, HandshakeError)
                    stopped = f"{step.name}: {'flow not opened' if shake else 'SUT unreachable'}: {exc}"
                    result.note = stopped
                    result.findings.append(Finding(
                        check="TLS/WebSocket handshake" if shake else "SUT reachable", level="MUST", ref="",
                        outcome=INCONCLUSIVE,
                        expected=(f"a {self.transport} flow to {where[0]}:{where[1]} (handshakes done)" if shake
                                  else f"a connection to {where[0]}:{where[1]}"),
                        observed=str(exc), step=step.name, location=result.location))
                    break
                except StepNotPossible as exc:
                    stopped = f"{step.name}: {exc}"
                    result.note = stopped
                    result.findings.append(Finding(
                        check="step possible", level="MUST", ref="", outcome=INCONCLUSIVE,
                        expected=f"what {step.action} acts on", observed=str(exc), step=step.name,
                        location=result.location))
                    break
                bad = [f for f in result.findings if f.outcome in (FAIL, INCONCLUSIVE)]
                if step.preamble and bad:
                    preamble_failed = True
                    stopped = f"{step.name} (preamble) did not succeed: {bad[0].check}: observed {bad[0].observed}"
                    break
        except LocalProtocolError as exc:
            error = f"{self.current_step or 'set-up'}: {exc}"
        except Exception as exc:  # an engine bug must not crash the suite; report it as error
            error = f"internal error in {self.current_step or 'set-up'}: {exc!r}\n{traceback.format_exc()}"
        finally:
            error, pcap_path = self._finish(error)
        findings = [f for s in self.steps for f in s.findings]
        cv = combine(findings, preamble_failed=preamble_failed, error=error, stopped_reason=stopped)
        return CaseResult(
            id=self.item_id, case_id=self.case.id, title=self.case.title, purpose=self.case.purpose,
            transport=self.transport, verdict=cv.verdict, reason=cv.reason,
            requirements=list(self.case.requirements), references=list(self.case.references),
            test_purposes=list(self.case.test_purposes), target=self.target.name,
            pcap=str(pcap_path) if pcap_path else None, classification=self.classification,
            warnings=cv.warnings, duration=time.monotonic() - self.t0, steps=self.steps,
            messages=self.messages, location=str(self.case.location or ""))

    def _finish(self, error: str | None) -> tuple[str | None, Path | None]:
        """Close every endpoint, merge the NAT's view, write the pcap and its keys."""
        for ep in self.endpoints.values():
            try:
                ep.close()
            except OSError:
                pass
        if self.topology is not None:
            try:
                merge_nat_view(self)
            except Exception as exc:  # noqa: BLE001 - the capture must not spoil the verdict
                error = error or f"NAT capture: {exc!r}"
        pcap_path = None
        if self.pcap_dir is not None:
            pcap_path = self.pcap_dir / f"{safe_name(self.case.id)}-{self.transport}.pcap"
            try:
                self.write_pcap(pcap_path, self.state(EspState))
            except OSError as exc:
                error = error or f"could not write {pcap_path}: {exc}"
                pcap_path = None
        self.drop_keylog()
        return error, pcap_path
