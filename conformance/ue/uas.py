"""The UE as a UAS (sans-IO): how a UE flow answers a request the SUT delivers to it.

RFC 3261 §8.2.6: the response copies Via, From, Call-ID and CSeq, and adds a To tag.  A UE
accepts MESSAGE and OPTIONS (200), and declines an INVITE as busy (486) so a case needs no
media or dialog; the delivery itself is what the terminating cases look at.
"""

from __future__ import annotations

from ..sip.message import Request, Response

ANSWERS = {"MESSAGE": (200, "OK"), "OPTIONS": (200, "OK"), "INVITE": (486, "Busy Here"),
           "NOTIFY": (200, "OK"), "BYE": (200, "OK"), "CANCEL": (200, "OK")}


def uas_status(request: Request) -> tuple[int, str]:
    return ANSWERS.get(request.method, (405, "Method Not Allowed"))


def build_response(request: Request, status: int, reason: str, *, to_tag: str) -> Response:
    headers: list[tuple[str, str]] = [("Via", v) for v in request.get_all("Via")]
    for name in ("From", "Call-ID", "CSeq"):
        value = request.get(name)
        if value is not None:
            headers.append((name, value))
    to = request.get("To") or ""
    if to and ";tag=" not in to.replace(" ", "").lower():
        to = f"{to};tag={to_tag}"
    headers.insert(len(request.get_all("Via")) + 1, ("To", to))
    if status == 405:
        headers.append(("Allow", ", ".join(ANSWERS)))
    return Response(status=status, reason=reason, headers=headers)
