"""The reference UE's timing rules, sans-IO: the random source is passed in, nothing sleeps.

- keep-alive interval (RFC 5626 §4.4): with a Flow-Timer, "randomly distributed between 80% and
  100% of the server-provided time"; without one, §4.4.1's 95-120 s on connections and §4.4.2's
  "random number between 24 and 29 seconds" on UDP;
- retry delay (§4.5): W = min(max-time, base-time * 2^consecutive-failures), base-time the
  all-failed or the not-all-failed one, the delay "a uniform random time between 50 and 100% of
  the upper-bound wait time"; a 503's Retry-After "may cause the UA to wait longer";
- refresh: at half the granted expiry (RFC 3261 §10.2.1 leaves the moment to the UA).
"""

from __future__ import annotations

import random

#: §4.4.1 (connections) and §4.4.2 (UDP) defaults without a Flow-Timer: (lower, upper) seconds.
DEFAULT_KEEPALIVE = {"udp": (24.0, 29.0), "stream": (95.0, 120.0)}
#: FAULT: keepalive-too-slow: the interval's range as a multiple of what it should be.
TOO_SLOW = (1.2, 1.5)
#: FAULT: no-backoff: the wait before the next attempt, whatever the formula says.
NO_BACKOFF_WAIT = 0.1
#: A refresh goes at this fraction of the granted expiry.
REFRESH_FRACTION = 0.5


def keepalive_interval(transport: str, flow_timer: int | None, rng: random.Random, *,
                       too_slow: bool = False) -> float:
    """Seconds until the next keep-alive on a flow of ``transport``."""
    if flow_timer is not None:
        low, high = 0.8 * flow_timer, float(flow_timer)
    else:
        low, high = DEFAULT_KEEPALIVE["udp" if transport == "udp" else "stream"]
    if too_slow:  # FAULT: keepalive-too-slow
        low, high = TOO_SLOW[0] * high, TOO_SLOW[1] * high
    return rng.uniform(low, high)


def upper_bound_wait(consecutive_failures: int, all_failed: bool, timers) -> float:
    """§4.5's W for ``timers`` (a model.UeTimers)."""
    base = timers.base_time_all_failed if all_failed else timers.base_time_not_all_failed
    return min(timers.max_time, base * (2 ** consecutive_failures))


def retry_delay(consecutive_failures: int, all_failed: bool, timers, rng: random.Random, *,
                retry_after: float | None = None, no_backoff: bool = False) -> float:
    """Seconds to wait after the ``consecutive_failures``-th failed attempt to form a flow."""
    if no_backoff:  # FAULT: no-backoff
        return NO_BACKOFF_WAIT
    w = upper_bound_wait(consecutive_failures, all_failed, timers)
    delay = rng.uniform(0.5 * w, w)
    if retry_after is not None:
        delay = max(delay, float(retry_after))
    return delay


def refresh_delay(granted: int) -> float:
    """Seconds from a 2xx granting ``granted`` seconds to its refresh."""
    return max(0.5, REFRESH_FRACTION * granted)


__all__ = ["DEFAULT_KEEPALIVE", "NO_BACKOFF_WAIT", "REFRESH_FRACTION", "TOO_SLOW", "keepalive_interval",
           "refresh_delay", "retry_delay", "upper_bound_wait"]
