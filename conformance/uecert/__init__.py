"""UE-side certification (role ``ue``): the suite plays the network (P-CSCF/edge + registrar),
provokes each situation and judges what a real UE does (RFC 5626 §4, RFC 3261, TS 24.229 5.1).

Layers, each a module (a new driver, behaviour or check is a module, not a reach into the runner):

- ``model``        plain data: the ``ue:`` block of a target profile (:class:`UeProfile`), a UE
                   case (:class:`UeCaseSpec`: network behaviour + a script of actions + checks).
- ``observation``  sans-IO: what the network side saw, as :class:`Event` s in an
                   :class:`Observation` (SIP both ways, keep-alives, connection opens/closes, with
                   the flow and the packet number).  Built live by the network side and offline
                   from a capture (``conformance analyze``), so the same checks judge both.
- ``checks``       sans-IO: one function per UE check, registered with its clause and level;
                   ``run_ue_check(spec, observation, ctx) -> list[Finding]``.
- ``network``      I/O: the instrumented network side (edge + registrar built on the reference's
                   sans-IO cores) with per-case behaviour (``NetworkBehaviour``); records events.
- ``drivers``      I/O: how to start, trigger and stop a UE (reference UE, baresip, JsSIP,
                   command lines); :class:`~conformance.uecert.drivers.base.UeDriver`.
- ``refue``        the reference UE: the suite's own UE engine as a live agent (flows,
                   refresh, keep-alives, flow recovery with §4.5 back-off), with deliberate faults.
- ``runner``       one UE case against one UE: network up, driver started, script played, checks
                   judged into a :class:`~conformance.meaning.results.CaseResult` (so reports,
                   certificate, JUnit and the CI gate work unchanged).
"""
