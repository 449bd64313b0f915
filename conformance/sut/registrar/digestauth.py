"""HTTP Digest authentication of REGISTER at the reference registrar (sans-IO).

RFC 3261 §22.1 and §22.4 with RFC 2617 MD5: a REGISTER without credentials, or whose credentials
do not verify, gets 401 with a ``WWW-Authenticate: Digest`` challenge (§21.4.2: the 401 "MUST
include a WWW-Authenticate header field"; §22.4 item 8: the server always sends qop).  Nonces are
stateless: the time they were made, a random salt and an HMAC of both under a per-start secret,
valid for ``nonce_ttl`` seconds (an expired one is challenged again with ``stale=true``, RFC 2617
§3.2.1).  Replays are refused with the nonce count (RFC 3261 §26.4.1: "The nonce-count mechanism
should be used for replay protection"; RFC 2617 §3.2.2): per nonce the highest ``nc`` accepted is
kept (a bounded table, the oldest nonces forgotten first), and credentials with qop whose ``nc``
is not higher are challenged again.

The username is the UE's private identity and the password comes from ``password_for(username)``
(the target profile's ``auth:``).  Once authenticated, RFC 3261 §10.3 step 4: the user may only
change the bindings of its own AOR (``sip:`` + the username), any other AOR gets 403.
"""

from __future__ import annotations

import hashlib
import hmac
import secrets
from collections import OrderedDict
from dataclasses import dataclass
from typing import Callable

from ...ims.digest import build_challenge, verify_credentials
from ...sip.errors import ParseError
from ...sip.headers import parse_auth
from ...sip.message import Request


@dataclass
class AuthOutcome:
    """``ok``: authenticated as ``username``; else ``status`` (401/403) with ``headers`` and why."""

    ok: bool
    username: str = ""
    status: int = 401
    headers: list[tuple[str, str]] | None = None
    warning: str = ""


class DigestAuthenticator:
    def __init__(self, realm: str, password_for: Callable[[str], str | None], *,
                 secret: bytes | None = None, nonce_ttl: float = 300.0, accept_bad: bool = False,
                 max_nonces: int = 10_000):
        self.realm = realm
        self.password_for = password_for
        self.secret = secret or secrets.token_bytes(16)
        self.nonce_ttl = nonce_ttl
        # FAULT: accept-bad-credentials (the response value is never compared)
        self.accept_bad = accept_bad
        self.max_nonces = max_nonces
        self.counts: OrderedDict[str, int] = OrderedDict()  # nonce -> highest nc accepted

    # -- nonces -----------------------------------------------------------------------------
    def _mac(self, stamp: str) -> str:
        return hmac.new(self.secret, stamp.encode(), hashlib.sha256).hexdigest()[:24]

    def nonce(self, now: float) -> str:
        stamp = f"{int(now * 1000):x}-{secrets.token_hex(4)}"   # unique per challenge
        return f"{stamp}.{self._mac(stamp)}"

    def nonce_state(self, nonce: str, now: float) -> str:
        """'fresh', 'stale' (ours but too old) or 'forged' (not made here)."""
        stamp, _, mac = nonce.partition(".")
        if not stamp or not hmac.compare_digest(mac, self._mac(stamp)):
            return "forged"
        try:
            made = int(stamp.split("-")[0], 16) / 1000
        except ValueError:
            return "forged"
        return "fresh" if 0 <= now - made <= self.nonce_ttl else "stale"

    def challenge(self, now: float, *, stale: bool = False) -> list[tuple[str, str]]:
        extra = {"stale": "true"} if stale else None
        return [("WWW-Authenticate", build_challenge(self.realm, self.nonce(now), algorithm="MD5",
                                                     qop="auth", extra=extra))]

    # -- the check ----------------------------------------------------------------------------
    def check(self, request: Request, aor: str, now: float) -> AuthOutcome:
        """Authenticate ``request`` and authorise it for ``aor`` (canonical ``sip:user@host``)."""
        def refuse(why: str, stale: bool = False) -> AuthOutcome:
            return AuthOutcome(False, status=401, headers=self.challenge(now, stale=stale), warning=why)

        creds = None
        for value in request.get_all("Authorization"):
            try:
                parsed = parse_auth(value)
            except ParseError:
                continue
            if parsed.scheme.lower() == "digest" and (parsed.get("realm") or "").lower() == self.realm:
                creds = parsed
                break
        if creds is None:
            return refuse("no Digest credentials for this realm")
        if not creds.get("nonce") or not creds.get("response"):
            return refuse("credentials without nonce or response (e.g. the IMS initial REGISTER)")
        state = self.nonce_state(creds.get("nonce") or "", now)
        if state != "fresh":
            return refuse(f"nonce {state}", stale=state == "stale")
        algorithm = (creds.get("algorithm") or "MD5").upper()
        if algorithm != "MD5":
            return refuse(f"algorithm {algorithm} not offered")
        if creds.get("qop") and (creds.get("qop") or "").lower() != "auth":
            return refuse(f"qop {creds.get('qop')} not offered")
        username = creds.get("username") or ""
        password = self.password_for(username)
        if password is None:
            return refuse(f"unknown user {username!r}")
        if not self.accept_bad and not verify_credentials(creds, password=password, method=request.method):
            return refuse("Digest response does not verify")
        if creds.get("qop"):
            try:
                nc = int(creds.get("nc") or "", 16)
            except ValueError:
                return refuse(f"nonce count {creds.get('nc')!r} is not hex")
            nonce = creds.get("nonce") or ""
            if nc <= self.counts.get(nonce, 0):
                return refuse(f"nonce count {nc} already used with this nonce (a replay)")
            self.counts[nonce] = nc
            self.counts.move_to_end(nonce)
            while len(self.counts) > self.max_nonces:
                self.counts.popitem(last=False)
        if aor.lower() != f"sip:{username}".lower():
            # RFC 3261 §10.3 step 4: not authorised to modify this AOR's bindings
            return AuthOutcome(False, username, status=403,
                               warning=f"{username} may not register {aor}")
        return AuthOutcome(True, username)


__all__ = ["AuthOutcome", "DigestAuthenticator"]
