"""The reference UE's reaction to a final response to one of its REGISTERs (RFC 5626 §4.2)."""

from __future__ import annotations

import secrets

from ...engine.digest import digest_challenge, with_credentials
from ...ims.digest import build_credentials
from ...sip.headers import format_auth
from .flow import REGISTERED, REMOVED
from .replies import read_2xx, retry_after
from .timing import keepalive_interval, refresh_delay, retry_delay

MAX_CHALLENGES = 2


def on_register_response(engine, flow, pending, resp) -> None:
    status, kind = resp.status, pending.kind
    if status in (401, 407) and pending.challenges < MAX_CHALLENGES and _answer_challenge(engine, flow, pending, resp):
        return
    if 200 <= status < 300:
        if kind == "removal-all":
            for f in engine.flows.values():
                engine.close(f)
                f.status = REMOVED
        elif kind == "removal":
            engine.close(flow)
            flow.status = REMOVED
        else:
            _registered(engine, flow, kind, resp)
        return
    if kind in ("removal", "removal-all"):
        engine.rec(flow, "-", "note", f"{status} to the removal: the flow is closed anyway")
        for f in (engine.flows.values() if kind == "removal-all" else [flow]):
            engine.close(f)
            f.status = REMOVED
        return
    if status == 439 and kind == "initial" and flow.outbound_mode:
        # §4.2.1: "it MAY re-attempt registration without using the outbound mechanism".
        flow.outbound_mode = False
        engine.rec(flow, "-", "note", "439: re-attempting registration without the outbound mechanism "
                   "(no reg-id), RFC 5626 §4.2.1")
        engine.send_register(flow, "initial")
        return
    min_expires = (resp.get("Min-Expires") or "").strip()
    if status == 423 and min_expires.isdigit() and int(min_expires) > engine.expires:
        # RFC 3261 §10.2.8: the request again with an expiration interval of at least Min-Expires.
        engine.expires = int(min_expires)
        engine.rec(flow, "-", "note", f"423: asking for {engine.expires} s")
        engine.send_register(flow, kind)
        return
    after = retry_after(resp) if status == 503 else None
    if kind == "initial":
        engine.attempt_failed(flow, f"{status} {resp.reason}", after)
    elif status == 503:
        # §4.2.2: a recoverable error to a re-registration: keep the flow, retry the refresh.
        wait = after if after is not None else retry_delay(1, False, engine.cfg.timers, engine.rng)
        flow.refresh_at = engine.clock() + wait
        engine.rec(flow, "-", "note", f"503 to the refresh: the flow is kept, refresh again in {wait:.3f} s")
    else:
        engine.flow_failed(flow, f"{status} {resp.reason} to the refresh")


def _answer_challenge(engine, flow, pending, resp) -> bool:
    found = digest_challenge(resp)
    if found is None:
        return False
    header, challenge = found
    req = pending.request
    params = build_credentials(challenge, username=engine.cfg.impi, uri=req.uri, method=req.method,
                               password=engine.cfg.password, cnonce=secrets.token_hex(8))
    retry = with_credentials(req, header, format_auth("Digest", params), new_cseq=flow.state.dialog.next_cseq())
    engine.transmit_register(flow, retry, pending.kind, pending.challenges + 1)
    return True


def _registered(engine, flow, kind: str, resp) -> None:
    now = engine.clock()
    granted = read_2xx(resp, instance=flow.instance, reg_id=flow.reg_id if flow.outbound_mode else None,
                       contact_host_port=flow.state.host_port(), requested=engine.expires)
    expires = granted.expires if granted.expires else engine.expires
    first = flow.status != REGISTERED
    flow.status = REGISTERED
    flow.outbound = granted.outbound and flow.outbound_mode
    flow.flow_timer = granted.flow_timer
    flow.granted = expires
    flow.refresh_at = now + refresh_delay(expires)
    if not granted.outbound:
        # TS 24.229 5.1.1.2.1 (f) / RFC 5626 §4.2.1: no outbound at the registrar: one flow only.
        engine.no_outbound = True
    if flow.outbound:
        if flow.keepalive_at is None and flow.pong_deadline is None and flow.stun is None:
            flow.keepalive_at = now + keepalive_interval(flow.transport, flow.flow_timer, engine.rng,
                                                         too_slow=engine.fault == "keepalive-too-slow")  # FAULT
    else:
        flow.keepalive_at = None
        flow.successful, flow.failures = True, 0  # §4.5: no keep-alives in use
    if first:
        engine.rec(flow, "-", "note", f"registered for {expires} s, "
                   f"{'outbound (Require: outbound)' if flow.outbound else 'without outbound'}"
                   f"{f', Flow-Timer {flow.flow_timer}' if flow.flow_timer else ''}")
    if not engine.outbound_known:
        engine.outbound_learnt()


__all__ = ["on_register_response"]
