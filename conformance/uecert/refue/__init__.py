"""The reference UE: the suite's own UE engine as a live agent (RFC 5626 §4), with faults.

- ``timing``    sans-IO: keep-alive intervals (§4.4), §4.5 back-off waits, refresh times.
- ``replies``   sans-IO: reading a REGISTER's 2xx (Require: outbound, Flow-Timer, expires).
- ``outgoing``  sans-IO: INVITE / MESSAGE with Contact ;ob, ACK and BYE.
- ``config``    plain data: :class:`~.config.RefUeConfig`, the :class:`~.config.Trace` record.
- ``flow``      one flow's state and socket (udp, tcp, tls, ws, wss): framing, keep-alive bookkeeping.
- ``engine``    what the UE does on each event (``answers``: final responses to REGISTER;
                ``timers``: transactions, retry, refresh, keep-alive deadlines); clock injected.
- ``agent``     :class:`~.agent.RefUe`: a thread with a selector loop driving the engine
                (register, refresh, keep-alives, recovery, move, add_flow, deregister, call).
- ``__main__``  the same as a process (commands on stdin, trace on stdout).

The reference is meant to be conformant; the only way to make it misbehave is a fault from
:data:`FAULTS` (``ue: {fault: NAME}`` in a target profile).  Each breaks exactly one rule, so a
UE case can show that its check notices it.  The code each fault switches on is marked ``FAULT:``.
"""

from __future__ import annotations

#: Fault name -> what it breaks.
FAULTS: dict[str, str] = {
    "reg-id-reused":
        "an added flow registers with reg-id 1, the reg-id of the first flow (breaks RFC 5626 "
        "section 4.2.1: a 'reg-id' parameter 'distinct from other \"reg-id\" parameters used in "
        "other registrations that use the same \"+sip.instance\"' and AOR)",
    "instance-changes":
        "each flow and each start uses a new +sip.instance URN (breaks RFC 5626 section 4.1: one "
        "instance-id for the UA instance, the same across flows and reboots)",
    "keepalive-too-slow":
        "keep-alives every 1.2-1.5 times the Flow-Timer (or the default interval) (breaks RFC 5626 "
        "section 4.4: 'The UA MUST send keep-alives at least as often as this number of seconds')",
    "no-backoff":
        "after a failed attempt to form a flow the next attempt follows at once (0.1 s) instead "
        "of after the retry delay (breaks RFC 5626 section 4.5: 'The UA MUST wait for at least "
        "the value of the retry delay time')",
    "new-reg-id-after-failure":
        "the registration replacing a failed flow uses a new reg-id (breaks RFC 5626 section "
        "4.5: 'Each new registration MUST have the same reg-id value as the registration it "
        "replaces')",
    "no-supported-outbound":
        "REGISTER carries Supported: path only, without the outbound option tag (breaks RFC 5626 "
        "section 4.2.1: 'MUST include the outbound option tag in a Supported header field')",
}


def check_fault(name: str | None) -> str | None:
    """``name`` if it is a known fault (or None); ValueError naming the known ones otherwise."""
    if name is not None and name not in FAULTS:
        raise ValueError(f"unknown reference UE fault {name!r} (known: {', '.join(sorted(FAULTS))})")
    return name


__all__ = ["FAULTS", "check_fault"]
