"""RFC 5626 §4.5 flow-recovery back-off as a pure function.

    W = min (max-time, (base-time * (2 ^ consecutive-failures)))

base-time is ``base_time_all_failed`` (default 30 s) when all of the flows to every URI of the
outbound-proxy-set have failed, else ``base_time_not_all_failed`` (default 90 s); the retry
delay is uniform in 50-100 % of W, and "The UA MUST wait for at least the value of the retry
delay time" — so a retry before W/2 breaks the sentence, one after W breaks none.  The RFC's
boundary example: after the first failure at boot (one consecutive failure, all failed) the
first retry comes 30 to 60 s later.
"""

from __future__ import annotations

from .model import UeTimers


def upper_bound(consecutive_failures: int, all_failed: bool, timers: UeTimers | None = None) -> float:
    """W for ``consecutive_failures`` (>= 1) consecutive failed attempts."""
    t = timers or UeTimers()
    base = t.base_time_all_failed if all_failed else t.base_time_not_all_failed
    return min(t.max_time, base * (2 ** max(0, consecutive_failures)))


def bounds(consecutive_failures: int, all_failed: bool, timers: UeTimers | None = None) -> tuple[float, float]:
    """(lowest, highest) retry delay: (W/2, W)."""
    w = upper_bound(consecutive_failures, all_failed, timers)
    return w / 2, w
