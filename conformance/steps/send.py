"""``send: {flow: FLOW, message: TEXT}``: a message template filled in with the flow's values
(``{call_id}``, ``{cseq}``, ``{branch}``, ``{aor}``...) and sent over the flow.  A valid request
is exchanged and judged like a REGISTER; anything else is a deliberately malformed stimulus: sent,
and only what comes back recorded."""

from __future__ import annotations

import uuid

from ..cases.model import StepSpec
from ..engine.api import RunApi
from ..engine.registration import PADS
from ..meaning.results import StepResult
from ..sip.errors import LocalProtocolError, ParseError
from ..sip.message import Request, parse_message
from ..ue.model import RegDialog, new_branch
from .kind import StepKind
from .register import exchange_offline


def send(run: RunApi, step: StepSpec, result: StepResult) -> None:
    ue, flow = run.flow(step.flow)
    if flow.dialog is None:
        flow.dialog = RegDialog(call_id=f"{uuid.uuid4().hex}@{flow.local_ip}")
    flow.dialog.next_cseq()
    ep = run.endpoint(flow, new_connection=bool(step.options.get("new_connection")))
    branch = new_branch()
    fields = {
        "call_id": flow.dialog.call_id, "cseq": flow.dialog.cseq, "branch": branch,
        "from_tag": flow.dialog.from_tag, "aor": ue.impu, "impu": ue.impu, "impi": ue.impi,
        "user": ue.user, "domain": ue.domain, "local": flow.sent_by(),
        "transport": flow.via_protocol, "contact": ue.contact_uri(flow),
        "instance": ue.instance or "", "reg_id": flow.reg_id if flow.reg_id is not None else "",
        # the CSeq of the flow's previous request (a replay, TP_REG_006)
        "last_cseq": max(1, flow.dialog.cseq - 1),
        # padding for oversized stimuli (TP_REG_037)
        **{k.strip("{}"): v for k, v in PADS.items()},
    }
    for other in run.ues.values():  # another UE's identities (hijack attempts, TP_REG_032)
        fields[f"aor_{other.name}"] = other.impu
        fields[f"instance_{other.name}"] = other.instance or ""
    try:
        text = str(step.options["message"]).format(**fields)
    except (KeyError, IndexError, ValueError) as exc:
        raise LocalProtocolError(f"send: bad placeholder in message template: {exc}") from None
    if "\r\n" not in text:
        text = text.replace("\n", "\r\n")
    data = text.encode("utf-8")
    try:
        request = parse_message(data)
    except ParseError:
        request = None
    if not isinstance(request, Request):
        # Deliberately malformed stimulus: send it and only record what comes back.
        ep.send(data, run.dst_of(ep))
        result.request_index = run.record("sent", flow.name, ep.transport, ep.local, run.dst_of(ep), data,
                                            "raw message", "not valid SIP (deliberate)")
        run.wait(float(step.options.get("timeout", run.target.timers.response)))
        ctx = run.context(ue, None, None, "stimulus was not a request; no response matched")
        run.judge(step, result, ctx, None)
        return
    run.send_and_judge(step, result, ue, flow.name, ep, request)


KIND = StepKind(
    name="send", summary="A raw message template sent over a flow.", schema={"$ref": "#/$defs/send_action"},
    needs_flow=True, live=send, offline=exchange_offline, order=60,
    extra={"usage": "`send: {flow: FLOW, message: TEXT}`",
           "table": "a raw message; `{call_id}`, `{cseq}`, `{branch}`, `{aor}`... are filled in"})
