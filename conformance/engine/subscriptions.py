"""The run's reg-event subscriptions (``run.state(Subscriptions)``), steps/subscribe.py's state.

Every request the SUT sends to a UE flow is recorded and answered by the exchange (a NOTIFY gets
200 from ue/uas.py, RFC 6665 §4.1.3) and kept in ``run.deliveries``, whatever step is running;
:meth:`Subscriptions.collect` walks the deliveries it has not seen, matches each NOTIFY to its
subscription (ue/subscription.matches: Call-ID and tags) and absorbs it, so NOTIFYs that came
during a register step are there for the next ``notify`` step.
"""

from __future__ import annotations

from dataclasses import dataclass, field

from ..ue.subscription import Subscription, absorb, matches, repeated
from .nat_contact import owner_flow


@dataclass
class Subscriptions:
    subs: dict[str, Subscription] = field(default_factory=dict)
    scanned: int = 0          # run.deliveries[:scanned] have been looked at
    unmatched: list[int] = field(default_factory=list)  # NOTIFYs of no subscription (message indexes)

    def collect(self, deliveries, messages=None) -> None:
        """Match the new deliveries' NOTIFYs to their subscriptions (and note it on the message)."""
        for flow, request, idx in deliveries[self.scanned:]:
            if request.method != "NOTIFY":
                continue
            sub = next((s for s in self.subs.values() if matches(s, request)), None)
            if sub is None:
                self.unmatched.append(idx)
                if messages is not None and 0 <= idx < len(messages):
                    messages[idx].note = "; ".join(n for n in (messages[idx].note, "NOTIFY of no subscription of "
                                                               "the case (Call-ID and To tag match none)") if n)
                continue
            if repeated(sub, request):
                continue
            nv = absorb(sub, request, idx, owner_flow(flow))
            if messages is not None and 0 <= idx < len(messages):
                what = f"version {nv.doc.version} {nv.doc.state}" if nv.doc is not None else nv.error
                messages[idx].note = "; ".join(n for n in (messages[idx].note, f"NOTIFY of subscription "
                                                           f"{sub.name}: {what}") if n)
        self.scanned = len(deliveries)
