"""One UE case against one UE over one transport: applicability, the network side up, the UE
started through its driver, the script played, the checks judged, everything stopped and the
pcap written (in ``finally``).  :meth:`UeCaseRun.run` never raises and every wait is bounded,
so the reports (HTML, JSON, JUnit, certificate, gate) see a plain
:class:`~conformance.meaning.results.CaseResult`."""

from __future__ import annotations

import tempfile
import time
import traceback
import uuid
from pathlib import Path

from ..catalogue.clauses import quote_of
from ..engine.recording import safe_name
from ..meaning.results import CaseResult, StepResult
from ..meaning.verdict import Verdict, combine
from .checks import UE_CHECKS, UeCheckContext, load_all, run_ue_check
from .drivers import ActionNotSupported, DriverError, driver_for
from .model import UeCaseSpec
from .network import NetworkActionError, UeNetwork
from .script import ScriptPlayer, ScriptStop, driver_action

LONG_REASON = "long case: make run-ue (conformance run --long)"


class UeCaseRun:
    def __init__(self, case: UeCaseSpec, transport: str, target, pcap_dir: Path | str, strict: bool | None = None,
                 *, long: bool = False, run_token: str = ""):
        self.case, self.transport, self.target = case, transport, target
        self.pcap_dir = Path(pcap_dir)
        self.strict = bool(strict or target.strict)
        self.long = long
        self.run_token = run_token or uuid.uuid4().hex[:6]
        self.driver = None
        self.network: UeNetwork | None = None

    # -- the result skeleton -----------------------------------------------------------------
    def _result(self, verdict: Verdict, reason: str) -> CaseResult:
        c = self.case
        return CaseResult(id=f"{c.id}[{self.transport}]", case_id=c.id, title=c.title, purpose=c.purpose,
                          transport=self.transport, verdict=verdict, reason=reason,
                          requirements=list(c.requirements), references=list(c.references),
                          test_purposes=list(c.test_purposes), target=self.target.name,
                          location=str(c.location or c.path))

    def not_applicable_reason(self, driver_cls=None) -> str | None:
        c, t = self.case, self.target
        if c.long and not self.long:
            return LONG_REASON
        if self.transport not in t.transports:
            return f"UE target '{t.name}' does not offer transport {self.transport}"
        missing = [r for r in c.requires if r not in t.capabilities]
        if missing:
            return (f"UE target '{t.name}' does not declare capability "
                    f"{', '.join(repr(m) for m in missing)} required by {c.id}")
        if driver_cls is not None:
            lacking = sorted({driver_action(a) for a in c.script if a.actor == "ue" and a.name != "start"}
                             - set(driver_cls.actions))
            if lacking:
                return f"driver {t.ue.driver!r} cannot {', '.join(lacking)} (needed by {c.id})"
        return None

    # -- the run -----------------------------------------------------------------------------
    def run(self) -> CaseResult:
        t0 = time.monotonic()
        result = self._result(Verdict.ERROR, "")
        steps: list[StepResult] = []
        pcap_path = self.pcap_dir / f"{safe_name(result.id)}.pcap"
        try:
            reason = self.not_applicable_reason()
            if reason:
                result.verdict, result.reason = Verdict.NOT_APPLICABLE, reason
                return result
            self._play(result, steps)
        except Exception as exc:  # noqa: BLE001 - the suite's own fault: an error verdict, never a raise
            result.verdict = Verdict.ERROR
            result.reason = f"{type(exc).__name__}: {exc}"
            steps.append(StepResult("error", "error", None, note=traceback.format_exc(limit=6)))
            self._attach_logs(steps)
        finally:
            self._stop(steps)
            result.steps = steps
            result.duration = time.monotonic() - t0
            if self.network is not None:
                rec = self.network.recorder
                result.messages = list(rec.rec.messages)
                try:
                    rec.rec.pcap.write(pcap_path)
                    result.pcap = str(pcap_path)
                except OSError as exc:
                    result.warnings.append(f"pcap not written: {exc}")
        return result

    def _play(self, result: CaseResult, steps: list[StepResult]) -> None:
        t, case = self.target, self.case
        try:
            self.driver = driver_for(t.ue, t)
        except (DriverError, ImportError, AttributeError) as exc:
            result.verdict, result.reason = Verdict.INCONCLUSIVE, f"UE driver not available: {exc}"
            return
        reason = self.not_applicable_reason(type(self.driver))
        if reason:
            result.verdict, result.reason = Verdict.NOT_APPLICABLE, reason
            return
        ids = t.identities
        user = ids.user.format(case=case.id.lower(), ue=1, run=self.run_token)
        aor = ids.impu.format(user=user, domain=t.domain)
        impi = ids.impi.format(user=user, domain=t.domain)
        password = t.auth.password_for(impi)
        self.network = UeNetwork(case.network, domain=t.domain, host=t.host, transport=self.transport,
                                 timers=t.ue.timers, password_for=t.auth.password_for)
        obs = self.network.recorder.obs
        obs.aor, obs.instance = aor, t.ue.instance
        try:
            self.network.start()
        except NetworkActionError as exc:
            result.verdict, result.reason = Verdict.INCONCLUSIVE, str(exc)
            return
        ca_file = None
        if self.transport in ("tls", "wss"):   # the reference serves the suite's test CA's server pair
            from ..wire.testca import ensure_test_ca

            ca_file = str(ensure_test_ca().ca_cert)
        net_info = self.network.info(aor, impi, password, t.ue_addresses, ca_file=ca_file, ws_path=t.ws.path)
        workdir = Path(tempfile.mkdtemp(prefix=f"ue-{safe_name(result.id)}-"))
        player = ScriptPlayer(self.driver, self.network, net_info, addresses=list(t.ue_addresses), aor=aor,
                              workdir=workdir, start_timeout=t.ue.start_timeout,
                              peer_aor=f"sip:peer-{self.run_token}@{t.domain}")
        try:
            player.play(case.script, steps)
        except ActionNotSupported as exc:
            result.verdict, result.reason = Verdict.INCONCLUSIVE, f"the UE could not be driven: {exc}"
            return
        except (DriverError, ScriptStop, NetworkActionError) as exc:
            result.verdict, result.reason = Verdict.INCONCLUSIVE, str(exc)
            self._attach_logs(steps)
            return
        finally:
            self.network.recorder.rec.current_step = "checks"
        self._judge(result, steps)

    def _judge(self, result: CaseResult, steps: list[StepResult]) -> None:
        registry = UE_CHECKS if all(c.kind in UE_CHECKS for c in self.case.checks) else load_all()
        obs = self.network.recorder.obs
        obs.end = self.network.recorder.now()  # judged over the whole case (a keep-alive that never came)
        findings = []
        with self.network.recorder.lock:
            for spec in self.case.checks:
                ctx = UeCheckContext(strict=self.strict, capabilities=tuple(self.target.capabilities),
                                     location=str(spec.location or ""))
                check = registry[spec.kind]
                missing = [n for n in check.needs if n not in self.target.capabilities]
                step = StepResult(name=f"check {spec.kind}", action="check", flow=None, location=ctx.location)
                if missing:
                    step.note = f"not applicable: the UE does not declare {', '.join(missing)}"
                    steps.append(step)
                    continue
                ref = spec.ref or check.ref
                step.findings = run_ue_check(spec.kind, spec.args, obs, ctx, level=spec.level, ref=spec.ref,
                                             quote=_quote(ref))
                for f in step.findings:
                    f.step = step.name
                    if f.message_index is not None:
                        f.message_index = self._message_of_packet(f.message_index)
                findings += step.findings
                steps.append(step)
        v = combine(findings, error=own_failure(self.network.recorder.obs))
        result.verdict, result.reason, result.warnings = v.verdict, v.reason, v.warnings
        if v.verdict != Verdict.PASS:
            self._attach_logs(steps)

    def _message_of_packet(self, packet: int) -> int | None:
        """A check names a pcap packet number; the ladder's messages are numbered on their own."""
        events = [e for e in self.network.recorder.obs.events if e.kind in ("sip", "unparseable", "ping", "pong")]
        for i, e in enumerate(events):
            if e.index == packet:
                return i
        return None

    def _attach_logs(self, steps: list[StepResult]) -> None:
        if self.driver is None:
            return
        try:
            logs = self.driver.logs()
        except Exception as exc:  # noqa: BLE001
            logs = f"(the driver's log could not be read: {exc})"
        if logs:
            steps.append(StepResult("UE log", "log", None, note=logs[-20000:]))

    def _stop(self, steps: list[StepResult]) -> None:
        if self.driver is not None:
            try:
                self.driver.stop()
            except Exception as exc:  # noqa: BLE001 - stopping must not hide the verdict
                steps.append(StepResult("stop UE", "stop", None, note=f"driver.stop failed: {exc}"))
        if self.network is not None:
            self.network.stop()


def _quote(ref: str) -> str:
    try:
        return quote_of(ref)
    except Exception:  # noqa: BLE001 - a missing clause file is the catalogue test's business
        return ""


def own_failure(obs) -> str | None:
    """Why the network side itself failed, or None: a 5xx the reference sent of its own accord (its
    Warning names the reason, e.g. "next hop unreachable"), not one the case's behaviour asked for
    (those carry no Warning).  The UE's messages are then judged against a broken network, so the
    case is an error of the suite's, never a pass or a fail of the UE's."""
    from ..sip.message import Response
    from .observation import OUT, SIP

    for e in obs.events:
        r = e.msg
        if e.kind == SIP and e.direction == OUT and isinstance(r, Response) and r.status >= 500 \
                and "outbound-conformance-reference" in (r.get("Warning") or ""):
            return (f"the suite's network side failed: it answered {r.status} {r.reason} "
                    f"({r.get('Warning')}) at packet {e.index}")
    return None
