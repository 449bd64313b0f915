"""HTTP Digest (RFC 2617) as SIP uses it (RFC 3261 §22.4), and Digest AKAv1-MD5 (RFC 3310).

Definitions (RFC 2617 §3.2.2.1-3.2.2.3, §3.1.3: H() yields 32 lower-case hex digits):

* A1 = username ":" realm ":" password; for ``-sess``: H(A1) ":" nonce ":" cnonce.
* A2 = method ":" uri; with qop=auth-int also ":" H(entity-body) (H("") for an empty body,
  RFC 3261 §22.4 item 7).  Authentication-Info ``rspauth`` uses A2 without the method
  (RFC 2617 §3.2.3).
* qop present: response = H(H(A1) ":" nonce ":" nc ":" cnonce ":" qop ":" H(A2));
  no qop (RFC 2069 compatibility): H(H(A1) ":" nonce ":" H(A2)).

AKAv1 (RFC 3310 §3.3): the password is RES, "in binary format" (RFC 4169 §3): raw octets, not
hex text.  With ``auts`` the password is empty (RFC 3310 §3.4).  The server's rspauth uses XRES
(§3.5).  Passwords are therefore bytes; text is encoded as UTF-8.
"""

from __future__ import annotations

from typing import Mapping

from ..sip.headers import AuthParams, format_auth, CHALLENGE_QUOTED

__all__ = [
    "md5_hex", "ha1", "ha2", "digest_response", "rspauth", "format_nc", "build_challenge",
    "build_credentials", "verify_credentials", "AKAV1_MD5",
]

AKAV1_MD5 = "AKAv1-MD5"


def _b(value: str | bytes) -> bytes:
    return value.encode("utf-8") if isinstance(value, str) else bytes(value)


def md5_hex(data: str | bytes) -> str:
    import hashlib  # here: its OpenSSL library is loaded by the first digest, not by an import of this module

    return hashlib.md5(_b(data)).hexdigest()


def format_nc(nc: int) -> str:
    """nonce-count as 8 lower-case hex digits (RFC 2617 §3.2.2)."""
    return f"{nc:08x}"


def _base_alg(algorithm: str | None) -> tuple[str, bool]:
    """('MD5', sess?) for MD5, MD5-sess, AKAv1-MD5, AKAv1-MD5-sess (RFC 3310 §3.1)."""
    alg = (algorithm or "MD5").lower()
    sess = alg.endswith("-sess")
    base = alg[:-5] if sess else alg
    if base not in ("md5", "akav1-md5"):
        raise ValueError(f"unsupported Digest algorithm {algorithm!r}")
    return base, sess


def ha1(username: str, realm: str, password: str | bytes, *, algorithm: str | None = None,
        nonce: str = "", cnonce: str = "") -> str:
    """H(A1) (RFC 2617 §3.2.2.2); ``password`` bytes are used as they are (AKA RES)."""
    value = md5_hex(_b(username) + b":" + _b(realm) + b":" + _b(password))
    if _base_alg(algorithm)[1]:
        value = md5_hex(f"{value}:{nonce}:{cnonce}")
    return value


def ha2(method: str, uri: str, *, qop: str | None = None, body: bytes = b"") -> str:
    """H(A2) (RFC 2617 §3.2.2.3); ``method`` "" gives the rspauth form ``":" uri``."""
    a2 = f"{method}:{uri}"
    if qop == "auth-int":
        a2 += ":" + md5_hex(body)
    return md5_hex(a2)


def _kd(h_a1: str, nonce: str, h_a2: str, qop: str | None, nc: str | None,
        cnonce: str | None) -> str:
    if qop:
        if nc is None or cnonce is None:
            raise ValueError("qop needs nc and cnonce (RFC 2617 §3.2.2)")
        return md5_hex(f"{h_a1}:{nonce}:{nc}:{cnonce}:{qop}:{h_a2}")
    return md5_hex(f"{h_a1}:{nonce}:{h_a2}")


