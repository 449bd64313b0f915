"""Answering HTTP Digest challenges (RFC 3261 §22.2-22.3, RFC 2617 MD5) for a target that
declares ``digest-auth``; sans-IO apart from ``answer_challenges``, which drives the runner.

A 401 (WWW-Authenticate) or 407 (Proxy-Authenticate) with a Digest MD5 challenge is answered at
once within the step: the same request again as a new transaction (new Via branches) with
Authorization / Proxy-Authorization, username = the UE's private identity, password from the
target's ``auth:``.  A step's own REGISTER goes with CSeq + 1 (RFC 3261 §8.1.3.5: the retry is a
new request with a higher CSeq); a ``send:`` stimulus keeps its CSeq, the stimulus being what the
case wrote (a replay with an old CSeq stays a replay).  At most two challenges are answered (a
stale nonce), then the last response is judged.

The step option ``digest`` chooses the answer: absent: the right credentials; ``none``: the
challenge is not answered (the 401 is judged); ``wrong``: the right username with a wrong
password; ``{as: UE, password: right|wrong}``: another UE's username (a hijack attempt);
``{replay: FLOW}``: no answer, the request goes at once with the last credentials sent on FLOW,
byte for byte (same nonce, nc, cnonce and response: an eavesdropper's replay).
"""

from __future__ import annotations

import re
import secrets
from dataclasses import dataclass, field

from ..ims.digest import build_credentials
from ..sip.errors import LocalProtocolError, ParseError
from ..sip.headers import format_auth, parse_auth
from ..sip.message import Request, Response
from ..ue.model import new_branch

MAX_CHALLENGES = 2
WRONG_PASSWORD = "not-the-password"
_BRANCH = re.compile(r"(;\s*branch\s*=\s*)[^;,\s]+", re.I)


def digest_challenge(response: Response):
    """(header to answer with, parsed challenge) for a 401/407 with a Digest MD5 challenge."""
    name, answer = (("WWW-Authenticate", "Authorization") if response.status == 401
                    else ("Proxy-Authenticate", "Proxy-Authorization"))
    for value in response.get_all(name):
        try:
            ch = parse_auth(value)
        except ParseError:
            continue
        if ch.scheme.lower() == "digest" and (ch.get("algorithm") or "MD5").upper() in ("MD5", "MD5-SESS"):
            return answer, ch
    return None


def with_credentials(request: Request, header: str, value: str, *, new_cseq: int | None) -> Request:
    """The request again as a new transaction: new branches, the credentials (replacing any
    earlier ones, e.g. the IMS-style empty Authorization), CSeq ``new_cseq`` if given."""
    out = Request(method=request.method, uri=request.uri, headers=list(request.headers), body=request.body)
    headers = []
    for n, v in out.headers:
        low = n.lower()
        if low in ("via", "v"):
            v = _BRANCH.sub(lambda m: m.group(1) + new_branch(), v)
        elif low == "cseq" and new_cseq is not None:
            v = f"{new_cseq} {request.method}"
        elif low in ("authorization", "proxy-authorization"):
            continue
        headers.append((n, v))
    out.headers = headers
    out.add(header, value)
    return out


@dataclass
class DigestSent:
    """Per flow, the last (header, credentials) the engine sent (for ``digest: {replay: FLOW}``)."""

    by_flow: dict[str, tuple[str, str]] = field(default_factory=dict)


def _sent(run) -> dict:
    return run.state(DigestSent).by_flow


def prepare(run, step, request: Request) -> Request:
    """The request of a ``digest: {replay: FLOW}`` step: FLOW's last credentials put in as sent."""
    choice = step.options.get("digest")
    if not (isinstance(choice, dict) and "replay" in choice):
        return request
    sent = _sent(run).get(choice["replay"])
    if sent is None:
        raise LocalProtocolError(f"digest: replay of flow {choice['replay']}, which has sent no credentials yet")
    out = Request(method=request.method, uri=request.uri, body=request.body,
                  headers=[(n, v) for n, v in request.headers
                           if n.lower() not in ("authorization", "proxy-authorization")])
    out.add(*sent)
    return out


def credentials_for(run, step, ue):
    """(username, password) for the step's answer, or None for ``digest: none`` or a replay."""
    choice = step.options.get("digest")
    if choice == "none" or (isinstance(choice, dict) and "replay" in choice):
        return None
    who, password = ue, "right"
    if choice == "wrong":
        password = "wrong"
    elif isinstance(choice, dict):
        who = run.ues.get(choice.get("as"), ue)
        password = choice.get("password", "right")
    right = run.target.auth.password_for(who.impi)
    return who.impi, (right if password == "right" else WRONG_PASSWORD + "-" + right)


def answer_challenges(run, step, result, ue, flow_name, ep, request, outcome, *, resend_cseq):
    """Answer Digest challenges of ``outcome`` = exchange()'s (response, req_idx, resp_idx, why).

    ``resend_cseq()`` gives the CSeq of the retry (None: keep the request's).  Returns the last
    (request, outcome).  Notes what was done on ``result``."""
    if not run.target.declares("digest-auth"):
        return request, outcome
    creds = credentials_for(run, step, ue)
    notes = []
    for _ in range(MAX_CHALLENGES):
        response = outcome[0]
        if response is None or response.status not in (401, 407):
            break
        found = digest_challenge(response)
        if found is None:
            notes.append(f"{response.status} without a Digest MD5 challenge: not answered")
            break
        if creds is None:
            choice = step.options.get("digest")
            how = f"replayed credentials of flow {choice['replay']}" if isinstance(choice, dict) else "digest: none"
            notes.append(f"{response.status} challenge not answered ({how})")
            break
        header, challenge = found
        username, password = creds
        params = build_credentials(challenge, username=username, uri=request.uri, method=request.method,
                                   password=password, cnonce=secrets.token_hex(8))
        value = format_auth("Digest", params)
        request = with_credentials(request, header, value, new_cseq=resend_cseq())
        _sent(run)[flow_name] = (header, value)
        wrong = " with a wrong password" if password.startswith(WRONG_PASSWORD) else ""
        notes.append(f"{response.status} answered as {username}{wrong}")
        outcome = run.exchange(flow_name, ep, request, step.options.get("timeout"))
    if notes:
        result.note = "; ".join(notes)
    return request, outcome


__all__ = ["DigestSent", "answer_challenges", "credentials_for", "digest_challenge", "prepare", "with_credentials"]
