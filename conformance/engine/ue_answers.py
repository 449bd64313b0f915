"""How a UE answers the requests the SUT delivers to its flows: 200 (or what engine/uas.py says)
unless the running step asks for other codes (``peer_request: {answer: {FLOW: CODE}}``)."""

from __future__ import annotations

from dataclasses import dataclass, field

from ..ue.uas import uas_status
from .nat_contact import owner_flow
from .peer import PEER_FLOW


@dataclass
class UeAnswers:
    """The current step's answers: {FLOW: CODE, "first": CODE}; empty: the defaults."""

    answers: dict = field(default_factory=dict)


def ue_answer(run, flow_name: str, request) -> tuple[int, str]:
    """How the UE (or, on a flow with the tester's emulated edge, that edge) answers a request
    delivered on ``flow_name``: the step's ``answer:`` ({FLOW: CODE}, ``first: CODE`` for the
    step's first delivery), else the default of engine/uas.py.  A request that reached a flow's
    advertised Contact gets that flow's answer."""
    answers = run.state(UeAnswers).answers
    if answers and request.method != "ACK":
        owner = owner_flow(flow_name)
        mine = [owner_flow(f) for f, _, _ in run.deliveries[run.step_marks[1]:] if f != PEER_FLOW]
        code = None
        if "first" in answers and mine and mine[0] == owner:
            code = answers["first"]     # every copy on the first flow reached (retransmissions too)
        elif owner in answers:
            code = answers[owner]
        if code is not None:
            return int(code), REASONS.get(int(code), "Response")
    return uas_status(request)


REASONS = {200: "OK", 408: "Request Timeout", 430: "Flow Failed", 480: "Temporarily Unavailable",
           486: "Busy Here", 500: "Server Internal Error", 603: "Decline"}
