"""From an exchange to a verdict: the check context a step's checks read, the judge that runs
them, and the send-and-judge path most request steps take (digest answers included)."""

from __future__ import annotations

from ..cases.model import StepSpec
from ..meaning.checks import CheckContext
from ..meaning.checks.atomic import note_answer
from ..meaning.checks.unchanged import remember
from ..meaning.judging import StepJudge
from ..meaning.results import StepResult
from ..meaning.verdict import FAIL, Finding
from ..sip.message import Request, Response
from ..ue.model import UE
from .digest import answer_challenges, prepare as prepare_digest
from .espstate import EspState
from .registration import RegistrationState
from .secreg import sec_context
from .stream_facts import stream_facts


class Judging:
    """The judging half of a case run (mixed into :class:`~conformance.engine.runner.CaseRun`)."""

    def __init__(self) -> None:
        self.classification: str | None = None

    def context(self, ue: UE, request: Request | None, response: Response | None, why: str,
                ue_override: str | None = None) -> CheckContext:
        """What the checks of the current step see: the exchange, every flow's Contact, token and
        address, what reached REG-T and the UEs during the step, the SAs it went over."""
        who = self.ues.get(ue_override) if ue_override else ue
        flows: dict[str, str] = {}
        reg_ids: dict[str, int | None] = {}
        for u in self.ues.values():
            for f in u.flows.values():
                if f.local_port is not None:
                    flows[f.name] = u.contact_uri(f)
                reg_ids[f.name] = f.reg_id
        tokens = {f.name: f.edge_token for u in self.ues.values() for f in u.flows.values() if f.edge is not None}
        addresses = {f.name: (self.flow_mapping(f) or (f.local_ip, f.local_port)) for u in self.ues.values()
                     for f in u.flows.values() if f.local_port is not None}
        sec = sec_context(self, self.steps[-1].flow if self.steps else None)
        esp_meta = self.state(EspState).meta
        if sec or esp_meta:
            resp_idx = next((i for i in range(len(self.messages) - 1, -1, -1)
                             if response is not None and self.messages[i].direction == "received"
                             and self.messages[i].text == response.to_bytes().decode("utf-8", "replace")),
                            None)
            sec["response"] = esp_meta.get(resp_idx) if resp_idx is not None else None
            sec["deliveries"] = {}
            for fname, _, idx in self.deliveries[self.step_marks[1]:]:
                sec["deliveries"].setdefault(fname, []).append(esp_meta.get(idx))
        answers = self.state(RegistrationState).register_answers
        return CheckContext(request=request, response=response, instance=(who or ue).instance,
                            flow_contacts=flows, flow_reg_ids=reg_ids, flow_tokens=tokens,
                            closed_flows=set(self.closed_flows),
                            forwarded=[(req, resp) for req, _, resp in self.forwarded[self.step_marks[0]:]],
                            flow_addresses=addresses, no_response_reason=why or "no final response",
                            sec=sec, mappings={k: list(v) for k, v in self.mappings.items()},
                            register_answers={k: list(v) for k, v in answers.items()},
                            stream=stream_facts(self))

    def judge(self, step: StepSpec, result: StepResult, ctx: CheckContext, response_index) -> None:
        judge = StepJudge(self.case, self.strict, lambda name: self.ues[name].instance,
                          getattr(self.target, "capabilities", ()) or ())
        judge.judge(step, result, ctx, response_index)
        if result.classification is not None:
            self.classification = result.classification

    def send_and_judge(self, step: StepSpec, result: StepResult, ue: UE, flow_name: str, ep,
                       request: Request) -> None:
        """Exchange ``request`` (answering a digest challenge within the step when the target
        declares digest-auth, engine/digest.py) and judge the step's checks on the outcome."""
        request = prepare_digest(self, step, request)   # digest: {replay: FLOW}
        outcome = self.exchange(flow_name, ep, request, step.options.get("timeout"))
        dialog = self.flow(flow_name)[1].dialog
        request, outcome = answer_challenges(
            self, step, result, ue, flow_name, ep, request, outcome,
            resend_cseq=(lambda: None) if step.action == "send" else dialog.next_cseq)
        response, req_idx, resp_idx, why = outcome
        result.request_index, result.response_index = req_idx, resp_idx
        found = self.take_exchange_findings()
        for f in found:
            f.message_index = resp_idx
        result.findings.extend(found)
        if response is None and step.options.get("liveness"):
            result.findings.append(Finding(
                check="SUT still serves after the attack", level="MUST",
                ref="robustness criterion (test-purposes §7: no crash, a valid REGISTER answered)", outcome=FAIL,
                expected="a final response to a normal REGISTER", observed=f"{why} (the SUT stopped serving)",
                step=step.name, location=result.location, message_index=req_idx))
        reg = self.state(RegistrationState)
        note_answer(reg.register_answers, step, flow_name, ue.flows, response, request)  # checks/atomic.py
        ctx = self.context(ue, request, response, why)
        ctx.request_source = ctx.flow_addresses.get(flow_name)
        if request.method == "REGISTER":  # the UE's REGISTER outcomes (checks/unchanged.py)
            ctx.register_history = list(reg.register_history.setdefault(ue.name, []))
            remember(reg.register_history[ue.name], response)
        ctx.earlier_paths = [uri for f, uri in reg.path_history if f != flow_name]
        ctx.gruu_history = list(reg.gruu_history)
        if response is None:
            result.note = "; ".join(n for n in (result.note, why) if n)
        elif 200 <= response.status < 300 and request.method == "REGISTER":
            flow = ue.flows.get(flow_name)
            reg.remember_2xx(flow_name, response, contact_uri=ctx.flow_contacts.get(flow_name),
                             reg_id=flow.reg_id if flow is not None else None)
        self.judge(step, result, ctx, resp_idx)