def digest_response(*, username: str, realm: str, password: str | bytes, method: str, uri: str,
                    nonce: str, qop: str | None = None, nc: str | None = None,
                    cnonce: str | None = None, body: bytes = b"",
                    algorithm: str | None = None) -> str:
    """The request-digest (RFC 2617 §3.2.2.1)."""
    h1 = ha1(username, realm, password, algorithm=algorithm, nonce=nonce, cnonce=cnonce or "")
    return _kd(h1, nonce, ha2(method, uri, qop=qop, body=body), qop, nc, cnonce)


def rspauth(*, username: str, realm: str, password: str | bytes, uri: str, nonce: str,
            qop: str | None = None, nc: str | None = None, cnonce: str | None = None,
            body: bytes = b"", algorithm: str | None = None) -> str:
    """Authentication-Info response-auth (RFC 2617 §3.2.3); AKA: password = XRES (RFC 3310 §3.5)."""
    return digest_response(username=username, realm=realm, password=password, method="",
                           uri=uri, nonce=nonce, qop=qop, nc=nc, cnonce=cnonce, body=body,
                           algorithm=algorithm)


def build_challenge(realm: str, nonce: str, *, algorithm: str = AKAV1_MD5,
                    qop: str | None = "auth", opaque: str | None = None,
                    extra: Mapping[str, str] | None = None) -> str:
    """A WWW-Authenticate value.  RFC 3261 §22.4 item 8: servers MUST always send qop."""
    params = {"realm": realm, "nonce": nonce, "algorithm": algorithm}
    if qop:
        params["qop"] = qop
    if opaque is not None:
        params["opaque"] = opaque
    params.update(extra or {})
    return format_auth("Digest", params, quote=CHALLENGE_QUOTED)


def build_credentials(challenge: AuthParams, *, username: str, uri: str, method: str,
                      password: str | bytes, cnonce: str, nc: int = 1, body: bytes = b"",
                      auts: str | None = None, qop: str | None = None) -> dict[str, str]:
    """Authorization parameters answering ``challenge``.

    The qop is ``qop`` if given, else "auth" when offered (else "auth-int", else none; RFC 3261
    §22.4 item 8: a client that receives qop MUST send qop).  ``auts`` (base64) switches to the
    empty password (RFC 3310 §3.4) whatever ``password`` says.  Format with
    ``format_auth("Digest", params)``.
    """
    nonce = challenge.get("nonce", "")
    realm = challenge.get("realm", "")
    algorithm = challenge.get("algorithm")
    offered = [q.strip() for q in (challenge.get("qop") or "").split(",") if q.strip()]
    if qop is None and offered:
        qop = "auth" if "auth" in offered else offered[0]
    params = {"username": username, "realm": realm, "nonce": nonce, "uri": uri}
    nc_text = format_nc(nc) if qop else None
    params["response"] = digest_response(
        username=username, realm=realm, password=b"" if auts is not None else password,
        method=method, uri=uri, nonce=nonce, qop=qop, nc=nc_text, cnonce=cnonce if qop else None,
        body=body, algorithm=algorithm)
    if algorithm:
        params["algorithm"] = algorithm
    if qop:
        params.update(qop=qop, nc=nc_text, cnonce=cnonce)
    if challenge.get("opaque") is not None:
        params["opaque"] = challenge.get("opaque")
    if auts is not None:
        params["auts"] = auts
    return params


def verify_credentials(credentials: AuthParams | Mapping[str, str], *, password: str | bytes,
                       method: str, body: bytes = b"") -> bool:
    """Server side: does ``response`` match the one computed with ``password``?"""
    get = credentials.get
    try:
        expected = digest_response(
            username=get("username") or "", realm=get("realm") or "", password=password,
            method=method, uri=get("uri") or "", nonce=get("nonce") or "", qop=get("qop"),
            nc=get("nc"), cnonce=get("cnonce"), body=body, algorithm=get("algorithm"))
    except ValueError:
        return False
    import hmac

    return hmac.compare_digest(expected, (get("response") or "").lower())
