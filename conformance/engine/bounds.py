"""How long to wait for an answer that need not come (a raw stimulus the SUT may drop)."""

from __future__ import annotations

DEFAULT_BOUND = 1.0  # seconds to wait for an answer at most (a final answer ends the wait at once)
MIN_BOUND = 0.1      # ... and at least, when the SUT's round trip is known


def answer_bound(run) -> float:
    """How long to wait for an answer that need not come: ten round trips of the SUT's latest
    final response in this case (at least MIN_BOUND), else DEFAULT_BOUND; never above the
    target's response timer.  A silent drop then costs a fraction of a second on a local SUT."""
    cap = min(DEFAULT_BOUND, run.target.timers.response)
    msgs = run.messages
    for j in range(len(msgs) - 1, -1, -1):
        m = msgs[j]
        if m.direction == "received" and m.text.startswith("SIP/2.0 ") and m.text[8:9] in "23456":
            sent = next((msgs[i] for i in range(j - 1, -1, -1)
                         if msgs[i].direction == "sent" and msgs[i].flow == m.flow), None)
            if sent is not None:
                return min(cap, max(MIN_BOUND, 10 * (m.time - sent.time)))
            break
    return cap
